"""Channels beyond the store till: franchises, API clients, and the audit log
of what staff and clients did."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class StoreKind(StrEnum):
    PHYSICAL = "PHYSICAL"
    ONLINE = "ONLINE"
    CALL_CENTRE = "CALL_CENTRE"


class ApiScope(StrEnum):
    PURCHASES = "PURCHASES"
    EVENTS = "EVENTS"
    CUSTOMERS_READ = "CUSTOMERS_READ"
    CUSTOMERS_WRITE = "CUSTOMERS_WRITE"
    WEBHOOKS = "WEBHOOKS"
    IMPORT = "IMPORT"


class Franchise(Model):
    # A franchisee owning stores; its managers act only in them.

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "franchise"


class ApiClient(Model):
    # A server-to-server caller (web shop, call-centre tool, POS integration).
    #
    # Its secret is `lk_<prefix>_<random>`; only the SHA-256 of the whole
    # secret is kept. The prefix finds the row; the hash is compared in
    # constant time.

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200)
    prefix = fields.CharField(max_length=16, unique=True)
    secret_hash = fields.CharField(max_length=64)
    # ApiScope values, sorted.
    scopes: list[str] = fields.JSONField()
    # The stores it may act in (purchases, refunds, card lookups).
    store_ids: list[int] = fields.JSONField()
    created_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    # Updated at most once a minute per client (loyalty/identity/api_clients.py).
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_client"


class AuditLog(Model):
    # Who did what, when and why: staff and API clients acting on the
    # programme or on a customer. Never holds a customer's personal data, so
    # it survives an erasure unchanged.

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    actor_kind = fields.CharField(max_length=16)  # staff | client | customer | system
    actor_id = fields.BigIntField(null=True)
    action = fields.CharField(max_length=48)
    target_kind = fields.CharField(max_length=32, null=True)
    target_id = fields.BigIntField(null=True)
    reason = fields.CharField(max_length=500, null=True)
    detail: dict = fields.JSONField(null=True)

    class Meta:
        table = "audit_log"
        indexes = (("target_kind", "target_id"), ("actor_kind", "actor_id"))
