from tortoise import migrations
from tortoise.migrations import operations as ops
from enum import StrEnum
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# The enums as they stood when this migration was written: a migration
# replays history, so it must not follow the live models' enums.
class Platform(StrEnum):
    IOS = "IOS"
    ANDROID = "ANDROID"
    WEB = "WEB"


class Status(StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"
    SENT = "sent"
    INBOX = "inbox"
    FAILED = "failed"


class Migration(migrations.Migration):
    dependencies = [('models', '0003_geofence')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Device',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.CASCADE)),
                ('token', fields.CharField(unique=True, max_length=512)),
                ('platform', fields.CharEnumField(description='IOS: IOS\nANDROID: ANDROID\nWEB: WEB', enum_type=Platform, max_length=8)),
                ('app_version', fields.CharField(null=True, max_length=32)),
                ('locale', fields.CharField(null=True, max_length=35)),
                ('timezone', fields.CharField(null=True, max_length=64)),
                ('push_enabled', fields.BooleanField(default=True)),
                ('disabled_reason', fields.CharField(null=True, max_length=64)),
                ('last_seen', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'device', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.BigIntField(null=True)),
                ('kind', fields.CharField(max_length=48)),
                ('marketing', fields.BooleanField(default=False)),
                ('title', fields.CharField(max_length=200)),
                ('body', fields.CharField(max_length=1000)),
                ('status', fields.CharEnumField(default=Status.QUEUED, description='QUEUED: queued\nDEFERRED: deferred\nSENT: sent\nINBOX: inbox\nFAILED: failed', enum_type=Status, max_length=16)),
                ('reason', fields.CharField(null=True, max_length=200)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification', 'app': 'models', 'unique_together': (('event_id', 'customer'),), 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['customer_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('device', fields.ForeignKeyField('models.Device', source_field='device_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(max_length=16)),
                ('error', fields.CharField(null=True, max_length=200)),
                ('message_id', fields.CharField(null=True, max_length=200)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delivery', 'app': 'models', 'unique_together': (('notification', 'device'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Customer',
            name='quiet_hours_end',
            field=fields.CharField(null=True, max_length=5),
        ),
        ops.AddField(
            model_name='Customer',
            name='quiet_hours_start',
            field=fields.CharField(null=True, max_length=5),
        ),
    ]
