"""The journeys loop of `loyalty worker`: events read from the stream
(entries, wake-ups, goals: journeys/stream.py) and due runs advanced
(journeys/runner.py), beside the audience loop and the notification passes.

Events and timers run as two loops, so that a backlog of due runs (a
hundred thousand customers entering at once) never holds an event back by
more than one batch. Tests and the CLI call `run_once` / `run_until_idle`
with a clock of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from journeys import runner, schedule, stream
from loyalty.platform.config import get_settings
from loyalty.platform.polling import until_stopped

log = logging.getLogger(__name__)


@dataclass
class PassStats:
    events_read: int = 0
    entered: int = 0
    woken: int = 0
    due_runs: int = 0
    left: int = 0
    steps: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.events_read or self.due_runs or self.left)

    def add(self, other: PassStats) -> None:
        for name in ("events_read", "entered", "woken", "due_runs", "left", "steps"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


async def events_once(now: datetime | None = None, batch_size: int | None = None) -> PassStats:
    now = now or datetime.now(UTC)
    read = await stream.consume(batch_size or get_settings().journeys_batch_size, now)
    return PassStats(events_read=read.read, entered=read.entered, woken=read.woken,
                     steps=read.steps)


async def timers_once(now: datetime | None = None, batch_size: int | None = None,
                      schedules: bool = True) -> PassStats:
    """Schedule triggers' entries (with `schedules`), one batch of due runs,
    and one of archived journeys' runs taken out."""
    now = now or datetime.now(UTC)
    batch = batch_size or get_settings().journeys_batch_size
    entered = await schedule.enter_scheduled(now) if schedules else 0
    due = await runner.advance_due(now, batch)
    left = await runner.leave_archived(now, batch)
    return PassStats(entered=entered, due_runs=due.runs, left=left, steps=due.steps)


async def run_once(now: datetime | None = None, batch_size: int | None = None) -> PassStats:
    """One pass: the events since the last, then one batch of due runs."""
    now = now or datetime.now(UTC)
    stats = await events_once(now, batch_size)
    stats.add(await timers_once(now, batch_size))
    return stats


async def run_until_idle(now: datetime | None = None, passes: int = 100,
                         batch_size: int | None = None) -> PassStats:
    """Passes until one finds nothing to do (tests, the CLI)."""
    total = PassStats()
    for _ in range(passes):
        stats = await run_once(now, batch_size)
        total.add(stats)
        if not stats.busy:
            break
    return total


async def _loop(name: str, stop: asyncio.Event, once: Callable[[], Awaitable[PassStats]],
                poll: float) -> None:
    async def busy() -> bool:
        return (await once()).busy

    await until_stopped(f"journeys {name}", stop, busy, poll)


# Schedules occur at most daily: looking for a due occurrence this often
# (it reads every customer's zone) is plenty.
SCHEDULE_EVERY_SECONDS = 10.0


async def run_forever(stop: asyncio.Event, batch_size: int | None = None) -> None:
    """Both loops until `stop` is set, each sleeping the poll interval
    (LOYALTY_JOURNEYS_POLL_SECONDS) when it found nothing to do."""
    poll = get_settings().journeys_poll_seconds
    loop = asyncio.get_running_loop()
    next_schedule = [0.0]

    async def timers() -> PassStats:
        due = loop.time() >= next_schedule[0]
        if due:
            next_schedule[0] = loop.time() + SCHEDULE_EVERY_SECONDS
        return await timers_once(batch_size=batch_size, schedules=due)

    await asyncio.gather(
        _loop("events", stop, lambda: events_once(batch_size=batch_size), poll),
        _loop("timers", stop, timers, poll),
    )
