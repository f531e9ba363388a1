"""The purchase's one-statement path (PostgreSQL) assumes what it read before
writing; when another process changed it meanwhile (a tier raised, an offer
clipped), the statement writes nothing and the general path posts the right
points. On SQLite every purchase takes the general path and the same
outcomes hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyalty.ledger.balances import verify_ledger
from loyalty.platform.sql import execute
from loyalty.points import purchase_context
from loyalty.programme import offers, tier_admin, tiers
from tests.conftest import IS_PG
from tests.integration.test_ledger import _buy, _customer, _rows, _store

pytestmark = pytest.mark.usefixtures("database")


async def test_a_tier_raised_elsewhere_is_seen_by_the_next_purchase():
    holder, store_id = await _customer(), await _store()
    silver = await tier_admin.create_tier(None, name="Silver", threshold=0, multiplier="1")
    gold = await tier_admin.create_tier(None, name="Gold", threshold=10_000, multiplier="2")
    await _buy(holder, store_id, 1000, key="p1")
    second = await _buy(holder, store_id, 1000, key="p2")
    assert second.transaction.points == 10
    # this process now remembers Silver (PostgreSQL's one-statement path);
    # another one makes the customer Gold
    assert (purchase_context.cached_context(holder.customer_id) is not None) == IS_PG
    from tortoise import connections

    await execute(connections.get("default"),
                  "INSERT INTO customer_tier (customer_id, tier_id, since, review_at, "
                  "updated_at) VALUES ($1, $2, $3, $4, $5)",
                  holder.customer_id, gold.info.id, datetime.now(UTC),
                  datetime(2100, 1, 1, tzinfo=UTC), datetime.now(UTC))
    # with its history row, as every writer of customer_tier writes it
    await tiers.record_change(connections.get("default"), holder.customer_id, gold.info.id,
                              datetime.now(UTC))
    third = await _buy(holder, store_id, 1000, key="p3")
    assert third.transaction.points == 20
    assert silver.info.id != gold.info.id
    assert (await verify_ledger()).ok


async def test_an_offer_clipped_elsewhere_is_applied_by_the_next_purchase():
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 1000, key="p1")
    await _buy(holder, store_id, 1000, key="p2")
    offer = await offers.create_offer(title="+25 points", benefit_kind="BONUS_POINTS",
                                      benefit_value=25)
    await offers.activate_offer(holder.customer_id, offer.id, datetime.now(UTC))
    third = await _buy(holder, store_id, 1000, key="p3")
    assert third.transaction.points == 35
    assert [a.bonus_points for a in third.applied] == [25]
    rows = await _rows("SELECT uses FROM offer_activation")
    assert [r[0] for r in rows] == [1]
    fourth = await _buy(holder, store_id, 1000, key="p4")
    assert fourth.transaction.points == 10 and fourth.applied == ()


async def test_date_rules_follow_the_stores_day_not_utc():
    """A rule ending on day D fires for a purchase at 23:30 on D in Paris
    (21:30 or 22:30 UTC) and not at 00:30 on D+1 in Paris, which is still D in
    UTC; a weekday rule likewise."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from loyalty.programme import earn_rules

    holder, store_id = await _customer(), await _store()
    paris = ZoneInfo("Europe/Paris")
    day = (datetime.now(paris) - timedelta(days=3)).date()
    await earn_rules.create_rule(None, name="Last day", label="+7 last day", kind="BONUS",
                                 points=7, conditions={"endsOn": day.isoformat()})
    await earn_rules.create_rule(None, name="Weekday", label="+3 on this weekday",
                                 kind="BONUS", points=3,
                                 conditions={"daysOfWeek": [day.isoweekday()]})
    late = datetime(day.year, day.month, day.day, 23, 30, tzinfo=paris)
    after = late + timedelta(hours=1)
    assert after.astimezone(UTC).date() == day  # still D in UTC
    await _buy(holder, store_id, 1000, key="warm-up")  # no first-purchase case below
    on_day = await _buy(holder, store_id, 1000, key="late", when=late)
    next_day = await _buy(holder, store_id, 1000, key="after", when=after)
    assert on_day.transaction.points == 20
    assert "+7 last day" in on_day.transaction.description
    assert next_day.transaction.points == 10


@pytest.mark.skipif(not IS_PG, reason="the version trigger is PostgreSQL's (migration 0008)")
async def test_the_accounts_version_only_moves_forward_whatever_a_writer_sets():
    """The one-statement check-in guards on account.updated_at: a posting that
    sets an equal or earlier time must still move it forward (review finding)."""
    from tortoise import connections

    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 1000, key="p1")
    conn = connections.get("default")
    before = (await _rows(f"SELECT updated_at FROM account WHERE id = {holder.account_id}"))[0][0]
    for stamp in (before, datetime(2000, 1, 1, tzinfo=UTC)):
        await execute(conn, "UPDATE account SET updated_at = $1 WHERE id = $2", stamp,
                      holder.account_id)
        after = (await _rows(
            f"SELECT updated_at FROM account WHERE id = {holder.account_id}"))[0][0]
        assert after > before
        before = after
