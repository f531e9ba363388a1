"""Business rules the till and the app cannot get round."""

from __future__ import annotations

from loyalty.ledger.balances import verify_ledger
from tests.api.test_earn_rules_api import SURVEY, create
from tests.api.test_pos import PURCHASE, REFUND, available, buy, purchase_input


async def _refund(gql, shop, receipt: str, key: str, amount: int | None = None) -> dict:
    payload: dict = {"idempotencyKey": key, "storeId": shop.store_id, "receiptId": receipt}
    if amount is not None:
        payload["amount"] = {"amountMinor": amount, "currency": "EUR"}
    result = (await gql(REFUND, {"input": payload}, token=shop.cashier_token))["refundPurchase"]
    assert result["errors"] == []
    return result


async def test_a_purchase_refunded_in_full_earns_no_survey_bonus(gql, shop, alice):
    await create(gql, shop, name="Survey", label="+20 for your feedback", kind="SURVEY",
                 points=20)
    await buy(gql, shop, alice, 10_00, receipt="R-full")
    await buy(gql, shop, alice, 10_00, receipt="R-part")
    await _refund(gql, shop, "R-full", "f-1")
    await _refund(gql, shop, "R-part", "f-2", amount=4_00)
    before = await available(gql, alice)

    full = (await gql(SURVEY, {"input": {"storeId": shop.store_id, "receiptId": "R-full",
                                         "rating": 5}}, token=alice.token))["submitSurvey"]
    part = (await gql(SURVEY, {"input": {"storeId": shop.store_id, "receiptId": "R-part",
                                         "rating": 4}}, token=alice.token))["submitSurvey"]

    assert full == {"pointsAwarded": 0, "errors": [
        {"code": "SURVEY_NOT_ELIGIBLE", "field": "receiptId",
         "message": "This purchase was refunded in full."}]}
    # What was kept is still a purchase to ask about.
    assert part == {"pointsAwarded": 20, "errors": []}
    assert await available(gql, alice) == before + 20
    assert (await verify_ledger()).problems == []


async def test_staff_record_purchases_on_sales_channels_only(gql, shop, alice):
    for channel in ("SYSTEM", "CHECKIN"):
        result = (await gql(PURCHASE, purchase_input(shop, alice, 10_00, channel=channel),
                            token=shop.cashier_token))["recordPurchase"]
        assert [(e["code"], e["field"]) for e in result["errors"]] == [
            ("INVALID_INPUT", "channel")], channel
        assert result["transaction"] is None
    assert await available(gql, alice) == 0
    for channel in ("STORE", "WEB", "APP", "PHONE", "FRANCHISE"):
        result = (await gql(PURCHASE, purchase_input(shop, alice, 10_00, channel=channel),
                            token=shop.cashier_token))["recordPurchase"]
        assert result["errors"] == [], channel
    assert await available(gql, alice) == 50
