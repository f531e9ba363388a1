from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

# Issues 13 and 15's remainders: the tier history that an offline purchase
# earns with (backfilled from each customer's current tier, since it was
# set), the lifetime-value model's fits, and the API client that sent an event.

class Migration(migrations.Migration):
    dependencies = [('models', '0018_channel_consents')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TierChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='tier_changes', on_delete=OnDelete.RESTRICT)),
                ('tier_id', fields.BigIntField(null=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'tier_change', 'app': 'models', 'indexes': [Index(fields=['customer_id', 'at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ValueModelFit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('fitted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('customers', fields.IntField()),
                ('repeat_buyers', fields.IntField()),
                ('unit', fields.CharField(max_length=8)),
                ('params', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'value_model_fit', 'app': 'models', 'indexes': [Index(fields=['fitted_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='CustomerEvent',
            name='api_client_id',
            field=fields.BigIntField(null=True),
        ),
        ops.RunSQL("INSERT INTO tier_change (customer_id, tier_id, at) "
                   "SELECT customer_id, tier_id, since FROM customer_tier"),
    ]

