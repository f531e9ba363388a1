"""The double-entry points ledger, its lots, purchases and the outbox."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from loyalty.models.identity import Customer, Store
    from loyalty.models.integrations import ApiClient


class AccountKind(StrEnum):
    CUSTOMER = "customer"
    SYSTEM = "system"


class Account(Model):
    # A points account. Balances are kept here, changed in the same database
    # transaction as the entries: available + pending == sum(entries.points).

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(AccountKind, max_length=16)
    # System accounts have a code: issued, redeemed, expired, adjustments.
    code = fields.CharField(max_length=32, null=True, unique=True)
    customer: fields.OneToOneNullableRelation[Customer] = fields.OneToOneField(
        "models.Customer", related_name="account", null=True, on_delete=fields.RESTRICT
    )
    available = fields.BigIntField(default=0)
    pending = fields.BigIntField(default=0)
    lifetime_earned = fields.BigIntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "account"


class LedgerTransaction(Model):
    # One posting: two or more entries that sum to zero. Never updated.

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # EARN REDEEM REFUND EXPIRE ADJUST BONUS TRANSFER
    channel = fields.CharField(max_length=16)
    description = fields.CharField(max_length=500)
    # Client-generated; a retry with the same key replays the original result.
    idempotency_key = fields.CharField(max_length=128, unique=True)
    request_hash = fields.CharField(max_length=64)
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="transactions", null=True, on_delete=fields.RESTRICT
    )
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="transactions", null=True, on_delete=fields.RESTRICT
    )
    # Signed, from the customer's point of view.
    points = fields.BigIntField()
    reverses: fields.ForeignKeyNullableRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="reversals", null=True, on_delete=fields.RESTRICT
    )
    occurred_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    # The API client whose call posted it (loyalty/platform/attribution.py), if any.
    api_client: fields.ForeignKeyNullableRelation[ApiClient] = fields.ForeignKeyField(
        "models.ApiClient", related_name="transactions", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "ledger_transaction"
        # A customer's earnings over a period (tiers).
        indexes = (("customer_id", "occurred_at"),)


class LedgerEntry(Model):
    # One leg of a transaction on one account. Append-only.

    id = fields.BigIntField(primary_key=True)
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="entries", on_delete=fields.RESTRICT
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="entries", on_delete=fields.RESTRICT
    )
    points = fields.BigIntField()
    # available + pending of a customer account right after this entry. System
    # accounts keep no running balance (they would be one hot row every posting
    # locks), so theirs is null and their balance is the sum of their entries.
    balance_after = fields.BigIntField(null=True)

    class Meta:
        table = "ledger_entry"
        indexes = (("account_id", "id"),)


class Lot(Model):
    # Points earned together: pending until `pending_until`, expiring at `expires_at`.
    #
    # Redemptions consume `remaining` first-expiring-first.

    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="lots", on_delete=fields.RESTRICT
    )
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="lots", on_delete=fields.RESTRICT
    )
    points = fields.BigIntField()
    remaining = fields.BigIntField()
    pending_until = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField()
    # When the "points expiring soon" event was written for this lot.
    reminded_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "lot"
        # ("expires_at",): the expiry and reminder jobs scan by date alone.
        indexes = (("account_id", "expires_at"), ("expires_at",))


class Purchase(Model):
    # A receipt that earned points; unique per (store, receipt).

    id = fields.BigIntField(primary_key=True)
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="purchases", on_delete=fields.RESTRICT
    )
    receipt_id = fields.CharField(max_length=128)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="purchases", on_delete=fields.RESTRICT
    )
    transaction: fields.OneToOneRelation[LedgerTransaction] = fields.OneToOneField(
        "models.LedgerTransaction", related_name="purchase", on_delete=fields.RESTRICT
    )
    lot: fields.ForeignKeyNullableRelation[Lot] = fields.ForeignKeyField(
        "models.Lot", related_name="purchases", null=True, on_delete=fields.RESTRICT
    )
    channel = fields.CharField(max_length=16)
    total_minor = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    refunded_minor = fields.BigIntField(default=0)
    points_earned = fields.BigIntField()
    points_refunded = fields.BigIntField(default=0)
    occurred_at = fields.DatetimeField()

    class Meta:
        table = "purchase"
        unique_together = (("store", "receipt_id"),)
        # "Has this customer bought before?" (first-purchase bonus), spend per period.
        indexes = (("customer_id", "occurred_at"),)


class SpentCode(Model):
    # A single-use credential (a QR code) consumed by a write; the unique key
    # makes a second spend fail even when two processes race.

    key = fields.CharField(max_length=96, primary_key=True)
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="spent_codes", on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "spent_code"


class OutboxEvent(Model):
    # A domain event written in the same transaction as the change it reports.

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=48)
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="events", null=True, on_delete=fields.RESTRICT
    )
    payload: dict = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    # Why the last claim of this event failed; with processed_at set, the
    # event is dead (it failed every allowed attempt) and is skipped.
    last_error = fields.CharField(max_length=200, null=True)
    # When the webhooks' fan-out read it (notifications/webhooks/events.py):
    # processed_at belongs to the inbox consumer (docs/adr/0004).
    webhooked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_event"
        indexes = (("processed_at", "id"), ("webhooked_at", "id"))
