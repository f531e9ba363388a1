"""The card a customer carries: its printed number and the secret of its QR codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from loyalty.models import Customer


class Card(Model):
    id = fields.BigIntField(primary_key=True)
    customer: fields.OneToOneRelation[Customer] = fields.OneToOneField(
        "models.Customer", related_name="card", on_delete=fields.RESTRICT
    )
    number = fields.CharField(max_length=12, unique=True)
    # Base32 HMAC key; handed to the app after log-in so it can make codes offline.
    qr_secret = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "card"
