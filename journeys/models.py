"""Journeys' tables: journeys and their frozen versions, one run row per
(journey, customer, entry), and the message log's dedupe keys.

The worker finds due runs by (status, wake_at) and the runs an event may
wake by (customer, waiting_event): both through an index, never a scan.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from journeys.run import Status as RunStatus

if TYPE_CHECKING:
    from loyalty.models import Customer


class JourneyStatus(StrEnum):
    DRAFT = "DRAFT"
    LIVE = "LIVE"
    PAUSED = "PAUSED"  # no entries and no sends; runs resume where they stood
    ARCHIVED = "ARCHIVED"


class Journey(Model):
    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200)
    status = fields.CharEnumField(JourneyStatus, max_length=10, default=JourneyStatus.DRAFT)
    # The newest version (a draft, or the live one); new runs start on live_version.
    version = fields.IntField(default=1)
    live_version = fields.IntField(null=True)
    template_key = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "journey"


class JourneyVersion(Model):
    # Frozen once published_at is set: editing a live journey writes a new
    # version, and runs finish on the version they started on.
    id = fields.BigIntField(primary_key=True)
    journey: fields.ForeignKeyRelation[Journey] = fields.ForeignKeyField(
        "models.Journey", related_name="versions", on_delete=fields.CASCADE
    )
    version = fields.IntField()
    definition: dict = fields.JSONField()
    published_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "journey_version"
        unique_together = (("journey", "version"),)


class JourneyRun(Model):
    # journeys.run.RunState as a row. (journey, customer, entry) is unique so
    # that two workers handling the same trigger event enter the customer once.
    id = fields.BigIntField(primary_key=True)
    journey: fields.ForeignKeyRelation[Journey] = fields.ForeignKeyField(
        "models.Journey", related_name="runs", on_delete=fields.CASCADE
    )
    version = fields.IntField()
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="journey_runs", on_delete=fields.CASCADE
    )
    entry = fields.IntField()
    step = fields.CharField(max_length=64)
    status = fields.CharEnumField(RunStatus, max_length=10)
    seq = fields.IntField(default=0)
    arm = fields.CharField(max_length=40, null=True)
    trigger: dict = fields.JSONField()
    last_event: dict | None = fields.JSONField(null=True)
    coupon_key = fields.CharField(max_length=128, null=True)
    # When the run is due: a wait's end, or a waitFor's timeout.
    wake_at = fields.DatetimeField(null=True)
    waiting_event = fields.CharField(max_length=100, null=True)
    waiting_match = fields.TextField(null=True)  # journeys.run.match_key of the resolved match
    entered_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    reason = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "journey_run"
        unique_together = (("journey", "customer", "entry"),)
        indexes = (("status", "wake_at"), ("customer_id", "waiting_event"),
                   ("journey_id", "status", "step"))


class JourneyMessage(Model):
    # One row per message step a run executed, written in the transaction
    # that stores the run's next state; the unique dedupe key turns a
    # retried step into a no-op, and the sender reads the rows after commit.
    id = fields.BigIntField(primary_key=True)
    dedupe_key = fields.CharField(max_length=128, unique=True)
    run: fields.ForeignKeyRelation[JourneyRun] = fields.ForeignKeyField(
        "models.JourneyRun", related_name="messages", on_delete=fields.CASCADE
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="journey_messages", on_delete=fields.CASCADE
    )
    step_id = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=8, null=True)  # the one used, once chosen
    status = fields.CharField(max_length=16)  # queued, sent, suppressed, failed
    reason = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "journey_message"
        # A customer's message log; and a run's rows, which deleting the run
        # (a journey or a customer deleted) cascades to: without it each run
        # deleted scanned the whole log.
        indexes = (("customer_id", "id"), ("run_id",))
