"""The till: card lookup, purchases, redemptions, refunds, through HTTP GraphQL."""

from __future__ import annotations

import uuid

from tests.conftest import CustomerHandle, GraphQLClient, Shop

LOOKUP = """
query($card: CardInput!, $storeId: ID!) {
  cardLookup(card: $card, storeId: $storeId) {
    customer { firstName cardNumber tier availablePoints offers { id } }
    errors { code field message }
  }
}"""
PURCHASE = """
mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id kind points description createdAt }
    customer { firstName cardNumber availablePoints }
    errors { code field message }
  }
}"""
REDEEM = """
mutation($input: RedeemPointsInput!) {
  redeemPoints(input: $input) {
    transaction { id kind points description }
    customer { availablePoints }
    errors { code field message }
  }
}"""
REFUND = """
mutation($input: RefundPurchaseInput!) {
  refundPurchase(input: $input) {
    transaction { id kind points description }
    errors { code field message }
  }
}"""
BALANCE = "query { me { points { available pending lifetimeEarned } } }"


def purchase_input(shop: Shop, customer: CustomerHandle, amount: int, *,
                   receipt: str | None = None, key: str | None = None,
                   currency: str = "EUR", **extra: object) -> dict[str, object]:
    return {"input": {
        "idempotencyKey": key or uuid.uuid4().hex,
        "card": {"qrPayload": customer.qr()},
        "storeId": shop.store_id,
        "receiptId": receipt or uuid.uuid4().hex[:12],
        "total": {"amountMinor": amount, "currency": currency},
        **extra,
    }}


async def buy(gql: GraphQLClient, shop: Shop, customer: CustomerHandle, amount: int,
              **kw: object) -> dict[str, object]:
    data = await gql(PURCHASE, purchase_input(shop, customer, amount, **kw),
                     token=shop.cashier_token)
    return data["recordPurchase"]


async def available(gql: GraphQLClient, customer: CustomerHandle) -> int:
    return (await gql(BALANCE, token=customer.token))["me"]["points"]["available"]


async def test_card_lookup_by_qr_and_by_typed_number(gql, shop, alice):
    by_qr = (await gql(LOOKUP, {"card": {"qrPayload": alice.qr()}, "storeId": shop.store_id},
                       token=shop.cashier_token))["cardLookup"]
    spaced = " ".join(alice.card_number[i:i + 4] for i in range(0, 12, 4))
    by_number = (await gql(LOOKUP, {"card": {"cardNumber": spaced}, "storeId": shop.store_id},
                           token=shop.cashier_token))["cardLookup"]
    assert by_qr["errors"] == [] and by_number["errors"] == []
    assert by_qr["customer"]["firstName"] == "Alice"
    assert by_qr["customer"] == by_number["customer"]
    assert by_qr["customer"]["availablePoints"] == 0


async def test_mistyped_card_number_fails_its_check_digit(gql, shop, alice):
    wrong = alice.card_number[:-1] + str((int(alice.card_number[-1]) + 1) % 10)
    result = (await gql(LOOKUP, {"card": {"cardNumber": wrong}, "storeId": shop.store_id},
                        token=shop.cashier_token))["cardLookup"]
    assert result["customer"] is None
    assert [e["code"] for e in result["errors"]] == ["CARD_NOT_FOUND"]


async def test_purchase_earns_base_rate_rounded_down(gql, shop, alice):
    result = await buy(gql, shop, alice, 12_99)
    assert result["errors"] == []
    assert result["transaction"]["kind"] == "EARN"
    assert result["transaction"]["points"] == 12
    assert result["transaction"]["description"] == "Purchase at Opéra: 12 base points"
    assert result["customer"]["availablePoints"] == 12
    assert await available(gql, alice) == 12


async def test_retried_purchase_posts_once_and_returns_the_original(gql, shop, alice):
    args = purchase_input(shop, alice, 50_00, key="till-7-0001", receipt="R-1")
    first = (await gql(PURCHASE, args, token=shop.cashier_token))["recordPurchase"]
    again = (await gql(PURCHASE, args, token=shop.cashier_token))["recordPurchase"]
    assert again["transaction"]["id"] == first["transaction"]["id"]
    assert again["errors"] == []
    assert await available(gql, alice) == 50


async def test_same_key_different_body_is_a_conflict(gql, shop, alice):
    await buy(gql, shop, alice, 10_00, key="k-1", receipt="R-1")
    other = await buy(gql, shop, alice, 20_00, key="k-1", receipt="R-1")
    assert [e["code"] for e in other["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert await available(gql, alice) == 10


async def test_same_receipt_in_the_same_store_is_a_duplicate(gql, shop, alice):
    await buy(gql, shop, alice, 10_00, receipt="R-9")
    dup = await buy(gql, shop, alice, 10_00, receipt="R-9")
    assert [e["code"] for e in dup["errors"]] == ["DUPLICATE_RECEIPT"]
    assert dup["transaction"] is None
    assert await available(gql, alice) == 10


async def test_redeem_spends_and_a_code_cannot_pay_twice(gql, shop, alice):
    await buy(gql, shop, alice, 100_00)
    code = alice.qr()
    first = (await gql(REDEEM, {"input": {"idempotencyKey": "r-1", "card": {"qrPayload": code},
                                          "storeId": shop.store_id, "points": 30}},
                       token=shop.cashier_token))["redeemPoints"]
    assert first["errors"] == []
    assert first["transaction"]["points"] == -30
    assert first["customer"]["availablePoints"] == 70
    second = (await gql(REDEEM, {"input": {"idempotencyKey": "r-2", "card": {"qrPayload": code},
                                           "storeId": shop.store_id, "points": 30}},
                        token=shop.cashier_token))["redeemPoints"]
    assert [e["code"] for e in second["errors"]] == ["QR_ALREADY_USED"]
    assert await available(gql, alice) == 70


async def test_redeem_retry_with_the_same_key_and_code_replays(gql, shop, alice):
    await buy(gql, shop, alice, 100_00)
    args = {"input": {"idempotencyKey": "r-1", "card": {"qrPayload": alice.qr()},
                      "storeId": shop.store_id, "points": 40}}
    first = (await gql(REDEEM, args, token=shop.cashier_token))["redeemPoints"]
    again = (await gql(REDEEM, args, token=shop.cashier_token))["redeemPoints"]
    assert again["errors"] == []
    assert again["transaction"]["id"] == first["transaction"]["id"]
    assert await available(gql, alice) == 60


async def test_redeem_more_than_available_is_refused_and_code_stays_usable(gql, shop, alice):
    await buy(gql, shop, alice, 10_00)
    code = alice.qr()
    too_much = (await gql(REDEEM, {"input": {"idempotencyKey": "r-1",
                                             "card": {"qrPayload": code},
                                             "storeId": shop.store_id, "points": 11}},
                          token=shop.cashier_token))["redeemPoints"]
    assert [e["code"] for e in too_much["errors"]] == ["INSUFFICIENT_POINTS"]
    ok = (await gql(REDEEM, {"input": {"idempotencyKey": "r-2", "card": {"qrPayload": code},
                                       "storeId": shop.store_id, "points": 10}},
                    token=shop.cashier_token))["redeemPoints"]
    assert ok["errors"] == []
    assert await available(gql, alice) == 0


async def test_redeem_needs_a_qr_code(gql, shop, alice):
    await buy(gql, shop, alice, 10_00)
    result = (await gql(REDEEM, {"input": {"idempotencyKey": "r-1",
                                           "card": {"cardNumber": alice.card_number},
                                           "storeId": shop.store_id, "points": 5}},
                        token=shop.cashier_token))["redeemPoints"]
    assert [e["code"] for e in result["errors"]] == ["INVALID_INPUT"]
    assert await available(gql, alice) == 10


async def test_whole_and_partial_refunds_take_points_back_pro_rata(gql, shop, alice):
    await buy(gql, shop, alice, 99_00, receipt="R-1")
    part = (await gql(REFUND, {"input": {"idempotencyKey": "f-1", "storeId": shop.store_id,
                                         "receiptId": "R-1",
                                         "amount": {"amountMinor": 33_00, "currency": "EUR"}}},
                      token=shop.cashier_token))["refundPurchase"]
    assert part["errors"] == [] and part["transaction"]["points"] == -33
    assert part["transaction"]["kind"] == "REFUND"
    rest = (await gql(REFUND, {"input": {"idempotencyKey": "f-2", "storeId": shop.store_id,
                                         "receiptId": "R-1"}},
                      token=shop.cashier_token))["refundPurchase"]
    assert rest["errors"] == [] and rest["transaction"]["points"] == -66
    assert await available(gql, alice) == 0
    beyond = (await gql(REFUND, {"input": {"idempotencyKey": "f-3", "storeId": shop.store_id,
                                           "receiptId": "R-1",
                                           "amount": {"amountMinor": 1, "currency": "EUR"}}},
                        token=shop.cashier_token))["refundPurchase"]
    assert [e["code"] for e in beyond["errors"]] == ["REFUND_EXCEEDS_PURCHASE"]


async def test_partial_refunds_add_up_to_exactly_the_points_earned(gql, shop, alice):
    await buy(gql, shop, alice, 10_00, receipt="R-1")  # 10 points
    taken = 0
    for i in range(3):  # 3.33 + 3.33 + 3.34: rounding must not lose or invent a point
        amount = 3_33 if i < 2 else 3_34
        r = (await gql(REFUND, {"input": {"idempotencyKey": f"f-{i}", "storeId": shop.store_id,
                                          "receiptId": "R-1",
                                          "amount": {"amountMinor": amount,
                                                     "currency": "EUR"}}},
                       token=shop.cashier_token))["refundPurchase"]
        assert r["errors"] == []
        taken -= r["transaction"]["points"]
    assert taken == 10
    assert await available(gql, alice) == 0


async def test_refund_of_spent_points_goes_negative_and_next_earning_repays(gql, shop, alice):
    await buy(gql, shop, alice, 100_00, receipt="R-1")
    await gql(REDEEM, {"input": {"idempotencyKey": "r-1", "card": {"qrPayload": alice.qr()},
                                 "storeId": shop.store_id, "points": 80}},
              token=shop.cashier_token)
    await gql(REFUND, {"input": {"idempotencyKey": "f-1", "storeId": shop.store_id,
                                 "receiptId": "R-1"}}, token=shop.cashier_token)
    assert await available(gql, alice) == -80
    await buy(gql, shop, alice, 50_00)
    assert await available(gql, alice) == -30
    await buy(gql, shop, alice, 50_00)
    assert await available(gql, alice) == 20
    # Only the 20 that survived the debt are spendable.
    over = (await gql(REDEEM, {"input": {"idempotencyKey": "r-2",
                                         "card": {"qrPayload": alice.qr()},
                                         "storeId": shop.store_id, "points": 21}},
                      token=shop.cashier_token))["redeemPoints"]
    assert [e["code"] for e in over["errors"]] == ["INSUFFICIENT_POINTS"]
    exact = (await gql(REDEEM, {"input": {"idempotencyKey": "r-3",
                                          "card": {"qrPayload": alice.qr()},
                                          "storeId": shop.store_id, "points": 20}},
                       token=shop.cashier_token))["redeemPoints"]
    assert exact["errors"] == []
    from loyalty.ledger.balances import verify_ledger

    assert (await verify_ledger()).problems == []


async def test_cashier_cannot_act_in_another_store(gql, shop, alice):
    args = purchase_input(shop, alice, 10_00)
    args["input"]["storeId"] = shop.other_store_id  # type: ignore[index]
    result = (await gql(PURCHASE, args, token=shop.cashier_token))["recordPurchase"]
    assert [e["code"] for e in result["errors"]] == ["STORE_NOT_ALLOWED"]
    lookup = (await gql(LOOKUP, {"card": {"qrPayload": alice.qr()},
                                 "storeId": shop.other_store_id},
                        token=shop.cashier_token))["cardLookup"]
    assert [e["code"] for e in lookup["errors"]] == ["STORE_NOT_ALLOWED"]
    assert await available(gql, alice) == 0


async def test_purchase_retried_after_its_qr_expired_replays_the_original(gql, shop, alice):
    from datetime import UTC, datetime, timedelta

    from wallet.qr import make_qr

    args = purchase_input(shop, alice, 30_00, key="till-1", receipt="R-1")
    first = (await gql(PURCHASE, args, token=shop.cashier_token))["recordPurchase"]
    # The till retries later; its code has expired meanwhile.
    expired = make_qr(alice.card_number, alice.qr_secret,
                      now=datetime.now(UTC) - timedelta(minutes=5)).payload
    args["input"]["card"] = {"qrPayload": expired}  # type: ignore[index]
    again = (await gql(PURCHASE, args, token=shop.cashier_token))["recordPurchase"]
    assert again["errors"] == []
    assert again["transaction"]["id"] == first["transaction"]["id"]
    # A new purchase with an expired code is still refused.
    fresh = purchase_input(shop, alice, 10_00)
    fresh["input"]["card"] = {"qrPayload": expired}  # type: ignore[index]
    refused = (await gql(PURCHASE, fresh, token=shop.cashier_token))["recordPurchase"]
    assert [e["code"] for e in refused["errors"]] == ["QR_EXPIRED"]
    assert await available(gql, alice) == 30


async def test_system_idempotency_keys_are_refused(gql, shop, alice):
    result = await buy(gql, shop, alice, 10_00, key="sys:visit:1:1:2026-11-23")
    assert [(e["code"], e["field"]) for e in result["errors"]] == [
        ("INVALID_INPUT", "idempotencyKey")]
    assert await available(gql, alice) == 0
