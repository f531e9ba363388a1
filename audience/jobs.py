"""Scheduled work of the audience package, run by `loyalty worker` and
`loyalty jobs` beside the programme's (api/cli.py hands them to the worker
loop, as geofence's). Every job is idempotent and safe on several workers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from audience import events, identity_merge, partitions

# Name (as reported and logged) -> job, as in loyalty.jobs.JOBS.
JOBS: dict[str, Callable[[datetime], Awaitable[int]]] = {
    # This month's and the next two months' partitions of the events (PostgreSQL).
    "event_partitions_checked": partitions.ensure_ahead,
    "event_messages_pruned": events.prune_messages,
    "anonymous_events_merged": identity_merge.merge_stragglers,
}
