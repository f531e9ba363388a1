from enum import StrEnum
from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index


# The enums as they stood when this migration was written: a migration
# replays history, so it must not follow the live models' enums.
class StaffRole(StrEnum):
    CASHIER = "CASHIER"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"
    SUPPORT = "SUPPORT"


# Changing a column in place: SQLite's generic way rebuilds the table (create,
# copy, drop, rename), and the drop fails on a table other rows point at
# (staff_store -> staff, geofence -> store) once it holds data. These changes
# need no rebuild: the role's new enum value is a description only; dropping
# NOT NULL is ALTER COLUMN on PostgreSQL and, on SQLite, an edit of the
# stored CREATE TABLE that the SQLite manual allows for exactly this
# ("removing ... NOT NULL constraints", lang_altertable.html, section 7).
class AlterInPlace(ops.AlterField):
    def __init__(self, model_name, name, field, postgres=None, sqlite_edit=None):
        super().__init__(model_name, name, field)
        self.postgres = postgres
        self.sqlite_edit = sqlite_edit

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None:
            return
        client = state_editor.client
        if client.capabilities.dialect == "postgres":
            if self.postgres:
                await client.execute_script(self.postgres)
        elif self.sqlite_edit:
            table, old, new = self.sqlite_edit
            version = (await client.execute_query_dict("PRAGMA schema_version"))[0]
            await client.execute_script("PRAGMA writable_schema = ON")
            await client.execute_query(
                "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' "
                "AND name = ?", [old, new, table])
            await client.execute_script(
                f"PRAGMA schema_version = {int(version['schema_version']) + 1}")
            await client.execute_script("PRAGMA writable_schema = OFF")

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        return None


# Tortoise adds a NOT NULL column without its default, which both databases
# refuse on a table with rows: the column is added with a DEFAULT in SQL.
class AddWithDefault(ops.AddField):
    def __init__(self, model_name, name, field, sql):
        super().__init__(model_name, name, field)
        self.sql = sql

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None:
            await state_editor.client.execute_script(self.sql)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0011_audience')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ApiClient',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('prefix', fields.CharField(unique=True, max_length=16)),
                ('secret_hash', fields.CharField(max_length=64)),
                ('scopes', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('store_ids', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('created_by', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_client', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditLog',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor_kind', fields.CharField(max_length=16)),
                ('actor_id', fields.BigIntField(null=True)),
                ('action', fields.CharField(max_length=48)),
                ('target_kind', fields.CharField(null=True, max_length=32)),
                ('target_id', fields.BigIntField(null=True)),
                ('reason', fields.CharField(null=True, max_length=500)),
                ('detail', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'audit_log', 'app': 'models', 'indexes': [Index(fields=['target_kind', 'target_id']), Index(fields=['actor_kind', 'actor_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Franchise',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'franchise', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Customer',
            name='erased_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='LedgerTransaction',
            name='api_client',
            field=fields.ForeignKeyField('models.ApiClient', source_field='api_client_id', null=True, db_constraint=True, to_field='id', related_name='transactions', on_delete=OnDelete.RESTRICT),
        ),
        AlterInPlace(
            model_name='Staff',
            name='role',
            field=fields.CharEnumField(description='CASHIER: CASHIER\nMANAGER: MANAGER\nADMIN: ADMIN\nSUPPORT: SUPPORT', enum_type=StaffRole, max_length=16),
        ),
        ops.AddField(
            model_name='Staff',
            name='franchise',
            field=fields.ForeignKeyField('models.Franchise', source_field='franchise_id', null=True, db_constraint=True, to_field='id', related_name='managers', on_delete=OnDelete.RESTRICT),
        ),
        AlterInPlace(
            model_name='Store',
            name='latitude',
            field=fields.FloatField(null=True),
            postgres='ALTER TABLE "store" ALTER COLUMN "latitude" DROP NOT NULL',
            sqlite_edit=('store', '"latitude" REAL NOT NULL', '"latitude" REAL'),
        ),
        AlterInPlace(
            model_name='Store',
            name='longitude',
            field=fields.FloatField(null=True),
            postgres='ALTER TABLE "store" ALTER COLUMN "longitude" DROP NOT NULL',
            sqlite_edit=('store', '"longitude" REAL NOT NULL', '"longitude" REAL'),
        ),
        ops.AddField(
            model_name='Store',
            name='franchise',
            field=fields.ForeignKeyField('models.Franchise', source_field='franchise_id', null=True, db_constraint=True, to_field='id', related_name='stores', on_delete=OnDelete.RESTRICT),
        ),
        AddWithDefault(
            model_name='Store',
            name='kind',
            field=fields.CharField(default='PHYSICAL', max_length=16),
            sql='ALTER TABLE "store" ADD COLUMN "kind" VARCHAR(16) NOT NULL DEFAULT \'PHYSICAL\'',
        ),
    ]
