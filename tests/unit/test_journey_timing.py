"""Journey timers on the customer's clock, across the 2026 daylight-saving
changes: Paris (29 March, 25 October) and New York (8 March, 1 November)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from journeys.durations import Duration, parse_duration, parse_local_time
from journeys.timing import (
    after,
    before,
    check_rule,
    next_local_time,
    next_occurrence,
    occurrences,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("P14D", Duration(days=14, text="P14D")),
    ("PT5S", Duration(seconds=5, text="PT5S")),
    ("PT1H", Duration(seconds=3600, text="PT1H")),
    ("P1M", Duration(months=1, text="P1M")),
    ("P2W", Duration(days=14, text="P2W")),
    ("P1Y2M3W4DT5H6M7S", Duration(1, 2, 25, 5 * 3600 + 6 * 60 + 7, "P1Y2M3W4DT5H6M7S")),
])
def test_durations_parse_into_calendar_and_exact_parts(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "P1", "14D", "P1.5D", "PT-1S", "P1DT", "p1d",
                                  5, None, "P1D ", "PT1S1M"])
def test_what_is_not_a_duration_is_refused(text):
    with pytest.raises(ValueError, match="not an ISO 8601 duration"):
        parse_duration(text)


def test_durations_are_capped_at_ten_years():
    assert parse_duration("P10Y").years == 10
    with pytest.raises(ValueError, match="longer than 10 years"):
        parse_duration("P3653D")


def test_local_times_are_hours_and_minutes_on_a_24_hour_clock():
    assert parse_local_time("10:00") == time(10, 0)
    assert parse_local_time("23:59") == time(23, 59)
    for bad in ("24:00", "9:00", "10:60", "10:00:00", 1000, None):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_local_time(bad)


def test_a_day_keeps_the_wall_time_when_paris_springs_forward():
    saturday_10h = utc(2026, 3, 28, 9)  # 10:00 CET
    assert after(saturday_10h, parse_duration("P1D"), PARIS) == utc(2026, 3, 29, 8)  # 10:00 CEST
    # 24 hours are elapsed time: 11:00 on the shorter Sunday.
    assert after(saturday_10h, parse_duration("PT24H"), PARIS) == utc(2026, 3, 29, 9)


def test_a_day_keeps_the_wall_time_when_paris_falls_back():
    saturday_10h = utc(2026, 10, 24, 8)  # 10:00 CEST
    assert after(saturday_10h, parse_duration("P1D"), PARIS) == utc(2026, 10, 25, 9)  # 10:00 CET
    assert after(saturday_10h, parse_duration("P1DT2H"), PARIS) == utc(2026, 10, 25, 11)


def test_a_week_keeps_the_wall_time_across_new_york_changes():
    assert after(utc(2026, 3, 5, 14), parse_duration("P1W"), NEW_YORK) == utc(2026, 3, 12, 13)
    assert after(utc(2026, 10, 29, 13), parse_duration("P7D"), NEW_YORK) == utc(2026, 11, 5, 14)


def test_a_day_landing_in_the_spring_gap_moves_forward_and_in_the_fold_takes_the_first():
    assert after(utc(2026, 3, 28, 1, 30), parse_duration("P1D"), PARIS) \
        == utc(2026, 3, 29, 1, 30)  # 02:30 does not exist: 03:30 CEST
    assert after(utc(2026, 10, 24, 0, 30), parse_duration("P1D"), PARIS) \
        == utc(2026, 10, 25, 0, 30)  # 02:30 happens twice: the first, CEST
    assert after(utc(2026, 3, 7, 7, 30), parse_duration("P1D"), NEW_YORK) \
        == utc(2026, 3, 8, 7, 30)  # 02:30 EST + 1 day: 03:30 EDT


def test_a_month_ends_at_the_months_end():
    assert after(utc(2026, 1, 31, 9), parse_duration("P1M"), PARIS) == utc(2026, 2, 28, 9)
    assert after(utc(2026, 2, 28, 9), parse_duration("P1Y"), PARIS) == utc(2027, 2, 28, 9)


def test_seconds_are_seconds():
    assert after(utc(2026, 3, 29, 0, 59, 58), parse_duration("PT5S"), PARIS) \
        == utc(2026, 3, 29, 1, 0, 3)


def test_before_mirrors_after_for_a_reminder():
    expiry = utc(2026, 3, 31, 8)  # 10:00 CEST
    assert before(expiry, parse_duration("P3D"), PARIS) == utc(2026, 3, 28, 9)  # 10:00 CET
    assert before(expiry, parse_duration("PT72H"), PARIS) == utc(2026, 3, 28, 8)


def test_until_a_local_time_is_later_today_or_tomorrow():
    ten = time(10, 0)
    assert next_local_time(utc(2026, 3, 28, 8), ten, PARIS) == utc(2026, 3, 28, 9)
    assert next_local_time(utc(2026, 3, 28, 9), ten, PARIS) == utc(2026, 3, 29, 8)  # not now
    assert next_local_time(utc(2026, 3, 28, 11), ten, PARIS) == utc(2026, 3, 29, 8)
    assert next_local_time(utc(2026, 10, 24, 12), ten, PARIS) == utc(2026, 10, 25, 9)


def test_until_a_skipped_local_time_moves_forward_by_the_gap():
    assert next_local_time(utc(2026, 3, 28, 23), time(2, 30), PARIS) == utc(2026, 3, 29, 1, 30)
    assert next_local_time(utc(2026, 3, 8, 5), time(2, 30), NEW_YORK) == utc(2026, 3, 8, 7, 30)


def test_until_a_repeated_local_time_takes_the_first_and_only_that_one():
    half_past_one = time(1, 30)
    assert next_local_time(utc(2026, 11, 1, 4), half_past_one, NEW_YORK) \
        == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    # Past the first 01:30, the second one (06:30 UTC, EST) is not another chance.
    assert next_local_time(utc(2026, 11, 1, 5, 45), half_past_one, NEW_YORK) \
        == utc(2026, 11, 2, 6, 30)


def test_a_weekly_schedule_keeps_its_local_hour_across_the_paris_change():
    rule = "RRULE:FREQ=WEEKLY;BYDAY=SU;BYHOUR=10"
    assert occurrences(rule, utc(2026, 3, 20), utc(2026, 4, 6), PARIS) == [
        utc(2026, 3, 22, 9), utc(2026, 3, 29, 8), utc(2026, 4, 5, 8),
    ]
    assert occurrences(rule, utc(2026, 10, 20), utc(2026, 11, 2), PARIS) == [
        utc(2026, 10, 25, 9), utc(2026, 11, 1, 9),
    ]


def test_a_daily_schedule_in_new_york_through_the_gap_and_the_fold():
    gap = "RRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=30"
    assert occurrences(gap, utc(2026, 3, 7), utc(2026, 3, 10), NEW_YORK) == [
        utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30),
    ]
    fold = "RRULE:FREQ=DAILY;BYHOUR=1;BYMINUTE=30"
    assert occurrences(fold, utc(2026, 10, 31), utc(2026, 11, 3), NEW_YORK) == [
        utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30),
    ]


def test_a_schedule_defaults_to_monday_midnight_and_ends_at_until():
    assert next_occurrence("RRULE:FREQ=WEEKLY", utc(2026, 3, 4), PARIS) == utc(2026, 3, 8, 23)
    until = "RRULE:FREQ=DAILY;BYHOUR=10;UNTIL=20260330T000000"
    assert next_occurrence(until, utc(2026, 3, 29, 9), PARIS) is None


@pytest.mark.parametrize("rule, reason", [
    ("FREQ=DAILY", "one \"RRULE:...\" line"),
    ("RRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY", "one \"RRULE:...\" line"),
    ("RRULE:FREQ=DAILY;COUNT=3", "COUNT"),
    ("RRULE:FREQ=DAILY;UNTIL=20261231T000000Z", "without Z"),
    ("RRULE:FREQ=HOURLY", "at most daily"),
    ("RRULE:FREQ=SOMETIMES", "not a valid RRULE"),
    ("RRULE:FREQ=DAILY;UNTIL=20230101T000000", "never occurs"),
    (42, "one \"RRULE:...\" line"),
])
def test_schedules_journeys_cannot_run_are_refused(rule, reason):
    with pytest.raises(ValueError, match=reason):
        check_rule(rule)
