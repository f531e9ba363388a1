"""Three journeys worker processes advance 10,000 runs while one of them is
SIGKILLed mid-batch (and another started in its place): every step's effect
happens exactly once and none is lost. Counted in the tables: one coupon per
issue key, one ledger posting per award, two notifications per run, every
run completed, every customer's balance what their awards add up to."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest
from tortoise import connections

from journeys.models import Journey
from journeys.publish import publish_version
from loyalty.platform.sql import execute, fetch, fetchrow
from tests.conftest import IS_PG, TEST_SECRET
from tests.integration.journey_support import EXIT, customer, message

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.slow,
    pytest.mark.usefixtures("database"),
    pytest.mark.skipif(not IS_PG, reason="needs PostgreSQL (SKIP LOCKED across processes): "
                       "set TEST_DATABASE_URL=postgres://..."),
]

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = 250
JOURNEYS = 40  # CUSTOMERS * JOURNEYS runs
RUNS = CUSTOMERS * JOURNEYS
TIMEOUT = 240.0

DEFINITION = {
    "trigger": {"event": "never_sent"},
    "start": "coupon",
    "steps": {
        "coupon": {"type": "issueCoupon", "percentOff": 5, "validFor": "P7D",
                   "channels": ["WEB"], "next": "points"},
        "points": {"type": "awardPoints", "points": 1, "reason": "Bench", "next": "tell"},
        "tell": message("{{ customer.first_name }}: {{ coupon.code }}", "pause"),
        "pause": {"type": "wait", "duration": "PT1S", "next": "again"},
        "again": message("Again {{ customer.first_name }}", "end"),
        "end": EXIT,
    },
}


@dataclass
class Worker:
    name: str
    process: asyncio.subprocess.Process
    log: IO[bytes]

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]


async def start_worker(database: str, name: str) -> Worker:
    env = {**os.environ, "DATABASE_URL": database, "LOYALTY_ENV": "test",
           "LOYALTY_SECRET_KEY": TEST_SECRET, "PYTHONUNBUFFERED": "1",
           "LOYALTY_JOURNEYS_BATCH_SIZE": "200", "LOYALTY_JOURNEYS_POLL_SECONDS": "0.05"}
    log = tempfile.TemporaryFile()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.journey_worker", cwd=REPO, env=env, stdout=log,
        stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    worker = Worker(name, process, log)
    deadline = time.monotonic() + 30
    while "worker running" not in worker.output():
        assert process.returncode is None, worker.output()
        assert time.monotonic() < deadline, f"{name} did not start"
        await asyncio.sleep(0.05)
    return worker


async def stop(worker: Worker) -> None:
    if worker.process.returncode is None:
        worker.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.process.wait(), 20)
        except TimeoutError:
            worker.process.kill()
            await worker.process.wait()
    worker.log.close()


async def count(statement: str, *args: object) -> int:
    row = await fetchrow(connections.get("default"), statement, *args)
    return int(row[0])


async def test_a_worker_killed_mid_batch_loses_and_doubles_no_step(database):
    # given: 10,000 runs due now, on 40 journeys of 250 customers
    people = [await customer(f"P{i}") for i in range(CUSTOMERS)]
    now = datetime.now(UTC)
    journeys = []
    for j in range(JOURNEYS):
        journey = await Journey.create(name=f"j{j}")
        await publish_version(journey.id, DEFINITION, now)
        journeys.append(journey.id)
    conn = connections.get("default")
    await execute(
        conn,
        "INSERT INTO journey_run (journey_id, customer_id, version, entry, step, status, seq, "
        "trigger, wake_at, entered_at) SELECT j, c, 1, 1, 'coupon', 'active', 0, '{}', $1, $2 "
        "FROM unnest($3::bigint[]) AS j, unnest($4::bigint[]) AS c",
        now, now, journeys, people)
    assert await count("SELECT COUNT(*) FROM journey_run") == RUNS

    workers = [await start_worker(database, f"w{i}") for i in range(3)]
    try:
        # when: one is killed while batches are in flight, and replaced
        deadline = time.monotonic() + TIMEOUT
        while await count("SELECT COUNT(*) FROM notification") < RUNS // 4:
            assert time.monotonic() < deadline, "no progress"
            await asyncio.sleep(0.05)
        workers[0].process.send_signal(signal.SIGKILL)
        await workers[0].process.wait()
        workers.append(await start_worker(database, "w3"))
        while await count("SELECT COUNT(*) FROM journey_run WHERE status <> 'completed'"):
            alive = [w for w in workers[1:] if w.process.returncode is not None]
            assert not alive, alive[0].output()
            assert time.monotonic() < deadline, "runs left: " + workers[1].output()
            await asyncio.sleep(0.2)
    finally:
        for w in workers:
            await stop(w)

    # then: each step's effect exactly once, none lost
    assert await count("SELECT COUNT(*) FROM journey_run WHERE status = 'completed'") == RUNS
    assert await count("SELECT COUNT(*) FROM coupon") == RUNS
    assert await count("SELECT COUNT(DISTINCT issue_key) FROM coupon") == RUNS
    assert await count("SELECT COUNT(*) FROM ledger_transaction WHERE kind = 'BONUS'") == RUNS
    assert await count("SELECT COUNT(*) FROM notification") == 2 * RUNS
    assert await count("SELECT COUNT(DISTINCT dedupe_key) FROM notification") == 2 * RUNS
    assert await count("SELECT COUNT(*) FROM journey_message WHERE status = 'queued'") \
        == 2 * RUNS
    balances = await fetch(conn, "SELECT available, COUNT(*) FROM account "
                                 "WHERE customer_id IS NOT NULL GROUP BY available")
    assert [(int(a), int(n)) for a, n in balances] == [(JOURNEYS, CUSTOMERS)]
    # Each run's first message names its own coupon: the effects of one step
    # were applied together with the state that records them.
    mismatched = await count(
        "SELECT COUNT(*) FROM notification n JOIN journey_run r ON n.dedupe_key = "
        "r.id::text || ':tell:3' JOIN coupon c ON c.issue_key = r.id::text || ':coupon:1' "
        "WHERE position(c.code in n.body) = 0")
    assert mismatched == 0
