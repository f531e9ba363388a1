from enum import StrEnum
from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index


# The enums as they stood when this migration was written: a migration
# replays history, so it must not follow the live models' enums.
class StaffRole(StrEnum):
    CASHIER = "CASHIER"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"
    SUPPORT = "SUPPORT"


# The event stream is built for volume on PostgreSQL (docs/adr/0012): range-
# partitioned by month of occurred_at, a BRIN index on time (rows arrive
# roughly in time order: a few pages per range instead of a B-tree entry per
# row), a B-tree on (customer_id, occurred_at) for a customer's timeline
# (carrying channel and name, so that the channels a customer used and the
# messages they opened are read from the index alone), and
# the anonymous events to merge indexed only while they have no customer.
# Partitions are made by audience/partitions.py, ahead of time by the worker's
# jobs and on demand. Without a unique key of its own (it would have to
# include occurred_at): idempotency is event_message's. SQLite keeps the plain
# table the model describes.
_EVENTS_PG = """
CREATE SEQUENCE customer_event_id_seq;
CREATE TABLE customer_event (
    id BIGINT NOT NULL DEFAULT nextval('customer_event_id_seq'),
    message_id VARCHAR(128) NOT NULL,
    customer_id BIGINT,
    anonymous_id VARCHAR(128),
    name VARCHAR(64) NOT NULL,
    channel VARCHAR(16) NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    properties JSONB
) PARTITION BY RANGE (occurred_at);
ALTER SEQUENCE customer_event_id_seq OWNED BY customer_event.id;
CREATE INDEX customer_event_time_brin ON customer_event USING brin (occurred_at);
CREATE INDEX customer_event_customer_time ON customer_event (customer_id, occurred_at)
    INCLUDE (channel, name);
CREATE INDEX customer_event_anonymous ON customer_event (anonymous_id)
    WHERE customer_id IS NULL;
"""

# event_message is pruned by age (audience.events.prune_messages): a BRIN
# index finds the old rows without a B-tree entry per accepted message.
_MESSAGES_PG = "CREATE INDEX event_message_received_brin ON event_message USING brin (received_at);"


class CreateEventsModel(ops.CreateModel):
    """CreateModel, whose table is the partitioned one on PostgreSQL."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.client.capabilities.dialect == "postgres":
            await state_editor.client.execute_script(_EVENTS_PG)
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)


async def _brin_forward(apps, editor) -> None:
    if editor.client.capabilities.dialect == "postgres":
        await editor.client.execute_script(_MESSAGES_PG)


async def _brin_backward(apps, editor) -> None:
    if editor.client.capabilities.dialect == "postgres":
        await editor.client.execute_script("DROP INDEX IF EXISTS event_message_received_brin;")


class Migration(migrations.Migration):
    dependencies = [('models', '0010_journeys')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AnonymousIdentity',
            fields=[
                ('anonymous_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('customer_id', fields.BigIntField()),
                ('merged_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'anonymous_identity', 'app': 'models', 'pk_attr': 'anonymous_id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AudienceCursor',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('position', fields.BigIntField(default=0)),
                ('gaps', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'audience_cursor', 'app': 'models', 'pk_attr': 'name'},
            bases=['Model'],
        ),
        CreateEventsModel(
            name='CustomerEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message_id', fields.CharField(max_length=128)),
                ('customer_id', fields.BigIntField(null=True)),
                ('anonymous_id', fields.CharField(null=True, max_length=128)),
                ('name', fields.CharField(max_length=64)),
                ('channel', fields.CharField(max_length=16)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('properties', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'customer_event', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'occurred_at']), Index(fields=['anonymous_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EventMessage',
            fields=[
                ('message_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'event_message', 'app': 'models', 'pk_attr': 'message_id'},
            bases=['Model'],
        ),
        ops.RunPython(_brin_forward, _brin_backward),
        ops.CreateModel(
            name='SegmentTouch',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer_id', fields.BigIntField()),
                ('touched_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'segment_touch', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Customer',
            name='acquisition_campaign',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='Customer',
            name='acquisition_medium',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='Customer',
            name='acquisition_source',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.CreateModel(
            name='AudienceJob',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('last_run_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'audience_job', 'app': 'models', 'pk_attr': 'name'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CustomerScore',
            fields=[
                ('customer_id', fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('recency', fields.SmallIntField(null=True)),
                ('frequency', fields.SmallIntField(null=True)),
                ('monetary', fields.SmallIntField(null=True)),
                ('rfm_segment', fields.CharField(null=True, max_length=24)),
                ('purchases', fields.IntField(default=0)),
                ('spend_minor', fields.BigIntField(default=0)),
                ('last_purchase_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('clicks', fields.IntField(default=0)),
                ('recent_purchases', fields.IntField(default=0)),
                ('engagement', fields.CharField(null=True, max_length=1)),
                ('computed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customer_score', 'app': 'models', 'indexes': [Index(fields=['rfm_segment'])], 'pk_attr': 'customer_id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Segment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=200)),
                ('description', fields.CharField(null=True, max_length=1000)),
                ('definition', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('version', fields.IntField(default=1)),
                ('created_by', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('refreshed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'segment', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SegmentMember',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('segment', fields.ForeignKeyField('models.Segment', source_field='segment_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('customer_id', fields.BigIntField()),
                ('since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'segment_member', 'app': 'models', 'unique_together': (('segment', 'customer_id'),), 'indexes': [Index(fields=['customer_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AcquisitionCost',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('source', fields.CharField(max_length=100)),
                ('campaign', fields.CharField(default='', max_length=100)),
                ('month', fields.CharField(max_length=7)),
                ('amount_minor', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('recorded_by', fields.BigIntField(null=True)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'acquisition_cost', 'app': 'models', 'unique_together': (('source', 'campaign', 'month'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffAudit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff_id', fields.BigIntField()),
                ('action', fields.CharField(max_length=32)),
                ('customer_id', fields.BigIntField(null=True)),
                ('detail', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_audit', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'id']), Index(fields=['staff_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Customer',
            index=Index(fields=['acquisition_source', 'created_at']),
        ),
        ops.AlterField(
            model_name='Staff',
            name='role',
            field=fields.CharEnumField(description='CASHIER: CASHIER\nMANAGER: MANAGER\nADMIN: ADMIN\nSUPPORT: SUPPORT', enum_type=StaffRole, max_length=16),
        ),
    ]
