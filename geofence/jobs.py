"""Scheduled work of the geofence package, run by `loyalty worker` and
`loyalty jobs` beside the programme's jobs (api/cli_worker.py hands them to the
worker loop: notifications may not import geofence).

Like loyalty.jobs, every job is idempotent and safe on several workers at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from geofence.visits import open_since
from loyalty.platform.config import get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, skip_locked

BATCH = 500


async def close_stale_visits(now: datetime) -> int:
    """Close the visits whose EXIT never came (phone off, app killed, region
    monitoring dropped) once they have been open `visit_max_open_minutes`:
    check-ins already ignore them, and `me.visits` should not show a visit
    still in progress days later. A visit is closed at the end of that span,
    the longest it is believed to have lasted. Returns how many were closed.

    Rows another worker holds are skipped, and the update re-checks
    `closed_at IS NULL`, so workers running this together close each once."""
    settings = get_settings()
    cutoff = open_since(now, settings)
    span = timedelta(minutes=settings.visit_max_open_minutes)
    closed = 0
    while True:
        async with transaction() as conn:
            rows = await fetch(
                conn,
                skip_locked(conn, "SELECT id, opened_at FROM visit WHERE closed_at IS NULL "
                                  "AND opened_at <= $1 ORDER BY id LIMIT $2"),
                cutoff,
                BATCH,
            )
            for visit_id, opened_at in rows:
                closed += await execute(
                    conn,
                    "UPDATE visit SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL",
                    as_datetime(opened_at) + span,
                    visit_id,
                )
        if len(rows) < BATCH:
            return closed


# Name (as reported and logged) -> job, as in loyalty.jobs.JOBS.
JOBS: dict[str, Callable[[datetime], Awaitable[int]]] = {
    "visits_closed": close_stale_visits,
}
