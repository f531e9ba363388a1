"""The checks a check-in must pass, as pure functions of what it reports.

Each returns the reason for refusing it, or None: the use case records the
reason with the check-in, so a replay gives the same answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from geofence import polygon
from geofence.nearby import haversine_m
from loyalty.platform.config import Settings

# Phone clocks drift; an event a little in the future is a skewed clock, not a lie.
MAX_CLOCK_SKEW = timedelta(minutes=2)
# Below this, two check-ins are one instant: speed is measured over at least it.
MIN_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class Fix:
    """Where a check-in says the phone was, and when."""

    latitude: float
    longitude: float
    accuracy_meters: float | None
    occurred_at: datetime


def timing(occurred_at: datetime, now: datetime, settings: Settings) -> str | None:
    if occurred_at > now + MAX_CLOCK_SKEW:
        return "occurredAt is in the future."
    if occurred_at < now - timedelta(minutes=settings.checkin_max_age_minutes):
        return f"occurredAt is more than {settings.checkin_max_age_minutes} minutes old."
    return None


def accuracy(accuracy_meters: float | None, settings: Settings) -> str | None:
    if accuracy_meters is not None and accuracy_meters > settings.checkin_max_accuracy_meters:
        return (f"The position is too imprecise ({accuracy_meters:.0f} m; at most "
                f"{settings.checkin_max_accuracy_meters:.0f} m).")
    return None


def signal(rssi: int | None, settings: Settings) -> str | None:
    """A beacon heard too faintly may be a neighbour's, or a relayed copy: not
    proof of presence. iOS reports 0 when it could not measure the signal;
    that, like no rssi at all, is taken as no measurement."""
    if rssi is None or rssi == 0 or rssi >= settings.checkin_min_rssi:
        return None
    return (f"The beacon's signal is too weak ({rssi} dBm; at least "
            f"{settings.checkin_min_rssi} dBm).")


def inside(fix: Fix, latitude: float, longitude: float, radius_meters: float) -> str | None:
    """A fix may lie outside the circle by no more than its own accuracy."""
    if fix.accuracy_meters is None:
        return None
    outside_by = haversine_m(fix.latitude, fix.longitude, latitude, longitude) - radius_meters
    if outside_by > fix.accuracy_meters:
        return f"The reported position is {outside_by:.0f} m outside the geofence."
    return None


def inside_outline(fix: Fix, outline: tuple[polygon.Vertex, ...], latitude: float,
                   longitude: float) -> str | None:
    """As `inside`, for a polygon fence centred at (latitude, longitude)."""
    if fix.accuracy_meters is None:
        return None
    outside_by = polygon.distance_outside(outline, (latitude, longitude),
                                          (fix.latitude, fix.longitude))
    if outside_by > fix.accuracy_meters:
        return f"The reported position is {outside_by:.0f} m outside the geofence."
    return None


def travel(previous: Fix | None, fix: Fix, settings: Settings) -> str | None:
    """Refuse a move no traveller could make since the last accepted check-in.
    Both fixes' accuracies are given the benefit of the doubt."""
    if previous is None:
        return None
    distance = haversine_m(previous.latitude, previous.longitude, fix.latitude, fix.longitude)
    distance -= (previous.accuracy_meters or 0.0) + (fix.accuracy_meters or 0.0)
    if distance <= 0:
        return None
    seconds = max(abs((fix.occurred_at - previous.occurred_at).total_seconds()),
                  MIN_INTERVAL_SECONDS)
    kmh = distance / seconds * 3.6
    if kmh > settings.checkin_max_speed_kmh:
        return (f"Impossible travel: {distance / 1000:.0f} km in {seconds / 60:.0f} min "
                f"since the previous check-in.")
    return None
