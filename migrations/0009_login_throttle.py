from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_account_version')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LoginThrottle',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('failures', fields.IntField()),
                ('window_start', fields.FloatField(db_index=True)),
                ('locked_until', fields.FloatField()),
                ('next_lockout', fields.FloatField()),
            ],
            options={'table': 'login_throttle', 'app': 'models', 'pk_attr': 'key'},
            bases=['Model'],
        ),
    ]
