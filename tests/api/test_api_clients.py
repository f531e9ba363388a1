"""API clients: a web shop calls with its own key, within its scopes and stores."""

from __future__ import annotations

import asyncio
import uuid

from tortoise import connections

from api import client_audit
from tests.conftest import CustomerHandle, GraphQLClient, Shop

CREATE = """
mutation($input: CreateApiClientInput!) {
  createApiClient(input: $input) {
    client { id name scopes storeIds createdAt revokedAt }
    secret
    errors { code field message }
  }
}"""
REVOKE = """
mutation($input: ApiClientIdInput!) { revokeApiClient(input: $input) { errors { code } } }"""
LIST = "query { apiClients { id name scopes storeIds revokedAt lastUsedAt } }"
PURCHASE = """
mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id kind points }
    customer { firstName availablePoints }
    errors { code field message }
  }
}"""
REFUND = """
mutation($input: RefundPurchaseInput!) {
  refundPurchase(input: $input) { transaction { id kind points } errors { code field } }
}"""
LOOKUP = """
query($card: CardInput!, $storeId: ID!) {
  cardLookup(card: $card, storeId: $storeId) {
    customer { firstName availablePoints } errors { code field }
  }
}"""


async def create_client(gql: GraphQLClient, shop: Shop, scopes: list[str],
                        stores: list[str] | None = None, name: str = "Web shop") -> dict:
    data = await gql(CREATE, {"input": {"name": name, "scopes": scopes,
                                        "storeIds": stores if stores is not None
                                        else [shop.store_id]}},
                     token=shop.admin_token)
    payload = data["createApiClient"]
    assert payload["errors"] == [], payload
    return payload


def web_purchase(shop: Shop, card: dict, amount: int, receipt: str | None = None,
                 store: str | None = None) -> dict:
    return {"input": {"idempotencyKey": uuid.uuid4().hex, "card": card,
                      "storeId": store or shop.store_id,
                      "receiptId": receipt or uuid.uuid4().hex[:10],
                      "total": {"amountMinor": amount, "currency": "EUR"}, "channel": "WEB"}}


async def test_a_web_shop_earns_and_refunds_for_a_customer_named_by_email(
        gql: GraphQLClient, shop: Shop, alice: CustomerHandle):
    created = await create_client(gql, shop, ["PURCHASES", "CUSTOMERS_READ"])
    secret = created["secret"]
    assert secret.startswith("lk_") and len(secret) > 40
    assert created["client"]["scopes"] == ["PURCHASES", "CUSTOMERS_READ"]

    bought = (await gql(PURCHASE, web_purchase(shop, {"email": alice.email.upper()}, 42_00,
                                               "W-1"), token=secret))["recordPurchase"]
    assert bought["errors"] == []
    assert bought["transaction"]["points"] == 42
    assert bought["customer"]["firstName"] == "Alice"
    refund = (await gql(REFUND, {"input": {"idempotencyKey": uuid.uuid4().hex,
                                           "storeId": shop.store_id, "receiptId": "W-1"}},
                        token=secret))["refundPurchase"]
    assert refund["errors"] == [] and refund["transaction"]["points"] == -42

    # Both postings name the client that made them.
    conn = connections.get("default")
    _, rows = await conn.execute_query(
        "SELECT kind, api_client_id FROM ledger_transaction ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [("EARN", int(created["client"]["id"])),
                                            ("REFUND", int(created["client"]["id"]))]
    by_id = (await gql(LOOKUP, {"card": {"customerId": str(alice.id)},
                                "storeId": shop.store_id}, token=secret))["cardLookup"]
    assert by_id == {"customer": {"firstName": "Alice", "availablePoints": 0}, "errors": []}
    listed = (await gql(LIST, token=shop.admin_token))["apiClients"]
    assert listed[0]["lastUsedAt"] is not None and listed[0]["revokedAt"] is None
    assert "secret" not in str(listed)


async def test_scopes_stores_and_naming_are_enforced(gql, shop, alice):
    events_only = (await create_client(gql, shop, ["EVENTS"], stores=[]))["secret"]
    refused = await gql.raw(PURCHASE, web_purchase(shop, {"cardNumber": alice.card_number},
                                                   10_00), token=events_only)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    purchases_only = (await create_client(gql, shop, ["PURCHASES"]))["secret"]
    by_email = (await gql(PURCHASE, web_purchase(shop, {"email": alice.email}, 10_00),
                          token=purchases_only))["recordPurchase"]
    assert [(e["code"], e["field"]) for e in by_email["errors"]] == [("FORBIDDEN", "card")]
    elsewhere = (await gql(PURCHASE, web_purchase(shop, {"cardNumber": alice.card_number},
                                                  10_00, store=shop.other_store_id),
                           token=purchases_only))["recordPurchase"]
    assert [e["code"] for e in elsewhere["errors"]] == ["STORE_NOT_ALLOWED"]
    by_card = (await gql(PURCHASE, web_purchase(shop, {"cardNumber": alice.card_number},
                                                10_00), token=purchases_only))["recordPurchase"]
    assert by_card["errors"] == [] and by_card["transaction"]["points"] == 10

    reader = (await create_client(gql, shop, ["PURCHASES", "CUSTOMERS_READ"]))["secret"]
    both = (await gql(PURCHASE, web_purchase(shop, {"email": alice.email,
                                                    "cardNumber": alice.card_number}, 1_00),
                      token=reader))["recordPurchase"]
    assert [e["code"] for e in both["errors"]] == ["INVALID_INPUT"]
    nobody = (await gql(PURCHASE, web_purchase(shop, {"email": "nobody@example.test"}, 1_00),
                        token=reader))["recordPurchase"]
    assert [(e["code"], e["field"]) for e in nobody["errors"]] == [("CARD_NOT_FOUND",
                                                                    "card.email")]
    # Staff cannot name customers either: a cashier scans a card.
    staff = (await gql(PURCHASE, web_purchase(shop, {"email": alice.email}, 1_00),
                       token=shop.cashier_token))["recordPurchase"]
    assert [e["code"] for e in staff["errors"]] == ["FORBIDDEN"]
    # A client is not staff: redeeming stays with the till, admin work with admins.
    for query in (LIST, CREATE):
        body = await gql.raw(query, {"input": {"name": "x", "scopes": ["EVENTS"]}},
                             token=reader)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_input_when_creating(gql, shop, alice):
    for scopes, stores, field in ((["PURCHASES"], [], "storeIds"), ([], [], "scopes"),
                                  (["EVENTS"], ["999999"], "storeIds")):
        data = await gql(CREATE, {"input": {"name": "x", "scopes": scopes, "storeIds": stores}},
                         token=shop.admin_token)
        assert [e["field"] for e in data["createApiClient"]["errors"]] == [field]
    as_customer = await gql.raw(CREATE, {"input": {"name": "x", "scopes": ["EVENTS"]}},
                                token=alice.token)
    assert as_customer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_revoked_and_forged_keys_are_refused(gql, shop, alice):
    created = await create_client(gql, shop, ["PURCHASES"])
    secret, client_id = created["secret"], created["client"]["id"]
    ok = await gql(LOOKUP, {"card": {"cardNumber": alice.card_number},
                            "storeId": shop.store_id}, token=secret)
    assert ok["cardLookup"]["errors"] == []
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    for bad in (forged, "lk_nothing", "lk_"):
        body = await gql.raw(LOOKUP, {"card": {"cardNumber": alice.card_number},
                                      "storeId": shop.store_id}, token=bad)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    # Revoked here: refused at once by this process.
    revoked = await gql(REVOKE, {"input": {"clientId": client_id}}, token=shop.admin_token)
    assert revoked["revokeApiClient"]["errors"] == []
    body = await gql.raw(LOOKUP, {"card": {"cardNumber": alice.card_number},
                                  "storeId": shop.store_id}, token=secret)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    listed = (await gql(LIST, token=shop.admin_token))["apiClients"]
    assert listed[0]["revokedAt"] is not None
    missing = await gql(REVOKE, {"input": {"clientId": "999999"}}, token=shop.admin_token)
    assert missing["revokeApiClient"]["errors"] == [{"code": "NOT_FOUND"}]

    # Revoked by another process (straight in the database): within a second.
    other = (await create_client(gql, shop, ["PURCHASES"], name="POS"))["secret"]
    await gql(LOOKUP, {"card": {"cardNumber": alice.card_number}, "storeId": shop.store_id},
              token=other)
    await connections.get("default").execute_query(
        "UPDATE api_client SET revoked_at = created_at WHERE name = 'POS'")
    await asyncio.sleep(1.1)
    body = await gql.raw(LOOKUP, {"card": {"cardNumber": alice.card_number},
                                  "storeId": shop.store_id}, token=other)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    # (the calls' lines are written a moment after their answers: now)
    await client_audit.flush()
    _, rows = await connections.get("default").execute_query(
        "SELECT action, actor_kind FROM audit_log ORDER BY id")
    # The staff's changes, and one line per call each key made while valid
    # (refused keys name no client: nothing to attribute).
    assert [tuple(r) for r in rows if r[1] == "staff"] == [
        ("api_client.created", "staff"), ("api_client.revoked", "staff"),
        ("api_client.created", "staff")]
    assert [tuple(r) for r in rows if r[1] != "staff"] == [("api.call", "client")] * 2
