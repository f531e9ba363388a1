"""recordPurchases: an offline till's batch, in order, each item alone,
safe to resend, with the earn rules of the day each purchase was made."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.api.test_api_clients import create_client
from tests.api.test_earn_rules_api import create as create_rule
from tests.api.test_pos import available
from tests.conftest import GraphQLClient, Shop

BATCH = """
mutation($input: RecordPurchasesInput!) {
  recordPurchases(input: $input) {
    results { transaction { id points description } errors { code field } }
    errors { code field }
  }
}"""


def item(shop: Shop, card: dict, amount: int, receipt: str, occurred: datetime | None = None,
         currency: str = "EUR") -> dict:
    return {"idempotencyKey": f"till-1-{receipt}", "card": card, "storeId": shop.store_id,
            "receiptId": receipt, "total": {"amountMinor": amount, "currency": currency},
            **({"occurredAt": occurred.isoformat()} if occurred else {})}


async def test_each_item_succeeds_or_fails_alone_and_a_resend_changes_nothing(
        gql: GraphQLClient, shop: Shop, alice):
    now = datetime.now(UTC)
    card = {"cardNumber": alice.card_number}
    batch = {"input": {"purchases": [
        item(shop, card, 10_00, "R1", now - timedelta(days=6)),
        item(shop, card, 5_00, "R2", now - timedelta(days=8)),  # too old for a batch
        item(shop, {"cardNumber": "000000000000"}, 5_00, "R3"),  # no such card
        item(shop, card, 7_00, "R4", currency="XXX"),  # no such currency
        {**item(shop, card, 3_00, "R5"), "storeId": shop.other_store_id},  # not her till's
        item(shop, card, 20_00, "R6", now - timedelta(hours=1)),
    ]}}
    first = (await gql(BATCH, batch, token=shop.cashier_token))["recordPurchases"]
    assert first["errors"] == []
    assert [[(e["code"], e["field"]) for e in r["errors"]] for r in first["results"]] == [
        [], [("INVALID_INPUT", "occurredAt")], [("CARD_NOT_FOUND", "card.cardNumber")],
        [("INVALID_INPUT", "total.currency")], [("STORE_NOT_ALLOWED", "storeId")], []]
    assert [r["transaction"] and r["transaction"]["points"] for r in first["results"]] == [
        10, None, None, None, None, 20]
    again = (await gql(BATCH, batch, token=shop.cashier_token))["recordPurchases"]
    assert [r["transaction"] and r["transaction"]["id"] for r in again["results"]] == \
        [r["transaction"] and r["transaction"]["id"] for r in first["results"]]
    assert await available(gql, alice) == 30


async def test_rules_apply_as_of_the_day_of_the_purchase(gql, shop, alice):
    paris = ZoneInfo("Europe/Paris")
    three_days_ago = datetime.now(paris) - timedelta(days=3)
    await create_rule(gql, shop, name="Past promo", label="x3 promo", kind="MULTIPLIER",
                      rate="3", conditions={"startsOn": three_days_ago.date().isoformat(),
                                            "endsOn": three_days_ago.date().isoformat()})
    card = {"cardNumber": alice.card_number}
    batch = {"input": {"purchases": [item(shop, card, 10_00, "P1", three_days_ago),
                                     item(shop, card, 10_00, "P2")]}}
    results = (await gql(BATCH, batch, token=shop.cashier_token))["recordPurchases"]["results"]
    assert [r["transaction"]["points"] for r in results] == [30, 10]
    assert "x3 promo" in results[0]["transaction"]["description"]


async def test_a_big_batch_from_a_client_and_limits(gql, shop, alice):
    secret = (await create_client(gql, shop, ["PURCHASES", "CUSTOMERS_READ"]))["secret"]
    purchases = [item(shop, {"email": alice.email}, 1_00, f"B{i:04d}-{uuid.uuid4().hex}")
                 for i in range(300)]
    batch = {"input": {"purchases": purchases}}
    data = (await gql(BATCH, batch, token=secret))["recordPurchases"]
    assert all(r["errors"] == [] for r in data["results"]) and len(data["results"]) == 300
    assert await available(gql, alice) == 300
    # Over 64 KiB: only staff and API clients may send such a body.
    anonymous = await gql.http.post("/graphql", json={"query": BATCH, "variables": batch})
    assert anonymous.status_code == 413
    customer = await gql.http.post("/graphql", json={"query": BATCH, "variables": batch},
                                   headers={"authorization": f"Bearer {alice.token}"})
    assert customer.status_code == 413
    too_many = {"input": {"purchases": [item(shop, {"cardNumber": alice.card_number}, 1,
                                              f"X{i}") for i in range(501)]}}
    refused = (await gql(BATCH, too_many, token=shop.cashier_token))["recordPurchases"]
    assert refused == {"results": [], "errors": [{"code": "INVALID_INPUT",
                                                   "field": "purchases"}]}
    forbidden = await gql.raw(BATCH, {"input": {"purchases": []}}, token=alice.token)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
