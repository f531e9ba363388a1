"""Administration of geofences and beacons (admin token)."""

from __future__ import annotations

import strawberry

from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsAdmin
from api.types.checkins import (
    Beacon,
    BeaconPayload,
    CreateBeaconInput,
    CreateGeofenceInput,
    CreatePolygonGeofenceInput,
    GeofencePayload,
    RetireBeaconInput,
    RetireGeofenceInput,
    UpdateBeaconInput,
    UpdateGeofenceInput,
    geofence_of,
)
from api.types.common import given
from geofence import admin, nearby


@strawberry.type
class GeofenceAdminMutations:
    @strawberry.mutation(
        description="Admin: add a geofence to a store.", permission_classes=[IsAdmin]
    )
    @user_errors
    async def create_geofence(self, input: CreateGeofenceInput) -> GeofencePayload:
        fence = await admin.create_geofence(
            parse_id(input.store_id, "storeId"), input.latitude, input.longitude,
            input.radius_meters,
        )
        nearby.invalidate()
        return GeofencePayload(geofence=geofence_of(fence), errors=[])

    @strawberry.mutation(
        description="Admin: add a geofence following a store's outline.",
        permission_classes=[IsAdmin],
    )
    @user_errors
    async def create_polygon_geofence(self, input: CreatePolygonGeofenceInput) -> GeofencePayload:
        fence = await admin.create_polygon_geofence(
            parse_id(input.store_id, "storeId"),
            [(v.latitude, v.longitude) for v in input.vertices],
        )
        nearby.invalidate()
        return GeofencePayload(geofence=geofence_of(fence), errors=[])

    @strawberry.mutation(
        description="Admin: move, resize or reshape an active geofence.",
        permission_classes=[IsAdmin],
    )
    @user_errors
    async def update_geofence(self, input: UpdateGeofenceInput) -> GeofencePayload:
        fence = await admin.update_geofence(
            parse_id(input.geofence_id, "geofenceId"), latitude=given(input.latitude),
            longitude=given(input.longitude), radius_meters=given(input.radius_meters),
            vertices=None if (outline := given(input.vertices)) is None
            else [(v.latitude, v.longitude) for v in outline],
        )
        nearby.invalidate()
        return GeofencePayload(geofence=geofence_of(fence), errors=[])

    @strawberry.mutation(
        description="Admin: retire a geofence; check-ins there are refused from now on.",
        permission_classes=[IsAdmin],
    )
    @user_errors
    async def retire_geofence(self, input: RetireGeofenceInput) -> GeofencePayload:
        fence = await admin.retire_geofence(parse_id(input.geofence_id, "geofenceId"))
        nearby.invalidate()
        return GeofencePayload(geofence=geofence_of(fence), errors=[])

    @strawberry.mutation(
        description="Admin: register a store's beacon.", permission_classes=[IsAdmin]
    )
    @user_errors
    async def create_beacon(self, input: CreateBeaconInput) -> BeaconPayload:
        beacon = await admin.create_beacon(
            parse_id(input.store_id, "storeId"), input.uuid, input.major, input.minor
        )
        nearby.invalidate()
        return BeaconPayload(beacon=Beacon.of(beacon), errors=[])

    @strawberry.mutation(
        description="Admin: renumber an active beacon.", permission_classes=[IsAdmin]
    )
    @user_errors
    async def update_beacon(self, input: UpdateBeaconInput) -> BeaconPayload:
        beacon = await admin.update_beacon(
            parse_id(input.beacon_id, "beaconId"), uuid=given(input.uuid),
            major=given(input.major), minor=given(input.minor),
        )
        return BeaconPayload(beacon=Beacon.of(beacon), errors=[])

    @strawberry.mutation(
        description="Admin: retire a beacon; its sightings are refused from now on.",
        permission_classes=[IsAdmin],
    )
    @user_errors
    async def retire_beacon(self, input: RetireBeaconInput) -> BeaconPayload:
        beacon = await admin.retire_beacon(parse_id(input.beacon_id, "beaconId"))
        nearby.invalidate()
        return BeaconPayload(beacon=Beacon.of(beacon), errors=[])
