"""The staff audit log: who read or changed what of a customer, and when.

Every staff read of the 360 view (one customer, a search, a segment's members)
writes one row per customer shown, in one statement, before the answer goes
out: a read that cannot be recorded is not served."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise import connections

from loyalty.platform.sql import execute, fetch, is_pg

PROFILE_READ = "profile.read"


async def record_reads(staff_id: int, customer_ids: list[int], how: dict[str, Any],
                       now: datetime | None = None) -> None:
    """`how`: what the read was (the query, a search, a segment), kept as detail."""
    if not customer_ids:
        return
    now = now or datetime.now(UTC)
    conn = connections.get("default")
    detail = orjson.dumps(how).decode()
    if is_pg(conn):
        await execute(
            conn,
            "INSERT INTO staff_audit (staff_id, action, customer_id, detail, created_at) "
            "SELECT $1, $2, u.id, $3::jsonb, $4 FROM unnest($5::bigint[]) AS u(id)",
            staff_id, PROFILE_READ, detail, now, customer_ids)
        return
    await execute(
        conn,
        "INSERT INTO staff_audit (staff_id, action, customer_id, detail, created_at) "
        "SELECT $1, $2, value, $3, $4 FROM json_each($5)",
        staff_id, PROFILE_READ, detail, now, orjson.dumps(customer_ids).decode())


async def reads_of(customer_id: int, limit: int = 100) -> list[tuple[int, str, Any, datetime]]:
    """(staff id, action, detail, when) of a customer, newest first."""
    from loyalty.platform.sql import as_datetime

    rows = await fetch(connections.get("default"),
                       "SELECT staff_id, action, detail, created_at FROM staff_audit "
                       "WHERE customer_id = $1 ORDER BY id DESC LIMIT $2", customer_id, limit)
    return [(int(r[0]), r[1], orjson.loads(r[2]) if isinstance(r[2], str) else r[2],
             as_datetime(r[3])) for r in rows]
