"""Anonymous events become the customer's when a sign-up or log-in names the
anonymousId the app or browser sent them under (docs/adr/0012).

The first customer to claim an anonymousId keeps it: a second log-in naming
it (a shared tablet, a replayed id) merges nothing. Events that arrive later
under a claimed anonymousId are attributed on insert (audience/events.py);
one racing the claim is caught by the `anonymous_events_merged` job.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise import connections

from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetchrow


async def merge_anonymous(customer_id: int, anonymous_id: str,
                          now: datetime | None = None) -> int:
    """Claim `anonymous_id` for the customer and move its events to them;
    returns how many moved (0 when another customer claimed it first)."""
    now = now or datetime.now(UTC)
    async with transaction() as conn:
        await execute(
            conn,
            "INSERT INTO anonymous_identity (anonymous_id, customer_id, merged_at) "
            "VALUES ($1, $2, $3) ON CONFLICT (anonymous_id) DO NOTHING",
            anonymous_id, customer_id, now,
        )
        owner = await fetchrow(
            conn, "SELECT customer_id FROM anonymous_identity WHERE anonymous_id = $1",
            anonymous_id)
        if owner is None or int(owner[0]) != customer_id:
            return 0
        moved = await execute(
            conn,
            "UPDATE customer_event SET customer_id = $1 "
            "WHERE anonymous_id = $2 AND customer_id IS NULL",
            customer_id, anonymous_id,
        )
        if moved:
            await execute(conn, "INSERT INTO segment_touch (customer_id, touched_at) "
                          "VALUES ($1, $2)", customer_id, now)
    return moved


async def merge_stragglers(now: datetime) -> int:
    """The job: anonymous events written while their anonymousId was being
    claimed (neither saw the other's uncommitted row)."""
    return await execute(
        connections.get("default"),
        "UPDATE customer_event SET customer_id = (SELECT a.customer_id FROM "
        "anonymous_identity a WHERE a.anonymous_id = customer_event.anonymous_id) "
        "WHERE customer_id IS NULL AND anonymous_id IN (SELECT anonymous_id FROM "
        "anonymous_identity)",
    )
