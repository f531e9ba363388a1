"""Offers through HTTP GraphQL: the admin creates them, the app shows and clips
them, the till sees the ones of its store."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_pos import LOOKUP
from tests.conftest import CustomerHandle, GraphQLClient, Shop

CREATE_OFFER = """
mutation($input: CreateOfferInput!) {
  createOffer(input: $input) {
    offer { id title target storeId customerIds perCustomerLimit benefitKind benefitValue
            minBasketMinor startsAt endsAt active }
    errors { code field message }
  }
}"""
DEACTIVATE_OFFER = """
mutation($input: DeactivateOfferInput!) {
  deactivateOffer(input: $input) { offer { id active } errors { code field message } }
}"""
ACTIVATE_OFFER = """
mutation($input: ActivateOfferInput!) {
  activateOffer(input: $input) {
    offer { id title description activated expiresAt }
    errors { code field message }
  }
}"""
MY_OFFERS = "query { me { offers { id title description activated expiresAt } } }"


async def create_offer(gql: GraphQLClient, shop: Shop, title: str, **fields: Any) -> str:
    values: dict[str, Any] = dict(title=title, target="ALL", benefitKind="PERCENT_OFF",
                                  benefitValue=10)
    values.update(fields)
    result = (await gql(CREATE_OFFER, {"input": values}, token=shop.admin_token))["createOffer"]
    assert result["errors"] == [], result
    return result["offer"]["id"]


async def my_offers(gql: GraphQLClient, customer: CustomerHandle) -> list[dict[str, Any]]:
    return (await gql(MY_OFFERS, token=customer.token))["me"]["offers"]


async def activate(gql: GraphQLClient, customer: CustomerHandle, offer_id: str
                   ) -> dict[str, Any]:
    return (await gql(ACTIVATE_OFFER, {"input": {"offerId": offer_id}},
                      token=customer.token))["activateOffer"]


async def test_customers_see_the_offers_meant_for_them_and_clip_one(gql, shop, alice, bob):
    everyone = await create_offer(gql, shop, "10% off", endsAt="2099-01-01T00:00:00+00:00",
                                  description="On everything")
    just_alice = await create_offer(gql, shop, "For Alice", target="CUSTOMERS",
                                    customerIds=[str(alice.id)], benefitKind="AMOUNT_OFF",
                                    benefitValue=500, minBasketMinor=20_00)
    assert [o["title"] for o in await my_offers(gql, alice)] == ["10% off", "For Alice"]
    assert [o["title"] for o in await my_offers(gql, bob)] == ["10% off"]

    clipped = await activate(gql, alice, everyone)
    assert clipped["errors"] == []
    assert clipped["offer"] == {"id": everyone, "title": "10% off",
                                "description": "On everything", "activated": True,
                                "expiresAt": "2099-01-01T00:00:00+00:00"}
    assert await activate(gql, alice, everyone) == clipped
    shown = {o["id"]: o["activated"] for o in await my_offers(gql, alice)}
    assert shown == {everyone: True, just_alice: False}


async def test_clipping_an_offer_not_meant_for_you_is_refused(gql, shop, alice, bob):
    just_alice = await create_offer(gql, shop, "For Alice", target="CUSTOMERS",
                                    customerIds=[str(alice.id)])
    refused = await activate(gql, bob, just_alice)
    assert refused["offer"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("OFFER_NOT_AVAILABLE", "offerId")]
    unknown = await activate(gql, bob, "987654")
    assert [e["code"] for e in unknown["errors"]] == ["NOT_FOUND"]
    garbled = await activate(gql, bob, "not-an-id")
    assert [e["code"] for e in garbled["errors"]] == ["INVALID_INPUT"]


async def test_the_till_sees_the_offers_of_its_store_only(gql, shop, alice):
    await create_offer(gql, shop, "everywhere")
    await create_offer(gql, shop, "here", target="STORE", storeId=shop.store_id)
    await create_offer(gql, shop, "elsewhere", target="STORE", storeId=shop.other_store_id)
    looked_up = (await gql(LOOKUP, {"card": {"qrPayload": alice.qr()},
                                    "storeId": shop.store_id},
                           token=shop.cashier_token))["cardLookup"]
    assert len(looked_up["customer"]["offers"]) == 2
    # In the app every store's offers show: the customer may shop anywhere.
    assert [o["title"] for o in await my_offers(gql, alice)] == [
        "everywhere", "here", "elsewhere"]


async def test_a_deactivated_offer_disappears_even_once_clipped(gql, shop, alice):
    offer = await create_offer(gql, shop, "soon gone")
    await activate(gql, alice, offer)
    stopped = (await gql(DEACTIVATE_OFFER, {"input": {"offerId": offer}},
                         token=shop.admin_token))["deactivateOffer"]
    assert stopped == {"offer": {"id": offer, "active": False}, "errors": []}
    assert await my_offers(gql, alice) == []
    again = await activate(gql, alice, offer)
    assert [e["code"] for e in again["errors"]] == ["OFFER_NOT_AVAILABLE"]


async def test_the_admin_sees_the_offer_as_saved(gql, shop, alice):
    data = (await gql(CREATE_OFFER, {"input": {
        "title": "  Coffee week ", "target": "STORE", "storeId": shop.store_id,
        "benefitKind": "BONUS_POINTS", "benefitValue": 50, "perCustomerLimit": 3,
        "startsAt": "2030-01-01T09:00:00+01:00", "endsAt": "2030-01-08T09:00:00+01:00",
    }}, token=shop.admin_token))["createOffer"]
    assert data["errors"] == []
    offer = data["offer"]
    assert (offer["title"], offer["target"], offer["storeId"], offer["customerIds"]) == (
        "Coffee week", "STORE", shop.store_id, [])
    assert (offer["benefitKind"], offer["benefitValue"], offer["perCustomerLimit"]) == (
        "BONUS_POINTS", 50, 3)
    assert offer["startsAt"] == "2030-01-01T08:00:00+00:00" and offer["active"] is True


@pytest.mark.parametrize(("fields", "code", "field"), [
    (dict(title=""), "INVALID_INPUT", "title"),
    (dict(benefitValue=0), "INVALID_INPUT", "benefitValue"),
    (dict(benefitValue=101), "INVALID_INPUT", "benefitValue"),
    (dict(perCustomerLimit=0), "INVALID_INPUT", "perCustomerLimit"),
    (dict(target="TIER"), "INVALID_INPUT", "tierId"),
    (dict(target="TIER", tierId="4242"), "NOT_FOUND", "tierId"),
    (dict(target="STORE", storeId="x"), "INVALID_INPUT", "storeId"),
    (dict(target="CUSTOMERS", customerIds=["4242"]), "NOT_FOUND", "customerIds"),
    (dict(startsAt="2030-01-02T00:00:00Z", endsAt="2030-01-01T00:00:00Z"),
     "INVALID_INPUT", "endsAt"),
    (dict(minBasketMinor=-1), "INVALID_INPUT", "minBasketMinor"),
])
async def test_bad_offers_are_refused_with_a_code_and_field(gql, shop, fields, code, field):
    values: dict[str, Any] = dict(title="x", target="ALL", benefitKind="PERCENT_OFF",
                                  benefitValue=10)
    values.update(fields)
    result = (await gql(CREATE_OFFER, {"input": values}, token=shop.admin_token))["createOffer"]
    assert result["offer"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)]


async def test_only_admins_manage_offers_and_only_customers_clip_them(gql, shop, alice):
    offer = await create_offer(gql, shop, "x")
    values = {"title": "y", "target": "ALL", "benefitKind": "PERCENT_OFF", "benefitValue": 5}
    for token in (alice.token, shop.cashier_token, None):
        body = await gql.raw(CREATE_OFFER, {"input": values}, token=token)
        assert body["data"] is None and body["errors"]
        body = await gql.raw(DEACTIVATE_OFFER, {"input": {"offerId": offer}}, token=token)
        assert body["data"] is None and body["errors"]
    body = await gql.raw(ACTIVATE_OFFER, {"input": {"offerId": offer}}, token=shop.cashier_token)
    assert body["data"] is None and "customer access token" in body["errors"][0]["message"]
