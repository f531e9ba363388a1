"""Stores without a place (the web shop, the phone) and franchises whose
managers act only in their own stores."""

from __future__ import annotations

import uuid

from tortoise import connections

from notifications.worker import run_once
from tests.api.test_notifications_personal import inbox
from tests.api.test_pos import PURCHASE
from tests.conftest import CREATE_STAFF, PASSWORD, STAFF_LOG_IN, GraphQLClient, Shop

CREATE_STORE = """
mutation($input: CreateStoreInput!) {
  createStore(input: $input) {
    store { id name kind latitude longitude franchiseId } errors { code field message }
  }
}"""
CREATE_FRANCHISE = """
mutation($input: CreateFranchiseInput!) {
  createFranchise(input: $input) { franchise { id name storeIds } errors { code field } }
}"""
FRANCHISES = "query { franchises { id name storeIds } }"
CREATE_FENCE = """
mutation($input: CreateGeofenceInput!) { createGeofence(input: $input) { errors { code field } } }
"""
NEARBY = "query { nearbyGeofences(latitude: 48.87, longitude: 2.33) { storeName } }"


async def store(gql: GraphQLClient, shop: Shop, **fields: object) -> dict:
    data = await gql(CREATE_STORE, {"input": {"timezone": "Europe/Paris", **fields}},
                     token=shop.admin_token)
    return data["createStore"]


async def test_online_and_call_centre_stores_have_no_place_and_no_fence(gql, shop, alice):
    web = await store(gql, shop, name="Boutique en ligne", kind="ONLINE")
    assert web["errors"] == []
    assert web["store"] | {"id": None} == {"id": None, "name": "Boutique en ligne",
                                           "kind": "ONLINE", "latitude": None,
                                           "longitude": None, "franchiseId": None}
    phone = await store(gql, shop, name="Service client", kind="CALL_CENTRE")
    assert phone["errors"] == []
    _, rows = await connections.get("default").execute_query(
        "SELECT store_id FROM geofence ORDER BY store_id")
    assert {r[0] for r in rows} == {int(shop.store_id), int(shop.other_store_id)}
    names = {g["storeName"] for g in (await gql(NEARBY, token=alice.token))["nearbyGeofences"]}
    assert "Boutique en ligne" not in names
    # A fence cannot be added later either.
    fence = await gql(CREATE_FENCE, {"input": {"storeId": web["store"]["id"], "latitude": 0,
                                               "longitude": 0, "radiusMeters": 150}},
                      token=shop.admin_token)
    assert fence["createGeofence"]["errors"] == [{"code": "INVALID_INPUT", "field": "storeId"}]

    # Bad input: a place for an online store, none for a physical one.
    for fields, field in (({"kind": "ONLINE", "latitude": 1.0, "longitude": 1.0}, "latitude"),
                          ({"kind": "PHYSICAL"}, "latitude"), ({"latitude": 1.0}, "longitude")):
        refused = await store(gql, shop, name="X", **fields)
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_INPUT", field)]


async def test_messages_say_online_and_by_phone_rather_than_the_store_name(gql, shop, alice):
    web = (await store(gql, shop, name="Boutique en ligne", kind="ONLINE"))["store"]["id"]
    phone = (await store(gql, shop, name="Service client", kind="CALL_CENTRE"))["store"]["id"]
    await gql(CREATE_STAFF, {"input": {"email": "desk@shop.test", "password": PASSWORD,
                                       "role": "CASHIER", "storeIds": [web, phone]}},
              token=shop.admin_token)
    desk = (await gql(STAFF_LOG_IN, {"input": {"email": "desk@shop.test",
                                               "password": PASSWORD}}))["staffLogIn"]
    for store_id, amount in ((web, 20_00), (phone, 5_00)):
        bought = await gql(PURCHASE, {"input": {
            "idempotencyKey": uuid.uuid4().hex, "card": {"cardNumber": alice.card_number},
            "storeId": store_id, "receiptId": uuid.uuid4().hex[:8],
            "total": {"amountMinor": amount, "currency": "EUR"},
            "channel": "WEB" if store_id == web else "PHONE"}}, token=desk["accessToken"])
        assert bought["recordPurchase"]["errors"] == []
        await run_once(100)
    # Alice reads French.
    assert await inbox(gql, alice) == [
        ("+5 points", "Alice, +5 points par téléphone, 25 au total"),
        ("+20 points", "Alice, +20 points en ligne, 20 au total"),
    ]


async def test_a_franchise_manager_sees_and_acts_only_in_its_stores(gql, shop, alice):
    created = (await gql(CREATE_FRANCHISE, {"input": {"name": "Nord SARL"}},
                         token=shop.admin_token))["createFranchise"]
    assert created["errors"] == []
    franchise = created["franchise"]["id"]
    dup = await gql(CREATE_FRANCHISE, {"input": {"name": "Nord SARL"}}, token=shop.admin_token)
    assert dup["createFranchise"]["errors"] == [{"code": "INVALID_INPUT", "field": "name"}]
    lille = (await store(gql, shop, name="Lille", latitude=50.63, longitude=3.06,
                         franchiseId=franchise))["store"]
    assert lille["franchiseId"] == franchise
    manager = await gql(CREATE_STAFF, {"input": {"email": "boss@nord.test", "password": PASSWORD,
                                                 "role": "MANAGER", "franchiseId": franchise}},
                        token=shop.admin_token)
    assert manager["createStaff"]["errors"] == []
    assert manager["createStaff"]["staff"]["storeIds"] == [lille["id"]]
    # Only a manager is attached to a franchise.
    cashier = await gql(CREATE_STAFF, {"input": {"email": "c@nord.test", "password": PASSWORD,
                                                 "role": "CASHIER", "franchiseId": franchise}},
                        token=shop.admin_token)
    assert [e["field"] for e in cashier["createStaff"]["errors"]] == ["franchiseId"]

    token = (await gql(STAFF_LOG_IN, {"input": {"email": "boss@nord.test",
                                                "password": PASSWORD}}))["staffLogIn"]
    token = token["accessToken"]
    other = (await gql(CREATE_FRANCHISE, {"input": {"name": "Sud SAS"}},
                       token=shop.admin_token))["createFranchise"]["franchise"]
    assert (await gql(FRANCHISES, token=token))["franchises"] == [
        {"id": franchise, "name": "Nord SARL", "storeIds": [lille["id"]]}]
    assert len((await gql(FRANCHISES, token=shop.admin_token))["franchises"]) == 2
    assert other["storeIds"] == []
    denied = await gql.raw(FRANCHISES, token=shop.cashier_token)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    def sale(store_id: str) -> dict:
        return {"input": {"idempotencyKey": uuid.uuid4().hex,
                          "card": {"cardNumber": alice.card_number}, "storeId": store_id,
                          "receiptId": uuid.uuid4().hex[:8],
                          "total": {"amountMinor": 10_00, "currency": "EUR"}}}

    assert (await gql(PURCHASE, sale(lille["id"]), token=token))["recordPurchase"]["errors"] == []
    outside = (await gql(PURCHASE, sale(shop.store_id), token=token))["recordPurchase"]
    assert [e["code"] for e in outside["errors"]] == ["STORE_NOT_ALLOWED"]
