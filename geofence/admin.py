"""Administering geofences and beacons. Callers invalidate the nearby index
(geofence.nearby.invalidate) once a change is committed."""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from geofence import polygon
from geofence.models import Beacon, Geofence
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.platform.db import transaction
from loyalty.platform.sql import fetchrow
from loyalty.programme.stores import store_name


@dataclass(frozen=True)
class FenceView:
    id: int
    store_id: int
    store_name: str
    latitude: float
    longitude: float
    radius_meters: float
    active: bool
    vertices: tuple[polygon.Vertex, ...] | None = None  # a polygon fence's outline


@dataclass(frozen=True)
class BeaconView:
    id: int
    store_id: int
    uuid: str
    major: int
    minor: int
    active: bool


def _fence_view(fence: Geofence, name: str) -> FenceView:
    return FenceView(fence.id, fence.store_id, name, fence.latitude,  # type: ignore[attr-defined]
                     fence.longitude, fence.radius_meters, fence.active,
                     polygon.parse(fence.polygon))


def _beacon_view(beacon: Beacon) -> BeaconView:
    return BeaconView(beacon.id, beacon.store_id, beacon.uuid,  # type: ignore[attr-defined]
                      beacon.major, beacon.minor, beacon.active)


def _check_circle(latitude: float, longitude: float, radius_meters: float) -> None:
    if not -90.0 <= latitude <= 90.0:
        raise invalid("Latitude must be between -90 and 90.", "latitude")
    if not -180.0 <= longitude <= 180.0:
        raise invalid("Longitude must be between -180 and 180.", "longitude")
    if not 10.0 <= radius_meters <= 10_000.0:
        raise invalid("radiusMeters must be between 10 and 10000.", "radiusMeters")


def _check_beacon_ids(uuid: str, major: int, minor: int) -> str:
    """The normalised uuid (lower case, hyphenated)."""
    try:
        normalized = str(uuid_module.UUID(uuid))
    except (ValueError, AttributeError, TypeError):
        raise invalid("Not a beacon UUID.", "uuid") from None
    for name, value in (("major", major), ("minor", minor)):
        if not 0 <= value <= 65535:
            raise invalid(f"{name} must be between 0 and 65535.", name)
    return normalized


async def _physical(conn: Any, store_id: int) -> str:
    """The store's name; only a PHYSICAL store has a place to fence."""
    name = await store_name(conn, store_id)
    row = await fetchrow(conn, "SELECT kind FROM store WHERE id = $1", store_id)
    if row is not None and row[0] != "PHYSICAL":
        raise invalid(f"An {row[0]} store has no position to fence.", "storeId")
    return name


async def create_geofence(store_id: int, latitude: float, longitude: float,
                          radius_meters: float) -> FenceView:
    _check_circle(latitude, longitude, radius_meters)
    async with transaction() as conn:
        name = await _physical(conn, store_id)
        fence = await Geofence.create(store_id=store_id, latitude=latitude, longitude=longitude,
                                      radius_meters=radius_meters, using_db=conn)
    return _fence_view(fence, name)


async def create_polygon_geofence(store_id: int, vertices: list[polygon.Vertex]) -> FenceView:
    """A fence following the store's outline; the phone monitors the circle
    around it."""
    outline, (latitude, longitude, radius) = polygon.checked(vertices)
    async with transaction() as conn:
        name = await _physical(conn, store_id)
        fence = await Geofence.create(store_id=store_id, latitude=latitude, longitude=longitude,
                                      radius_meters=radius, polygon=polygon.dump(outline),
                                      using_db=conn)
    return _fence_view(fence, name)


async def retire_geofence(geofence_id: int) -> FenceView:
    """Retiring is permanent and keeps the row: visits and check-ins point at it."""
    async with transaction() as conn:
        fence = await Geofence.get_or_none(id=geofence_id, using_db=conn)
        if fence is None:
            raise DomainError(ErrorCode.NOT_FOUND, "Unknown geofence.", "geofenceId")
        fence.active = False
        await fence.save(update_fields=["active"], using_db=conn)
        name = await store_name(conn, fence.store_id)  # type: ignore[attr-defined]
    return _fence_view(fence, name)


async def update_geofence(geofence_id: int, *, latitude: float | None = None,
                          longitude: float | None = None, radius_meters: float | None = None,
                          vertices: list[polygon.Vertex] | None = None) -> FenceView:
    """Move or resize an active fence; what is not given is kept. New
    vertices make it a polygon fence (its circle then follows them); a polygon
    fence changes only through its vertices. Check-ins already judged keep
    their verdicts; the next ones are judged against the new shape."""
    if (latitude is None) != (longitude is None):
        raise invalid("latitude and longitude come together.", "latitude")
    outline = None
    if vertices is not None:
        if latitude is not None or radius_meters is not None:
            raise invalid("Give either vertices or a centre and radius.", "vertices")
        outline, (latitude, longitude, radius_meters) = polygon.checked(vertices)
    async with transaction() as conn:
        fence = await Geofence.filter(id=geofence_id).select_for_update().using_db(conn).first()
        if fence is None:
            raise DomainError(ErrorCode.NOT_FOUND, "Unknown geofence.", "geofenceId")
        if not fence.active:
            raise invalid("A retired geofence cannot be changed.", "geofenceId")
        if outline is None and fence.polygon is not None and (
                latitude is not None or radius_meters is not None):
            raise invalid("A polygon geofence changes through its vertices.", "vertices")
        if outline is not None:
            fence.polygon = polygon.dump(outline)
        if latitude is not None and longitude is not None:
            fence.latitude, fence.longitude = latitude, longitude
        if radius_meters is not None:
            fence.radius_meters = radius_meters
        _check_circle(fence.latitude, fence.longitude, fence.radius_meters)
        await fence.save(update_fields=["latitude", "longitude", "radius_meters", "polygon"],
                         using_db=conn)
        name = await store_name(conn, fence.store_id)  # type: ignore[attr-defined]
    return _fence_view(fence, name)


async def create_beacon(store_id: int, uuid: str, major: int, minor: int) -> BeaconView:
    normalized = _check_beacon_ids(uuid, major, minor)
    try:
        async with transaction() as conn:
            await store_name(conn, store_id)
            beacon = await Beacon.create(store_id=store_id, uuid=normalized, major=major,
                                         minor=minor, using_db=conn)
    except IntegrityError:
        raise invalid("A beacon with this uuid, major and minor exists.", "uuid") from None
    return _beacon_view(beacon)


async def retire_beacon(beacon_id: int) -> BeaconView:
    async with transaction() as conn:
        beacon = await Beacon.get_or_none(id=beacon_id, using_db=conn)
        if beacon is None:
            raise DomainError(ErrorCode.NOT_FOUND, "Unknown beacon.", "beaconId")
        beacon.active = False
        await beacon.save(update_fields=["active"], using_db=conn)
    return _beacon_view(beacon)


async def update_beacon(beacon_id: int, *, uuid: str | None = None, major: int | None = None,
                        minor: int | None = None) -> BeaconView:
    """Renumber an active beacon (a replaced unit, a changed configuration);
    what is not given is kept. Its past check-ins stay attached to it."""
    try:
        async with transaction() as conn:
            beacon = await Beacon.filter(id=beacon_id).select_for_update().using_db(conn).first()
            if beacon is None:
                raise DomainError(ErrorCode.NOT_FOUND, "Unknown beacon.", "beaconId")
            if not beacon.active:
                raise invalid("A retired beacon cannot be changed.", "beaconId")
            beacon.uuid = _check_beacon_ids(
                beacon.uuid if uuid is None else uuid,
                beacon.major if major is None else major,
                beacon.minor if minor is None else minor,
            )
            beacon.major = beacon.major if major is None else major
            beacon.minor = beacon.minor if minor is None else minor
            await beacon.save(update_fields=["uuid", "major", "minor"], using_db=conn)
    except IntegrityError:
        raise invalid("A beacon with this uuid, major and minor exists.", "uuid") from None
    return _beacon_view(beacon)
