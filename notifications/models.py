"""Devices, the in-app inbox and per-device push outcomes."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from loyalty.models import Customer


class Platform(StrEnum):
    IOS = "IOS"
    ANDROID = "ANDROID"
    WEB = "WEB"


class Status(StrEnum):
    QUEUED = "queued"  # waiting for its next_attempt_at
    DEFERRED = "deferred"  # quiet hours: held until next_attempt_at, never dropped
    SENT = "sent"  # pushed to at least one device
    INBOX = "inbox"  # inbox only (opted out, no device, no credentials): see reason
    FAILED = "failed"  # not delivered after the last attempt (or refused): see reason
    # None of its channels could carry it (not configured, no address, no
    # consent, the marketing cap): see reason, one per channel tried.
    SUPPRESSED = "suppressed"


class Device(Model):
    # An FCM registration token. A token belongs to the customer who registered
    # it last: a shared or resold phone must not receive the previous owner's pushes.

    id = fields.BigIntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="devices", on_delete=fields.CASCADE
    )
    token = fields.CharField(max_length=512, unique=True)
    platform = fields.CharEnumField(Platform, max_length=8)
    app_version = fields.CharField(max_length=32, null=True)
    locale = fields.CharField(max_length=35, null=True)
    timezone = fields.CharField(max_length=64, null=True)
    push_enabled = fields.BooleanField(default=True)
    # Why FCM refused the token (UNREGISTERED, INVALID_ARGUMENT...), or "logged-out".
    disabled_reason = fields.CharField(max_length=64, null=True)
    last_seen = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "device"


class Notification(Model):
    # One message for one customer: the inbox row, and the push's state.
    #
    # (event_id, customer) is unique so a replayed outbox event never doubles.

    id = fields.BigIntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="notifications", on_delete=fields.CASCADE
    )
    event_id = fields.BigIntField(null=True)
    kind = fields.CharField(max_length=48)
    marketing = fields.BooleanField(default=False)
    title = fields.CharField(max_length=200)
    body = fields.CharField(max_length=1000)
    status = fields.CharEnumField(Status, max_length=16, default=Status.QUEUED)
    reason = fields.CharField(max_length=200, null=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    read_at = fields.DatetimeField(null=True)
    # The channels to try, in order ("PUSH", "INBOX", "EMAIL", "SMS"), as a
    # comma-separated list; the one that carried it once sent. Ledger pushes
    # are "PUSH,INBOX"; a journey's message step names its own.
    channels = fields.CharField(max_length=40, db_default="PUSH,INBOX")
    channel = fields.CharField(max_length=8, null=True)
    # A journey's message: its run-and-step key makes a retried step a no-op.
    dedupe_key = fields.CharField(max_length=128, null=True, unique=True)
    journey_id = fields.BigIntField(null=True)

    class Meta:
        table = "notification"
        unique_together = (("event_id", "customer"),)
        indexes = (("status", "next_attempt_at"), ("customer_id", "id"))


class Delivery(Model):
    # The outcome of pushing one notification to one device.

    id = fields.BigIntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="deliveries", on_delete=fields.CASCADE
    )
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="deliveries", on_delete=fields.CASCADE
    )
    status = fields.CharField(max_length=16)  # sent | retry | failed
    error = fields.CharField(max_length=200, null=True)
    message_id = fields.CharField(max_length=200, null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "delivery"
        unique_together = (("notification", "device"),)
