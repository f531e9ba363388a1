"""What a check-in is judged on, and the judgement itself: shared by the
general path (geofence.checkins) and the one-statement path
(geofence.checkin_fast), so that both refuse exactly the same check-ins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from geofence import rules
from geofence.models import CheckInKind
from geofence.visit_machine import Place, VisitResult
from loyalty.platform.config import Settings

# Check-ins recorded within this window count towards the rate limit.
RATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class BeaconSighting:
    uuid: str
    major: int
    minor: int
    rssi: int | None = None


@dataclass(frozen=True)
class CheckInResult:
    visit: VisitResult | None
    replayed: bool = False
    posted: bool = False  # this check-in put points on the ledger


@dataclass(frozen=True)
class Target:
    place: Place
    beacon_id: int | None
    latitude: float
    longitude: float
    radius_meters: float | None  # None for a beacon: being in range is the proof
    retired: bool
    outline: tuple[tuple[float, float], ...] | None = None  # a polygon fence's vertices


def judge(
    *,
    opted_in: bool,
    target: Target | None,
    kind: CheckInKind,
    latitude: float | None,
    longitude: float | None,
    accuracy_meters: float | None,
    beacon: BeaconSighting | None,
    when: datetime,
    now: datetime,
    settings: Settings,
    previous: rules.Fix | None,
) -> tuple[str | None, rules.Fix | None]:
    """The reason to refuse the check-in (None to accept it), and the fix it
    is recorded with: the reported position, or the fence's or beacon's own."""
    fix = None
    if target is not None:
        fix = rules.Fix(target.latitude if latitude is None else latitude,
                        target.longitude if longitude is None else longitude,
                        accuracy_meters, when)
    reason = _first_reason(
        lambda: None if opted_in else "Location sharing is off for this customer.",
        lambda: rules.timing(when, now, settings),
        lambda: rules.accuracy(accuracy_meters, settings),
        lambda: None if beacon is None else rules.signal(beacon.rssi, settings),
        lambda: _known(target, kind),
    )
    if reason is None and fix is not None and target is not None:
        if target.outline is not None and kind != CheckInKind.EXIT:
            reason = rules.inside_outline(fix, target.outline, target.latitude, target.longitude)
        elif target.radius_meters is not None and kind != CheckInKind.EXIT:
            reason = rules.inside(fix, target.latitude, target.longitude, target.radius_meters)
        if reason is None:
            reason = rules.travel(previous, fix, settings)
    return reason, fix


def _first_reason(*checks: Callable[[], str | None]) -> str | None:
    for check in checks:
        reason = check()
        if reason is not None:
            return reason
    return None


def _known(target: Target | None, kind: CheckInKind) -> str | None:
    what = "beacon" if kind == CheckInKind.BEACON else "geofence"
    if target is None:
        return f"Unknown {what}."
    if target.retired:
        return f"This {what} is retired."
    return None
