"""IANA time zones: one check for what a client sends, one tolerant read for
what is stored.

`ZoneInfo(name)` is no validator: it opens `name` as a path under the tz
database, so "Europe" raises IsADirectoryError, a 300-character name
OSError, and "../../etc/x" looks outside it. A name is accepted only if it is
one of the machine's zones, by set membership.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from loyalty.errors import invalid

UTC_ZONE = ZoneInfo("UTC")


@cache
def _known() -> frozenset[str]:
    # Read once: available_timezones() walks the tz database.
    return frozenset(available_timezones()) | {"UTC"}


def check_timezone(name: str, field: str = "timezone") -> str:
    """`name` if it is an IANA zone this machine knows; INVALID_INPUT otherwise."""
    if not isinstance(name, str) or name not in _known():
        shown = name if isinstance(name, str) and len(name) <= 64 else "that"
        raise invalid(f"Unknown IANA timezone {shown!r}.", field)
    return name


def zone_or_utc(name: str | None) -> ZoneInfo:
    """A stored zone, or UTC when unset or no longer known to this machine."""
    if name and name in _known():
        return ZoneInfo(name)
    return UTC_ZONE
