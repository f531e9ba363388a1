"""Use cases cancelled at random points leave no connection, lock or
transaction behind, and write all of a posting or none of it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

import pytest
from tortoise import connections

from loyalty.errors import DomainError
from loyalty.ledger.balances import balances_for, verify_ledger
from loyalty.platform.db import transaction
from loyalty.platform.sql import fetch
from loyalty.programme import tier_admin
from tests.conftest import IS_PG, sessions_left_busy
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
    # In waves of 60, at least four: should the machine's load change after
    # that measure (a shared CI machine), the span follows what the waves
    # show, so that both outcomes keep happening.
    outcomes: list[object] = []
    count = cancelled = finished = 0
    while count < 240 or not (cancelled > 20 and finished > 20):
        assert count < 720, (cancelled, finished, span)
        tasks = []
        for i in range(count, count + 60):
            task = asyncio.create_task(operation(i))
            loop.call_later(rng.uniform(0, span), task.cancel)
            tasks.append(task)
        wave = await asyncio.gather(*tasks, return_exceptions=True)
        outcomes += wave
        count += 60
        cancelled = sum(isinstance(o, asyncio.CancelledError) for o in outcomes)
        finished = sum(not isinstance(o, BaseException) for o in outcomes)
        wave_finished = sum(not isinstance(o, BaseException) for o in wave)
        if wave_finished < 10:
            span *= 2
        elif wave_finished > 50:
            span /= 2
    assert not [o for o in outcomes
                if isinstance(o, BaseException)
                and not isinstance(o, asyncio.CancelledError | DomainError)]

    await _database_answers()
    await _pool_is_whole()
    assert (await verify_ledger()).problems == []

    # Whatever was cancelled, a retry with the same key posts it once.
    for i in range(0, count, 3):
        await _buy(holder, store_id, 10_00 + i, key=f"p{i}")
    earned = await _rows("SELECT COUNT(*) FROM purchase")
    assert int(earned[0][0]) == 1 + 20 + len(range(0, count, 3))
    balance = (await balances_for([holder.customer_id]))[holder.customer_id]
    spent = await _rows("SELECT COALESCE(SUM(e.points), 0) FROM ledger_entry e JOIN "
                        "ledger_transaction t ON t.id = e.transaction_id "
                        "WHERE t.kind = 'REDEEM' AND e.account_id = "
                        f"{holder.account_id}")
    assert balance.available == 500 + 20 * 20 + sum(10 + i // 100 for i in range(0, count, 3)) \
        + int(spent[0][0])
    assert (await verify_ledger()).problems == []


# Test-only slow paths, so that cancellations land while statements run: a
# trigger that makes every ledger row a few milliseconds slower to write
# (inside the use cases' transactions, their locks held), a read whose text
# is new to every pool connection (prepared there first: cancellations also
# land between asyncpg's prepare and its execute), a long answer.
_SLOW_TRIGGER = """
CREATE FUNCTION test_slow_row() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(random() * 0.004); RETURN NEW; END $$;
CREATE TRIGGER test_slow_row BEFORE INSERT ON ledger_entry
FOR EACH ROW EXECUTE FUNCTION test_slow_row();"""
# One implicit transaction (a simple query): SET LOCAL leaves the pooled
# connection's session as it was.
_NO_SLOW_TRIGGER = ("SET LOCAL lock_timeout = '5s'; DROP TRIGGER IF EXISTS test_slow_row ON "
                    "ledger_entry; DROP FUNCTION IF EXISTS test_slow_row();")


async def _slow_read(conn, i: int, rng: random.Random) -> None:
    if IS_PG:
        await fetch(conn, f"SELECT $1::int + {i} AS n FROM pg_sleep($2)", i, rng.uniform(0, 0.03))
    else:
        await fetch(conn, f"WITH RECURSIVE c(x) AS (SELECT {i} UNION ALL SELECT x + 1 FROM c "
                    "WHERE x < $1) SELECT COUNT(*) FROM c", i + rng.randrange(20_000))


async def _long_answer(conn, i: int) -> None:
    """An answer of a few megabytes: a cancellation lands while the server is
    still writing it (it waits for the client to read, "ClientWrite")."""
    await fetch(conn, "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
                "WHERE n < $1) SELECT n, $2 || n FROM g", 20_000 + i, "x" * 200)


async def _locked_slow_read(holder, i: int, rng: random.Random) -> None:
    async with transaction() as conn:
        await fetch(conn, "SELECT id FROM account WHERE id = $1" + (" FOR UPDATE" if IS_PG else ""),
                    holder.account_id)
        await _slow_read(conn, i, rng)


class _Refused(Exception):
    pass


async def _beside_a_failing_sibling(operation: Coroutine[Any, Any, object],
                                    rng: random.Random, turns: int = 8) -> object:
    """`operation` cancelled as graphql-core cancels a resolver whose sibling
    failed: the sibling fails a few loop turns after `operation` sent its
    first statement, about when a local database answers it (the answer in
    hand, the task not yet resumed, is the moment asyncpg does not see)."""

    async def sibling() -> None:
        for _ in range(rng.randrange(0, turns)):
            await asyncio.sleep(0)
        raise _Refused

    refused: object = None
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(operation)
            group.create_task(sibling())
    except* _Refused:
        refused = _Refused
    return refused


async def test_queries_cancelled_while_they_run_leave_no_session_busy():
    """Use cases and slow statements, in and out of transactions, cancelled
    in waves at random points while their statements run, by a timer or by a
    failing sibling: no session is left in a transaction or mid-statement,
    every pool connection is back, the ledger holds and every cancelled
    purchase, retried, posts once."""
    holder, store_id = await _customer(), await _store()
    await _buy(holder, store_id, 500_00, key="seed")
    rng = random.Random(20261130)
    loop = asyncio.get_running_loop()
    conn = connections.get("default")

    def operation(i: int):
        match i % 6:
            case 0:
                return _buy(holder, store_id, 10_00 + i, key=f"p{i}")
            case 1:
                return _redeem(holder, store_id, 3, key=f"r{i}", spend=f"code-{i}")
            case 2:
                return tier_admin.list_tiers()
            case 3:
                return _slow_read(conn, i, rng)
            case 4:
                return _long_answer(conn, i)
            case _:
                return _locked_slow_read(holder, i, rng)

    if IS_PG:
        await conn.execute_script(_SLOW_TRIGGER)
    try:
        started = loop.time()
        await asyncio.gather(*(operation(i) for i in range(10_000, 10_040)),
                             return_exceptions=True)
        span = (loop.time() - started) * 1.5
        outcomes: list[object] = []
        for wave in range(8):
            tasks = []
            for i in range(wave * 40, wave * 40 + 40):
                if i % 2:
                    task = asyncio.create_task(operation(i))
                    loop.call_later(rng.uniform(0, span), task.cancel)
                else:
                    task = asyncio.create_task(_beside_a_failing_sibling(operation(i), rng))
                tasks.append(task)
            outcomes += await asyncio.gather(*tasks, return_exceptions=True)
        busy = await sessions_left_busy()
        # Then rounds of statements new to every connection, as many at once
        # as the pool has connections and nothing after them: a connection
        # left mid-statement is not used again (which would end its state)
        # before the check.
        pool = getattr(conn, "_pool", None)
        for round_ in range(10):
            if busy:
                break
            first = 1000 + round_ * 100
            await asyncio.gather(*(
                _beside_a_failing_sibling(_slow_read(conn, i, rng), rng, turns=40)
                for i in range(first, first + (pool.get_max_size() if pool else 10))))
            busy = await sessions_left_busy()
    finally:
        if IS_PG:
            await conn.execute_script(_NO_SLOW_TRIGGER)
    cancelled = sum(isinstance(o, asyncio.CancelledError) or o is _Refused for o in outcomes)
    finished = sum(not isinstance(o, BaseException) and o is not _Refused for o in outcomes)
    assert cancelled > 40 and finished > 40, (cancelled, finished)
    assert not [o for o in outcomes
                if isinstance(o, BaseException)
                and not isinstance(o, asyncio.CancelledError | DomainError)]
    assert busy == []
    await _pool_is_whole()
    await _database_answers()
    assert (await verify_ledger()).problems == []
    for i in range(0, 320, 6):
        await _buy(holder, store_id, 10_00 + i, key=f"p{i}")
    posted = await _rows("SELECT COUNT(*) FROM purchase")
    assert int(posted[0][0]) == 1 + len(range(10_002, 10_040, 6)) + len(range(0, 320, 6))
    assert (await verify_ledger()).problems == []
