"""PostgreSQL LISTEN: balance changes committed by any process reach this one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from loyalty.bus import CHANNEL, bus

log = logging.getLogger(__name__)


def plain_dsn(database_url: str) -> str:
    """Tortoise's URL without its pool options, for a plain asyncpg connection."""
    parts = urlsplit(database_url.replace("postgres://", "postgresql://", 1))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class PgListener:
    def __init__(self, database_url: str) -> None:
        self._dsn = plain_dsn(database_url)
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            bus.publish(int(payload))
        except ValueError:
            log.warning("ignored malformed %s payload %r", CHANNEL, payload)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._watch())

    async def _connect(self) -> None:
        self._conn = await asyncpg.connect(self._dsn)
        await self._conn.add_listener(CHANNEL, self._on_notify)

    async def _watch(self) -> None:
        # Reconnect if the listening connection drops; subscribers keep waiting.
        while not self._stopping:
            await asyncio.sleep(1.0)
            if self._conn is None or self._conn.is_closed():
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    await self._connect()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
