"""Places the phone can monitor, and what it reported there."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from loyalty.models import Customer, LedgerTransaction, Store


class CheckInKind(StrEnum):
    ENTER = "ENTER"
    EXIT = "EXIT"
    DWELL = "DWELL"
    BEACON = "BEACON"


class Geofence(Model):
    id = fields.BigIntField(primary_key=True)
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="geofences", on_delete=fields.RESTRICT
    )
    latitude = fields.FloatField()
    longitude = fields.FloatField()
    radius_meters = fields.FloatField()
    # A polygon fence's outline, JSON [[lat, lon], ...] (geofence.polygon);
    # the circle above then encloses it, for the phone to monitor.
    polygon = fields.TextField(null=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "geofence"


class Beacon(Model):
    """An iBeacon in a store, known by its (uuid, major, minor)."""

    id = fields.BigIntField(primary_key=True)
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="beacons", on_delete=fields.RESTRICT
    )
    uuid = fields.CharField(max_length=36)  # lower-case, hyphenated
    major = fields.IntField()
    minor = fields.IntField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "beacon"
        unique_together = (("uuid", "major", "minor"),)


class Visit(Model):
    """A customer's stay at a store: opened by ENTER, closed by EXIT, confirmed
    (and so rewardable) by DWELL or a beacon sighting."""

    id = fields.BigIntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="visits", on_delete=fields.RESTRICT
    )
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="visits", on_delete=fields.RESTRICT
    )
    geofence: fields.ForeignKeyNullableRelation[Geofence] = fields.ForeignKeyField(
        "models.Geofence", related_name="visits", null=True, on_delete=fields.RESTRICT
    )
    opened_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)
    confirmed = fields.BooleanField(default=False)
    points_earned = fields.IntField(default=0)
    reward_transaction: fields.ForeignKeyNullableRelation[LedgerTransaction] = (
        fields.ForeignKeyField(
            "models.LedgerTransaction", related_name="visits", null=True,
            on_delete=fields.RESTRICT,
        )
    )

    class Meta:
        table = "visit"
        indexes = (("customer_id", "id"), ("customer_id", "store_id", "closed_at"))


class CheckIn(Model):
    """Every check-in the server judged, accepted or not: the audit trail, the
    idempotency record and the history travel speed is measured against."""

    id = fields.BigIntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="check_ins", on_delete=fields.RESTRICT
    )
    idempotency_key = fields.CharField(max_length=128, unique=True)
    request_hash = fields.CharField(max_length=64)
    kind = fields.CharEnumField(CheckInKind, max_length=8)
    geofence: fields.ForeignKeyNullableRelation[Geofence] = fields.ForeignKeyField(
        "models.Geofence", related_name="check_ins", null=True, on_delete=fields.RESTRICT
    )
    beacon: fields.ForeignKeyNullableRelation[Beacon] = fields.ForeignKeyField(
        "models.Beacon", related_name="check_ins", null=True, on_delete=fields.RESTRICT
    )
    # The reported position, or the fence's / beacon's store's when none was
    # reported (accuracy then null): travel speed is measured from it.
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    accuracy_meters = fields.FloatField(null=True)
    occurred_at = fields.DatetimeField()
    accepted = fields.BooleanField()
    reason = fields.CharField(max_length=200, null=True)
    visit: fields.ForeignKeyNullableRelation[Visit] = fields.ForeignKeyField(
        "models.Visit", related_name="check_ins", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "check_in"
        indexes = (("customer_id", "created_at"), ("customer_id", "accepted", "occurred_at"))
