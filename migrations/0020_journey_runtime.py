from tortoise import migrations
from tortoise.migrations import operations as ops

# The journeys worker reads the event stream in id order with a cursor
# (journeys/stream.py), as the audience consumer reads the outbox. On
# SQLite the id is the rowid; the partitioned table of PostgreSQL has no
# index on it, and "WHERE id > $1 ORDER BY id LIMIT n" would scan every
# partition on every pass.

_FORWARD = "CREATE INDEX IF NOT EXISTS customer_event_id ON customer_event (id);"
_BACKWARD = "DROP INDEX IF EXISTS customer_event_id;"


async def _forward(apps, editor) -> None:
    if editor.client.capabilities.dialect == "postgres":
        await editor.client.execute_script(_FORWARD)


async def _backward(apps, editor) -> None:
    if editor.client.capabilities.dialect == "postgres":
        await editor.client.execute_script(_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [('models', '0019_remainders')]

    initial = False

    operations = [
        ops.RunPython(_forward, _backward),
    ]
