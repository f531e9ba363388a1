from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# Journeys' message steps and coupons: a notification may go by email or SMS
# and carries its step's dedupe key; a coupon names where it may be used, when
# its reminder is due, and the step that issued it.

class Migration(migrations.Migration):
    dependencies = [('models', '0015_imports')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Coupon',
            name='channels',
            field=fields.CharField(null=True, max_length=40),
        ),
        ops.AddField(
            model_name='Coupon',
            name='issue_key',
            field=fields.CharField(null=True, unique=True, max_length=128),
        ),
        ops.AddField(
            model_name='Coupon',
            name='remind_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Notification',
            name='channel',
            field=fields.CharField(null=True, max_length=8),
        ),
        ops.AddField(
            model_name='Notification',
            name='channels',
            field=fields.CharField(db_default='PUSH,INBOX', max_length=40),
        ),
        ops.AddField(
            model_name='Notification',
            name='dedupe_key',
            field=fields.CharField(null=True, unique=True, max_length=128),
        ),
        ops.AddField(
            model_name='Notification',
            name='journey_id',
            field=fields.BigIntField(null=True),
        ),
    ]
