"""`loyalty import customers|balances|transactions FILE.csv`: the command's
side (the report, the progress bar); the work is loyalty/imports/runs.py."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from pathlib import Path
from typing import TextIO

from loyalty.imports.runs import ImportResult, import_file


def _new_cards(count: int) -> list[tuple[str, str]]:
    from wallet.bulk import new_cards

    return new_cards(count)


class Bar:
    """A progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.drawn < 0.1 and done < total:
            return
        self.drawn = now
        width = 30
        filled = width * done // max(total, 1)
        rate = done / max(now - self.started, 1e-9)
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows "
              f"{rate:,.0f} rows/s", end="", file=self.stream, flush=True)
        if done >= total:
            print(file=self.stream)


def cmd_import(args: argparse.Namespace) -> int:
    from loyalty.platform import db
    from loyalty.platform.config import get_settings

    path = Path(args.file)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2

    async def go() -> ImportResult:
        await db.init(get_settings().database_url)
        try:
            return await import_file(args.kind, path, new_cards=_new_cards,
                                     progress=None if args.quiet else Bar(), chunk=args.chunk,
                                     lanes=args.lanes)
        finally:
            await db.close()

    started = time.monotonic()
    result = asyncio.run(go())
    seconds = time.monotonic() - started
    if result.already_done:
        print(f"{path}: already imported ({result.rows} rows); nothing to do")
        return 0
    if not result.ok:
        report = Path(args.report or f"{path}.rejected.csv")
        with report.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["line", "reason"])
            writer.writerows(result.rejected)
        print(f"{path}: {len(result.rejected)} of {result.rows} rows rejected, nothing "
              f"imported; see {report}", file=sys.stderr)
        for line, reason in result.rejected[:10]:
            print(f"  line {line}: {reason}", file=sys.stderr)
        return 1
    print(f"{path}: {result.rows} rows, {result.created} imported, {result.skipped} already "
          f"there{' (resumed)' if result.resumed else ''}, in {seconds:.1f} s "
          f"({result.rows / max(seconds, 1e-9):,.0f} rows/s)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "import", help="import customers, opening balances or past transactions from CSV "
        "(columns: loyalty/imports/csv_rows.py, README)")
    cmd.add_argument("kind", choices=["customers", "balances", "transactions"],
                     help="what the file holds (its columns: README, Bulk import)")
    cmd.add_argument("file", help="the CSV file (UTF-8, a header line)")
    cmd.add_argument("--report", help="where rejected lines go (default FILE.rejected.csv)")
    cmd.add_argument("--chunk", type=int, default=10_000, help="rows per transaction")
    cmd.add_argument("--lanes", type=int, default=1,
                     help="PostgreSQL: chunks of new customers posted side by side")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    cmd.set_defaults(fn=cmd_import)
