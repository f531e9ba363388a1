"""Where customers stand (loyalty.programme.progress) against the real database: the next
reward on sale, the next tier, points expiring soon, for a batch in a bounded
number of statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from loyalty.programme import rewards, tier_admin
from loyalty.programme.progress import Goal, progress_for
from loyalty.programme.settings import update_programme_settings
from tests.integration.test_expiry import buy, customer, rows, store
from tests.integration.test_offers import CountingConnection

pytestmark = pytest.mark.usefixtures("database")


async def reward(name: str, price: int, **fields: object) -> None:
    await rewards.create_reward(name=name, points_price=price, benefit_kind="AMOUNT_OFF",
                                benefit_value=100, **fields)  # type: ignore[arg-type]


async def progress(*customer_ids: int, now: datetime | None = None):
    return await progress_for(connections.get("default"), list(customer_ids),
                              now or datetime.now(UTC))


async def test_the_next_reward_is_the_cheapest_on_sale_the_balance_cannot_buy():
    # given: 120 points; rewards at 100 (affordable), 150, 400; cheaper ones not on sale
    holder, shop = await customer(), await store()
    await buy(holder, shop, 120, key="a")
    now = datetime.now(UTC)
    await reward("Coffee", 100)
    await reward("Cake", 150)
    await reward("Lunch", 400)
    await reward("Sold out", 130, stock=0)
    await reward("Retired", 125, active=False)
    await reward("Not yet", 140, starts_at=now + timedelta(days=1))
    await reward("Over", 135, ends_at=now - timedelta(days=1),
                 starts_at=now - timedelta(days=9))
    # when
    mine = (await progress(holder.customer_id, now=now))[holder.customer_id]
    # then
    assert (mine.balance, mine.next_reward, mine.next_tier) == (120, Goal("Cake", 30), None)
    assert mine.next_goal == Goal("Cake", 30)
    # a message stating another balance measures from it
    assert mine.with_balance(420).next_reward is None
    assert mine.with_balance(20).next_reward == Goal("Coffee", 80)


async def test_the_next_tier_counts_this_periods_points_and_the_nearer_goal_wins():
    holder, shop = await customer(), await store()
    await tier_admin.create_tier(None, name="Silver", threshold=100, multiplier="1")
    await tier_admin.create_tier(None, name="Gold", threshold=500, multiplier="1")
    await buy(holder, shop, 40, key="a")
    await reward("Spa", 300)
    below = (await progress(holder.customer_id))[holder.customer_id]
    assert (below.next_tier, below.next_reward) == (Goal("Silver", 60), Goal("Spa", 260))
    assert below.next_goal == Goal("Silver", 60)
    await buy(holder, shop, 70, key="b")  # 110 in the period: Silver, Gold next
    silver = (await progress(holder.customer_id))[holder.customer_id]
    assert silver.next_tier == Goal("Gold", 390)
    assert silver.next_goal == Goal("Spa", 190)
    # tiers on spend have no number of points to tell
    await update_programme_settings(None, tier_basis="SPEND")
    assert (await progress(holder.customer_id))[holder.customer_id].next_tier is None


async def test_points_expiring_within_the_reminder_window_are_told():
    holder, shop = await customer(), await store()
    other = await customer("d@example.test")
    await buy(holder, shop, 30, key="a")
    await buy(holder, shop, 20, key="b")
    await buy(other, shop, 10, key="c")
    now = datetime.now(UTC)
    ids = [r[0] for r in await rows("SELECT id FROM lot ORDER BY id")]
    for lot_id, days in zip(ids, (5, 5, 20), strict=True):
        await rows("UPDATE lot SET expires_at = $1 WHERE id = $2", now + timedelta(days=days),
                   lot_id)
    found = await progress(holder.customer_id, other.customer_id, now=now)
    assert (found[holder.customer_id].expiring_points,
            found[holder.customer_id].expiring_at) == (50, now + timedelta(days=5))
    # 20 days is beyond the default 14-day window
    assert found[other.customer_id].expiring_points is None
    await update_programme_settings(None, reminder_days=30)
    assert (await progress(other.customer_id, now=now))[other.customer_id].expiring_points == 10


async def test_a_batch_costs_the_same_few_statements_whatever_its_size():
    shop = await store()
    await tier_admin.create_tier(None, name="Silver", threshold=100, multiplier="1")
    await reward("Cake", 150)
    holders = [await customer(f"c{i}@example.test") for i in range(12)]
    for i, holder in enumerate(holders):
        await buy(holder, shop, 10 + i, key=f"k{i}")
    # the programme's settings and ladder are cached per process: warm them
    await progress_for(connections.get("default"), [holders[0].customer_id], datetime.now(UTC))
    counts = []
    for batch in (holders[:2], holders):
        counting = CountingConnection(connections.get("default"))
        found = await progress_for(counting, [h.customer_id for h in batch],  # type: ignore[arg-type]
                                   datetime.now(UTC))
        assert len(found) == len(batch)
        counts.append(counting.statements)
    assert counts[0] == counts[1] <= 7
    assert await progress_for(connections.get("default"), [], datetime.now(UTC)) == {}
