"""Administration of geofences and beacons (admin token)."""

from __future__ import annotations

import strawberry

from api.mutations.pos import parse_id
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
from api.types.common import errors_of, given
from geofence import admin, nearby
from loyalty.errors import DomainError


@strawberry.type
class GeofenceAdminMutations:
    @strawberry.mutation(
        description="Admin: add a geofence to a store.", permission_classes=[IsAdmin]
    )
    async def create_geofence(self, input: CreateGeofenceInput) -> GeofencePayload:
        try:
            fence = await admin.create_geofence(
                parse_id(input.store_id, "storeId"), input.latitude, input.longitude,
                input.radius_meters,
            )
        except DomainError as e:
            return GeofencePayload(geofence=None, errors=errors_of(e))
        nearby.invalidate()
        return GeofencePayload(geofence=geofence_of(fence), errors=[])

    @strawberry.mutation(
        description="Admin: add a geofence following a store's outline.",
        permission_classes=[IsAdmin],
    )
    async def create_polygon_geofence(self, input: CreatePolygonGeofenceInput) -> GeofencePayload:
        try:
            fence = await admin.create_polygon_geofence(
                parse_id(input.store_id, "storeId"),
                [(v.latitude, v.longitude) for v in input.vertices],
            )
        except DomainError as e:
            return GeofencePayload(geofence=None, errors=errors_of(e))
        nearby.invalidate()
        return GeofencePayload(geofence=geofence_of(fence), errors=[])

    @strawberry.mutation(
        description="Admin: move, resize or reshape an active geofence.",
        permission_classes=[IsAdmin],
    )
    async def update_geofence(self, input: UpdateGeofenceInput) -> GeofencePayload:
        try:
            fence = await admin.update_geofence(
                parse_id(input.geofence_id, "geofenceId"), latitude=given(input.latitude),
                longitude=given(input.longitude), radius_meters=given(input.radius_meters),
                vertices=None if (outline := given(input.vertices)) is None
                else [(v.latitude, v.longitude) for v in outline],
            )
        except DomainError as e:
            return GeofencePayload(geofence=None, errors=errors_of(e))
        nearby.invalidate()
        return GeofencePayload(geofence=geofence_of(fence), errors=[])

    @strawberry.mutation(
        description="Admin: retire a geofence; check-ins there are refused from now on.",
        permission_classes=[IsAdmin],
    )
    async def retire_geofence(self, input: RetireGeofenceInput) -> GeofencePayload:
        try:
            fence = await admin.retire_geofence(parse_id(input.geofence_id, "geofenceId"))
        except DomainError as e:
            return GeofencePayload(geofence=None, errors=errors_of(e))
        nearby.invalidate()
        return GeofencePayload(geofence=geofence_of(fence), errors=[])

    @strawberry.mutation(
        description="Admin: register a store's beacon.", permission_classes=[IsAdmin]
    )
    async def create_beacon(self, input: CreateBeaconInput) -> BeaconPayload:
        try:
            beacon = await admin.create_beacon(
                parse_id(input.store_id, "storeId"), input.uuid, input.major, input.minor
            )
        except DomainError as e:
            return BeaconPayload(beacon=None, errors=errors_of(e))
        nearby.invalidate()
        return BeaconPayload(beacon=Beacon.of(beacon), errors=[])

    @strawberry.mutation(
        description="Admin: renumber an active beacon.", permission_classes=[IsAdmin]
    )
    async def update_beacon(self, input: UpdateBeaconInput) -> BeaconPayload:
        try:
            beacon = await admin.update_beacon(
                parse_id(input.beacon_id, "beaconId"), uuid=given(input.uuid),
                major=given(input.major), minor=given(input.minor),
            )
        except DomainError as e:
            return BeaconPayload(beacon=None, errors=errors_of(e))
        return BeaconPayload(beacon=Beacon.of(beacon), errors=[])

    @strawberry.mutation(
        description="Admin: retire a beacon; its sightings are refused from now on.",
        permission_classes=[IsAdmin],
    )
    async def retire_beacon(self, input: RetireBeaconInput) -> BeaconPayload:
        try:
            beacon = await admin.retire_beacon(parse_id(input.beacon_id, "beaconId"))
        except DomainError as e:
            return BeaconPayload(beacon=None, errors=errors_of(e))
        nearby.invalidate()
        return BeaconPayload(beacon=Beacon.of(beacon), errors=[])
