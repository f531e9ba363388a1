from tortoise import migrations
from tortoise.migrations import operations as ops
from enum import StrEnum
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# The enum as it stood when this migration was written: a migration replays
# history, so it must not follow the live model's enum.
class CheckInKind(StrEnum):
    ENTER = "ENTER"
    EXIT = "EXIT"
    DWELL = "DWELL"
    BEACON = "BEACON"


class Migration(migrations.Migration):
    dependencies = [('models', '0004_notifications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Beacon',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='beacons', on_delete=OnDelete.RESTRICT)),
                ('uuid', fields.CharField(max_length=36)),
                ('major', fields.IntField()),
                ('minor', fields.IntField()),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'beacon', 'app': 'models', 'unique_together': (('uuid', 'major', 'minor'),), 'pk_attr': 'id', 'table_description': 'An iBeacon in a store, known by its (uuid, major, minor).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Visit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.RESTRICT)),
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.RESTRICT)),
                ('geofence', fields.ForeignKeyField('models.Geofence', source_field='geofence_id', null=True, db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.RESTRICT)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('confirmed', fields.BooleanField(default=False)),
                ('points_earned', fields.IntField(default=0)),
                ('reward_transaction', fields.ForeignKeyField('models.LedgerTransaction', source_field='reward_transaction_id', null=True, db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'visit', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'id']), Index(fields=['customer_id', 'store_id', 'closed_at'])], 'pk_attr': 'id', 'table_description': "A customer's stay at a store: opened by ENTER, closed by EXIT, confirmed"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CheckIn',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='check_ins', on_delete=OnDelete.RESTRICT)),
                ('idempotency_key', fields.CharField(unique=True, max_length=128)),
                ('request_hash', fields.CharField(max_length=64)),
                ('kind', fields.CharEnumField(description='ENTER: ENTER\nEXIT: EXIT\nDWELL: DWELL\nBEACON: BEACON', enum_type=CheckInKind, max_length=8)),
                ('geofence', fields.ForeignKeyField('models.Geofence', source_field='geofence_id', null=True, db_constraint=True, to_field='id', related_name='check_ins', on_delete=OnDelete.RESTRICT)),
                ('beacon', fields.ForeignKeyField('models.Beacon', source_field='beacon_id', null=True, db_constraint=True, to_field='id', related_name='check_ins', on_delete=OnDelete.RESTRICT)),
                ('latitude', fields.FloatField(null=True)),
                ('longitude', fields.FloatField(null=True)),
                ('accuracy_meters', fields.FloatField(null=True)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('accepted', fields.BooleanField()),
                ('reason', fields.CharField(null=True, max_length=200)),
                ('visit', fields.ForeignKeyField('models.Visit', source_field='visit_id', null=True, db_constraint=True, to_field='id', related_name='check_ins', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'check_in', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'created_at']), Index(fields=['customer_id', 'accepted', 'occurred_at'])], 'pk_attr': 'id', 'table_description': 'Every check-in the server judged, accepted or not: the audit trail, the'},
            bases=['Model'],
        ),
    ]
