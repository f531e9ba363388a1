"""When a run wakes: waits, local times of day and schedules, in the
customer's time zone (zoneinfo), returned as aware UTC datetimes.

Wall-clock rules, one place for all three:
- a calendar duration ("P1D", "P1M") keeps the local wall time: 10:00 in
  Paris stays 10:00 the next day even when that day is 23 or 25 hours long;
  hours, minutes and seconds ("PT24H") are elapsed time;
- a local time that does not exist (skipped when clocks go forward) moves
  forward by the gap (02:30 becomes 03:30), as PEP 495's fold=0 reads it;
- a local time that happens twice (clocks go back) is the first one.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, rrule, rrulestr

from journeys.durations import Duration

# Schedules count from a fixed local Monday, midnight, the first of a month
# and a year: so a rule without BYDAY, BYMONTHDAY or BYHOUR means Monday, the
# 1st and midnight, and an INTERVAL=2 keeps its parity from year to year.
ANCHOR = datetime(2024, 1, 1)


def resolve_local(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a naive local wall time in `zone` (see the module's rules)."""
    # fold=0 reads a skipped time with the offset before the change, which
    # lands after the gap, and a repeated time as its first occurrence.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def after(now: datetime, duration: Duration, zone: ZoneInfo) -> datetime:
    """`now` plus `duration`, its calendar part on the customer's wall clock."""
    moved = now.astimezone(UTC)
    if duration.years or duration.months or duration.days:
        wall = now.astimezone(zone).replace(tzinfo=None)
        # relativedelta clamps to the month's end: 31 January + P1M is 28/29 February.
        wall += relativedelta(years=duration.years, months=duration.months, days=duration.days)
        moved = resolve_local(wall, zone)
    return moved + timedelta(seconds=duration.seconds)


def before(instant: datetime, duration: Duration, zone: ZoneInfo) -> datetime:
    """`instant` minus `duration` (a reminder before an expiry), by the same rules."""
    moved = instant.astimezone(UTC) - timedelta(seconds=duration.seconds)
    if duration.years or duration.months or duration.days:
        wall = moved.astimezone(zone).replace(tzinfo=None)
        wall -= relativedelta(years=duration.years, months=duration.months, days=duration.days)
        moved = resolve_local(wall, zone)
    return moved


def next_local_time(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first instant strictly after `now` when the customer's clock shows `at`."""
    day = now.astimezone(zone).date()
    for offset in range(3):  # today, tomorrow, or (past a skipped time) the day after
        candidate = resolve_local(datetime.combine(day + timedelta(days=offset), at), zone)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a local time occurs every day")


@lru_cache(maxsize=256)
def _parsed(rule: str) -> rrule:
    parsed = rrulestr(rule, dtstart=ANCHOR)
    assert isinstance(parsed, rrule)
    return parsed


def check_rule(text: object) -> str:
    """`text` if it is a schedule journeys accept; ValueError with the reason."""
    if not isinstance(text, str) or not text.startswith("RRULE:") or "\n" in text.strip():
        raise ValueError("must be one \"RRULE:...\" line (RFC 5545), without DTSTART")
    body = text.removeprefix("RRULE:").upper()
    if "COUNT=" in body:
        raise ValueError("COUNT is not supported (occurrences count from 2024): use UNTIL")
    if "UNTIL=" in body and body.split("UNTIL=")[1].split(";")[0].endswith("Z"):
        raise ValueError("UNTIL is a local time in the customer's zone, without Z")
    if len(text) > 500:
        raise ValueError("longer than 500 characters")
    try:
        parsed = _parsed(text.strip())
    except (ValueError, TypeError, AssertionError) as exc:
        raise ValueError(f"not a valid RRULE: {exc}") from None
    if parsed._freq > DAILY:  # HOURLY, MINUTELY, SECONDLY
        raise ValueError("a schedule runs at most daily (use BYHOUR for several times a day)")
    if parsed.after(ANCHOR, inc=True) is None:
        raise ValueError("the rule never occurs")
    return text.strip()


def next_occurrence(rule: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """The rule's first occurrence strictly after `now` on the customer's
    clock; None when it has ended (UNTIL)."""
    parsed = _parsed(rule)
    wall: datetime | None = now.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
    # Starting a few hours back covers the wall times that a clock change
    # maps after `now` (a skipped 02:30 read as 03:30).
    while wall is not None:
        wall = parsed.after(wall)
        if wall is not None and resolve_local(wall, zone) > now:
            return resolve_local(wall, zone)
    return None


def occurrences(rule: str, start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every occurrence in [start, end), in order, as UTC instants."""
    found: list[datetime] = []
    at = start - timedelta(microseconds=1)
    while (nxt := next_occurrence(rule, at, zone)) is not None and nxt < end:
        found.append(nxt)
        at = nxt
    return found
