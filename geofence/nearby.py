"""The geofences nearest to a point, for the phone's region-monitoring limit.

A straight scan by great-circle distance: right for a few thousand fences.
The spatial index arrives with the check-ins work (issue 4)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tortoise import connections

from loyalty.errors import invalid
from loyalty.sql import fetch

EARTH_RADIUS_M = 6_371_008.8
MAX_LIMIT = 100  # Android's limit; iOS monitors 20


@dataclass(frozen=True)
class NearbyFence:
    id: int
    store_id: int
    store_name: str
    latitude: float
    longitude: float
    radius_meters: float
    distance_m: float


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


async def nearest(latitude: float, longitude: float, limit: int = 20) -> list[NearbyFence]:
    if not -90.0 <= latitude <= 90.0:
        raise invalid("Latitude must be between -90 and 90.", "latitude")
    if not -180.0 <= longitude <= 180.0:
        raise invalid("Longitude must be between -180 and 180.", "longitude")
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIMIT}.", "limit")
    rows = await fetch(
        connections.get("default"),
        "SELECT g.id, g.store_id, s.name, g.latitude, g.longitude, g.radius_meters "
        "FROM geofence g JOIN store s ON s.id = g.store_id WHERE g.active = $1",
        True,
    )
    fences = [
        NearbyFence(
            r[0], r[1], r[2], r[3], r[4], r[5], haversine_m(latitude, longitude, r[3], r[4])
        )
        for r in rows
    ]
    fences.sort(key=lambda f: (f.distance_m, f.id))
    return fences[:limit]
