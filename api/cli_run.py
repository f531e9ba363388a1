"""What the `loyalty` commands share (api/cli.py and its cli_* siblings): the
log, and running a command's coroutine, with the database open or not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from loyalty.platform import db
from loyalty.platform.config import get_settings

# Status lines go to the log (JSON in production), command output to stdout.
log = logging.getLogger("loyalty.cli")


def _run(coro_fn: Callable[[], Coroutine[Any, Any, int]]) -> int:
    return asyncio.run(coro_fn())


async def _with_db(fn: Callable[[], Awaitable[int]]) -> int:
    await db.init(get_settings().database_url)
    try:
        return await fn()
    finally:
        await db.close()
