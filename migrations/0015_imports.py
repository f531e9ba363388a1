from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0014_privacy')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ImportRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('run_id', fields.BigIntField()),
                ('line', fields.IntField()),
                ('email', fields.CharField(null=True, max_length=254)),
                ('first_name', fields.CharField(null=True, max_length=100)),
                ('locale', fields.CharField(null=True, max_length=35)),
                ('timezone', fields.CharField(null=True, max_length=64)),
                ('phone', fields.CharField(null=True, max_length=32)),
                ('external_id', fields.CharField(null=True, max_length=64)),
                ('marketing', fields.BooleanField(null=True)),
                ('points', fields.BigIntField(null=True)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reference', fields.CharField(null=True, max_length=64)),
                ('occurred_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('description', fields.CharField(null=True, max_length=200)),
            ],
            options={'table': 'import_row', 'app': 'models', 'indexes': [Index(fields=['run_id', 'line'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ImportRun',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=16)),
                ('file_sha256', fields.CharField(max_length=64)),
                ('rows', fields.IntField(default=0)),
                ('done_line', fields.IntField(default=0)),
                ('status', fields.CharField(max_length=16)),
                ('created', fields.IntField(default=0)),
                ('skipped', fields.IntField(default=0)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'import_run', 'app': 'models', 'indexes': [Index(fields=['kind', 'file_sha256'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
