"""Two `loyalty worker` processes push purchases to the fake FCM while one of
them is SIGKILLed mid-batch and restarted.

What must hold: every committed purchase yields exactly one inbox row, one
recorded delivery per active device, and one notification shown per device.
FCM itself is at-least-once for the batch a worker dies with (the fake, like
FCM, accepts a message before it answers): those messages are sent again
after the lease with the same collapse id, which phones replace rather than
show twice. The test pins that re-sends come only from the killed batch.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from notifications.devices import register_device
from notifications.models import Delivery, Notification, Platform, Status
from tests.api.test_pos import buy
from tests.conftest import IS_PG, TEST_SECRET, sign_up
from tests.fakes.fcm import FakeFcm
from tests.fakes.fixtures import fake_fcm, fake_fcm_server, notification_tables

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.slow,
    pytest.mark.usefixtures("notification_tables"),
    pytest.mark.skipif(not IS_PG, reason="needs PostgreSQL (SKIP LOCKED across processes): "
                       "set TEST_DATABASE_URL=postgres://..."),
]
__all__ = ["fake_fcm", "fake_fcm_server", "notification_tables"]

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = 4
DEVICES = 2  # per customer
PURCHASES = 40  # in all
BATCH = 10
CONCURRENCY = 2  # passes side by side in each worker (loyalty worker --concurrency)
LEASE_SECONDS = 3.0  # a killed worker's batch is due again after this
TIMEOUT = 30.0


@dataclass
class Worker:
    client: str
    process: asyncio.subprocess.Process
    log: IO[bytes]

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]


async def start_worker(database: str, fake: FakeFcm, folder: Path, client: str) -> Worker:
    env = {**os.environ, "DATABASE_URL": database, "LOYALTY_ENV": "test",
           "LOYALTY_SECRET_KEY": TEST_SECRET, "PYTHONUNBUFFERED": "1",
           "FIREBASE_CREDENTIALS": str(fake.service_account(folder, client)),
           "FAKE_FCM_URL": fake.fcm_url(), "LOYALTY_PUSH_LEASE_SECONDS": str(LEASE_SECONDS),
           "LOYALTY_WORKER_POLL_SECONDS": "0.1"}
    log = tempfile.TemporaryFile()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.push_worker", "--batch-size", str(BATCH),
        "--concurrency", str(CONCURRENCY),
        cwd=REPO, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL)
    worker = Worker(client, process, log)
    await until(lambda: "worker running" in worker.output(), f"{client} started", worker)
    return worker


async def until(condition: Callable[[], bool], what: str, worker: Worker | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if worker is not None and worker.process.returncode is not None:
            raise AssertionError(f"{worker.client} exited:\n{worker.output()}")
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.02)


async def stop(worker: Worker) -> None:
    try:
        if worker.process.returncode is None:
            worker.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(worker.process.wait(), 10)
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()
    finally:
        worker.log.close()


async def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(
        gql, shop, database, fake_fcm, tmp_path):
    # given: customers with two phones each, and two worker processes
    customers = [await sign_up(gql, f"C{i}") for i in range(CUSTOMERS)]
    tokens = {c.id: [f"c{c.id}-d{d}" for d in range(DEVICES)] for c in customers}
    for c in customers:
        for token in tokens[c.id]:
            await register_device(c.id, token=token, platform=Platform.ANDROID)
    fake_fcm.delay = 0.3  # a slow FCM: batches stay in flight long enough to kill one
    workers = [await start_worker(database, fake_fcm, tmp_path, name)
               for name in ("worker-a", "worker-b")]
    try:
        async def post(lane: int) -> None:
            for i in range(lane, PURCHASES, 4):
                bought = await buy(gql, shop, customers[i % CUSTOMERS], 10_00 + i)
                assert bought["errors"] == []

        # when: purchases flow in while worker A is killed with its batch in flight
        posting = asyncio.gather(*(post(lane) for lane in range(4)))
        await until(lambda: fake_fcm.in_flight["worker-a"] > 0, "worker-a mid-batch",
                    workers[0])
        workers[0].process.send_signal(signal.SIGKILL)
        await workers[0].process.wait()
        workers.append(await start_worker(database, fake_fcm, tmp_path, "worker-a2"))
        await posting
        fake_fcm.delay = 0.0

        async def settled() -> bool:
            return await Notification.filter(status=Status.SENT).count() == PURCHASES

        deadline = time.monotonic() + TIMEOUT
        while not await settled():
            assert time.monotonic() < deadline, "not every purchase was pushed"
            await asyncio.sleep(0.1)
    finally:
        for worker in workers:
            await stop(worker)

    # then: one inbox row per purchase, one recorded delivery per device
    notes = await Notification.all()
    assert len(notes) == PURCHASES
    assert {n.status for n in notes} == {Status.SENT}
    assert await Delivery.filter(status="sent").count() == PURCHASES * DEVICES
    # and each phone shows each of its customer's notifications exactly once
    expected = {(token, f"n{n.id}") for n in notes for token in tokens[n.customer_id]}
    shown = fake_fcm.shown()
    assert set(shown) == expected
    # FCM saw a message twice exactly when the killed worker had sent it: A
    # dies with its passes' first push batches in flight, never recorded, so
    # all of them are sent again after the lease, and nothing else is
    sent_by_killed = {(s.token, s.collapse) for s in fake_fcm.sent if s.client == "worker-a"}
    assert 0 < len(sent_by_killed) <= CONCURRENCY * BATCH * DEVICES
    assert {key for key, times in shown.items() if times > 1} == sent_by_killed
    assert max(shown.values()) == 2
    assert {s.client for s in fake_fcm.delivered()} >= {"worker-b"}
