"""The audience loop of `loyalty worker`: the server's events read from the
outbox into the stream, new or changed segments evaluated, and the customers
touched by events and postings re-evaluated in every segment, within a poll
interval. It runs beside the notification passes (api/cli_worker.py)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from audience import membership
from audience.config import audience_settings
from audience.consumer import consume
from loyalty.platform.polling import until_stopped

log = logging.getLogger(__name__)


@dataclass
class PassStats:
    outbox_read: int = 0
    events_written: int = 0
    segments_refreshed: int = 0
    customers_evaluated: int = 0
    entered: int = 0
    exited: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.outbox_read or self.segments_refreshed or self.customers_evaluated)


async def run_once(batch_size: int = 500, now: datetime | None = None) -> PassStats:
    now = now or datetime.now(UTC)
    stats = PassStats()
    consumed = await consume(batch_size, now)
    stats.outbox_read, stats.events_written = consumed.read, consumed.written
    pending = await membership.refresh(now, only_pending=True)
    touched = await membership.evaluate_touched(now)
    stats.segments_refreshed = pending.segments
    stats.customers_evaluated = touched.customers
    stats.entered = pending.entered + touched.entered
    stats.exited = pending.exited + touched.exited
    return stats


async def run_until_idle(now: datetime | None = None, passes: int = 20) -> PassStats:
    """Passes until one finds nothing to do (tests, the demo seed, the CLI)."""
    total = PassStats()
    for _ in range(passes):
        stats = await run_once(now=now)
        for name in ("outbox_read", "events_written", "segments_refreshed",
                     "customers_evaluated", "entered", "exited"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        if not stats.busy:
            break
    return total


async def run_forever(stop: asyncio.Event, batch_size: int = 500) -> None:
    """Passes until `stop` is set, sleeping the poll interval when one found
    nothing to do; an error is logged and the loop goes on."""
    async def once() -> bool:
        return (await run_once(batch_size)).busy

    await until_stopped("audience", stop, once, audience_settings().poll_seconds)
