"""A reader's position in a table whose ids come from a sequence but commit
out of order: the outbox (audience/consumer.py) and the event stream
(journeys/stream.py) are each read by one.

A transaction that took id 7 may commit after one that took id 8 was read.
So the ids skipped over are remembered as gaps and looked for again on every
pass, until they appear or are older than GAP_SECONDS (a rolled-back
transaction leaves a gap forever). The position and gaps live in one
`audience_cursor` row per reader; a pass locks it (FOR UPDATE SKIP LOCKED),
so that several workers may run the reader and only one reads at a time: a
pass that finds the row taken does nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import execute, fetch, fetchrow, placeholders, skip_locked

# Longer than any writer's transaction is open after taking its id.
GAP_SECONDS = 120.0
MAX_GAPS = 10_000


@dataclass
class Cursor:
    name: str
    position: int
    gaps: dict[int, float] = field(default_factory=dict)  # id -> clock when first missed


def _gaps(raw: Any) -> dict[int, float]:
    if isinstance(raw, str):
        raw = json.loads(raw) if raw else {}
    return {int(k): float(v) for k, v in (raw or {}).items()}


async def lock(conn: BaseDBAsyncClient, name: str, now: datetime,
               start: Callable[[BaseDBAsyncClient], Awaitable[int]] | None = None
               ) -> Cursor | None:
    """The reader's cursor, locked for this transaction, or None when another
    worker holds it. A new cursor starts after the id `start` finds (0: the
    oldest row there is)."""
    select = skip_locked(conn, "SELECT position, gaps FROM audience_cursor WHERE name = $1")
    row = await fetchrow(conn, select, name)
    if row is None:
        await execute(
            conn,
            "INSERT INTO audience_cursor (name, position, gaps, updated_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            name, 0 if start is None else await start(conn), "{}", now,
        )
        row = await fetchrow(conn, select, name)
        if row is None:
            return None
    return Cursor(name, int(row[0]), _gaps(row[1]))


async def read(conn: BaseDBAsyncClient, cursor: Cursor, select: str, batch_size: int,
               clock: float) -> list[Any]:
    """Up to `batch_size` rows of `select` (a "SELECT id, ... FROM t" whose
    first column is the id) after the position, and those of the gaps that
    have appeared, in id order; moves the cursor past them (saved by `save`).
    `clock` (time.time()) dates new gaps; tests move it."""
    position, gaps = cursor.position, cursor.gaps
    raw = list(await fetch(conn, f"{select} WHERE id > $1 ORDER BY id LIMIT $2",
                           position, batch_size))
    if gaps:
        wanted = sorted(gaps)
        marks = placeholders(len(wanted))
        found = await fetch(conn, f"{select} WHERE id IN ({marks})", *wanted)
        for r in found:
            gaps.pop(int(r[0]), None)
        raw.extend(found)
    seen = {int(r[0]) for r in raw}
    top = max([position, *seen])
    # A fresh cursor at 0 starts at the oldest row there is, not at id 1.
    first = position + 1 if position else min(seen, default=1)
    for missing in range(first, top):
        if missing not in seen:
            gaps.setdefault(missing, clock)
    gaps = {k: v for k, v in gaps.items() if clock - v < GAP_SECONDS}
    if len(gaps) > MAX_GAPS:  # a burst of rollbacks: keep the newest
        gaps = dict(sorted(gaps.items())[-MAX_GAPS:])
    cursor.position, cursor.gaps = top, gaps
    return sorted(raw, key=lambda r: int(r[0]))


async def save(conn: BaseDBAsyncClient, cursor: Cursor, now: datetime) -> None:
    await execute(
        conn,
        "UPDATE audience_cursor SET position = $1, gaps = $2, updated_at = $3 "
        "WHERE name = $4",
        cursor.position, json.dumps({str(k): v for k, v in cursor.gaps.items()}), now,
        cursor.name,
    )
