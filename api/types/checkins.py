"""Check-ins, visits, and the geofence and beacon administration types."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.types.common import PageInfo, UserError
from geofence.admin import BeaconView, FenceView
from geofence.models import CheckInKind as DomainCheckInKind
from geofence.nearby import NearbyFence
from geofence.visits import VisitResult

strawberry.enum(
    DomainCheckInKind,
    name="CheckInKind",
    description="What the phone saw: entering, leaving or lingering in a geofence, "
    "or a store's beacon in range.",
)
CheckInKind = DomainCheckInKind  # the same class, now a GraphQL enum too


@strawberry.input(description="An iBeacon sighting.")
class BeaconInput:
    uuid: str = strawberry.field(description="The proximity UUID.")
    major: int = strawberry.field(description="Major number, 0-65535.")
    minor: int = strawberry.field(description="Minor number, 0-65535.")
    rssi: int | None = strawberry.field(
        default=strawberry.UNSET, description=(
            "Signal strength in dBm, when known (0: not measured). A sighting weaker than "
            "the server's minimum (LOYALTY_CHECKIN_MIN_RSSI, default -90) is refused."
        )
    )


@strawberry.input(
    description="A geofence or beacon event. ENTER, EXIT and DWELL name a geofence (ENTER "
    "and DWELL with the phone's position and its accuracy); BEACON names a beacon."
)
class CheckInInput:
    idempotency_key: str = strawberry.field(
        description="Client-generated; a retry with the same key returns the original result."
    )
    kind: CheckInKind = strawberry.field(description="What happened.")
    geofence_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="The geofence, for ENTER, EXIT and DWELL."
    )
    latitude: float | None = strawberry.field(
        default=strawberry.UNSET, description="The phone's WGS 84 latitude."
    )
    longitude: float | None = strawberry.field(
        default=strawberry.UNSET, description="The phone's WGS 84 longitude."
    )
    accuracy_meters: float | None = strawberry.field(
        default=strawberry.UNSET, description="The position's accuracy radius, in metres."
    )
    beacon: BeaconInput | None = strawberry.field(
        default=strawberry.UNSET, description="The beacon, for BEACON."
    )
    occurred_at: datetime = strawberry.field(
        description="When the phone saw it (minutes old at most)."
    )


@strawberry.type(description="A stay at a store, rewarded once confirmed (dwell or beacon).")
class Visit:
    id: strawberry.ID = strawberry.field(description="The visit's id.")
    store_id: strawberry.ID = strawberry.field(description="The store.")
    store_name: str = strawberry.field(description="The store's name.")
    points_earned: int = strawberry.field(
        description="Points this visit earned: at most one visit per store per day earns."
    )
    opened_at: datetime = strawberry.field(description="When it began.")
    closed_at: datetime | None = strawberry.field(description="When it ended (EXIT), if it has.")
    confirmed: bool = strawberry.field(description="Whether presence was confirmed.")

    @staticmethod
    def of(v: VisitResult) -> Visit:
        return Visit(id=strawberry.ID(str(v.id)), store_id=strawberry.ID(str(v.store_id)),
                     store_name=v.store_name, points_earned=v.points_earned,
                     opened_at=v.opened_at, closed_at=v.closed_at, confirmed=v.confirmed)


@strawberry.type(description="The result of checkIn.")
class CheckInPayload:
    visit: Visit | None = strawberry.field(
        description="The visit the check-in belongs to (null for an EXIT with no open visit)."
    )
    errors: list[UserError] = strawberry.field(
        description="Why it was refused: CHECKIN_REJECTED (the reason in the message), "
        "RATE_LIMITED, INVALID_INPUT, IDEMPOTENCY_CONFLICT."
    )


@strawberry.type(description="An edge of the visits.")
class VisitEdge:
    cursor: str = strawberry.field(description="Opaque position.")
    node: Visit = strawberry.field(description="The visit.")


@strawberry.type(description="A page of visits, newest first.")
class VisitConnection:
    edges: list[VisitEdge] = strawberry.field(description="The visits.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


# ---- geofences ----------------------------------------------------------------


@strawberry.type(description="A point on the Earth (WGS 84).")
class LatLng:
    latitude: float = strawberry.field(description="Latitude, -90 to 90.")
    longitude: float = strawberry.field(description="Longitude, -180 to 180.")


@strawberry.type(description="A circular region around a store, for the phone to monitor.")
class Geofence:
    id: strawberry.ID = strawberry.field(description="The geofence's id.")
    store_id: strawberry.ID = strawberry.field(description="Its store.")
    store_name: str = strawberry.field(description="Its store's name.")
    latitude: float = strawberry.field(description="Centre latitude.")
    longitude: float = strawberry.field(description="Centre longitude.")
    radius_meters: float = strawberry.field(description="Radius in metres.")
    vertices: list[LatLng] | None = strawberry.field(
        default=None,
        description="A polygon fence's outline, checked by the server; the phone monitors "
        "the circle, which encloses it. Null for a circular fence.",
    )


@strawberry.input(description="A point on the Earth (WGS 84).")
class LatLngInput:
    latitude: float = strawberry.field(description="Latitude, -90 to 90.")
    longitude: float = strawberry.field(description="Longitude, -180 to 180.")


def outline_of(vertices: tuple[tuple[float, float], ...] | None) -> list[LatLng] | None:
    return None if vertices is None else [LatLng(latitude=a, longitude=o) for a, o in vertices]


def geofence_of(f: FenceView | NearbyFence) -> Geofence:
    return Geofence(id=strawberry.ID(str(f.id)), store_id=strawberry.ID(str(f.store_id)),
                    store_name=f.store_name, latitude=f.latitude, longitude=f.longitude,
                    radius_meters=f.radius_meters, vertices=outline_of(f.vertices))


@strawberry.input(description="A new circular geofence for a store.")
class CreateGeofenceInput:
    store_id: strawberry.ID = strawberry.field(description="The store.")
    latitude: float = strawberry.field(description="Centre latitude.")
    longitude: float = strawberry.field(description="Centre longitude.")
    radius_meters: float = strawberry.field(description="Radius in metres, 10-10000.")


@strawberry.input(description="Move or resize a geofence; fields left out are kept.")
class UpdateGeofenceInput:
    geofence_id: strawberry.ID = strawberry.field(description="The geofence (active).")
    latitude: float | None = strawberry.field(
        default=strawberry.UNSET, description="New centre latitude (with longitude)."
    )
    longitude: float | None = strawberry.field(
        default=strawberry.UNSET, description="New centre longitude (with latitude)."
    )
    radius_meters: float | None = strawberry.field(
        default=strawberry.UNSET, description="New radius in metres, 10-10000."
    )
    vertices: list[LatLngInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new outline (3 to 100 vertices, in order): the fence becomes a "
        "polygon, its circle enclosing them. Not with latitude, longitude or radiusMeters.",
    )


@strawberry.input(description="A new polygon geofence following a store's outline.")
class CreatePolygonGeofenceInput:
    store_id: strawberry.ID = strawberry.field(description="The store.")
    vertices: list[LatLngInput] = strawberry.field(
        description="The outline, 3 to 100 vertices in order, within 10 km of their centre; "
        "edges must not cross."
    )


@strawberry.type(description="The result of createGeofence, updateGeofence or retireGeofence.")
class GeofencePayload:
    geofence: Geofence | None = strawberry.field(description="The geofence.")
    errors: list[UserError] = strawberry.field(description="Why it failed.")


@strawberry.input(description="A geofence to retire: check-ins there are refused from now on.")
class RetireGeofenceInput:
    geofence_id: strawberry.ID = strawberry.field(description="The geofence.")


@strawberry.type(description="An iBeacon installed in a store.")
class Beacon:
    id: strawberry.ID = strawberry.field(description="The beacon's id.")
    store_id: strawberry.ID = strawberry.field(description="Its store.")
    uuid: str = strawberry.field(description="Proximity UUID, lower case.")
    major: int = strawberry.field(description="Major number.")
    minor: int = strawberry.field(description="Minor number.")
    active: bool = strawberry.field(description="False once retired.")

    @staticmethod
    def of(b: BeaconView) -> Beacon:
        return Beacon(id=strawberry.ID(str(b.id)), store_id=strawberry.ID(str(b.store_id)),
                      uuid=b.uuid, major=b.major, minor=b.minor, active=b.active)


@strawberry.input(description="A new beacon; (uuid, major, minor) is unique.")
class CreateBeaconInput:
    store_id: strawberry.ID = strawberry.field(description="The store it stands in.")
    uuid: str = strawberry.field(description="Proximity UUID.")
    major: int = strawberry.field(description="Major number, 0-65535.")
    minor: int = strawberry.field(description="Minor number, 0-65535.")


@strawberry.input(description="A beacon to retire: sightings of it are refused from now on.")
class RetireBeaconInput:
    beacon_id: strawberry.ID = strawberry.field(description="The beacon.")


@strawberry.input(description="Renumber a beacon; fields left out are kept.")
class UpdateBeaconInput:
    beacon_id: strawberry.ID = strawberry.field(description="The beacon (active).")
    uuid: str | None = strawberry.field(default=strawberry.UNSET, description="Proximity UUID.")
    major: int | None = strawberry.field(
        default=strawberry.UNSET, description="Major number, 0-65535."
    )
    minor: int | None = strawberry.field(
        default=strawberry.UNSET, description="Minor number, 0-65535."
    )


@strawberry.type(description="The result of createBeacon, updateBeacon or retireBeacon.")
class BeaconPayload:
    beacon: Beacon | None = strawberry.field(description="The beacon.")
    errors: list[UserError] = strawberry.field(description="Why it failed.")
