#!/usr/bin/env python
"""`loyalty import customers` of N customers with opening balances, on
PostgreSQL, as the command runs it (a separate process), then `loyalty ledger
verify`.

    python bench/import_bench.py [--rows 1000000] [--chunk 10000]

Target: >= 10,000 rows/s with memory flat (the file is streamed: the peak RSS
printed should not grow with --rows). BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/loyalty_bench_import) is dropped and
re-created. The CSV is written to a temporary folder first (about 90 bytes a
row) and not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import SECRET_KEY, fresh_database  # noqa: E402

HEADER = "email,first_name,locale,timezone,external_id,marketing_opt_in,points,points_expire_at\n"


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w") as f:
        f.write(HEADER)
        for i in range(rows):
            f.write(f"customer{i}@old.example,Name{i % 977},fr-FR,Europe/Paris,OLD-{i},"
                    f"{i % 2},{rng.randint(1, 5000)},2030-12-31\n")


def loyalty(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float,
                                                        int]:
    """The command's result, wall seconds and its peak RSS in KiB (GNU time's %M
    is not everywhere: the child's rusage is read instead)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=3600)
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if args and args[0] == "import":
        print(f"  (the import process used {usage.ru_utime + usage.ru_stime - cpu:.1f} s of CPU)")
    return result, seconds, max(usage.ru_maxrss, before)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--lanes", type=int, default=1)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL",
                         "postgres://postgres@127.0.0.1:5432/loyalty_bench_import")
    asyncio.run(fresh_database(url))
    env = {**os.environ, "DATABASE_URL": url, "LOYALTY_SECRET_KEY": SECRET_KEY,
           "LOYALTY_ENV": "prod"}
    migrated, _, _ = loyalty("migrate", env=env)
    if migrated.returncode:
        print(migrated.stderr, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.csv"
        started = time.monotonic()
        write_csv(path, args.rows)
        print(f"wrote {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.monotonic() - started:.1f} s")
        result, seconds, peak = loyalty("import", "customers", str(path), "--quiet",
                                        "--chunk", str(args.chunk), "--lanes", str(args.lanes),
                                        env=env)
        print(result.stdout.strip() or result.stderr.strip())
        if result.returncode:
            print(result.stderr, file=sys.stderr)
            return 1
        rate = args.rows / seconds
        print(f"import: {args.rows:,} customers with opening balances in {seconds:.1f} s = "
              f"{rate:,.0f} rows/s (target >= 10,000: {'OK' if rate >= 10_000 else 'MISS'}); "
              f"peak RSS of the import process {peak / 1024:.0f} MiB")
        again, seconds_again, _ = loyalty("import", "customers", str(path), "--quiet", env=env)
        print(f"same file again: {again.stdout.strip()} ({seconds_again:.1f} s)")
    verify, seconds, _ = loyalty("ledger", "verify", env=env)
    print(f"ledger verify: {'clean' if verify.returncode == 0 else 'FAILED'} ({seconds:.1f} s)")
    if verify.returncode:
        print(verify.stdout, verify.stderr, file=sys.stderr)
    return verify.returncode


if __name__ == "__main__":
    sys.exit(main())
