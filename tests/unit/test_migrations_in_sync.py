"""Models and migrations agree: a model change without its migration fails here."""

from __future__ import annotations

import tempfile

from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

from loyalty.platform.db import tortoise_config


async def test_makemigrations_would_write_nothing():
    config = tortoise_config(f"sqlite://{tempfile.mkdtemp()}/sync.sqlite3")
    apps = config["apps"]
    async with tortoise_cli_context(config) as ctx:
        writers = await MigrationAutodetector(ctx.apps, apps).changes()
    assert [w.name for w in writers] == []
