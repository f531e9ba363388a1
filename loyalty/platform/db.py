"""Database set-up: the Tortoise configuration, migrations, connections."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations.api import migrate as _migrate

log = logging.getLogger(__name__)

MODEL_MODULES = ["loyalty.models", "wallet.models", "geofence.models", "notifications.models",
                 "journeys.models", "audience.models", "notifications.webhooks.models"]


IDLE_IN_TRANSACTION_MS = 30_000


class NoResetConnection(asyncpg.Connection):
    """Pool connections carry no session state here (no SET, LISTEN, advisory
    locks, cursors): skip asyncpg's reset query on every release. asyncpg
    still rolls back a transaction it knows to be open.

    Except after a cancelled command (graphql-core cancels a failing field's
    siblings, a client goes away): such a connection is settled on release
    with a ROLLBACK, a round trip that also waits for whatever asyncpg was
    still waiting for. Two windows need it:

    - a query cancelled while it runs: asyncpg sends a cancel request and
      drains the answer, but its idea of the transaction state may be older
      than the server's;
    - a query cancelled between its two halves. asyncpg prepares a statement
      with Parse, Describe and Flush (no Sync), then binds and executes it
      with Bind, Execute and Sync. A cancellation that reaches the task just
      as the first half is answered (the waiter done, the task not yet
      resumed) sends nothing: no cancel request, no Sync. The server stays
      "active, ClientRead" inside the implicit transaction the Parse began,
      holding its locks and snapshot, while asyncpg, which saw the last
      ReadyForQuery say "idle", releases the connection as idle
      (MagicStack/asyncpg#1276 describes the state). A ROLLBACK sent as a
      simple query ends that transaction whatever it is.
    """

    _cancelled_since_reset = False

    def _cancel_current_command(self, *args: Any, **kwargs: Any) -> Any:
        self._cancelled_since_reset = True
        return super()._cancel_current_command(*args, **kwargs)

    async def _get_statement(self, *args: Any, **kwargs: Any) -> Any:
        # Every query with arguments, every prepare and cursor comes here.
        try:
            return await super()._get_statement(*args, **kwargs)
        except asyncio.CancelledError:
            self._cancelled_since_reset = True
            raise

    def get_reset_query(self) -> str:
        if self._cancelled_since_reset or self._cancellations:
            self._cancelled_since_reset = False
            return "ROLLBACK"
        return ""


def _connection(database_url: str) -> Any:
    url = _connection_url(database_url)
    if not url.startswith("postgres://"):
        return url
    from tortoise.backends.base.config_generator import expand_db_url

    config = expand_db_url(url)
    config["credentials"]["connection_class"] = NoResetConnection
    # No transaction of ours idles between statements for long; one that does
    # was left behind by a bug, holding its locks. PostgreSQL ends such a
    # session after this, so a stuck lock lasts seconds, never for good. (It
    # does not end a session "active" between a statement's two halves, the
    # state NoResetConnection settles.)
    config["credentials"]["server_settings"] = {
        "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_MS)}
    return config


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection_url(url: str) -> str:
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    if url.startswith("postgres://") and "maxsize" not in url:
        url += ("&" if "?" in url else "?") + "minsize=1&maxsize=20"
    return url


def is_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


async def migrate(database_url: str) -> None:
    """Apply every migration not yet applied (idempotent)."""
    await _migrate(config=tortoise_config(database_url))


async def init(database_url: str, *, run_migrations: bool = True) -> None:
    if run_migrations:
        await migrate(database_url)
        await Tortoise.close_connections()
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close() -> None:
    await Tortoise.close_connections()


T = TypeVar("T")

# What the outermost open transaction() runs once it has committed (None:
# no transaction is open in this context).
_after_commit: contextvars.ContextVar[list[Callable[[], None]] | None] = (
    contextvars.ContextVar("after_commit", default=None))


def transaction_open() -> bool:
    """Whether the caller runs inside `transaction()`."""
    return _after_commit.get() is not None


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the outermost `transaction()` commits, never if it
    rolls back; at once when no transaction is open (the write is committed)."""
    pending = _after_commit.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


async def _to_the_end(step: Coroutine[Any, Any, T], context: contextvars.Context
                      ) -> tuple[asyncio.Task[T], bool]:
    """Run `step` to its end even if the caller is cancelled meanwhile: the
    task and whether the caller was cancelled (the caller then re-raises)."""
    task = asyncio.get_running_loop().create_task(step, context=context)
    cancelled = False
    while not task.done():
        try:
            # Unlike awaiting the task, asyncio.wait leaves it running when
            # the waiter is cancelled.
            await asyncio.wait((task,))
        except asyncio.CancelledError:
            cancelled = True
    return task, cancelled


@asynccontextmanager
async def transaction() -> AsyncIterator[BaseDBAsyncClient]:
    """Tortoise's `transaction_open()`, safe to cancel at any point.

    graphql-core cancels a failing field's siblings, a client goes away, a
    worker is stopped. Tortoise's own context takes the connection (from the
    pool on PostgreSQL, the single connection's lock on SQLite) and then
    begins; a cancellation between the two, or during the rollback, left the
    connection or the lock held for good, and SQLite's server froze. Here
    entering and leaving run to their end in a task of their own, whatever
    happens to the caller, and the caller's cancellation is raised after.
    Both steps run in one private copy of the context (Tortoise resets, on
    leaving, the variable it set on entering); the body sees the transaction
    through the same variable, set here for the caller's context.
    """
    handler = connections
    outermost = _after_commit.get() is None
    callbacks: list[Callable[[], None]] = []
    commit_token = _after_commit.set(callbacks) if outermost else None
    try:
        async with _transaction(handler) as conn:
            yield conn
    finally:
        if commit_token is not None:
            _after_commit.reset(commit_token)
    # Reached only once committed: an error in the body or the commit raised.
    for callback in callbacks:
        callback()


@asynccontextmanager
async def _transaction(handler: Any) -> AsyncIterator[BaseDBAsyncClient]:
    ctx = handler.get("default")._in_transaction()
    private = contextvars.copy_context()
    entered, cancelled = await _to_the_end(ctx.__aenter__(), private)
    if cancelled:
        if entered.exception() is None:
            await _to_the_end(ctx.__aexit__(asyncio.CancelledError,
                                            asyncio.CancelledError(), None), private)
        raise asyncio.CancelledError
    conn = entered.result()
    token = handler.set("default", conn)
    try:
        yield conn
    except BaseException as exc:
        exited, cancelled = await _to_the_end(
            ctx.__aexit__(type(exc), exc, exc.__traceback__), private)
        handler.reset(token)
        if cancelled and not isinstance(exc, asyncio.CancelledError):
            raise asyncio.CancelledError from exc
        failed = exited.exception()
        if failed is not None:
            # The original error is the one to report; a rollback that fails
            # too (a connection gone) is only logged.
            log.warning("rollback failed after %s: %r", type(exc).__name__, failed)
        raise
    exited, cancelled = await _to_the_end(ctx.__aexit__(None, None, None), private)
    handler.reset(token)
    if cancelled:
        raise asyncio.CancelledError
    exited.result()
