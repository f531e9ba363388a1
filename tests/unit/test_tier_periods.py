"""Qualification periods: calendar years on the programme's wall clock, and
rolling windows, at the instants where a UTC-only reading would go wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.programme.tier_periods import (
    OPEN_END,
    Period,
    PeriodRules,
    TierPeriod,
    current_period,
    next_review,
    period_end_after,
    period_ending,
    year_start,
)

LA = "America/Los_Angeles"
AKL = "Pacific/Auckland"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def calendar(tz: str) -> PeriodRules:
    return PeriodRules(TierPeriod.CALENDAR_YEAR, 365, tz)


def rolling(days: int) -> PeriodRules:
    return PeriodRules(TierPeriod.ROLLING, days, "UTC")


@pytest.mark.parametrize(
    ("tz", "instant", "year_begins", "year_ends"),
    [
        # 23:30 on 31 December in Los Angeles is 07:30 on 1 January in UTC:
        # still 2026 for the programme.
        (LA, local(LA, 2026, 12, 31, 23, 30), utc(2026, 1, 1, 8), utc(2027, 1, 1, 8)),
        (LA, utc(2027, 1, 1, 7, 59, 59), utc(2026, 1, 1, 8), utc(2027, 1, 1, 8)),
        (LA, utc(2027, 1, 1, 8), utc(2027, 1, 1, 8), utc(2028, 1, 1, 8)),
        # Auckland is ahead (NZDT, +13 in January): 11:30 UTC on 31 December
        # is already 00:30 on 1 January 2027 there.
        (AKL, utc(2026, 12, 31, 11, 30), utc(2026, 12, 31, 11), utc(2027, 12, 31, 11)),
        (AKL, utc(2026, 12, 31, 10, 59, 59), utc(2025, 12, 31, 11), utc(2026, 12, 31, 11)),
        ("UTC", utc(2026, 12, 31, 23, 59, 59), utc(2026, 1, 1), utc(2027, 1, 1)),
    ],
)
def test_calendar_year_is_the_programme_wall_clock_year(tz, instant, year_begins, year_ends):
    # when
    period = current_period(instant, calendar(tz))
    # then
    assert period == Period(year_begins, year_ends)
    assert period.start <= instant < period.end


def test_an_upgrade_is_reviewed_at_the_end_of_the_local_year_it_happened_in():
    rules = calendar(LA)
    # 31 December 23:30 in LA: reviewed 30 minutes later, at local midnight.
    assert period_end_after(local(LA, 2026, 12, 31, 23, 30), rules) == utc(2027, 1, 1, 8)
    # 00:30 on 1 January in LA: a whole year of grace.
    assert period_end_after(local(LA, 2027, 1, 1, 0, 30), rules) == utc(2028, 1, 1, 8)


def test_the_period_ending_at_a_review_is_the_year_just_gone():
    rules = calendar(AKL)
    review = local(AKL, 2027, 1, 1)
    assert period_ending(review, rules) == Period(local(AKL, 2026, 1, 1), review)


def test_a_late_review_skips_to_the_end_of_the_year_under_way():
    rules = calendar(LA)
    review = utc(2027, 1, 1, 8)
    assert next_review(review, review, rules) == utc(2028, 1, 1, 8)
    # The job was down for over a year: the next review is still in the future.
    assert next_review(review, utc(2028, 3, 1), rules) == utc(2029, 1, 1, 8)


def test_year_start_honours_daylight_saving_offsets():
    # LA is on PST (-8) on 1 January whatever the instant's own offset.
    assert year_start(local(LA, 2026, 7, 4, 12), LA) == utc(2026, 1, 1, 8)


def test_rolling_window_counts_back_from_now_and_is_open_ended():
    now = utc(2026, 11, 23, 12)
    period = current_period(now, rolling(30))
    assert period == Period(now - timedelta(days=30), OPEN_END)


def test_rolling_review_is_one_window_after_the_upgrade():
    since = utc(2026, 3, 10, 15, 45)
    assert period_end_after(since, rolling(90)) == since + timedelta(days=90)
    review = since + timedelta(days=90)
    assert period_ending(review, rolling(90)) == Period(since, review)


@pytest.mark.parametrize(
    ("late_by", "windows"),
    [(timedelta(0), 1), (timedelta(days=9, hours=23), 1), (timedelta(days=10), 2),
     (timedelta(days=35), 4)],
)
def test_rolling_next_review_steps_whole_windows_past_now(late_by, windows):
    review = utc(2026, 1, 1)
    rules = rolling(10)
    assert next_review(review, review + late_by, rules) == review + windows * timedelta(days=10)
