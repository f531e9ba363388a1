"""Administering geofences and beacons. Callers invalidate the nearby index
(geofence.nearby.invalidate) once a change is committed."""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from geofence.models import Beacon, Geofence
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.stores import store_name


@dataclass(frozen=True)
class FenceView:
    id: int
    store_id: int
    store_name: str
    latitude: float
    longitude: float
    radius_meters: float
    active: bool


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
                     fence.longitude, fence.radius_meters, fence.active)


def _beacon_view(beacon: Beacon) -> BeaconView:
    return BeaconView(beacon.id, beacon.store_id, beacon.uuid,  # type: ignore[attr-defined]
                      beacon.major, beacon.minor, beacon.active)


async def create_geofence(store_id: int, latitude: float, longitude: float,
                          radius_meters: float) -> FenceView:
    if not -90.0 <= latitude <= 90.0:
        raise invalid("Latitude must be between -90 and 90.", "latitude")
    if not -180.0 <= longitude <= 180.0:
        raise invalid("Longitude must be between -180 and 180.", "longitude")
    if not 10.0 <= radius_meters <= 10_000.0:
        raise invalid("radiusMeters must be between 10 and 10000.", "radiusMeters")
    async with in_transaction() as conn:
        name = await store_name(conn, store_id)
        fence = await Geofence.create(store_id=store_id, latitude=latitude, longitude=longitude,
                                      radius_meters=radius_meters, using_db=conn)
    return _fence_view(fence, name)


async def retire_geofence(geofence_id: int) -> FenceView:
    """Retiring is permanent and keeps the row: visits and check-ins point at it."""
    async with in_transaction() as conn:
        fence = await Geofence.get_or_none(id=geofence_id, using_db=conn)
        if fence is None:
            raise DomainError(ErrorCode.NOT_FOUND, "Unknown geofence.", "geofenceId")
        fence.active = False
        await fence.save(update_fields=["active"], using_db=conn)
        name = await store_name(conn, fence.store_id)  # type: ignore[attr-defined]
    return _fence_view(fence, name)


async def create_beacon(store_id: int, uuid: str, major: int, minor: int) -> BeaconView:
    try:
        normalized = str(uuid_module.UUID(uuid))
    except (ValueError, AttributeError, TypeError):
        raise invalid("Not a beacon UUID.", "uuid") from None
    for name, value in (("major", major), ("minor", minor)):
        if not 0 <= value <= 65535:
            raise invalid(f"{name} must be between 0 and 65535.", name)
    try:
        async with in_transaction() as conn:
            await store_name(conn, store_id)
            beacon = await Beacon.create(store_id=store_id, uuid=normalized, major=major,
                                         minor=minor, using_db=conn)
    except IntegrityError:
        raise invalid("A beacon with this uuid, major and minor exists.", "uuid") from None
    return _beacon_view(beacon)


async def retire_beacon(beacon_id: int) -> BeaconView:
    async with in_transaction() as conn:
        beacon = await Beacon.get_or_none(id=beacon_id, using_db=conn)
        if beacon is None:
            raise DomainError(ErrorCode.NOT_FOUND, "Unknown beacon.", "beaconId")
        beacon.active = False
        await beacon.save(update_fields=["active"], using_db=conn)
    return _beacon_view(beacon)
