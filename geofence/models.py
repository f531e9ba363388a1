"""Places the phone can monitor."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Geofence(Model):
    id = fields.BigIntField(primary_key=True)
    store = fields.ForeignKeyField(
        "models.Store", related_name="geofences", on_delete=fields.RESTRICT
    )
    latitude = fields.FloatField()
    longitude = fields.FloatField()
    radius_meters = fields.FloatField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "geofence"
