"""The audience loop of `loyalty worker`: the server's events read from the
outbox into the stream, within a poll interval of their postings. It runs
beside the notification passes (api/cli.py), on its own connection turns."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from audience.config import audience_settings
from audience.consumer import consume

log = logging.getLogger(__name__)


@dataclass
class PassStats:
    outbox_read: int = 0
    events_written: int = 0

    @property
    def busy(self) -> bool:
        return self.outbox_read > 0


async def run_once(batch_size: int = 500, now: datetime | None = None) -> PassStats:
    now = now or datetime.now(UTC)
    stats = PassStats()
    consumed = await consume(batch_size, now)
    stats.outbox_read, stats.events_written = consumed.read, consumed.written
    return stats


async def run_forever(stop: asyncio.Event, batch_size: int = 500) -> None:
    """Passes until `stop` is set, sleeping the poll interval when one found
    nothing to do; an error is logged and the loop goes on."""
    poll = audience_settings().poll_seconds
    while not stop.is_set():
        try:
            stats = await run_once(batch_size)
        except Exception:  # a database blip must not kill the worker
            log.exception("audience pass failed")
            stats = PassStats()
        if not stats.busy:
            try:
                await asyncio.wait_for(stop.wait(), poll)
            except TimeoutError:
                pass
