"""The `loyalty` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from api.cli_config import cmd_config, validate
from loyalty.platform import db
from loyalty.platform.config import ConfigError, get_settings

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


def cmd_migrate(_: argparse.Namespace) -> int:
    async def go() -> int:
        await db.migrate(get_settings().database_url)
        await db.close()
        print("migrations applied")
        return 0

    return _run(go)


def _admin_password(args: argparse.Namespace) -> str | None:
    """From LOYALTY_ADMIN_PASSWORD, else asked twice on the terminal; the
    deprecated --password still works, with a warning."""
    import getpass

    if args.password is not None:
        print("warning: --password is deprecated (other users can read a command line): "
              "set LOYALTY_ADMIN_PASSWORD or answer the prompt", file=sys.stderr)
        return str(args.password)
    if os.environ.get("LOYALTY_ADMIN_PASSWORD"):
        return os.environ["LOYALTY_ADMIN_PASSWORD"]
    if not sys.stdin.isatty():
        print("error: set LOYALTY_ADMIN_PASSWORD, or run this on a terminal to be asked",
              file=sys.stderr)
        return None
    first = getpass.getpass("password for the admin: ")
    if getpass.getpass("the same again: ") != first:
        print("error: the two passwords differ", file=sys.stderr)
        return None
    return first


def cmd_create_admin(args: argparse.Namespace) -> int:
    from loyalty.errors import DomainError
    from loyalty.identity.accounts import create_admin

    password = _admin_password(args)
    if password is None:
        return 1

    async def go() -> int:
        try:
            staff = await create_admin(args.email, password)
        except DomainError as e:
            print(f"error: {e.code}: {e.message}", file=sys.stderr)
            return 1
        print(f"admin {staff.email} created (id {staff.id})")
        return 0

    return _run(lambda: _with_db(go))


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from api.demo import seed_demo

    async def go() -> int:
        for line in await seed_demo():
            print(line)
        if args.customers:
            from api.demo_programme import seed_demo_programme

            for line in await seed_demo_programme(args.customers):
                print(line)
        return 0

    return _run(lambda: _with_db(go))


def cmd_ledger_verify(_: argparse.Namespace) -> int:
    from loyalty.ledger.balances import verify_ledger

    async def go() -> int:
        report = await verify_ledger()
        if report.ok:
            print(f"ledger ok: {report.accounts_checked} accounts checked")
            return 0
        print(f"ledger FAILED: {len(report.problems)} problem(s)")
        for problem in report.problems:
            print(f"  - {problem}")
        return 1

    return _run(lambda: _with_db(go))


def cmd_audience_recompute(args: argparse.Namespace) -> int:
    from audience.jobs import recompute_now
    from loyalty.errors import DomainError

    async def go() -> int:
        try:
            done, changes = await recompute_now(rfm_window_days=args.window_days,
                                                all_segments=True)
        except DomainError as e:
            print(f"error: {e.code}: {e.message}", file=sys.stderr)
            return 1
        print(f"scores: {done.scored} customers scored, {done.removed} removed "
              f"(computed at {done.computed_at.isoformat()})")
        print(f"segments: {changes.segments} refreshed, {changes.entered} entered, "
              f"{changes.exited} exited")
        return 0

    return _run(lambda: _with_db(go))


def cmd_schema(_: argparse.Namespace) -> int:
    """The live schema's SDL, as committed in schema/schema.graphql."""
    from api.schema import build_schema
    from loyalty.platform.config import Settings

    # The schema does not depend on the environment's settings; printing it
    # needs no database and no secret.
    print(build_schema(Settings(env="test")).as_str())
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import signal

    from api.logs import configure
    from audience.jobs import JOBS as AUDIENCE_JOBS
    from audience.worker import run_forever as audience_loop
    from geofence.jobs import JOBS as GEOFENCE_JOBS
    from journeys.worker import run_forever as journeys_loop
    from notifications.backlog import SAMPLE_SECONDS as BACKLOG_SAMPLE_SECONDS
    from notifications.loop import default_concurrency, run_forever
    from notifications.push import sender_from_settings
    from observability.metrics import multiprocess_dir

    configure(get_settings())

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sender = sender_from_settings(get_settings().firebase_credentials)
        if sender is None:
            log.warning("no FIREBASE_CREDENTIALS: notifications go to the inbox and the log only")
        async with contextlib.AsyncExitStack() as endpoint:
            if args.metrics_port is not None:
                from api.worker_http import serving

                await endpoint.enter_async_context(
                    serving(get_settings(), args.metrics_host, args.metrics_port))
                log.info("worker metrics on http://%s:%s/metrics (/healthz, /readyz)",
                         args.metrics_host, args.metrics_port)
            log.info("worker running; stop with SIGTERM or Ctrl-C")
            try:
                # The audience loop (the stream from the outbox, segment
                # updates) and the journeys loop (entries, wake-ups, due
                # runs) run beside the notification passes and stop with them.
                await asyncio.gather(
                    run_forever(stop, batch_size=args.batch_size, sender=sender,
                                jobs={**GEOFENCE_JOBS, **AUDIENCE_JOBS},
                                concurrency=args.concurrency
                                or default_concurrency(get_settings().database_url),
                                # Shared with other processes' files, the
                                # backlog is written on a timer too.
                                sample_every=BACKLOG_SAMPLE_SECONDS
                                if multiprocess_dir() else None),
                    audience_loop(stop),
                    journeys_loop(stop),
                )
            finally:
                if sender is not None:
                    await sender.close()
        log.info("worker stopped")
        return 0

    return _run(lambda: _with_db(go))


def cmd_jobs(_: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from api.logs import configure
    from audience.jobs import JOBS as AUDIENCE_JOBS
    from geofence.jobs import JOBS as GEOFENCE_JOBS
    from loyalty.jobs import JOBS
    from notifications.loop import run_jobs

    configure(get_settings())

    async def go() -> int:
        counts = await run_jobs(datetime.now(UTC), jobs={**GEOFENCE_JOBS, **AUDIENCE_JOBS})
        names = [*JOBS, *GEOFENCE_JOBS, *AUDIENCE_JOBS]
        for name in names:
            print(f"{name}: {counts.get(name, 'FAILED')}")
        # Non-zero for cron to report, once every job has had its turn.
        return 0 if len(counts) == len(names) else 1

    return _run(lambda: _with_db(go))


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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("loyalty-engine")
    except PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty", description=__doc__,
        epilog="Configuration comes from environment variables: `loyalty config` lists them "
        "with their effective values.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
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
    sub.add_parser("migrate", help="apply migrations").set_defaults(fn=cmd_migrate)
    sub.add_parser(
        "schema", help="print the GraphQL schema (SDL) that this version serves"
    ).set_defaults(fn=cmd_schema)
    config = sub.add_parser(
        "config", help="print the effective configuration (secrets masked) and exit")
    config.add_argument("--markdown", action="store_true",
                        help="print the table of variables as the README has it instead")
    config.set_defaults(fn=cmd_config)
    worker = sub.add_parser("worker", help="run the consumers (messages, webhooks, the event "
                                           "stream, journeys) and jobs until stopped")
    worker.add_argument("--batch-size", type=int, default=100,
                        help="outbox events claimed, and notifications sent, per pass "
                        "(default 100)")
    worker.add_argument(
        "--concurrency", type=int, default=None,
        help="passes side by side: one claims and writes while another waits on FCM "
        "(default: 2 on PostgreSQL, 1 on SQLite)",
    )
    worker.add_argument(
        "--metrics-port", type=int, default=None,
        help="serve /metrics, /healthz and /readyz on this port (default: none)")
    worker.add_argument(
        "--metrics-host", default="127.0.0.1",
        help="address for --metrics-port (default 127.0.0.1; 0.0.0.0 for a scraper elsewhere)")
    worker.set_defaults(fn=cmd_worker)
    sub.add_parser(
        "jobs", help="run the scheduled jobs (expiry, reminders, tier reviews) once, for cron"
    ).set_defaults(fn=cmd_jobs)
    admin = sub.add_parser(
        "create-admin", help="create an admin account; the password is read from "
        "LOYALTY_ADMIN_PASSWORD, or asked for")
    admin.add_argument("--email", required=True, help="the admin's email (their log-in)")
    admin.add_argument("--password", default=None,
                       help="deprecated: a command line is seen by every user of the machine "
                       "and kept in shell history; use LOYALTY_ADMIN_PASSWORD or the prompt")
    admin.set_defaults(fn=cmd_create_admin)
    demo = sub.add_parser("seed-demo", help="a demo store, cashier and customer")
    demo.add_argument(
        "--customers", type=int, default=0,
        help="also a realistic programme of this many customers across channels, with "
        "purchases, events, messages, segments and scores (once)")
    demo.set_defaults(fn=cmd_seed_demo)
    audience = sub.add_parser("audience", help="customer scores and segments")
    audience_sub = audience.add_subparsers(dest="audience_command", required=True)
    recompute = audience_sub.add_parser(
        "recompute", help="recompute RFM and engagement scores, then every segment in full")
    recompute.add_argument("--window-days", type=int, default=None,
                           help="RFM over this many last days (default LOYALTY_RFM_WINDOW_DAYS)")
    recompute.set_defaults(fn=cmd_audience_recompute)
    from api.cli_import import add_parser as add_import

    add_import(sub)
    ledger = sub.add_parser("ledger", help="ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    ledger_sub.add_parser("verify", help="check the ledger invariants").set_defaults(
        fn=cmd_ledger_verify
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # Every variable checked before anything runs (the schema needs none).
        if args.fn is not cmd_schema:
            validate()
        return int(args.fn(args))
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
