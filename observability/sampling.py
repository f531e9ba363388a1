"""Gauges read from a process's state rather than counted as things happen:
the PostgreSQL pool. In multiprocess mode another process may answer the
scrape, so each process writes them on a timer as well as when scraped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from observability.metrics import DB_POOL_IN_USE, DB_POOL_SIZE, DB_POOL_WAITING

# Often enough for a dashboard, rare enough to cost nothing (a few attribute reads).
SAMPLE_SECONDS = 1.0


def sample_pool() -> None:
    """asyncpg's pool, as Tortoise holds it (none on SQLite, or before it opens)."""
    from tortoise import connections

    try:
        pool = getattr(connections.get("default"), "_pool", None)
    except Exception:  # noqa: BLE001 - no database configured in this process (yet)
        return
    if pool is None or not hasattr(pool, "get_idle_size"):
        return
    size = pool.get_size()
    DB_POOL_SIZE.set(size)
    DB_POOL_IN_USE.set(size - pool.get_idle_size())
    # asyncpg has no public count of waiters: they wait on its queue of
    # connection holders (a private attribute; 0 if it ever moves).
    getters = getattr(getattr(pool, "_queue", None), "_getters", ())
    DB_POOL_WAITING.set(sum(1 for waiter in getters if not waiter.done()))


async def sample_forever(sample: Callable[[], None], every: float = SAMPLE_SECONDS) -> None:
    """Run `sample` every `every` seconds until cancelled; a failure skips one round."""
    while True:
        with contextlib.suppress(Exception):
            sample()
        await asyncio.sleep(every)
