"""ISO 8601 durations and local times of day, as journeys write them.

A duration keeps its calendar part (years, months, days: a weekly "P1W" is
seven days) apart from its exact part (hours, minutes, seconds), because
they add differently: "P1D" is the same wall-clock time tomorrow in the
customer's zone, 23 or 25 hours away across a daylight-saving change, while
"PT24H" is always 86,400 seconds (journeys.timing applies them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

# Long enough for a win-back a year later, short enough that adding it to any
# date of this century stays inside `datetime`.
MAX_YEARS = 10
_DAY = 86_400

_DURATION = re.compile(
    r"P(?!$)(?:(\d{1,6})Y)?(?:(\d{1,6})M)?(?:(\d{1,6})W)?(?:(\d{1,6})D)?"
    r"(?:T(?=\d)(?:(\d{1,6})H)?(?:(\d{1,6})M)?(?:(\d{1,6})S)?)?"
)
_LOCAL_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0
    seconds: int = 0  # hours, minutes and seconds: elapsed time, not wall-clock time
    text: str = ""

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.seconds)

    @property
    def approx_seconds(self) -> float:
        """For comparing two durations (a reminder shorter than a validity);
        never for computing a date."""
        days = self.years * 365.2425 + self.months * 30.436875 + self.days
        return days * _DAY + self.seconds

    def __str__(self) -> str:
        return self.text


def parse_duration(text: object) -> Duration:
    """`text` as a Duration; ValueError with the reason otherwise. Integers
    only (no "PT0.5S"), as the schedulers count whole seconds."""
    if not isinstance(text, str):
        raise ValueError("not an ISO 8601 duration (a string such as \"P14D\" or \"PT5S\")")
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError("not an ISO 8601 duration")
    y, mo, w, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    duration = Duration(y, mo, d + 7 * w, h * 3600 + mi * 60 + s, text)
    if duration.approx_seconds > MAX_YEARS * 365.2425 * _DAY:
        raise ValueError(f"longer than {MAX_YEARS} years")
    return duration


def parse_local_time(text: object) -> time:
    """"HH:MM" on a 24-hour clock as a time of day; ValueError otherwise."""
    match = _LOCAL_TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("not a local time \"HH:MM\" (00:00 to 23:59)")
    return time(int(match.group(1)), int(match.group(2)))
