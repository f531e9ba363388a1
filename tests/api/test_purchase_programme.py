"""recordPurchase under the programme: earn rules, once-only bonuses, tier
multipliers, clipped offers and coupons, through HTTP GraphQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from loyalty.identity import profile
from loyalty.ledger.balances import verify_ledger
from loyalty.platform.db import transaction
from loyalty.programme import coupons, earn_rules, offers, tier_admin
from tests.api.test_pos import available
from tests.conftest import CustomerHandle, GraphQLClient, Shop

PURCHASE = """
mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id points description }
    customer { availablePoints }
    applied { title kind source bonusPoints discount { amountMinor currency } }
    discount { amountMinor currency }
    errors { code field message }
  }
}"""
ACTIVATE = """
mutation($input: ActivateOfferInput!) {
  activateOffer(input: $input) { offer { id activated } errors { code field message } }
}"""
HISTORY = "query { me { history(first: 5) { edges { node { points description } } } } }"

COFFEE = [
    {"sku": "ESP-1", "category": "coffee", "quantity": 2,
     "unitPrice": {"amountMinor": 300, "currency": "EUR"}},
    {"sku": "CRO-1", "category": "bakery", "quantity": 1,
     "unitPrice": {"amountMinor": 150, "currency": "EUR"}},
]


def purchase(shop: Shop, customer: CustomerHandle, amount: int, **extra: object) -> dict:
    key = str(extra.pop("key", uuid.uuid4().hex))
    return {"input": {
        "idempotencyKey": key,
        "card": {"qrPayload": customer.qr()},
        "storeId": shop.store_id,
        "receiptId": str(extra.pop("receipt", "r-" + key[:10])),
        "total": {"amountMinor": amount, "currency": "EUR"},
        **extra,
    }}


async def buy(gql: GraphQLClient, shop: Shop, customer: CustomerHandle, amount: int,
              **extra: object) -> dict:
    return (await gql(PURCHASE, purchase(shop, customer, amount, **extra),
                      token=shop.cashier_token))["recordPurchase"]


async def coffee_and_welcome_rules() -> None:
    await earn_rules.create_rule(None, name="Coffee x2", label="x2 on coffee",
                                 kind="MULTIPLIER", rate="2",
                                 conditions={"categories": ["coffee"]})
    await earn_rules.create_rule(None, name="Welcome", label="+50 first purchase",
                                 kind="FIRST_PURCHASE", points=50)


async def test_rules_fire_and_become_the_entry_description(gql, shop, alice):
    # given x2 on coffee and a first-purchase bonus
    await coffee_and_welcome_rules()
    # when Alice buys two coffees and a croissant, twice
    first = await buy(gql, shop, alice, 750, lines=COFFEE)
    second = await buy(gql, shop, alice, 750, lines=COFFEE)
    # then 7 base + 6 for coffee + 50 once, each line named
    assert first["errors"] == [] and second["errors"] == []
    assert first["transaction"]["points"] == 63
    assert first["transaction"]["description"] == (
        "Purchase at Opéra: 7 base points; x2 on coffee +6; +50 first purchase")
    assert second["transaction"]["points"] == 13
    history = (await gql(HISTORY, token=alice.token))["me"]["history"]["edges"]
    assert [e["node"]["points"] for e in history] == [13, 63]
    assert "x2 on coffee +6" in history[0]["node"]["description"]


async def test_concurrent_first_purchases_give_the_first_purchase_bonus_once(gql, shop, alice):
    await coffee_and_welcome_rules()
    results = await asyncio.gather(*(buy(gql, shop, alice, 1000) for _ in range(6)))
    assert all(r["errors"] == [] for r in results)
    assert sorted(r["transaction"]["points"] for r in results) == [10] * 5 + [60]
    assert await available(gql, alice) == 110
    assert (await verify_ledger()).ok


async def test_birthday_bonus_once_a_year_on_the_stores_day(gql, shop, alice):
    await earn_rules.create_rule(None, name="Birthday", label="+30 happy birthday",
                                 kind="BIRTHDAY", points=30)
    today_in_paris = datetime.now(ZoneInfo("Europe/Paris")).date()
    await profile.update_profile(alice.id, birth_date=today_in_paris.replace(year=1990))
    results = [await buy(gql, shop, alice, 1000) for _ in range(2)]
    assert [r["transaction"]["points"] for r in results] == [40, 10]
    assert "+30 happy birthday" in results[0]["transaction"]["description"]


async def test_tier_multiplier_and_upgrade_at_once(gql, shop, alice):
    await tier_admin.create_tier(None, name="Silver", threshold=0, multiplier="1")
    await tier_admin.create_tier(None, name="Gold", threshold=100, multiplier="2")
    # 100 points make Alice Gold at once; the next purchase earns double
    first = await buy(gql, shop, alice, 10_000)
    second = await buy(gql, shop, alice, 1000)
    assert first["transaction"]["points"] == 100
    assert second["transaction"]["points"] == 20
    assert "x2 Gold tier +10" in second["transaction"]["description"]


async def test_a_clipped_offer_applies_once_and_a_retry_reports_it_again(gql, shop, alice):
    offer = await offers.create_offer(title="2 EUR off", benefit_kind="AMOUNT_OFF",
                                      benefit_value=200, per_customer_limit=1)
    clipped = (await gql(ACTIVATE, {"input": {"offerId": str(offer.id)}},
                         token=alice.token))["activateOffer"]
    assert clipped["errors"] == [] and clipped["offer"]["activated"] is True
    key = uuid.uuid4().hex
    first = await buy(gql, shop, alice, 1000, key=key)
    retry = await buy(gql, shop, alice, 1000, key=key)
    later = await buy(gql, shop, alice, 1000)
    # points are earned on what was paid: 10.00 - 2.00
    assert first["transaction"]["points"] == 8
    assert first["applied"] == [{"title": "2 EUR off", "kind": "AMOUNT_OFF", "source": "OFFER",
                                 "bonusPoints": 0,
                                 "discount": {"amountMinor": 200, "currency": "EUR"}}]
    assert first["discount"] == {"amountMinor": 200, "currency": "EUR"}
    assert retry["transaction"]["id"] == first["transaction"]["id"]
    assert retry["applied"] == first["applied"]
    assert later["applied"] == [] and later["transaction"]["points"] == 10
    assert await available(gql, alice) == 18


async def issue(customer_id: int | None, kind: str, value: int, days: int = 7) -> str:
    async with transaction() as conn:
        return await coupons.issue_coupon(
            conn, customer_id=customer_id, title="Welcome back", kind=kind, value=value,
            expires_at=datetime.now(UTC) + timedelta(days=days))


async def test_a_coupon_presented_at_two_tills_at_once_is_applied_once(gql, shop, alice):
    code = await issue(alice.id, "BONUS_POINTS", 100)
    keys = [uuid.uuid4().hex, uuid.uuid4().hex]
    results = await asyncio.gather(*(buy(gql, shop, alice, 1000, key=k, couponCode=code)
                                     for k in keys))
    ok = [r for r in results if r["errors"] == []]
    refused = [r for r in results if r["errors"]]
    assert len(ok) == 1 and len(refused) == 1
    assert refused[0]["errors"][0]["code"] == "COUPON_ALREADY_USED"
    assert refused[0]["transaction"] is None
    assert ok[0]["transaction"]["points"] == 110
    assert ok[0]["applied"][0]["bonusPoints"] == 100
    assert await available(gql, alice) == 110
    # the till that succeeded retries: its original result, not a refusal
    winner = keys[results.index(ok[0])]
    retry = await buy(gql, shop, alice, 1000, key=winner, couponCode=code,
                      receipt="r-" + winner[:10])
    assert retry["errors"] == [] and retry["transaction"] == ok[0]["transaction"]
    assert (await verify_ledger()).ok


async def test_coupon_refusals_post_nothing(gql, shop, alice, bob):
    bobs = await issue(bob.id, "PERCENT_OFF", 10)
    expired = await issue(alice.id, "PERCENT_OFF", 10, days=-1)
    cases = [("NOPE-NOPE-1", "COUPON_NOT_FOUND"), (bobs, "COUPON_NOT_FOUND"),
             (expired, "COUPON_EXPIRED")]
    for code, expected in cases:
        result = await buy(gql, shop, alice, 1000, couponCode=code)
        assert result["transaction"] is None
        assert [(e["code"], e["field"]) for e in result["errors"]] == [(expected, "couponCode")]
    assert await available(gql, alice) == 0


async def test_a_percent_coupon_is_a_discount_on_the_bill(gql, shop, alice):
    code = await issue(None, "PERCENT_OFF", 15)
    result = await buy(gql, shop, alice, 1999, couponCode=code.lower())
    # 15 % of 19.99 is 2.9985: 2.99 off, 17.00 paid, 17 points
    assert result["discount"] == {"amountMinor": 299, "currency": "EUR"}
    assert result["transaction"]["points"] == 17


async def test_the_purchase_payload_shows_the_offers_left_for_this_store(gql, shop, alice):
    here = await offers.create_offer(title="Here", benefit_kind="BONUS_POINTS",
                                     benefit_value=5, target="STORE",
                                     store_id=int(shop.store_id))
    await offers.create_offer(title="Elsewhere", benefit_kind="BONUS_POINTS",
                              benefit_value=5, target="STORE",
                              store_id=int(shop.other_store_id))
    await gql(ACTIVATE, {"input": {"offerId": str(here.id)}}, token=alice.token)
    query = PURCHASE.replace("customer { availablePoints }",
                             "customer { availablePoints offers { title activated } }")
    result = (await gql(query, purchase(shop, alice, 1000),
                        token=shop.cashier_token))["recordPurchase"]
    # the clipped offer was used up by this purchase; none is left to show
    assert [a["title"] for a in result["applied"]] == ["Here"]
    assert result["customer"]["offers"] == []
    assert result["customer"]["availablePoints"] == 15
