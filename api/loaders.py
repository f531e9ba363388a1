"""Per-request dataloaders of the audience and journey views (on Context.audience): each
field of a page of profiles costs one batch, whatever the page's length."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from strawberry.dataloader import DataLoader
from tortoise import connections

from audience.profiles import ProfileRow
from audience.scores import ScoreView, scores_of
from audience.segments import SegmentView, member_counts, segments_of
from audience.timeline import Activity, activity_of
from audience.value import LifetimeValueView, lifetime_values
from journeys.customer_runs import CustomerRun, runs_of
from journeys.stats import JourneyStats, journey_stats
from loyalty.programme.tiers import TierStatusView, tier_statuses


async def _member_counts(ids: list[int]) -> list[int]:
    counts = await member_counts(list(ids))
    return [counts[i] for i in ids]


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


def _loader(fn: Any) -> Any:
    return field(default_factory=lambda: DataLoader(load_fn=fn))


@dataclass
class AudienceLoaders:
    member_counts: DataLoader[int, int] = _loader(_member_counts)
    tiers: DataLoader[int, TierStatusView | None] = _loader(_tiers)
    # Channels used and the preferred one: one read of the events for both.
    activity: DataLoader[int, Activity] = _loader(_activity)
    scores: DataLoader[int, ScoreView | None] = _loader(_scores)
    segments: DataLoader[int, list[SegmentView]] = _loader(_segments)
    values: DataLoader[ProfileRow, LifetimeValueView] = _loader(_values)
    journey_stats: DataLoader[int, JourneyStats] = _loader(_journey_stats)
    journey_runs: DataLoader[int, list[CustomerRun]] = _loader(_journey_runs)
