"""`loyalty jobs`: the scheduled jobs once, for cron, run as a real process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.ledger.balances import verify_ledger
from tests.integration.test_cli import _loyalty
from tests.integration.test_expiry import buy, customer, expiries, rows, store

pytestmark = pytest.mark.usefixtures("database")


async def test_jobs_expires_due_points_writes_reminders_and_prints_the_counts():
    # given one lot past its date and one expiring in a week
    holder, shop = await customer(), await store()
    await buy(holder, shop, 40, key="old")
    await buy(holder, shop, 15, key="soon")
    now = datetime.now(UTC)
    await rows("UPDATE lot SET expires_at = $1 WHERE id = (SELECT MIN(id) FROM lot)",
               now - timedelta(hours=1))
    await rows("UPDATE lot SET expires_at = $1 WHERE id = (SELECT MAX(id) FROM lot)",
               now + timedelta(days=7))
    # when cron runs the jobs, twice
    first = await asyncio.to_thread(_loyalty, "jobs")
    second = await asyncio.to_thread(_loyalty, "jobs")
    # then the first expires and reminds, the second finds nothing left to do
    assert first.returncode == 0, first.stderr
    assert "points_expired: 40" in first.stdout
    assert "reminders_written: 1" in first.stdout
    assert "tiers_reviewed: 0" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "points_expired: 0" in second.stdout and "reminders_written: 0" in second.stdout
    assert "scheduled jobs: points_expired=40" in first.stderr  # the log line
    assert [r[1] for r in await expiries()] == [-40]
    assert (await verify_ledger()).problems == []
