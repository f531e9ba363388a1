"""How far behind the worker is, for the metrics: per consumer, what waits and
how long the oldest has waited.

- `notifications`: outbox events not yet claimed (index on processed_at, id);
- `push`: notifications due to be pushed (index on status, next_attempt_at).

Counted up to DEPTH_CAP rows, so that a backlog of millions costs a sample no
more than a bounded index scan; past it the gauge reads DEPTH_CAP.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise import connections

from loyalty.platform.sql import as_datetime, fetchrow
from observability.metrics import OUTBOX_DEPTH, OUTBOX_LAG

DEPTH_CAP = 100_000
# Each sample is two index scans: every few scrapes is often enough.
SAMPLE_SECONDS = 10.0

_OUTBOX = (
    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM outbox_event WHERE processed_at IS NULL "
    f"LIMIT {DEPTH_CAP}) w), "
    "(SELECT created_at FROM outbox_event WHERE processed_at IS NULL ORDER BY id LIMIT 1)"
)
_PUSH = (
    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM notification WHERE status IN "
    f"('queued', 'deferred') AND next_attempt_at <= $1 LIMIT {DEPTH_CAP}) w), "
    "(SELECT MIN(next_attempt_at) FROM notification WHERE status IN ('queued', 'deferred') "
    "AND next_attempt_at <= $2)"
)


async def sample_backlog(now: datetime | None = None) -> dict[str, tuple[int, float]]:
    """{consumer: (depth, lag in seconds)}, also set on the gauges."""
    now = now or datetime.now(UTC)
    conn = connections.get("default")
    found: dict[str, tuple[int, float]] = {}
    for consumer, row in (("notifications", await fetchrow(conn, _OUTBOX)),
                          ("push", await fetchrow(conn, _PUSH, now, now))):
        depth = int(row[0] or 0) if row is not None else 0
        oldest = row[1] if row is not None else None
        lag = max(0.0, (now - as_datetime(oldest)).total_seconds()) if oldest else 0.0
        OUTBOX_DEPTH.labels(consumer).set(depth)
        OUTBOX_LAG.labels(consumer).set(lag)
        found[consumer] = (depth, lag)
    return found
