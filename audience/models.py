"""Tables of the audience package: the event stream and what is derived from it.

On PostgreSQL `customer_event` is partitioned by month of `occurred_at`
(migration 0011, audience/partitions.py); the model describes its columns for
both databases."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class CustomerEvent(Model):
    # One behavioural or server event; append-only. customer_id carries no
    # foreign key: the table is built for volume, and anonymous events have
    # no customer until a log-in merges them (anonymous_identity).

    id = fields.BigIntField(primary_key=True)
    # The client's messageId, or "srv:..." for the server's own events.
    message_id = fields.CharField(max_length=128)
    customer_id = fields.BigIntField(null=True)
    anonymous_id = fields.CharField(max_length=128, null=True)
    name = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=16)
    occurred_at = fields.DatetimeField()
    received_at = fields.DatetimeField()
    properties: dict | None = fields.JSONField(null=True)
    # The API client that sent it (scope EVENTS); null for the app's, an
    # admin's and the server's own. No foreign key, as for customer_id.
    api_client_id = fields.BigIntField(null=True)

    class Meta:
        table = "customer_event"
        # A customer's timeline, newest first; anonymous events to merge.
        indexes = (("customer_id", "occurred_at"), ("anonymous_id",))


class EventMessage(Model):
    # The idempotency of the stream: one row per messageId ever accepted.
    # On PostgreSQL a unique key on the partitioned events would have to
    # include occurred_at (the partition key), so that a resend with another
    # occurredAt would pass; this narrow table is unique on the id alone and
    # is pruned once a resend would be refused as too old anyway.

    message_id = fields.CharField(max_length=128, primary_key=True)
    received_at = fields.DatetimeField()

    class Meta:
        table = "event_message"


class AnonymousIdentity(Model):
    # An app or browser's anonymousId, once a sign-up or log-in named its
    # customer: its earlier events were merged, later ones are attributed on
    # arrival. The first customer to claim an anonymousId keeps it.

    anonymous_id = fields.CharField(max_length=128, primary_key=True)
    customer_id = fields.BigIntField()
    merged_at = fields.DatetimeField()

    class Meta:
        table = "anonymous_identity"


class SegmentTouch(Model):
    # A customer whose segment membership may have changed (an event, a
    # posting): appended without conflicts, claimed in batches by a worker.

    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField()
    touched_at = fields.DatetimeField()

    class Meta:
        table = "segment_touch"


class AudienceCursor(Model):
    # How far a consumer of the outbox has read: the highest id seen, and the
    # lower ids not seen yet (transactions still open when it read), each with
    # when it was first missed.

    name = fields.CharField(max_length=32, primary_key=True)
    position = fields.BigIntField(default=0)
    gaps: dict = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "audience_cursor"


class Segment(Model):
    # A dynamic segment: a definition in the contract's JSON grammar
    # (audience/segment_grammar.py), its members kept in segment_member.

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    description = fields.CharField(max_length=1000, null=True)
    definition: dict = fields.JSONField()
    # Bumped by each change of the definition.
    version = fields.IntField(default=1)
    created_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    # When its members were last evaluated in full; null: as soon as possible
    # (created, or its definition changed).
    refreshed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "segment"


class SegmentMember(Model):
    id = fields.BigIntField(primary_key=True)
    segment: fields.ForeignKeyRelation[Segment] = fields.ForeignKeyField(
        "models.Segment", related_name="members", on_delete=fields.CASCADE
    )
    customer_id = fields.BigIntField()
    since = fields.DatetimeField()

    class Meta:
        table = "segment_member"
        unique_together = (("segment", "customer_id"),)
        # A customer's segments (the 360 view).
        indexes = (("customer_id",),)


class CustomerScore(Model):
    # RFM and engagement, recomputed in SQL on a schedule (audience/scores.py).
    # A row exists for every customer who bought in the RFM window or clicked
    # or bought in the engagement window; no row reads as engagement C.

    customer_id = fields.BigIntField(primary_key=True, generated=False)
    # 1..5 each (5: most recent, most frequent, most spent); null: no
    # purchase in the RFM window.
    recency = fields.SmallIntField(null=True)
    frequency = fields.SmallIntField(null=True)
    monetary = fields.SmallIntField(null=True)
    rfm_segment = fields.CharField(max_length=24, null=True)
    purchases = fields.IntField(default=0)
    spend_minor = fields.BigIntField(default=0)
    last_purchase_at = fields.DatetimeField(null=True)
    # Engagement window: opens and clicks, purchases, and the ABCD quadrant.
    clicks = fields.IntField(default=0)
    recent_purchases = fields.IntField(default=0)
    engagement = fields.CharField(max_length=1, null=True)
    computed_at = fields.DatetimeField()

    class Meta:
        table = "customer_score"
        indexes = (("rfm_segment",),)


class AudienceJob(Model):
    # When a scheduled job of its own interval last ran (a full segment
    # refresh, a score recomputation): claimed by one worker at a time.

    name = fields.CharField(max_length=32, primary_key=True)
    last_run_at = fields.DatetimeField()

    class Meta:
        table = "audience_job"


class AcquisitionCost(Model):
    # What a source (and optionally one of its campaigns) cost in a month;
    # shared by the customers it brought that month (audience/value.py).
    # campaign '' is the source as a whole.

    id = fields.BigIntField(primary_key=True)
    source = fields.CharField(max_length=100)
    campaign = fields.CharField(max_length=100, default="")
    month = fields.CharField(max_length=7)  # YYYY-MM, UTC
    amount_minor = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    recorded_by = fields.BigIntField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "acquisition_cost"
        unique_together = (("source", "campaign", "month"),)


class StaffAudit(Model):
    # Who of the staff read or changed what of a customer, and when: every
    # read of the 360 view writes one row per customer shown.

    id = fields.BigIntField(primary_key=True)
    staff_id = fields.BigIntField()
    action = fields.CharField(max_length=32)
    customer_id = fields.BigIntField(null=True)
    detail: dict | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "staff_audit"
        indexes = (("customer_id", "id"), ("staff_id", "id"))


class ValueModelFit(Model):
    # Each fit of the lifetime-value prediction (BG/NBD + Gamma-Gamma,
    # audience/value_model.py); the newest row is the one predictions use.
    # params is null when the programme had too little history to fit.

    id = fields.BigIntField(primary_key=True)
    fitted_at = fields.DatetimeField()
    customers = fields.IntField()
    repeat_buyers = fields.IntField()
    unit = fields.CharField(max_length=8)
    params: dict | None = fields.JSONField(null=True)

    class Meta:
        table = "value_model_fit"
        indexes = (("fitted_at",),)
