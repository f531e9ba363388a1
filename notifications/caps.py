"""The marketing frequency cap, counted in each customer's own calendar day."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import as_datetime, fetch, is_pg, placeholders

# Marketing messages that count against the cap: pushed, or still to be.
# Inbox-only ones (capped, opted out of push, no device) do not.
COUNTED = ("queued", "deferred", "sent")


def local_day(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of the customer's calendar day containing `now`, in UTC."""
    tz = ZoneInfo(timezone)
    day = now.astimezone(tz).date()
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


async def marketing_today(
    conn: BaseDBAsyncClient, now: datetime, timezones: dict[int, str]
) -> Counter[int]:
    """How many counted marketing messages each customer got in their local
    day so far. On PostgreSQL the customers' rows are locked first (in id
    order) so that two workers cannot both grant the last slot of a day."""
    counts: Counter[int] = Counter()
    if not timezones:
        return counts
    ids = sorted(timezones)
    marks = placeholders(len(ids))
    if is_pg(conn):
        await fetch(
            conn, f"SELECT id FROM customer WHERE id IN ({marks}) ORDER BY id FOR UPDATE", *ids
        )
    # A local day is at most 26 hours long and ends at most 14 hours from UTC.
    rows = await fetch(
        conn,
        f"SELECT customer_id, created_at FROM notification WHERE customer_id IN ({marks}) "
        f"AND marketing = ${len(ids) + 1} AND created_at >= ${len(ids) + 2} "
        f"AND status IN ('queued', 'deferred', 'sent')",
        *ids,
        True,
        now - timedelta(hours=40),
    )
    days = {tz: local_day(now, tz) for tz in set(timezones.values())}  # a few zones, many customers
    bounds = {cid: days[tz] for cid, tz in timezones.items()}
    for customer_id, created in rows:
        start, end = bounds[customer_id]
        if start <= as_datetime(created) < end:
            counts[customer_id] += 1
    return counts
