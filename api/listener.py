"""PostgreSQL LISTEN: what any process commits (a balance change, a revoked
session) reaches this one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from api.sockets import sockets
from loyalty.platform.bus import CHANNEL, SESSION_CHANNEL, EndedSession, bus, sessions

log = logging.getLogger(__name__)


def plain_dsn(database_url: str) -> str:
    """Tortoise's URL without its pool options, for a plain asyncpg connection."""
    parts = urlsplit(database_url.replace("postgres://", "postgresql://", 1))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _balance_changed(payload: str) -> None:
    bus.publish(int(payload))


def _session_ended(payload: str) -> None:
    sessions.publish(EndedSession.parse(payload))


# Each channel and what its payload becomes in this process.
HANDLERS: dict[str, Callable[[str], None]] = {
    CHANNEL: _balance_changed,
    SESSION_CHANNEL: _session_ended,
}


class PgListener:
    def __init__(self, database_url: str, retry_seconds: float = 1.0) -> None:
        self._dsn = plain_dsn(database_url)
        self._retry_seconds = retry_seconds
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def _on_notify(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        try:
            HANDLERS[channel](payload)
        except (KeyError, ValueError):
            log.warning("ignored malformed %s payload %r", channel, payload)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._watch())

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            for channel in HANDLERS:
                await conn.add_listener(channel, self._on_notify)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def _watch(self) -> None:
        # Reconnect if the listening connection drops; subscribers keep waiting.
        while not self._stopping:
            await asyncio.sleep(self._retry_seconds)
            if self._conn is None or self._conn.is_closed():
                try:
                    await self._connect()
                except (OSError, asyncpg.PostgresError):
                    continue
                await self._resync()

    async def _resync(self) -> None:
        """What was committed while nobody listened was never heard: now that
        new changes are, every subscriber re-reads its balance and every socket
        its session."""
        log.warning("LISTEN connection restored: resynchronising subscribers and sockets")
        bus.resync()
        try:
            await sockets.recheck()
        except Exception:  # noqa: BLE001 - those sockets still end with their tokens
            log.exception("could not recheck the sockets' sessions")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
