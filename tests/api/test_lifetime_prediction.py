"""The 12-month prediction in CustomerProfile.lifetimeValue, end to end: the
model is fitted with the scores (recomputeScores, the worker's job) and
stored; a customer's prediction follows their own purchases; a programme
with too little history says so instead of a figure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from api.demo_programme import seed_demo_programme
from audience import clv
from tests.conftest import GraphQLClient, Shop
from tests.integration.test_expiry import rows

VALUE = """
query($id: ID!) {
  customer(id: $id) {
    lifetimeValue { historicalMarginMinor predicted12MonthsMinor expectedPurchases12Months
                    probabilityAlive predictionStatus }
  }
}"""
RECOMPUTE = """
mutation { recomputeScores(input: {}) { customers errors { code } } }"""
PURCHASE = """
mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { transaction { points } errors { code field } }
}"""


async def value_of(gql: GraphQLClient, shop: Shop, customer_id: int) -> dict:
    found = await gql(VALUE, {"id": str(customer_id)}, token=shop.admin_token)
    return found["customer"]["lifetimeValue"]


async def buy(gql: GraphQLClient, shop: Shop, card_number: str, amount: int,
              days_ago: float = 0) -> None:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    done = (await gql(PURCHASE, {"input": {
        "idempotencyKey": uuid.uuid4().hex, "card": {"cardNumber": card_number},
        "storeId": shop.store_id, "receiptId": uuid.uuid4().hex[:12],
        "total": {"amountMinor": amount, "currency": "EUR"}, "occurredAt": when.isoformat()}},
        token=shop.cashier_token))["recordPurchase"]
    assert done["errors"] == [], done


async def test_too_little_history_says_so(gql: GraphQLClient, shop: Shop, alice):
    await buy(gql, shop, alice.card_number, 40_00, days_ago=10)
    await buy(gql, shop, alice.card_number, 25_00)
    # before any fit
    before = await value_of(gql, shop, alice.id)
    assert before["predictionStatus"] == "NOT_FITTED"
    assert before["predicted12MonthsMinor"] is None and before["historicalMarginMinor"] > 0
    # a fit on one buyer: nothing to predict with, and no crash
    assert (await gql(RECOMPUTE, token=shop.admin_token))["recomputeScores"]["errors"] == []
    after = await value_of(gql, shop, alice.id)
    assert after == {**before, "predictionStatus": "NOT_ENOUGH_HISTORY"}
    assert await rows("SELECT customers, repeat_buyers, params FROM value_model_fit") == [
        (1, 1, None)]


async def test_a_prediction_follows_the_customers_purchases(gql: GraphQLClient, shop: Shop,
                                                            alice):
    # given: a programme with a year of history (fitted as the demo scores it)
    await seed_demo_programme(900)
    [(customers, repeat, params)] = await rows(
        "SELECT customers, repeat_buyers, params FROM value_model_fit")
    assert customers >= clv.MIN_CUSTOMERS and repeat >= clv.MIN_REPEAT_BUYERS
    assert params is not None
    # a customer who bought nothing has no prediction, and it says why
    nothing = await value_of(gql, shop, alice.id)
    assert nothing["predictionStatus"] == "NO_PURCHASES"
    assert nothing["predicted12MonthsMinor"] is None
    # when: Alice buys once, four weeks ago
    await buy(gql, shop, alice.card_number, 30_00, days_ago=28)
    once = await value_of(gql, shop, alice.id)
    assert once["predictionStatus"] == "PREDICTED"
    assert once["predicted12MonthsMinor"] > 0 and once["expectedPurchases12Months"] > 0
    assert once["probabilityAlive"] == 1.0  # BG/NBD: no drop-out before a repeat
    # and comes back today for a large basket
    await buy(gql, shop, alice.card_number, 400_00)
    twice = await value_of(gql, shop, alice.id)
    # then: more purchases expected, and more value, from her own history
    assert twice["predictionStatus"] == "PREDICTED"
    assert twice["expectedPurchases12Months"] > once["expectedPurchases12Months"]
    assert twice["predicted12MonthsMinor"] > once["predicted12MonthsMinor"]
    assert 0 < twice["probabilityAlive"] <= 1
    # the figure is the library's, with the stored fit, at the programme's margin
    from audience import value_model

    stored = await value_model.latest()
    summary = (await value_model.summaries_of(datetime.now(UTC), [alice.id]))[alice.id]
    assert (summary.frequency, summary.recency, summary.age) == (1, 4.0, 4.0)
    forecast = clv.predict_12_months(stored.model, summary, margin_rate=1.0)
    assert twice["predicted12MonthsMinor"] == forecast.predicted_margin_minor
    # and the SQL summaries are clv.summarise_purchases' for every buyer
    from loyalty.platform.sql import as_datetime

    now = datetime.now(UTC)
    every = await value_model.summaries_of(now)
    history: dict[int, list[tuple[datetime, int]]] = {}
    for customer_id, when, net in await rows(
            "SELECT customer_id, occurred_at, total_minor - refunded_minor FROM purchase "
            "WHERE currency = 'EUR'"):
        history.setdefault(customer_id, []).append((as_datetime(when), net))
    assert len(every) == len(history) > clv.MIN_CUSTOMERS
    for customer_id, purchases in history.items():
        expected = clv.summarise_purchases(purchases, now)
        found = every[customer_id]
        assert (found.frequency, found.recency, found.age) == (
            expected.frequency, expected.recency, expected.age), customer_id
        assert abs(found.monetary_minor - expected.monetary_minor) < 1e-6, customer_id
