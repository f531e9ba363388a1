"""The `loyalty` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from loyalty import db
from loyalty.config import ConfigError, get_settings


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


def cmd_create_admin(args: argparse.Namespace) -> int:
    from loyalty.errors import DomainError
    from loyalty.identity import create_admin

    async def go() -> int:
        try:
            staff = await create_admin(args.email, args.password)
        except DomainError as e:
            print(f"error: {e.code}: {e.message}", file=sys.stderr)
            return 1
        print(f"admin {staff.email} created (id {staff.id})")
        return 0

    return _run(lambda: _with_db(go))


def cmd_seed_demo(_: argparse.Namespace) -> int:
    from api.demo import seed_demo

    async def go() -> int:
        for line in await seed_demo():
            print(line)
        return 0

    return _run(lambda: _with_db(go))


def cmd_ledger_verify(_: argparse.Namespace) -> int:
    from loyalty.balances import verify_ledger

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


def cmd_schema(_: argparse.Namespace) -> int:
    """The live schema's SDL, as committed in schema/schema.graphql."""
    from api.schema import build_schema
    from loyalty.config import Settings

    # The schema does not depend on the environment's settings; printing it
    # needs no database and no secret.
    print(build_schema(Settings(env="test")).as_str())
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import logging
    import signal

    from geofence.jobs import JOBS as GEOFENCE_JOBS
    from notifications.loop import default_concurrency, run_forever
    from notifications.push import sender_from_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sender = sender_from_settings(get_settings().firebase_credentials)
        if sender is None:
            print("no FIREBASE_CREDENTIALS: notifications go to the inbox and the log only")
        print("worker running; stop with SIGTERM or Ctrl-C", flush=True)
        try:
            await run_forever(stop, batch_size=args.batch_size, sender=sender,
                              jobs=GEOFENCE_JOBS,
                              concurrency=args.concurrency
                              or default_concurrency(get_settings().database_url))
        finally:
            if sender is not None:
                await sender.close()
        print("worker stopped")
        return 0

    return _run(lambda: _with_db(go))


def cmd_jobs(_: argparse.Namespace) -> int:
    import logging
    from datetime import UTC, datetime

    from geofence.jobs import JOBS as GEOFENCE_JOBS
    from loyalty.jobs import JOBS
    from notifications.loop import run_jobs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def go() -> int:
        counts = await run_jobs(datetime.now(UTC), jobs=GEOFENCE_JOBS)
        names = [*JOBS, *GEOFENCE_JOBS]
        for name in names:
            print(f"{name}: {counts.get(name, 'FAILED')}")
        # Non-zero for cron to report, once every job has had its turn.
        return 0 if len(counts) == len(names) else 1

    return _run(lambda: _with_db(go))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    settings.check()

    async def prepare() -> int:
        await db.migrate(settings.database_url)
        await db.close()
        if args.demo:
            from api.demo import seed_demo

            async def seed() -> int:
                for line in await seed_demo():
                    print(line)
                return 0

            await _with_db(seed)
        return 0

    _run(prepare)
    from api.serving import uvicorn_options

    kwargs: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        # X-Forwarded-For is believed from LOYALTY_TRUSTED_PROXIES only
        # (api/client_address.py), never from uvicorn's default of 127.0.0.1.
        "proxy_headers": False,
        **uvicorn_options(settings),
    }
    print(
        f"serving GraphQL on http://{args.host}:{args.port}/graphql "
        f"({settings.database_url.split('://')[0]}, {args.workers} worker(s))",
        flush=True,
    )
    if args.workers > 1:
        uvicorn.run("api.asgi:app", workers=args.workers, **kwargs)
    else:
        from api.app import create_app

        uvicorn.run(create_app(settings, migrate=False), **kwargs)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate if needed, then serve /graphql")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the demo store, cashier and customer and print their log-ins",
    )
    serve.set_defaults(fn=cmd_serve)
    sub.add_parser("migrate", help="apply migrations").set_defaults(fn=cmd_migrate)
    sub.add_parser(
        "schema", help="print the GraphQL schema (SDL) that this version serves"
    ).set_defaults(fn=cmd_schema)
    worker = sub.add_parser("worker", help="run the outbox consumers (push, inbox) until stopped")
    worker.add_argument("--batch-size", type=int, default=100)
    worker.add_argument(
        "--concurrency", type=int, default=None,
        help="passes side by side: one claims and writes while another waits on FCM "
        "(default: 2 on PostgreSQL, 1 on SQLite)",
    )
    worker.set_defaults(fn=cmd_worker)
    sub.add_parser(
        "jobs", help="run the scheduled jobs (expiry, reminders, tier reviews) once, for cron"
    ).set_defaults(fn=cmd_jobs)
    admin = sub.add_parser("create-admin", help="create an admin account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.set_defaults(fn=cmd_create_admin)
    sub.add_parser("seed-demo", help="a demo store, cashier and customer").set_defaults(
        fn=cmd_seed_demo
    )
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
        return int(args.fn(args))
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
