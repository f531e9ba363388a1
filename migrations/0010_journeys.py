from enum import StrEnum
from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index


# The enums as they stood when this migration was written: a migration
# replays history, so it must not follow the live models' enums.
class JourneyStatus(StrEnum):
    DRAFT = "DRAFT"
    LIVE = "LIVE"
    PAUSED = "PAUSED"
    ARCHIVED = "ARCHIVED"


class Status(StrEnum):
    ACTIVE = "active"
    WAITING = "waiting"
    COMPLETED = "completed"
    CONVERTED = "converted"
    EXITED = "exited"
    FAILED = "failed"


class Migration(migrations.Migration):
    dependencies = [('models', '0009_login_throttle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Journey',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('status', fields.CharEnumField(default=JourneyStatus.DRAFT, description='DRAFT: DRAFT\nLIVE: LIVE\nPAUSED: PAUSED\nARCHIVED: ARCHIVED', enum_type=JourneyStatus, max_length=10)),
                ('version', fields.IntField(default=1)),
                ('live_version', fields.IntField(null=True)),
                ('template_key', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'journey', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JourneyRun',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('journey', fields.ForeignKeyField('models.Journey', source_field='journey_id', db_constraint=True, to_field='id', related_name='runs', on_delete=OnDelete.CASCADE)),
                ('version', fields.IntField()),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='journey_runs', on_delete=OnDelete.CASCADE)),
                ('entry', fields.IntField()),
                ('step', fields.CharField(max_length=64)),
                ('status', fields.CharEnumField(description='ACTIVE: active\nWAITING: waiting\nCOMPLETED: completed\nCONVERTED: converted\nEXITED: exited\nFAILED: failed', enum_type=Status, max_length=10)),
                ('seq', fields.IntField(default=0)),
                ('arm', fields.CharField(null=True, max_length=40)),
                ('trigger', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('last_event', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('coupon_key', fields.CharField(null=True, max_length=128)),
                ('wake_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('waiting_event', fields.CharField(null=True, max_length=100)),
                ('waiting_match', fields.TextField(null=True, unique=False)),
                ('entered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reason', fields.CharField(null=True, max_length=200)),
            ],
            options={'table': 'journey_run', 'app': 'models', 'unique_together': (('journey', 'customer', 'entry'),), 'indexes': [Index(fields=['status', 'wake_at']), Index(fields=['customer_id', 'waiting_event']), Index(fields=['journey_id', 'status', 'step'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JourneyMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('dedupe_key', fields.CharField(unique=True, max_length=128)),
                ('run', fields.ForeignKeyField('models.JourneyRun', source_field='run_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='journey_messages', on_delete=OnDelete.CASCADE)),
                ('step_id', fields.CharField(max_length=64)),
                ('channel', fields.CharField(null=True, max_length=8)),
                ('status', fields.CharField(max_length=16)),
                ('reason', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'journey_message', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JourneyVersion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('journey', fields.ForeignKeyField('models.Journey', source_field='journey_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('version', fields.IntField()),
                ('definition', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'journey_version', 'app': 'models', 'unique_together': (('journey', 'version'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
