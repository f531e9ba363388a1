from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

# An AMOUNT_OFF coupon names its currency (a journey's amountOff): a till in
# another currency refuses it instead of taking 500 yen off for 5 euros. The
# reminder job finds coupons due by their own remind_at through an index.

class Migration(migrations.Migration):
    dependencies = [('models', '0016_journey_channels')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Coupon',
            name='currency',
            field=fields.CharField(null=True, max_length=3),
        ),
        ops.AddIndex(
            model_name='Coupon',
            index=Index(fields=['remind_at']),
        ),
    ]
