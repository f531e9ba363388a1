from tortoise import migrations
from tortoise.migrations import operations as ops

# account.updated_at is the version the one-statement check-in checks
# (geofence/checkin_fast.py): every writer must move it strictly forward, or a
# guard could pass on a value that came back (ABA). Postings set it to their
# own `now`, which can equal or precede a value already written, so on
# PostgreSQL a trigger keeps it increasing whatever the writer sets. SQLite
# never takes that path and needs nothing.
_FORWARD = """
CREATE OR REPLACE FUNCTION account_updated_at_forward() RETURNS trigger AS $$
BEGIN
  IF NEW.updated_at <= OLD.updated_at THEN
    NEW.updated_at := OLD.updated_at + interval '1 microsecond';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS account_updated_at_forward ON account;
CREATE TRIGGER account_updated_at_forward BEFORE UPDATE ON account
  FOR EACH ROW EXECUTE FUNCTION account_updated_at_forward();
"""
_BACK = """
DROP TRIGGER IF EXISTS account_updated_at_forward ON account;
DROP FUNCTION IF EXISTS account_updated_at_forward();
"""


async def forward(apps, editor) -> None:
    if editor.client.capabilities.dialect == "postgres":
        await editor.client.execute_script(_FORWARD)


async def backward(apps, editor) -> None:
    if editor.client.capabilities.dialect == "postgres":
        await editor.client.execute_script(_BACK)


class Migration(migrations.Migration):
    dependencies = [("models", "0007_outbox_dead_letter")]

    operations = [ops.RunPython(forward, backward)]
