from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# Staff search customers by phone number, kept as loyalty.phones normalises it
# (digits and a leading +): numbers imported before are normalised the same way.
_NORMALISE = (
    "UPDATE customer SET phone = REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(phone, ' ', ''), "
    "'.', ''), '-', ''), '(', ''), ')', '') WHERE phone IS NOT NULL"
)


async def forward(apps, editor) -> None:
    await editor.client.execute_script(_NORMALISE)


async def backward(apps, editor) -> None:
    pass  # the typed spacing is not kept


class Migration(migrations.Migration):
    dependencies = [('models', '0021_journey_message_run')]

    initial = False

    operations = [
        ops.RunPython(forward, backward),
        ops.AddIndex(
            model_name='Customer',
            index=Index(fields=['phone']),
        ),
    ]
