"""The stream's reader of the outbox: the server's own events, within seconds
of their postings, exactly once (docs/adr/0012).

It keeps its own position (`audience_cursor`, read with gaps as
audience/cursor.py explains) instead of the notification worker's
`processed_at`, which says nothing about this consumer. Message ids derived
from the outbox id make a second reading harmless.

Several workers may run it: a pass that finds the cursor taken does
nothing. Every customer of every row read is marked for segment
re-evaluation (a posting changes points and spend even when it makes no
event).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from audience import cursor as cursors
from audience.cursor import GAP_SECONDS, MAX_GAPS
from audience.domain_events import outbox_row, stream_rows
from audience.events import write_events
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, is_pg

NAME = "events"
__all__ = ["GAP_SECONDS", "MAX_GAPS", "ConsumeResult", "consume"]


@dataclass
class ConsumeResult:
    read: int = 0
    written: int = 0
    position: int = 0


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
        cursor = await cursors.lock(conn, NAME, now)
        if cursor is None:
            return result
        raw = await cursors.read(conn, cursor, _COLUMNS, batch_size, clock)
        rows = [outbox_row(r) for r in raw]
        result.read = len(rows)
        result.written = await write_events(await stream_rows(conn, rows), now, conn,
                                            touch=False)
        await _touch(conn, sorted({r.customer_id for r in rows if r.customer_id}), now)
        await cursors.save(conn, cursor, now)
        result.position = cursor.position
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
