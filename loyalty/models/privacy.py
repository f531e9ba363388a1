"""Consent history and the single-use tokens sent by email."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ConsentChange(Model):
    # A consent given or withdrawn: which, to what, when, through what.

    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField()
    consent = fields.CharField(max_length=16)  # marketing | push | location
    granted = fields.BooleanField()
    # signup | app | support | import | erasure
    source = fields.CharField(max_length=16)
    at = fields.DatetimeField()

    class Meta:
        table = "consent_change"
        indexes = (("customer_id", "id"),)


class EmailToken(Model):
    # A link's token (password reset, email verification, account claim):
    # stored hashed, single use, expiring.

    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField(db_index=True)
    purpose = fields.CharField(max_length=16)  # reset | verify
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "email_token"
