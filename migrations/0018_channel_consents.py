from enum import StrEnum
from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


# The enums as they stood when this migration was written: a migration
# replays history, so it must not follow the live models' enums.
class Status(StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"
    SENT = "sent"
    INBOX = "inbox"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


# Channels: per-channel marketing consent (email, SMS: on unless withdrawn, on top
# of marketing_opt_in) and the notification status `suppressed`.


# The status's new enum value changes its description only: nothing to do on
# the database (SQLite's generic AlterField rebuilds the table, and the
# rebuild loses notification's unique (event_id, customer_id)).
class DescribeOnly(ops.AlterField):
    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0017_coupon_currency')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Customer',
            name='email_opt_in',
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddField(
            model_name='Customer',
            name='sms_opt_in',
            field=fields.BooleanField(default=True, db_default=True),
        ),
        DescribeOnly(
            model_name='Notification',
            name='status',
            field=fields.CharEnumField(default=Status.QUEUED, description='QUEUED: queued\nDEFERRED: deferred\nSENT: sent\nINBOX: inbox\nFAILED: failed\nSUPPRESSED: suppressed', enum_type=Status, max_length=16),
        ),
    ]
