"""Use cases cancelled at random points leave no connection, lock or
transaction behind, and write all of a posting or none of it."""

from __future__ import annotations

import asyncio
import random

import pytest
from tortoise import connections

from loyalty import tier_admin
from loyalty.balances import balances_for, verify_ledger
from loyalty.db import transaction
from loyalty.errors import DomainError
from tests.integration.test_ledger import _buy, _customer, _redeem, _rows, _store

pytestmark = pytest.mark.usefixtures("database")


async def _pool_is_whole() -> None:
    """On PostgreSQL every connection is back in the pool, idle."""
    pool = getattr(connections.get("default"), "_pool", None)
    if pool is None:
        return
    for _ in range(50):
        if pool.get_idle_size() == pool.get_size():
            return
        await asyncio.sleep(0.05)
    assert pool.get_idle_size() == pool.get_size(), "a connection was left out of the pool"


async def _database_answers() -> None:
    await asyncio.wait_for(_rows("SELECT 1"), 2)
    async with asyncio.timeout(2), transaction() as conn:
        await conn.execute_query("SELECT 1")


async def test_use_cases_cancelled_at_random_points_leave_nothing_behind():
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 500_00, key="seed")
    rng = random.Random(20261129)
    loop = asyncio.get_running_loop()

    def operation(i: int):
        match i % 3:
            case 0:
                return _buy(holder, store_id, 10_00 + i, key=f"p{i}")
            case 1:
                return _redeem(holder, store_id, 3, key=f"r{i}", spend=f"code-{i}")
            case _:
                return tier_admin.list_tiers()

    # How long the same work takes uncancelled, so that cancellations land
    # all along it: before the first statement, mid-way, after the commit.
    started = loop.time()
    await asyncio.gather(*(operation(i) for i in range(1000, 1060)), return_exceptions=True)
    span = (loop.time() - started) * 4
    tasks = []
    for i in range(240):
        task = asyncio.create_task(operation(i))
        loop.call_later(rng.uniform(0, span), task.cancel)
        tasks.append(task)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    cancelled = sum(isinstance(o, asyncio.CancelledError) for o in outcomes)
    finished = sum(not isinstance(o, BaseException) for o in outcomes)
    # Both must happen for the test to mean anything.
    assert cancelled > 20 and finished > 20, (cancelled, finished)
    assert not [o for o in outcomes
                if isinstance(o, BaseException)
                and not isinstance(o, asyncio.CancelledError | DomainError)]

    await _database_answers()
    await _pool_is_whole()
    assert (await verify_ledger()).problems == []

    # Whatever was cancelled, a retry with the same key posts it once.
    for i in range(240):
        if i % 3 == 0:
            await _buy(holder, store_id, 10_00 + i, key=f"p{i}")
    earned = await _rows("SELECT COUNT(*) FROM purchase")
    assert int(earned[0][0]) == 1 + 20 + 80
    balance = (await balances_for([holder.customer_id]))[holder.customer_id]
    spent = await _rows("SELECT COALESCE(SUM(e.points), 0) FROM ledger_entry e JOIN "
                        "ledger_transaction t ON t.id = e.transaction_id "
                        "WHERE t.kind = 'REDEEM' AND e.account_id = "
                        f"{holder.account_id}")
    assert balance.available == 500 + 20 * 20 + sum(10 + i // 100 for i in range(0, 240, 3)) \
        + int(spent[0][0])
    assert (await verify_ledger()).problems == []
