"""Visits whose EXIT never came are closed by a scheduled job, run by the
worker loop (injected by the CLI) and by `loyalty jobs`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from geofence.checkins import check_in
from geofence.jobs import JOBS, close_stale_visits
from geofence.models import CheckInKind, Visit
from loyalty.platform.config import set_settings
from loyalty.platform.sql import as_datetime, execute
from notifications.loop import run_forever, run_jobs
from tests.conftest import DATABASE_URL, settings_for
from tests.integration.test_checkins_concurrent import _fence, _opted_in_customer
from tests.integration.test_cli import _loyalty

pytestmark = pytest.mark.usefixtures("database")


async def _visit(customer_id: int, fence: int, key: str) -> int:
    """The visit an ENTER now opens."""
    entered = await check_in(customer_id, idempotency_key=key, kind=CheckInKind.ENTER,
                             occurred_at=datetime.now(UTC), geofence_id=fence, latitude=48.87,
                             longitude=2.33, accuracy_meters=15.0)
    assert entered.visit is not None
    return entered.visit.id


async def _open_since(visit_id: int, hours: float) -> datetime:
    opened = datetime.now(UTC) - timedelta(hours=hours)
    await execute(connections.get("default"), "UPDATE visit SET opened_at = $1 WHERE id = $2",
                  opened, visit_id)
    return opened


async def _closed_at(visit_id: int) -> datetime | None:
    visit = await Visit.get(id=visit_id)
    return None if visit.closed_at is None else as_datetime(visit.closed_at)


async def _three_visits() -> tuple[int, int, int, datetime]:
    """A visit open 5 h, one open 3 h, one closed: returns their ids and when
    the first opened."""
    customer_id, fence = await _opted_in_customer(), await _fence()
    stale = await _visit(customer_id, fence, "e1")
    opened = await _open_since(stale, 5)
    done = await _visit(customer_id, fence, "e2")  # the stale one is not extended
    await check_in(customer_id, idempotency_key="x2", kind=CheckInKind.EXIT,
                   occurred_at=datetime.now(UTC), geofence_id=fence)
    recent = await _visit(customer_id, fence, "e3")
    await _open_since(recent, 3)
    assert len({stale, done, recent}) == 3
    return stale, recent, done, opened


async def test_a_visit_left_open_past_the_limit_is_closed_at_its_end_once():
    # Given visits open 5 h and 3 h, and one the phone closed
    stale, recent, done, opened = await _three_visits()
    done_at = await _closed_at(done)
    # When the job runs twice
    first, second = await close_stale_visits(datetime.now(UTC)), await close_stale_visits(
        datetime.now(UTC))
    # Then only the 5 h one was closed, four hours after it opened
    assert (first, second) == (1, 0)
    assert await _closed_at(stale) == opened + timedelta(hours=4)
    assert await _closed_at(recent) is None
    assert await _closed_at(done) == done_at


async def test_the_limit_is_configurable():
    stale, recent, _, _ = await _three_visits()
    set_settings(settings_for(DATABASE_URL, visit_max_open_minutes=120))
    assert await close_stale_visits(datetime.now(UTC)) == 2
    assert await _closed_at(recent) is not None


async def test_jobs_running_together_close_each_visit_once():
    await _three_visits()
    counts = await asyncio.gather(*[close_stale_visits(datetime.now(UTC)) for _ in range(4)])
    assert sum(counts) == 1


async def test_injected_jobs_run_after_the_programme_s_and_a_failing_one_is_left_out():
    stale, _, _, _ = await _three_visits()

    async def broken(now: datetime) -> int:
        raise RuntimeError("boom")

    counts = await run_jobs(datetime.now(UTC), jobs={"broken": broken, **JOBS})
    assert counts["visits_closed"] == 1 and "broken" not in counts
    assert "points_expired" in counts and await _closed_at(stale) is not None


async def test_the_worker_loop_runs_the_injected_jobs():
    set_settings(settings_for(DATABASE_URL, jobs_interval_seconds=0.05,
                              worker_poll_seconds=0.05))
    stale, _, _, _ = await _three_visits()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_forever(stop, jobs=JOBS))
    try:
        for _ in range(200):
            if await _closed_at(stale) is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    assert await _closed_at(stale) is not None


async def test_loyalty_jobs_closes_stale_visits_and_prints_the_count():
    await _three_visits()
    first = await asyncio.to_thread(_loyalty, "jobs")
    second = await asyncio.to_thread(_loyalty, "jobs")
    assert first.returncode == 0, first.stderr
    assert "visits_closed: 1" in first.stdout and "points_expired: 0" in first.stdout
    assert "visits_closed: 0" in second.stdout
