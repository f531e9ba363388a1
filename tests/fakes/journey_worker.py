"""The journeys loop of `loyalty worker` alone, in a child process, against
the database named by DATABASE_URL (tests that kill workers, the bench).

    DATABASE_URL=postgres://... python -m tests.fakes.journey_worker
"""

from __future__ import annotations

import asyncio
import signal
import sys

from journeys.worker import run_forever
from loyalty.platform import db
from loyalty.platform.config import get_settings


async def main() -> int:
    await db.init(get_settings().database_url, run_migrations=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("worker running", flush=True)
    try:
        await run_forever(stop)
    finally:
        await db.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
