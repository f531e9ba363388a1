"""Geofences and beacons as an administrator lists them, retired ones too,
oldest first, a page at a time in one statement each."""

from __future__ import annotations

from tortoise import connections

from geofence import polygon
from geofence.admin import BeaconView, FenceView
from loyalty.platform.sql import fetch


async def fences_page(after_id: int | None, limit: int) -> list[FenceView]:
    rows = await fetch(
        connections.get("default"),
        "SELECT g.id, g.store_id, s.name, g.latitude, g.longitude, g.radius_meters, g.active, "
        "g.polygon FROM geofence g JOIN store s ON s.id = g.store_id WHERE g.id > $1 "
        "ORDER BY g.id LIMIT $2", after_id or 0, limit)
    return [FenceView(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]),
                      polygon.parse(row[7])) for row in rows]


async def beacons_page(after_id: int | None, limit: int) -> list[BeaconView]:
    rows = await fetch(
        connections.get("default"),
        "SELECT id, store_id, uuid, major, minor, active FROM beacon WHERE id > $1 "
        "ORDER BY id LIMIT $2", after_id or 0, limit)
    return [BeaconView(row[0], row[1], row[2], row[3], row[4], bool(row[5])) for row in rows]
