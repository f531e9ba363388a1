"""The `loyalty` command line."""

from __future__ import annotations

import argparse
import os
import sys

from api.cli_config import cmd_config, validate
from api.cli_run import _run, _with_db
from api.cli_serve import add_parser as add_serve
from api.cli_worker import add_parser as add_worker
from loyalty.platform import db
from loyalty.platform.config import ConfigError, get_settings


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
    add_serve(sub)
    sub.add_parser("migrate", help="apply migrations").set_defaults(fn=cmd_migrate)
    sub.add_parser(
        "schema", help="print the GraphQL schema (SDL) that this version serves"
    ).set_defaults(fn=cmd_schema)
    config = sub.add_parser(
        "config", help="print the effective configuration (secrets masked) and exit")
    config.add_argument("--markdown", action="store_true",
                        help="print the table of variables as the README has it instead")
    config.set_defaults(fn=cmd_config)
    add_worker(sub)
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
