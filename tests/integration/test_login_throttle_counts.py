"""The throttle's counts on the real database, with the clock given: lock-outs
double, come back down after a calm window, and stale rows are pruned."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from tortoise import connections

from loyalty.errors import ErrorCode, RateLimited
from loyalty.identity import login_throttle
from loyalty.jobs import run_due_jobs
from loyalty.platform.config import Settings, set_settings
from loyalty.platform.sql import fetch
from tests.conftest import DATABASE_URL, settings_for

SETTINGS = settings_for(DATABASE_URL, login_window_seconds=600, login_max_failures=3,
                        login_lockout_seconds=30, login_lockout_max_seconds=100)
T0 = 1_800_000_000.0


def _pair(settings: Settings = SETTINGS) -> list[login_throttle.Key]:
    keys = login_throttle.keys_for("customer", "Zoe@Example.test ", "203.0.113.7", settings)
    return [k for k in keys if k.limit == settings.login_max_failures]


async def _fail(keys, at: float, times: int = 1) -> None:
    for _ in range(times):
        await login_throttle.count_failure(keys, at, SETTINGS)


async def _retry_after(keys, at: float) -> int | None:
    try:
        await login_throttle.check(keys, at)
    except RateLimited as limited:
        assert limited.code == ErrorCode.RATE_LIMITED
        return limited.retry_after_seconds
    return None


async def test_lockouts_double_up_to_the_maximum_then_calm_down(database):
    keys = _pair()
    await _fail(keys, T0, 2)
    assert await _retry_after(keys, T0) is None
    await _fail(keys, T0)  # the third: locked for 30 s
    assert await _retry_after(keys, T0 + 1) == 29
    assert await _retry_after(keys, T0 + 30) is None
    await _fail(keys, T0 + 31, 3)  # again within the window: 60 s
    assert await _retry_after(keys, T0 + 31) == 60
    await _fail(keys, T0 + 100, 3)  # 120 s, capped at 100
    assert await _retry_after(keys, T0 + 100) == 100
    # A whole window after the last lock-out ended: back to 30 s.
    calm = T0 + 200 + SETTINGS.login_window_seconds
    await _fail(keys, calm, 3)
    assert await _retry_after(keys, calm) == 30


async def test_failures_outside_the_window_do_not_add_up(database):
    keys = _pair()
    await _fail(keys, T0, 2)
    await _fail(keys, T0 + SETTINGS.login_window_seconds, 2)
    assert await _retry_after(keys, T0 + SETTINGS.login_window_seconds) is None


async def test_the_table_holds_no_email_and_no_address(database):
    keys = login_throttle.keys_for("customer", "zoe@example.test", "203.0.113.7", SETTINGS)
    await _fail(keys, T0)
    rows = await fetch(connections.get("default"), "SELECT key FROM login_throttle")
    assert len(rows) == 3
    assert all("zoe" not in row[0] and "203" not in row[0] for row in rows)


@pytest.mark.parametrize("address", [None, "203.0.113.7"])
async def test_keys_are_the_same_whatever_the_case_of_the_email(address):
    first = login_throttle.keys_for("customer", "ZOE@example.test", address, SETTINGS)
    again = login_throttle.keys_for("customer", " zoe@example.test", address, SETTINGS)
    staff = login_throttle.keys_for("staff", "zoe@example.test", address, SETTINGS)
    assert first == again
    assert first[0] != staff[0]  # the account keys of two different log-ins


async def test_the_scheduled_jobs_prune_rows_that_say_nothing_any_more(database):
    set_settings(SETTINGS)
    now = time.time()
    window = SETTINGS.login_window_seconds
    old = login_throttle.keys_for("customer", "old@example.test", "192.0.2.1", SETTINGS)
    locked = _pair()
    fresh = login_throttle.keys_for("customer", "new@example.test", None, SETTINGS)
    await _fail(old, now - 2 * window)
    await _fail(locked, now - window - 10, 3)  # its lock-out ended under a window ago
    await _fail(fresh, now - 5)
    counts = await run_due_jobs(datetime.fromtimestamp(now, UTC))
    assert counts["login_throttles_pruned"] == len(old)
    rows = await fetch(connections.get("default"), "SELECT key FROM login_throttle")
    assert {r[0] for r in rows} == {k.digest for k in [*locked, *fresh]}
