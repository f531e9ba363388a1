"""Webhook endpoints and their deliveries."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Webhook(Model):
    # An HTTPS endpoint that receives the events it subscribed to.

    id = fields.BigIntField(primary_key=True)
    url = fields.CharField(max_length=2000)
    # Event kinds (loyalty.events: points.earned, ...) or "*" for all.
    events: list[str] = fields.JSONField()
    # Signs each delivery (HMAC-SHA256). Kept as is: the server needs it to
    # sign; it is shown once, at creation, and never returned again.
    secret = fields.CharField(max_length=64)
    active = fields.BooleanField(default=True)
    # Failed attempts in a row, over all its deliveries; a success resets it.
    consecutive_failures = fields.IntField(default=0)
    disabled_at = fields.DatetimeField(null=True)
    created_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook"


class WebhookDelivery(Model):
    # One event for one webhook: pending until a 2xx (delivered) or its last
    # attempt (failed). A customer's deliveries to a webhook go in event order.

    id = fields.BigIntField(primary_key=True)
    webhook: fields.ForeignKeyRelation[Webhook] = fields.ForeignKeyField(
        "models.Webhook", related_name="deliveries", on_delete=fields.RESTRICT
    )
    event_id = fields.BigIntField()
    event = fields.CharField(max_length=48)
    # The ordering key; null for events about no customer (not ordered).
    customer_id = fields.BigIntField(null=True)
    body = fields.TextField()
    status = fields.CharField(max_length=16, default="pending")  # pending delivered failed
    attempts = fields.IntField(default=0)
    # When it may be tried next; while a worker sends it, the end of its lease.
    next_attempt_at = fields.DatetimeField()
    last_response_code = fields.IntField(null=True)
    last_error = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_delivery"
        unique_together = (("webhook_id", "event_id"),)
        indexes = (("status", "next_attempt_at"), ("webhook_id", "customer_id", "event_id"))
