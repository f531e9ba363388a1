from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

# journey_message's run_id cascades from journey_run: an index, so that
# deleting runs (a journey or a customer deleted) does not scan the log once
# per run.

class Migration(migrations.Migration):
    dependencies = [('models', '0020_journey_runtime')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='JourneyMessage',
            index=Index(fields=['run_id']),
        ),
    ]
