from tortoise import migrations
from tortoise.migrations import operations as ops

# The programme's own accounts: every customer posting has its other leg here,
# so that all entries of the ledger sum to zero.
SYSTEM_ACCOUNTS = ("issued", "redeemed", "expired", "adjustments")


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [
        ops.RunSQL(
            [
                "INSERT INTO account (kind, code, available, pending, lifetime_earned, updated_at) "
                f"VALUES ('system', '{code}', 0, 0, 0, CURRENT_TIMESTAMP)"
                for code in SYSTEM_ACCOUNTS
            ],
            reverse_sql=["DELETE FROM account WHERE kind = 'system'"],
        ),
    ]
