"""Database set-up: the Tortoise configuration, migrations, connections."""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate as _migrate

MODEL_MODULES = ["loyalty.models", "wallet.models", "geofence.models", "notifications.models"]


class NoResetConnection(asyncpg.Connection):
    """Pool connections carry no session state here (no SET, LISTEN, advisory
    locks, cursors): skip asyncpg's reset query on every release. asyncpg
    still rolls back a transaction left open."""

    def get_reset_query(self) -> str:
        return ""


def _connection(database_url: str) -> Any:
    url = _connection_url(database_url)
    if not url.startswith("postgres://"):
        return url
    from tortoise.backends.base.config_generator import expand_db_url

    config = expand_db_url(url)
    config["credentials"]["connection_class"] = NoResetConnection
    return config


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection_url(url: str) -> str:
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    if url.startswith("postgres://") and "maxsize" not in url:
        url += ("&" if "?" in url else "?") + "minsize=1&maxsize=20"
    return url


def is_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


async def migrate(database_url: str) -> None:
    """Apply every migration not yet applied (idempotent)."""
    await _migrate(config=tortoise_config(database_url))


async def init(database_url: str, *, run_migrations: bool = True) -> None:
    if run_migrations:
        await migrate(database_url)
        await Tortoise.close_connections()
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close() -> None:
    await Tortoise.close_connections()
