from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# An AMOUNT_OFF coupon names its currency (a journey's amountOff): a till in
# another currency refuses it instead of taking 500 yen off for 5 euros.

class Migration(migrations.Migration):
    dependencies = [('models', '0016_journey_channels')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Coupon',
            name='currency',
            field=fields.CharField(null=True, max_length=3),
        ),
    ]
