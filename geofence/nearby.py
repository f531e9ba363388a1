"""The geofences nearest to a point, for the phone's region-monitoring limit.

Answered from an in-memory spatial index (geofence.index) of the active
fences, rebuilt when this process changes a fence and at most every
`REFRESH_SECONDS` otherwise, so fences made through another process show up
within that delay."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from tortoise import connections

from geofence.index import SphereIndex
from loyalty.errors import invalid
from loyalty.platform.sql import fetch

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
    vertices: tuple[tuple[float, float], ...] | None = None  # a polygon fence's outline


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


REFRESH_SECONDS = 30.0


@dataclass
class _Snapshot:
    index: SphereIndex
    fences: dict[int, tuple[int, str, float, float, float, str | None]]
    built_at: float


_snapshot: _Snapshot | None = None
_lock = asyncio.Lock()


def invalidate() -> None:
    """Call after creating, moving or retiring a fence in this process."""
    global _snapshot
    _snapshot = None


async def _current() -> _Snapshot:
    global _snapshot
    snap = _snapshot
    if snap is not None and time.monotonic() - snap.built_at < REFRESH_SECONDS:
        return snap
    async with _lock:
        snap = _snapshot
        if snap is not None and time.monotonic() - snap.built_at < REFRESH_SECONDS:
            return snap
        rows = await fetch(
            connections.get("default"),
            "SELECT g.id, g.store_id, s.name, g.latitude, g.longitude, g.radius_meters, "
            "g.polygon FROM geofence g JOIN store s ON s.id = g.store_id WHERE g.active = $1",
            True,
        )
        fences = {r[0]: (r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows}
        index = await asyncio.to_thread(SphereIndex, [(k, v[2], v[3]) for k, v in fences.items()])
        _snapshot = _Snapshot(index, fences, time.monotonic())
        return _snapshot


def _parse(outline: str) -> tuple[tuple[float, float], ...] | None:
    from geofence.polygon import parse  # polygon builds on this module's geometry

    return parse(outline)


async def nearest(latitude: float, longitude: float, limit: int = 20) -> list[NearbyFence]:
    if not -90.0 <= latitude <= 90.0:
        raise invalid("Latitude must be between -90 and 90.", "latitude")
    if not -180.0 <= longitude <= 180.0:
        raise invalid("Longitude must be between -180 and 180.", "longitude")
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIMIT}.", "limit")
    snap = await _current()
    result = []
    for hit in snap.index.nearest(latitude, longitude, limit):
        store_id, name, lat, lon, radius, outline = snap.fences[hit.key]
        result.append(NearbyFence(hit.key, store_id, name, lat, lon, radius, hit.distance_m,
                                  None if outline is None else _parse(outline)))
    return result
