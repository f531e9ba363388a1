"""The worker process's loop: passes of the outbox consumer side by side, and
the scheduled jobs on their interval (`loyalty worker`, `loyalty jobs`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from loyalty.platform.config import get_settings
from notifications.backlog import sample_backlog
from notifications.policy import load_policy
from notifications.push import PushSender
from notifications.stats import RunStats
from notifications.worker import run_once
from observability.metrics import (
    JOB_DURATION,
    JOB_FAILURES,
    OUTBOX_EVENTS,
    PUSH_DEVICES_DISABLED,
    PUSHES,
    WORKER_LAST_PASS,
)

log = logging.getLogger(__name__)


def default_concurrency(database_url: str) -> int:
    """Two passes on PostgreSQL, where one claims on its own connection while
    the other sends (they take turns to send: notifications.push); one on
    SQLite, whose single connection makes passes take turns at everything
    (bench/push_bench.py, 2026-11-23: SQLite 0.98 of the send ceiling with
    one pass, 0.79 with two; PostgreSQL 0.84-1.02 with two, no better with
    three)."""
    return 2 if database_url.startswith(("postgres://", "postgresql://")) else 1


async def run_forever(
    stop: asyncio.Event,
    *,
    batch_size: int = 100,
    sender: PushSender | None = None,
    jobs: Mapping[str, Callable[[datetime], Awaitable[int]]] | None = None,
    concurrency: int = 1,
    sample_every: float | None = None,
) -> None:
    """Loop run_once until `stop` is set, sleeping while there is nothing to do,
    and run the scheduled jobs every `jobs_interval_seconds`: the programme's,
    then `jobs` (name -> job; the caller's, from packages this one must not
    import, such as geofence).

    `concurrency` passes run side by side, so that one claims and writes while
    another waits on FCM; they share the work as separate workers would (row
    locks and leases), and only the first runs the scheduled jobs.

    `sample_every` seconds, the backlog's gauges are written (for a scrape
    that another process answers, in multiprocess mode)."""
    settings = get_settings()
    policy = load_policy()
    loop = asyncio.get_running_loop()
    jobs_due = loop.time()

    async def passes(runs_jobs: bool) -> None:
        nonlocal jobs_due
        while not stop.is_set():
            if runs_jobs and loop.time() >= jobs_due:
                # Expiry, reminders and tier reviews; their events are then
                # claimed like any other.
                jobs_due = loop.time() + settings.jobs_interval_seconds
                await run_jobs(jobs=jobs)
            try:
                stats = await run_once(batch_size, sender=sender, settings=settings,
                                       policy=policy)
            except Exception:  # a database blip must not kill the worker
                log.exception("worker pass failed")
                stats = RunStats()
            else:
                state.pass_ended(stats)
            if not stats.busy:
                try:
                    idle = min(settings.worker_poll_seconds, max(0.0, jobs_due - loop.time()))
                    await asyncio.wait_for(stop.wait(), idle)
                except TimeoutError:
                    pass

    async def sample() -> None:
        while not stop.is_set():
            try:
                await sample_backlog()
            except Exception:  # noqa: BLE001 - a gap in a graph, not a failure
                log.debug("backlog sample failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), sample_every or 0)

    tasks = [*(passes(i == 0) for i in range(max(1, concurrency))), webhook_passes(stop)]
    if sample_every:
        tasks.append(sample())
    await asyncio.gather(*tasks)
async def webhook_passes(stop: asyncio.Event) -> None:
    """Webhooks' fan-out and deliveries (notifications/webhooks), beside the
    push passes, until `stop`."""
    from notifications.webhooks.delivery import run_until

    await run_until(stop)


async def run_jobs(
    now: datetime | None = None,
    jobs: Mapping[str, Callable[[datetime], Awaitable[int]]] | None = None,
) -> dict[str, int]:
    """The scheduled jobs once, then `jobs`; a failure is logged, never raised,
    and leaves that job out of the counts."""
    from loyalty.jobs import run_due_jobs

    now = now or datetime.now(UTC)
    started = time.perf_counter()
    try:
        counts = await run_due_jobs(now)
    except Exception:
        log.exception("scheduled jobs failed")
        JOB_FAILURES.labels("programme").inc()
        counts = {}
    JOB_DURATION.labels("programme").observe(time.perf_counter() - started)
    for name, job in (jobs or {}).items():
        started = time.perf_counter()
        try:
            counts[name] = await job(now)
        except Exception:
            log.exception("scheduled job %s failed", name)
            JOB_FAILURES.labels(name).inc()
        JOB_DURATION.labels(name).observe(time.perf_counter() - started)
    return counts


@dataclass
class LoopState:
    """What the worker's /readyz and metrics tell of its loop."""

    passes: int = 0
    last_pass_ended: float | None = None  # time.time()

    def pass_ended(self, stats: RunStats) -> None:
        self.passes += 1
        self.last_pass_ended = time.time()
        WORKER_LAST_PASS.set(self.last_pass_ended)
        for outcome, count in (("sent", stats.pushed), ("retried", stats.retried),
                               ("failed", stats.failed), ("inbox_only", stats.inbox_only),
                               ("deferred", stats.deferred), ("capped", stats.capped),
                               ("skipped", stats.skipped),
                               ("suppressed", stats.suppressed)):
            if count:
                PUSHES.labels(outcome).inc(count)
        if stats.devices_disabled:
            PUSH_DEVICES_DISABLED.inc(stats.devices_disabled)
        if stats.events:
            OUTBOX_EVENTS.labels("claimed").inc(stats.events - stats.event_errors)
        if stats.event_errors:
            OUTBOX_EVENTS.labels("failed").inc(stats.event_errors)


# This process's loop (one per `loyalty worker`).
state = LoopState()
