#!/usr/bin/env python
"""POS throughput bench on PostgreSQL: GraphQL recordPurchase vs a raw asyncpg
replay of the same SQL, and the customer home-screen query.

    python bench/pos_bench.py [--seconds 10] [--clients 32] [--workers 2]

See bench/README.md for what each phase measures and how to read the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cpu import Profiler  # noqa: E402
from harness import (  # noqa: E402
    BenchError,
    GraphQL,
    PhaseResult,
    Server,
    fresh_database,
    make_http,
    plain_dsn,
    run_closed_loop,
)
from pos_replay import (  # noqa: E402
    TOTAL_MINOR,
    Counter,
    capture_statements,
    phase_raw,
)
from pos_seed import CustomerInfo, Seed, seed  # noqa: E402

from wallet.qr import make_qr  # noqa: E402

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_bench"
TARGET_RATIO = 0.5
TARGET_PURCHASES = 800.0
TARGET_P99_MS = 100.0
TARGET_HOME = 1500.0

RECORD_PURCHASE = """mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id points }
    customer { availablePoints }
    errors { code field message } } }"""
# A card number with a bad check digit is refused before any database access:
# the whole HTTP + auth + GraphQL path with no SQL, as a floor for comparison.
FLOOR = """query($store: ID!) { cardLookup(card: {cardNumber: "123"}, storeId: $store) {
  customer { firstName } errors { code } } }"""
HOME = (
    "query { me { firstName card { number qr { payload expiresAt } } "
    "points { available pending lifetimeEarned nextExpiry { points expiresAt } } "
    "tier { name pointsToNextTier nextTier } "
    "history(first: 20) { edges { cursor node { id occurredAt kind points balanceAfter "
    "channel storeName description } } pageInfo { hasNextPage endCursor } } } }"
)


# --------------------------------------------------------------------------- phase A / C


async def post_purchase(gql: GraphQL, s: Seed, customer: CustomerInfo,
                        key: str) -> str | None:
    """One recordPurchase; None on success, else what went wrong."""
    status, body = await gql.raw(RECORD_PURCHASE, {"input": {
        "idempotencyKey": key, "receiptId": "r" + key,
        "card": {"qrPayload": make_qr(customer.card_number, customer.qr_secret).payload},
        "storeId": s.store_id, "total": {"amountMinor": TOTAL_MINOR, "currency": "EUR"},
    }}, s.cashier_token)
    payload = (body.get("data") or {}).get("recordPurchase") or {}
    if (status != 200 or body.get("errors") or payload.get("errors") != []
            or not payload.get("transaction")):
        return f"HTTP {status}: {json.dumps(body)[:500]}"
    return None


async def phase_graphql(server: Server, s: Seed, args: argparse.Namespace) -> PhaseResult:
    keys = Counter("gql")

    async def make(i: int) -> Callable[[], Awaitable[str | None]]:
        gql = GraphQL(make_http(args.client, "127.0.0.1", server.port))

        async def op() -> str | None:
            return await post_purchase(gql, s, random.choice(s.customers), keys.next())

        op.close = gql.http.close  # type: ignore[attr-defined]
        return op

    return await run_closed_loop("GraphQL recordPurchase", args.clients, args.seconds, make,
                                 server.proc.pid if server.proc else None)


async def history_counts(dsn: str, ids: list[int]) -> dict[int, int]:
    conn = await asyncpg.connect(plain_dsn(dsn))
    try:
        rows = await conn.fetch(
            "SELECT a.customer_id, COUNT(e.id) FROM account a LEFT JOIN ledger_entry e "
            "ON e.account_id = a.id WHERE a.customer_id = ANY($1::bigint[]) "
            "GROUP BY a.customer_id", ids)
    finally:
        await conn.close()
    return {r[0]: r[1] for r in rows}


async def top_up_history(server: Server, s: Seed, dsn: str, home: list[CustomerInfo],
                         args: argparse.Namespace, need: int = 21) -> int:
    """Make sure every home-screen customer has >= `need` history entries (21 so
    that hasNextPage is true too), posting purchases through GraphQL."""
    counts = await history_counts(dsn, [c.id for c in home])
    todo: list[CustomerInfo] = []
    for c in home:
        todo += [c] * max(0, need - counts.get(c.id, 0))
    if not todo:
        return 0
    keys = Counter("topup")
    failures: list[str] = []

    async def worker() -> None:
        gql = GraphQL(make_http(args.client, "127.0.0.1", server.port))
        try:
            while todo and not failures:
                problem = await post_purchase(gql, s, todo.pop(), keys.next())
                if problem:
                    failures.append(problem)
        finally:
            await gql.http.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(min(args.clients, 16)))),
                           300)
    if failures:
        raise BenchError(f"top-up purchase failed: {failures[0]}")
    counts = await history_counts(dsn, [c.id for c in home])
    short = [c.id for c in home if counts.get(c.id, 0) < need]
    if short:
        raise BenchError(f"customers still below {need} entries: {short[:5]}")
    return len(todo)


async def phase_home(server: Server, home: list[CustomerInfo],
                     args: argparse.Namespace) -> PhaseResult:
    async def make(i: int) -> Callable[[], Awaitable[str | None]]:
        gql = GraphQL(make_http(args.client, "127.0.0.1", server.port))

        async def op() -> str | None:
            customer = random.choice(home)
            status, body = await gql.raw(HOME, None, customer.token)
            me = (body.get("data") or {}).get("me") or {}
            edges = (me.get("history") or {}).get("edges") or []
            if status != 200 or body.get("errors") or len(edges) != 20:
                return f"HTTP {status}, {len(edges)} edges: {json.dumps(body)[:400]}"
            return None

        op.close = gql.http.close  # type: ignore[attr-defined]
        return op

    return await run_closed_loop("home-screen query", args.clients, args.seconds, make,
                                 server.proc.pid if server.proc else None)


async def phase_floor(server: Server, s: Seed, args: argparse.Namespace) -> PhaseResult:
    async def make(i: int) -> Callable[[], Awaitable[str | None]]:
        gql = GraphQL(make_http(args.client, "127.0.0.1", server.port))

        async def op() -> str | None:
            status, body = await gql.raw(FLOOR, {"store": s.store_id}, s.cashier_token)
            payload = (body.get("data") or {}).get("cardLookup") or {}
            if status != 200 or body.get("errors") or payload.get("errors") != [
                {"code": "CARD_NOT_FOUND"}
            ]:
                return f"HTTP {status}: {json.dumps(body)[:400]}"
            return None

        op.close = gql.http.close  # type: ignore[attr-defined]
        return op

    return await run_closed_loop("GraphQL floor (no SQL)", args.clients, args.floor_seconds,
                                 make, server.proc.pid if server.proc else None)


# --------------------------------------------------------------------------- report


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(a: PhaseResult, b: PhaseResult, c: PhaseResult, floor: PhaseResult | None,
           args: argparse.Namespace) -> str:
    ratio = a.rate / b.rate if b.rate else 0.0
    lines = [
        f"POS bench: {args.seconds:g}s per phase, {args.clients} clients, "
        f"{args.workers} worker(s), client={args.client}, {os.cpu_count()} CPUs",
        "",
        f"{'phase':<26}{'ok':>7}{'err':>5}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        "  | CPU ms/req: client  server(sys)  postgres",
    ]
    rows = [(a, "GraphQL recordPurchase"), (b, "raw SQL replay"), (c, "home-screen query")]
    if floor is not None:
        rows.append((floor, "GraphQL floor (no SQL)"))
    for r, label in rows:
        server = (f"{r.cpu_ms('server'):6.2f}({r.cpu_ms('server_sys'):4.2f})"
                  if r is not b else f"{'-':>12}")
        lines.append(
            f"{label:<26}{r.ok:>7}{r.errors:>5}{r.rate:>8.0f}{r.p(0.50):>8.1f}{r.p(0.99):>8.1f}"
            f"  | {r.cpu_ms('client'):>18.2f}  {server}  {r.cpu_ms('postgres'):>8.2f}")
    lines += [
        f"ratio GraphQL/raw purchases/s: {ratio:.2f}",
        "",
        f"{'target':<36}{'measured':>10}  result",
        f"{'GraphQL >= 0.5 x raw':<36}{ratio:>10.2f}  {mark(ratio >= TARGET_RATIO)}",
        f"{'GraphQL >= 800 purchases/s':<36}{a.rate:>10.0f}  {mark(a.rate >= TARGET_PURCHASES)}",
        f"{'GraphQL purchase p99 < 100 ms':<36}{a.p(0.99):>10.1f}  "
        f"{mark(a.p(0.99) < TARGET_P99_MS)}",
        f"{'home-screen >= 1500 req/s':<36}{c.rate:>10.0f}  {mark(c.rate >= TARGET_HOME)}",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


async def amain(args: argparse.Namespace) -> int:
    dsn = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DSN)
    logdir = Path(tempfile.mkdtemp(prefix="pos-bench-"))
    status = 0
    print(f"database {plain_dsn(dsn)} (fresh); logs in {logdir}", flush=True)
    await fresh_database(dsn)
    server = Server(dsn, args.workers, logdir)
    try:
        server.start()
        await server.wait_healthy()
        print(f"server up on port {server.port}, worker pids {server.worker_pids()}",
              flush=True)
        t = time.perf_counter()
        s = await seed(server, args.customers, args.client)
        print(f"seeded admin, store {s.store_id}, cashier, {len(s.customers)} customers "
              f"in {time.perf_counter() - t:.1f}s", flush=True)
        statements = await capture_statements(dsn, s)
        if args.show_sql:
            for c in statements:
                print(f"  [{c.role}] {'fetch' if c.fetch else 'execute'}: {c.sql}")

        if args.pause_before:
            print(f"pausing {args.pause_before}s (attach a profiler to "
                  f"{server.worker_pids()})", flush=True)
            await asyncio.sleep(args.pause_before)
        profiler = Profiler(args.py_spy, logdir, server, args.seconds)
        print("phase A: GraphQL recordPurchase ...", flush=True)
        profiler.start("purchase")
        try:
            a = await phase_graphql(server, s, args)
        finally:
            await asyncio.to_thread(profiler.stop)
        print(f"  {a.ok} ok, {a.errors} errors, {a.rate:.0f}/s", flush=True)
        print("phase B: raw SQL replay ...", flush=True)
        b = await phase_raw(dsn, s, statements, args, server.proc.pid if server.proc else None)
        print(f"  {b.ok} ok, {b.errors} errors, {b.rate:.0f}/s", flush=True)
        home = s.customers[: max(1, min(len(s.customers), args.home_customers))]
        added = await top_up_history(server, s, dsn, home, args)
        print(f"phase C: home-screen query for {len(home)} customers "
              f"({added} top-up purchases to reach >= 21 entries) ...", flush=True)
        profiler.start("home")
        try:
            c = await phase_home(server, home, args)
        finally:
            await asyncio.to_thread(profiler.stop)
        print(f"  {c.ok} ok, {c.errors} errors, {c.rate:.0f}/s", flush=True)

        floor = None
        if args.floor_seconds > 0:
            print("phase D: GraphQL floor (cardLookup refused before any SQL) ...", flush=True)
            floor = await phase_floor(server, s, args)
            print(f"  {floor.ok} ok, {floor.errors} errors, {floor.rate:.0f}/s", flush=True)
        if args.py_spy:
            print(f"py-spy profiles: {logdir}/purchase-*.txt, {logdir}/home-*.txt")
        print()
        print(report(a, b, c, floor, args))
        for r in (a, b, c, floor):
            if r is not None and r.errors:
                status = 1
                print(f"\n!!! {r.name}: {r.errors} ERRORS, e.g.:", file=sys.stderr)
                for sample in r.error_samples:
                    print(f"    {sample}", file=sys.stderr)
    finally:
        server.stop()
        print(f"\nserver stopped (exit code {server.proc.returncode if server.proc else None})")
    verify = await asyncio.to_thread(server.cli, "ledger", "verify")
    print(f"loyalty ledger verify: {(verify.stdout + verify.stderr).strip()}")
    if verify.returncode != 0:
        status = 1
    if status:
        print("\nBENCH FAILED (errors above)", file=sys.stderr)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--home-customers", type=int, default=50,
                        help="customers the home-screen phase queries (topped up to 21+)")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="HTTP client: raw asyncio streams (default) or httpx")
    parser.add_argument("--show-sql", action="store_true",
                        help="print the captured recordPurchase statements")
    parser.add_argument("--pause-before", type=float, default=0,
                        help="seconds to wait before phase A (to attach a profiler)")
    parser.add_argument(
        "--floor-seconds", type=float, default=5,
        help="length of phase D, the no-SQL GraphQL floor (0 to skip)",
    )
    parser.add_argument(
        "--py-spy", metavar="PATH", default=None,
        help="py-spy executable: profile the server workers during phases A and C",
    )
    args = parser.parse_args()
    try:
        import uvloop

        runner: Callable[[Any], int] = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        return runner(amain(args))
    except BenchError as e:
        print(f"\nBENCH FAILED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
