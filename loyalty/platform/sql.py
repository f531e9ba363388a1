"""Raw SQL on the hot paths, written once for both databases.

Statements use PostgreSQL's `$n` placeholders, each number once and in order,
so that they can be turned into SQLite's `?` by a cached rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

_PLACEHOLDER = re.compile(r"\$\d+")


def placeholders(count: int, first: int = 1) -> str:
    """`$first, ..., $(first + count - 1)`: an IN list or a VALUES row."""
    return ", ".join(f"${i}" for i in range(first, first + count))


def is_pg(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


@lru_cache(maxsize=512)
def _for_sqlite(statement: str) -> str:
    statement = statement.replace(" FOR UPDATE", "")
    return _PLACEHOLDER.sub("?", statement)


def _sql(conn: BaseDBAsyncClient, statement: str) -> str:
    return statement if is_pg(conn) else _for_sqlite(statement)


async def fetch(conn: BaseDBAsyncClient, statement: str, *args: Any) -> list[Any]:
    # The leading comment keeps Tortoise's asyncpg client from running an
    # INSERT/UPDATE ... RETURNING as a bare `execute`, which drops its rows.
    _, rows = await conn.execute_query("/**/ " + _sql(conn, statement), list(args))
    return list(rows)


async def fetchrow(conn: BaseDBAsyncClient, statement: str, *args: Any) -> Any | None:
    rows = await fetch(conn, statement, *args)
    return rows[0] if rows else None


async def execute(conn: BaseDBAsyncClient, statement: str, *args: Any) -> int:
    count, _ = await conn.execute_query(_sql(conn, statement), list(args))
    return count


_NUMBERED = re.compile(r"\$(\d+)")


@lru_cache(maxsize=64)
def _numbered_for_sqlite(statement: str) -> str:
    return _NUMBERED.sub(r"?\1", statement)


async def execute_numbered(conn: BaseDBAsyncClient, statement: str, *args: Any) -> int:
    """`execute` for a statement that uses a `$n` more than once (SQLite's
    `?n` names the same parameter each time it appears)."""
    if not is_pg(conn):
        statement = _numbered_for_sqlite(statement)
    count, _ = await conn.execute_query(statement, list(args))
    return count


def skip_locked(conn: BaseDBAsyncClient, statement: str, of: str | None = None) -> str:
    """`statement` claiming its rows for a batch job: rows another worker holds
    are skipped, not waited for. SQLite has a single writer: its transaction is
    the lock."""
    if not is_pg(conn):
        return statement
    return statement + (f" FOR UPDATE OF {of} SKIP LOCKED" if of else " FOR UPDATE SKIP LOCKED")


def as_datetime(value: Any) -> datetime:
    """A timestamp column read raw: asyncpg gives datetimes, SQLite ISO text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


async def bulk_insert(conn: BaseDBAsyncClient, table: str, columns: Sequence[str],
                      types: Sequence[str], rows: Sequence[Sequence[Any]], *,
                      returning: str | None = None, conflict: str = "") -> list[Any]:
    """Many rows in few statements: one `unnest` of column arrays on
    PostgreSQL, multi-row VALUES in slices on SQLite."""
    if not rows:
        return []
    tail = (f" {conflict}" if conflict else "") + (f" RETURNING {returning}" if returning else "")
    names = ", ".join(columns)
    if is_pg(conn):
        arrays = [list(col) for col in zip(*rows, strict=True)]
        unnest = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
        return await fetch(conn, f"INSERT INTO {table} ({names}) SELECT * FROM unnest({unnest})"
                           f"{tail}", *arrays)
    found: list[Any] = []
    size = max(1, 900 // len(columns))
    for start in range(0, len(rows), size):
        part = rows[start:start + size]
        values = ", ".join("(" + ", ".join("?" for _ in columns) + ")" for _ in part)
        _, got = await conn.execute_query(f"/**/ INSERT INTO {table} ({names}) VALUES {values}"
                                          f"{tail}", [v for row in part for v in row])
        found.extend(got)
    return found


async def next_ids(raw: Any, table: str, count: int) -> list[int]:
    """PostgreSQL: `count` ids drawn from `table`'s sequence (rows written by COPY)."""
    if count == 0:
        return []
    rows = await raw.fetch(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                           "FROM generate_series(1, $1)", count)
    return [r[0] for r in rows]
