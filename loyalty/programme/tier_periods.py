"""Qualification periods of the tier programme: pure date arithmetic.

A calendar year is the year on the programme's wall clock (its IANA timezone),
so a purchase at 23:30 on 31 December in Los Angeles counts in that year even
though it is already 1 January in UTC. A rolling window is a fixed number of
days (24-hour spans, so no daylight-saving surprises) back from an instant.
Every instant here is timezone-aware UTC; local time exists only inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class TierBasis(StrEnum):
    POINTS = "POINTS"
    SPEND = "SPEND"


class TierPeriod(StrEnum):
    CALENDAR_YEAR = "CALENDAR_YEAR"
    ROLLING = "ROLLING"


# The open end of a rolling window: everything posted so far (postings are
# never far in the future, the till's clock skew at most).
OPEN_END = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PeriodRules:
    period: TierPeriod
    window_days: int
    timezone: str

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)


@dataclass(frozen=True)
class Period:
    # [start, end): what counts is start <= occurred_at < end.
    start: datetime
    end: datetime


def year_start(at: datetime, timezone: str) -> datetime:
    """1 January 00:00, wall clock in `timezone`, of the year `at` falls in there."""
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    return datetime(local.year, 1, 1, tzinfo=zone).astimezone(UTC)


def next_year_start(at: datetime, timezone: str) -> datetime:
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    return datetime(local.year + 1, 1, 1, tzinfo=zone).astimezone(UTC)


def current_period(now: datetime, rules: PeriodRules) -> Period:
    """What counts towards a tier at `now`: this calendar year, or the window
    ending now."""
    if rules.period is TierPeriod.CALENDAR_YEAR:
        return Period(year_start(now, rules.timezone), next_year_start(now, rules.timezone))
    return Period(now - rules.window, OPEN_END)


def period_end_after(since: datetime, rules: PeriodRules) -> datetime:
    """When a tier reached at `since` is next reviewed: the end of the calendar
    year it was reached in, or one window after."""
    if rules.period is TierPeriod.CALENDAR_YEAR:
        return next_year_start(since, rules.timezone)
    return since + rules.window


def period_ending(end: datetime, rules: PeriodRules) -> Period:
    """The qualification period that ends at `end` (a review instant)."""
    if rules.period is TierPeriod.CALENDAR_YEAR:
        # The year of the instant just before the end: `end` itself is
        # already the first instant of the next year.
        return Period(year_start(end - timedelta(microseconds=1), rules.timezone), end)
    return Period(end - rules.window, end)


def next_review(review_at: datetime, now: datetime, rules: PeriodRules) -> datetime:
    """The first period end after `now`, stepping on from `review_at`; a job
    that ran late (or not at all for a while) skips the periods already gone."""
    if rules.period is TierPeriod.CALENDAR_YEAR:
        return next_year_start(max(review_at, now), rules.timezone)
    if review_at > now:
        return review_at + rules.window
    steps = (now - review_at) // rules.window + 1
    return review_at + steps * rules.window
