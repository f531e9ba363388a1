"""Phase B of the audience bench (bench/audience_bench.py): RFM over many
customers, their purchases loaded by generate_series and the recomputation
timed in a child process, with its peak memory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
from harness import BenchError, plain_dsn

ROOT = Path(__file__).resolve().parent.parent


async def phase_rfm(dsn: str, customers: int, purchases: int) -> tuple[float, float, int, float]:
    """`customers` buyers and `purchases` purchases each, written by
    generate_series (purchase's foreign-key triggers off while loading: only
    the purchase table is read), then the RFM recomputation timed in this
    process, and its peak memory."""
    conn = await asyncpg.connect(plain_dsn(dsn))
    try:
        t = time.perf_counter()
        store = await conn.fetchval("SELECT MIN(id) FROM store") or await conn.fetchval(
            "INSERT INTO store (name, latitude, longitude, timezone, created_at) "
            "VALUES ('RFM', 48.8, 2.3, 'Europe/Paris', now()) RETURNING id")
        first = await conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM customer")
        await conn.execute(
            "INSERT INTO customer (id, email, password_hash, first_name, locale, timezone, "
            "marketing_opt_in, push_opt_in, location_opt_in, created_at) "
            "SELECT $1 + g, 'r' || g || '@bench.test', 'x', 'R', 'en', 'UTC', false, true, "
            "false, now() FROM generate_series(1, $2) g", first, customers)
        await conn.execute("SELECT setval(pg_get_serial_sequence('customer', 'id'), "
                           "(SELECT MAX(id) FROM customer))")
        await conn.execute("ALTER TABLE purchase DISABLE TRIGGER ALL")
        chunk = 1_000_000
        total = customers * purchases
        for start in range(0, total, chunk):
            await conn.execute(
                "INSERT INTO purchase (store_id, receipt_id, customer_id, transaction_id, "
                "channel, total_minor, currency, refunded_minor, points_earned, "
                "points_refunded, occurred_at) "
                "SELECT $1, 'r' || g, $2 + 1 + (hashint8(g) & 2147483647) % $3, "
                "-g, 'STORE', 500 + (hashint8(g + 7) & 65535), 'EUR', 0, 5, 0, "
                "now() - ((hashint8(g + 13) & 2147483647) % 400) * interval '1 day' "
                "FROM generate_series($4::bigint + 1, $5::bigint) g",
                store, first, customers, start, min(total, start + chunk))
            print(f"  {min(total, start + chunk):,} purchases loaded", flush=True)
        await conn.execute("ALTER TABLE purchase ENABLE TRIGGER ALL")
        await conn.execute("ANALYZE purchase")
        loaded = time.perf_counter() - t
    finally:
        await conn.close()
    code = (
        "import asyncio, resource, time\n"
        "from loyalty.platform import db\n"
        "from audience.scores import recompute\n"
        "async def go():\n"
        f"    await db.init({dsn!r}, run_migrations=False)\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    t = time.perf_counter()\n"
        "    done = await recompute()\n"
        "    took = time.perf_counter() - t\n"
        "    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    print(took, done.scored, (after - before) / 1024)\n"
        "    await db.close()\n"
        "asyncio.run(go())\n"
    )
    env = dict(os.environ, DATABASE_URL=dsn)
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code], env=env,
                                  capture_output=True, text=True, cwd=str(ROOT), timeout=1800)
    if out.returncode != 0:
        raise BenchError(f"recompute failed: {out.stderr[-2000:]}")
    took, scored, grew = out.stdout.split()
    return float(took), loaded, int(scored), float(grew)
