"""A purchase recorded late (an offline till's batch, a backdated receipt)
earns with the tier the customer held when it happened, from the tier
history: not the tier they hold when it is recorded. On PostgreSQL both the
one-statement path and the general one are taken (pending days force the
general one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from loyalty.platform.config import set_settings
from tests.api.test_lifetime_prediction import PURCHASE
from tests.api.test_offline_batch import BATCH, item
from tests.api.test_tiers_api import _tier
from tests.conftest import DATABASE_URL, GraphQLClient, Shop, settings_for
from tests.integration.test_expiry import rows

PATHS = pytest.mark.parametrize("pending_days", [0, 1], ids=["one statement", "general"])


async def ladder(gql: GraphQLClient, shop: Shop) -> dict[str, int]:
    made = {}
    for name, threshold, multiplier in (("Silver", 100, "1.25"), ("Gold", 500, "1.5")):
        created = await _tier(gql, shop, name=name, threshold=threshold, multiplier=multiplier)
        assert created["errors"] == []
        made[name] = int(created["tier"]["id"])
    return made


async def batch(gql: GraphQLClient, shop: Shop, purchases: list[dict]) -> list[int]:
    done = (await gql(BATCH, {"input": {"purchases": purchases}},
                      token=shop.cashier_token))["recordPurchases"]
    assert all(r["errors"] == [] for r in done["results"]), done
    return [r["transaction"]["points"] for r in done["results"]]


@PATHS
async def test_an_offline_purchase_earns_with_the_tier_held_then(
        gql: GraphQLClient, shop: Shop, alice, pending_days: int):
    set_settings(settings_for(DATABASE_URL, pending_days=pending_days))
    await ladder(gql, shop)
    now = datetime.now(UTC)
    card = {"cardNumber": alice.card_number}
    # given: Alice reaches Gold now, with a big basket at the till
    assert await batch(gql, shop, [item(shop, card, 600_00, "BIG")]) == [600]
    assert await rows("SELECT t.name FROM customer_tier ct JOIN tier t ON t.id = ct.tier_id "
                      "WHERE ct.customer_id = $1", alice.id) == [("Gold",)]
    # when: a till that was offline sends what she bought five days ago and
    # an hour ago
    points = await batch(gql, shop, [item(shop, card, 100_00, "OFF-1", now - timedelta(days=5)),
                                     item(shop, card, 100_00, "OFF-2",
                                          now - timedelta(hours=1))])
    # then: five days ago she had no tier (x1); an hour ago neither: Gold
    # came with the basket recorded just now
    assert points == [100, 100]
    # and what she buys from now on earns with Gold
    assert await batch(gql, shop, [item(shop, card, 100_00, "NOW")]) == [150]


@PATHS
async def test_a_tier_lost_at_a_review_still_counts_for_purchases_made_before(
        gql: GraphQLClient, shop: Shop, alice, pending_days: int):
    set_settings(settings_for(DATABASE_URL, pending_days=pending_days))
    tiers = await ladder(gql, shop)
    now = datetime.now(UTC)
    # given: Alice was Gold from twenty days ago and went down to Silver at
    # yesterday's review (as loyalty.programme.tiers.review_due writes it)
    conn = connections.get("default")
    for tier, days_ago in (("Gold", 20), ("Silver", 1)):
        await conn.execute_query(
            "INSERT INTO tier_change (customer_id, tier_id, at) VALUES ($1, $2, $3)"
            if conn.capabilities.dialect == "postgres" else
            "INSERT INTO tier_change (customer_id, tier_id, at) VALUES (?, ?, ?)",
            [alice.id, tiers[tier], now - timedelta(days=days_ago)])
    await conn.execute_query(
        "INSERT INTO customer_tier (customer_id, tier_id, since, review_at, updated_at) "
        + ("VALUES ($1, $2, $3, $4, $3)" if conn.capabilities.dialect == "postgres"
           else "VALUES (?, ?, ?, ?, ?)"),
        [alice.id, tiers["Silver"], now - timedelta(days=1), now + timedelta(days=300)]
        + ([] if conn.capabilities.dialect == "postgres" else [now - timedelta(days=1)]))
    card = {"cardNumber": alice.card_number}
    # when: purchases of three and of almost seven days ago, and of now
    points = await batch(gql, shop, [
        item(shop, card, 100_00, "T-3", now - timedelta(days=3)),
        item(shop, card, 100_00, "T-6", now - timedelta(days=6, hours=23)),
        item(shop, card, 100_00, "T-0")])
    # then: Gold's x1.5 then, Gold still, Silver's x1.25 now
    assert points == [150, 150, 125]
    # and a receipt of three weeks ago, before any tier, recorded alone
    # (recordPurchase takes receipts up to 30 days old)
    single = (await gql(PURCHASE, {"input": {
        **item(shop, card, 100_00, "OLD", now - timedelta(days=21))}},
        token=shop.cashier_token))["recordPurchase"]
    assert single["errors"] == [] and single["transaction"]["points"] == 100
