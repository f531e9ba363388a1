"""Liveness and readiness, for load balancers and orchestrators.

- `/healthz`: the process answers. It touches no database, so that a database
  outage does not get every server restarted (which would not bring the
  database back, and would drop every socket).
- `/readyz`: the process can serve: the database answers within
  READY_TIMEOUT and every migration on disk is applied. JSON, 200 or 503, so
  that a balancer stops sending requests to a process that would fail them
  and sends them again when it recovers.

The worker serves the same two (`loyalty worker --metrics-port`), its
readiness adding that its loop has run since it started.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)

# A probe is polled every few seconds: one slower than this answers 503 rather
# than queue behind a stuck pool.
READY_TIMEOUT = 2.0
MIGRATIONS_APP = "models"
_MIGRATION_FILE = re.compile(r"\d{4}_\w+\.py")


def migrations_on_disk() -> frozenset[str]:
    import migrations

    folder = Path(migrations.__file__).parent
    return frozenset(p.stem for p in folder.iterdir() if _MIGRATION_FILE.fullmatch(p.name))


_ON_DISK = migrations_on_disk()


async def _applied() -> set[str]:
    from tortoise import connections

    conn = connections.get("default")
    try:
        _, rows = await conn.execute_query(
            f"SELECT name FROM tortoise_migrations WHERE app = '{MIGRATIONS_APP}'")
    except Exception:
        # No table yet (a database never migrated), or no database: the
        # second statement tells which.
        await conn.execute_query("SELECT 1")
        return set()
    return {row["name"] if isinstance(row, dict) else row[0] for row in rows}


async def readiness() -> tuple[bool, dict[str, Any]]:
    """(ready, what was checked): `database` is "ok" or why not, `migrations`
    "ok" or the names not yet applied."""
    try:
        # One statement checks both: the database answers, and says what is applied.
        applied = await asyncio.wait_for(_applied(), READY_TIMEOUT)
    except TimeoutError:
        return False, {"database": f"no answer within {READY_TIMEOUT:g} s"}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        # The error's type, not its text: a driver's message may name the host
        # and user, and this answer is for anyone who can reach the port.
        return False, {"database": f"unreachable ({type(exc).__name__})"}
    pending = sorted(_ON_DISK - applied)
    return not pending, {"database": "ok", "migrations": pending or "ok"}


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def readyz_endpoint(
    extra: Callable[[], tuple[bool, dict[str, Any]]] | None = None,
) -> Callable[[Request], Any]:
    """The /readyz endpoint; `extra` adds a process's own checks (the worker's loop)."""

    async def readyz(request: Request) -> JSONResponse:
        ready, checks = await readiness()
        if extra is not None:
            more_ready, more = extra()
            ready = ready and more_ready
            checks.update(more)
        status = 200 if ready else 503
        return JSONResponse({"status": "ready" if ready else "not ready", **checks},
                            status_code=status)

    return readyz
