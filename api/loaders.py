"""Per-request dataloaders of the audience and journey views (on Context.audience): each
field of a page of profiles costs one batch, whatever the page's length."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property

from strawberry.dataloader import DataLoader
from tortoise import connections

from audience.profiles import ProfileRow
from audience.scope import CustomerScope
from audience.scores import ScoreView, scores_of
from audience.segments import SegmentView, member_counts, segments_of
from audience.timeline import Activity, activity_of
from audience.value import LifetimeValueView, lifetime_values
from journeys.customer_runs import CustomerRun, runs_of
from journeys.stats import JourneyStats, journey_stats
from loyalty.programme.tiers import TierStatusView, tier_statuses


async def _member_counts(keys: list[tuple[CustomerScope, int]]) -> list[int]:
    """(the viewer's scope, segment id) -> members within it: one statement
    per scope, and a request has one."""
    found: dict[tuple[CustomerScope, int], int] = {}
    for scope in dict.fromkeys(k[0] for k in keys):
        counts = await member_counts([i for s, i in keys if s == scope], scope=scope)
        found.update(((scope, i), n) for i, n in counts.items())
    return [found[k] for k in keys]


async def _tiers(ids: list[int]) -> list[TierStatusView | None]:
    found = await tier_statuses(connections.get("default"), list(ids), datetime.now(UTC))
    return [found[i] for i in ids]


async def _activity(ids: list[int]) -> list[Activity]:
    found = await activity_of(list(ids))
    return [found[i] for i in ids]


async def _scores(ids: list[int]) -> list[ScoreView | None]:
    found = await scores_of(list(ids))
    return [found.get(i) for i in ids]


async def _segments(ids: list[int]) -> list[list[SegmentView]]:
    found = await segments_of(list(ids))
    return [found[i] for i in ids]


async def _values(rows: list[ProfileRow]) -> list[LifetimeValueView]:
    found = await lifetime_values(list(rows))
    return [found[r.id] for r in rows]


async def _journey_stats(ids: list[int]) -> list[JourneyStats]:
    found = await journey_stats(list(ids))
    return [found[i] for i in ids]


async def _journey_runs(ids: list[int]) -> list[list[CustomerRun]]:
    found = await runs_of(list(ids))
    return [found[i] for i in ids]


class AudienceLoaders:
    """Each made on its first use in the request: most requests (a till's
    purchase, the home screen) use none of them, and making all eight cost
    every request a few microseconds."""

    @cached_property
    def member_counts(self) -> DataLoader[tuple[CustomerScope, int], int]:
        return DataLoader(load_fn=_member_counts)

    @cached_property
    def tiers(self) -> DataLoader[int, TierStatusView | None]:
        return DataLoader(load_fn=_tiers)

    @cached_property
    def activity(self) -> DataLoader[int, Activity]:
        # Channels used and the preferred one: one read of the events for both.
        return DataLoader(load_fn=_activity)

    @cached_property
    def scores(self) -> DataLoader[int, ScoreView | None]:
        return DataLoader(load_fn=_scores)

    @cached_property
    def segments(self) -> DataLoader[int, list[SegmentView]]:
        return DataLoader(load_fn=_segments)

    @cached_property
    def values(self) -> DataLoader[ProfileRow, LifetimeValueView]:
        return DataLoader(load_fn=_values)

    @cached_property
    def journey_stats(self) -> DataLoader[int, JourneyStats]:
        return DataLoader(load_fn=_journey_stats)

    @cached_property
    def journey_runs(self) -> DataLoader[int, list[CustomerRun]]:
        return DataLoader(load_fn=_journey_runs)
