"""Scheduled work of the audience package, run by `loyalty worker` and
`loyalty jobs` beside the programme's (api/cli_worker.py hands them to the worker
loop, as geofence's). Every job is idempotent and safe on several workers.

The jobs run on the worker's jobs interval (a minute); the heavy ones (a full
segment refresh) run only when their own interval has passed, claimed by one
worker at a time in `audience_job`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tortoise import connections

from audience import events, identity_merge, membership, partitions, scores, value_model
from audience.config import audience_settings
from loyalty.platform.sql import execute

_NEVER = datetime(2000, 1, 1, tzinfo=UTC)


async def claim(name: str, every: timedelta, now: datetime) -> bool:
    """Whether this worker runs job `name` now: it has not run for `every`,
    and no other worker claimed it first."""
    conn = connections.get("default")
    await execute(conn, "INSERT INTO audience_job (name, last_run_at) VALUES ($1, $2) "
                        "ON CONFLICT (name) DO NOTHING", name, _NEVER)
    return await execute(conn, "UPDATE audience_job SET last_run_at = $1 "
                               "WHERE name = $2 AND last_run_at <= $3",
                         now, name, now - every) == 1


async def refresh_segments(now: datetime) -> int:
    """Every segment evaluated in full, every LOYALTY_SEGMENTS_REFRESH_SECONDS:
    what time alone changes (a purchase leaving a window) has no event."""
    every = timedelta(seconds=audience_settings().segments_refresh_seconds)
    if not await claim("segments", every, now):
        return 0
    return (await membership.refresh(now)).segments


async def recompute_now(now: datetime | None = None, rfm_window_days: int | None = None,
                        all_segments: bool = False) -> tuple[scores.Recomputed,
                                                             membership.Changes]:
    """Scores recomputed now, then the segments that read them (or, with
    `all_segments`, every segment) evaluated in full, and the lifetime-value
    model fitted again: the admin mutation and `loyalty audience recompute`."""
    now = now or datetime.now(UTC)
    done = await scores.recompute(now, rfm_window_days)
    changes = await membership.refresh(now, only_scored=not all_segments)
    await value_model.fit(now)
    await value_model.prune()
    return done, changes


async def recompute_scores(now: datetime) -> int:
    """Scores every LOYALTY_SCORES_INTERVAL_SECONDS; returns customers scored."""
    every = timedelta(seconds=audience_settings().scores_interval_seconds)
    if not await claim("scores", every, now):
        return 0
    done, _ = await recompute_now(now)
    return done.scored


# Name (as reported and logged) -> job, as in loyalty.jobs.JOBS.
JOBS: dict[str, Callable[[datetime], Awaitable[int]]] = {
    # This month's and the next two months' partitions of the events (PostgreSQL).
    "event_partitions_checked": partitions.ensure_ahead,
    "event_messages_pruned": events.prune_messages,
    "anonymous_events_merged": identity_merge.merge_stragglers,
    "segments_refreshed": refresh_segments,
    "scores_recomputed": recompute_scores,
}
