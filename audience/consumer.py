"""The stream's reader of the outbox: the server's own events, within seconds
of their postings, exactly once (docs/adr/0012).

It keeps its own position (`audience_cursor`) instead of the notification
worker's `processed_at`, which says nothing about this consumer. Outbox ids
come from a sequence but commit out of order: a transaction that took id 7
may commit after one that took id 8 was read. So the ids skipped over are
remembered as gaps and looked for again on every pass, until they appear or
are older than GAP_SECONDS (a rolled-back transaction leaves a gap forever).
Message ids derived from the outbox id make a second reading harmless.

Several workers may run it: the cursor row is locked (FOR UPDATE SKIP LOCKED),
and a pass that finds it taken does nothing. Every customer of every row read
is marked for segment re-evaluation (a posting changes points and spend even
when it makes no event).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from audience.domain_events import outbox_row, stream_rows
from audience.events import write_events
from loyalty.db import transaction
from loyalty.sql import execute, fetch, fetchrow, is_pg, skip_locked

NAME = "events"
# Longer than any posting's transaction is open after writing its outbox row.
GAP_SECONDS = 120.0
MAX_GAPS = 10_000


@dataclass
class ConsumeResult:
    read: int = 0
    written: int = 0
    position: int = 0


def _gaps(raw: Any) -> dict[int, float]:
    if isinstance(raw, str):
        raw = json.loads(raw) if raw else {}
    return {int(k): float(v) for k, v in (raw or {}).items()}


async def _cursor(conn: BaseDBAsyncClient, now: datetime) -> tuple[int, dict[int, float]] | None:
    """The locked cursor, or None when another worker holds it."""
    select = skip_locked(conn, "SELECT position, gaps FROM audience_cursor WHERE name = $1")
    row = await fetchrow(conn, select, NAME)
    if row is None:
        await execute(
            conn,
            "INSERT INTO audience_cursor (name, position, gaps, updated_at) "
            "VALUES ($1, 0, $2, $3) ON CONFLICT (name) DO NOTHING",
            NAME, "{}", now,
        )
        row = await fetchrow(conn, select, NAME)
        if row is None:
            return None
    return int(row[0]), _gaps(row[1])


_COLUMNS = "SELECT id, kind, customer_id, payload, created_at FROM outbox_event"


async def consume(batch_size: int = 500, now: datetime | None = None,
                  clock: float | None = None) -> ConsumeResult:
    """One pass: up to `batch_size` outbox rows after the cursor, and those of
    the remembered gaps that have appeared, into the stream. `clock`
    (time.time()) dates the gaps; tests move it."""
    now = now or datetime.now(UTC)
    clock = time.time() if clock is None else clock
    result = ConsumeResult()
    async with transaction() as conn:
        cursor = await _cursor(conn, now)
        if cursor is None:
            return result
        position, gaps = cursor
        raw = list(await fetch(conn, f"{_COLUMNS} WHERE id > $1 ORDER BY id LIMIT $2",
                               position, batch_size))
        if gaps:
            wanted = sorted(gaps)
            marks = ", ".join(f"${i}" for i in range(1, len(wanted) + 1))
            found = await fetch(conn, f"{_COLUMNS} WHERE id IN ({marks})", *wanted)
            for r in found:
                gaps.pop(int(r[0]), None)
            raw.extend(found)
        seen = {int(r[0]) for r in raw}
        top = max([position, *seen])
        # A fresh cursor starts at the oldest row there is, not at id 1.
        first = position + 1 if position else min(seen, default=1)
        for missing in range(first, top):
            if missing not in seen:
                gaps.setdefault(missing, clock)
        gaps = {k: v for k, v in gaps.items() if clock - v < GAP_SECONDS}
        if len(gaps) > MAX_GAPS:  # a burst of rollbacks: keep the newest
            gaps = dict(sorted(gaps.items())[-MAX_GAPS:])
        rows = sorted((outbox_row(r) for r in raw), key=lambda r: r.id)
        result.read = len(rows)
        result.written = await write_events(await stream_rows(conn, rows), now, conn,
                                            touch=False)
        await _touch(conn, sorted({r.customer_id for r in rows if r.customer_id}), now)
        await execute(
            conn,
            "UPDATE audience_cursor SET position = $1, gaps = $2, updated_at = $3 "
            "WHERE name = $4",
            top, json.dumps({str(k): v for k, v in gaps.items()}), now, NAME,
        )
        result.position = top
    return result


async def _touch(conn: BaseDBAsyncClient, customer_ids: list[int], now: datetime) -> None:
    if not customer_ids:
        return
    if is_pg(conn):
        await execute(
            conn,
            "INSERT INTO segment_touch (customer_id, touched_at) "
            "SELECT u.id, $1 FROM unnest($2::bigint[]) AS u(id)",
            now, customer_ids,
        )
        return
    await execute(
        conn,
        "INSERT INTO segment_touch (customer_id, touched_at) "
        "SELECT value, $1 FROM json_each($2)",
        now, json.dumps(customer_ids),
    )
