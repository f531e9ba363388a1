from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0002_system_accounts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Geofence',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', db_constraint=True, to_field='id', related_name='geofences', on_delete=OnDelete.RESTRICT)),
                ('latitude', fields.FloatField()),
                ('longitude', fields.FloatField()),
                ('radius_meters', fields.FloatField()),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'geofence', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
