#!/usr/bin/env python
"""recordPurchases (500 purchases a request) against recordPurchase (one a
request), purchases per second, on PostgreSQL, end to end, in the same run.

    python bench/batch_bench.py [--seconds 10] [--clients 16] [--workers 2] [--rounds 2]

Phases alternate in rounds (single, batch, single, batch, ...) so that drift
(tables growing) weighs on both. The ratio is the batch's purchases/s over
the single's. Target: >= 0.8. A batch's 500 purchases go one after the other
(a customer's purchases must post in order), so `--batch-clients` batches run
side by side to give the database as much to do as the single clients do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

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
from pos_replay import Counter  # noqa: E402
from pos_seed import Seed, seed  # noqa: E402

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_bench"
TARGET_RATIO = 0.8
BATCH = 500
SINGLE = """mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { transaction { id } errors { code } } }"""
MANY = """mutation($input: RecordPurchasesInput!) {
  recordPurchases(input: $input) { results { transaction { id } errors { code } }
                                    errors { code } } }"""


def purchase(s: Seed, key: str) -> dict[str, object]:
    customer = random.choice(s.customers)
    return {"idempotencyKey": key, "receiptId": "r" + key, "storeId": s.store_id,
            "card": {"cardNumber": customer.card_number},
            "total": {"amountMinor": 1234, "currency": "EUR"}}


async def phase(name: str, server: Server, s: Seed, clients: int, seconds: float,
                keys: Counter, batch: bool) -> PhaseResult:
    async def make(i: int) -> Callable[[], Awaitable[str | None]]:
        gql = GraphQL(make_http("raw", "127.0.0.1", server.port))

        async def one() -> str | None:
            status, body = await gql.raw(SINGLE, {"input": purchase(s, keys.next())},
                                         s.cashier_token)
            payload = (body.get("data") or {}).get("recordPurchase") or {}
            if status != 200 or payload.get("errors") != []:
                return f"HTTP {status}: {json.dumps(body)[:300]}"
            return None

        async def many() -> str | None:
            items = [purchase(s, keys.next()) for _ in range(BATCH)]
            status, body = await gql.raw(MANY, {"input": {"purchases": items}}, s.cashier_token)
            payload = (body.get("data") or {}).get("recordPurchases") or {}
            results = payload.get("results") or []
            if status != 200 or len(results) != BATCH or any(r["errors"] for r in results):
                return f"HTTP {status}: {json.dumps(body)[:300]}"
            return None

        op = many if batch else one
        op.close = gql.http.close  # type: ignore[attr-defined]
        return op

    print(f"phase {name} ...", flush=True)
    result = await run_closed_loop(name, clients, seconds, make,
                                   server.proc.pid if server.proc else None)
    if batch:
        result.ok *= BATCH  # purchases, not requests
    print(f"  {result.ok} purchases, {result.errors} errors, {result.rate:.0f} purchases/s",
          flush=True)
    for sample in result.error_samples:
        print("   ", sample)
    return result


async def amain(args: argparse.Namespace) -> int:
    dsn = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DSN)
    logdir = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    print(f"database {plain_dsn(dsn)} (fresh); logs in {logdir}", flush=True)
    await fresh_database(dsn)
    server = Server(dsn, args.workers, logdir)
    try:
        migrated = await asyncio.to_thread(server.cli, "migrate")
        if migrated.returncode:
            raise BenchError(migrated.stderr)
        server.start()
        await server.wait_healthy()
        s = await seed(server, args.customers, "raw")
        keys = Counter("b")
        singles, batches = [], []
        for r in range(args.rounds):
            singles.append(await phase(f"recordPurchase #{r + 1}", server, s, args.clients,
                                       args.seconds, keys, batch=False))
            batches.append(await phase(f"recordPurchases x{BATCH} #{r + 1}", server, s,
                                       args.batch_clients, args.seconds, keys, batch=True))
        single = sum(p.ok for p in singles) / sum(p.elapsed for p in singles)
        many = sum(p.ok for p in batches) / sum(p.elapsed for p in batches)
        ratio = many / single if single else 0.0
        errors = sum(p.errors for p in singles + batches)
        print(f"\nrecordPurchase: {single:.0f} purchases/s ({args.clients} clients); "
              f"recordPurchases: {many:.0f} purchases/s ({args.batch_clients} clients x "
              f"{BATCH}); ratio {ratio:.2f}, target >= {TARGET_RATIO}: "
              f"{'PASS' if ratio >= TARGET_RATIO else 'MISS'}; errors {errors}")
        verify = await asyncio.to_thread(server.cli, "ledger", "verify")
        print(f"ledger verify: {'clean' if verify.returncode == 0 else 'FAILED'}")
        return 1 if errors or verify.returncode else 0
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--customers", type=int, default=200)
    return asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
