"""The purchase's one-statement path (PostgreSQL) assumes what it read before
writing; when another process changed it meanwhile (a tier raised, an offer
clipped), the statement writes nothing and the general path posts the right
points. On SQLite every purchase takes the general path and the same
outcomes hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyalty import offers, purchase_context, tier_admin
from loyalty.balances import verify_ledger
from loyalty.sql import execute
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
