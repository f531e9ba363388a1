"""`loyalty worker` as a real process: consumes the outbox, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from notifications.models import Notification, Status
from tests.api.test_pos import buy
from tests.conftest import DATABASE_URL
from tests.fakes.fixtures import notification_tables

pytestmark = pytest.mark.usefixtures("notification_tables")
__all__ = ["notification_tables"]


async def test_worker_fills_the_inbox_and_stops_cleanly_on_sigterm(gql, shop, alice):
    await buy(gql, shop, alice, 25_00)
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "LOYALTY_WORKER_POLL_SECONDS": "0.1"}
    env.pop("FIREBASE_CREDENTIALS", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "worker", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(200):
            note = await Notification.get_or_none(customer_id=alice.id)
            if note is not None and note.status == Status.INBOX:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the worker wrote no inbox row")
        assert note.title == "+25 points" and note.reason == "no push credentials"
        proc.send_signal(signal.SIGTERM)
        out, err = (b.decode() for b in await asyncio.wait_for(proc.communicate(), 30))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode == 0, err
    assert "worker stopped" in err  # the worker's log, on standard error
    assert "inbox only" in err  # the message went to the log
