"""`loyalty serve`: migrate, maybe seed the demo, then uvicorn with the
house's options (one process, or N sharing their metrics through a
multiprocess directory)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from api.cli_run import _run, _with_db, log
from loyalty.platform import db
from loyalty.platform.config import get_settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.logs import configure

    settings = get_settings()
    settings.check()
    configure(settings)

    async def prepare() -> int:
        await db.migrate(settings.database_url)
        await db.close()
        if args.demo:
            from api.demo import seed_demo
            from api.demo_programme import seed_demo_programme

            async def seed() -> int:
                for line in await seed_demo():
                    print(line)
                if args.demo_customers:
                    for line in await seed_demo_programme(args.demo_customers):
                        print(line)
                return 0

            await _with_db(seed)
        return 0

    _run(prepare)
    from api.serving import uvicorn_options

    kwargs: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        # Logging is api/logs.py's (one line per request, JSON in production):
        # uvicorn keeps its warnings and errors, through the same handler.
        "log_config": None,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        # X-Forwarded-For is believed from LOYALTY_TRUSTED_PROXIES only
        # (api/client_address.py), never from uvicorn's default of 127.0.0.1.
        "proxy_headers": False,
        **uvicorn_options(settings),
    }
    log.info("serving GraphQL on http://%s:%s/graphql (%s, %s worker(s))", args.host, args.port,
             settings.database_url.split("://")[0], args.workers)
    if args.workers > 1:
        with _metrics_directory():
            uvicorn.run("api.asgi:app", workers=args.workers, **kwargs)
    else:
        from api.app import create_app

        uvicorn.run(create_app(settings, migrate=False), **kwargs)
    return 0


@contextlib.contextmanager
def _metrics_directory() -> Iterator[None]:
    """Prometheus' multiprocess mode for the workers about to start: each
    writes its metrics to files there, and a scrape of any sums them all. A
    fresh directory per run (values of an earlier run must not count), removed
    after, unless the environment names one (then it is the operator's, maybe
    shared with a worker on this host)."""
    from observability.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="loyalty-metrics-")
    os.environ[MULTIPROC_ENV] = folder  # inherited by the workers
    try:
        yield
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(folder, ignore_errors=True)


def add_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="migrate if needed, then serve /graphql")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes on the port (default 1); their metrics are "
                       "summed by any of them (PROMETHEUS_MULTIPROC_DIR)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the demo store, cashier and customer and print their log-ins",
    )
    serve.add_argument(
        "--demo-customers", type=int, default=2000,
        help="with --demo: a programme of this many customers with their history, so that "
        "the 360 view, segments, the RFM grid and the ABCD matrix show something (once; "
        "0: none)",
    )
    serve.set_defaults(fn=cmd_serve)
