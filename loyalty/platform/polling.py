"""The worker's loops: a pass again and again until stopped, sleeping when a
pass found nothing to do, and never dying of one failed pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def until_stopped(name: str, stop: asyncio.Event, once: Callable[[], Awaitable[bool]],
                        idle_seconds: float) -> None:
    """Run `once` (which says whether it found work) until `stop` is set,
    waiting `idle_seconds` (or until stopped) after a pass that found none."""
    while not stop.is_set():
        try:
            busy = await once()
        except Exception:  # a database blip must not kill the worker
            log.exception("%s pass failed", name)
            busy = False
        if not busy:
            try:
                await asyncio.wait_for(stop.wait(), idle_seconds)
            except TimeoutError:
                pass
