#!/usr/bin/env python
"""recordPurchase with 50 active earn rules against the same with none, on
PostgreSQL, end to end, in one run.

    python bench/rules_bench.py [--seconds 10] [--clients 32] [--workers 2]

Phases A-B-A: no rules, then 50 rules (made through the admin API), then none
again (the 50 deactivated). The ratio is B over the mean of the two A phases,
so that drift over the run (tables growing, a noisy neighbour) is not
mistaken for the rules' cost. Target: at least 0.8.
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
from pos_seed import ADMIN_EMAIL, PASSWORD, STAFF_LOG_IN, Seed, seed  # noqa: E402

from wallet.qr import make_qr  # noqa: E402

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_bench"
TARGET_RATIO = 0.8
# loyalty/programme/earn_rules.py: other worker processes see a change within
RULES_TTL_SECONDS = 5.0

PURCHASE = """mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id points description }
    customer { availablePoints }
    errors { code field message } } }"""
CREATE = """mutation($input: CreateEarnRuleInput!) {
  createEarnRule(input: $input) { rule { id } errors { code field message } } }"""
DEACTIVATE = """mutation($input: DeactivateEarnRuleInput!) {
  deactivateEarnRule(input: $input) { rule { id active } errors { code field message } } }"""

# A receipt of three lines; some categories and SKUs match rules below.
LINES = [
    {"sku": "SKU-7", "category": "cat-3", "quantity": 2,
     "unitPrice": {"amountMinor": 350, "currency": "EUR"}},
    {"sku": "SKU-12", "category": "cat-11", "quantity": 1,
     "unitPrice": {"amountMinor": 899, "currency": "EUR"}},
    {"sku": "SKU-40", "category": "cat-19", "quantity": 3,
     "unitPrice": {"amountMinor": 145, "currency": "EUR"}},
]
TOTAL_MINOR = sum(x["quantity"] * x["unitPrice"]["amountMinor"] for x in LINES)


def fifty_rules(store_id: str) -> list[dict[str, Any]]:
    """A programme a marketer might run: channel base rates, multipliers by
    category, SKU, store, weekday and season, bonuses with minimum baskets,
    tier-only offers, once-only bonuses and caps."""
    rules: list[dict[str, Any]] = [
        {"kind": "BASE_RATE", "rate": "1", "conditions": {"channels": ["STORE"]}},
        {"kind": "BASE_RATE", "rate": "2", "conditions": {"channels": ["WEB", "APP"]}},
        {"kind": "FIRST_PURCHASE", "points": 50},
        {"kind": "BIRTHDAY", "points": 100},
        {"kind": "SURVEY", "points": 20},
        {"kind": "CAP", "points": 5000},
        {"kind": "CAP", "points": 2000, "conditions": {"channels": ["PHONE"]}},
    ]
    for i in range(20):
        rules.append({"kind": "MULTIPLIER", "rate": str(2 + i % 3),
                      "conditions": {"categories": [f"cat-{i}"]}})
    for i in range(8):
        rules.append({"kind": "MULTIPLIER", "rate": "1.5", "cap": 200,
                      "conditions": {"skus": [f"SKU-{i * 5}", f"SKU-{i * 5 + 2}"],
                                     "daysOfWeek": [1 + i % 7, 1 + (i + 3) % 7]}})
    for i in range(5):
        rules.append({"kind": "MULTIPLIER", "rate": "1.1",
                      "conditions": {"storeIds": [store_id], "startsOn": "2026-01-01",
                                     "endsOn": f"{2027 + i}-12-31"}})
    for i in range(6):
        rules.append({"kind": "BONUS", "points": 10 * (i + 1),
                      "conditions": {"minBasketMinor": 1000 * (i + 1)}})
    for i in range(4):
        rules.append({"kind": "MULTIPLIER", "rate": "3",
                      "conditions": {"tiers": [f"Tier-{i}"]}})
    assert len(rules) == 50, len(rules)
    for i, r in enumerate(rules):
        r.update(name=f"rule {i}", label=f"{r['kind'].lower()} {i}", priority=i % 4)
    return rules


async def post_purchase(gql: GraphQL, s: Seed, key: str) -> str | None:
    customer = random.choice(s.customers)
    status, body = await gql.raw(PURCHASE, {"input": {
        "idempotencyKey": key, "receiptId": "r" + key, "lines": LINES,
        "card": {"qrPayload": make_qr(customer.card_number, customer.qr_secret).payload},
        "storeId": s.store_id, "total": {"amountMinor": TOTAL_MINOR, "currency": "EUR"},
    }}, s.cashier_token)
    payload = (body.get("data") or {}).get("recordPurchase") or {}
    if (status != 200 or body.get("errors") or payload.get("errors") != []
            or not payload.get("transaction")):
        return f"HTTP {status}: {json.dumps(body)[:500]}"
    return None


async def phase(name: str, server: Server, s: Seed, args: argparse.Namespace,
                keys: Counter) -> PhaseResult:
    async def make(i: int) -> Callable[[], Awaitable[str | None]]:
        gql = GraphQL(make_http("raw", "127.0.0.1", server.port))

        async def op() -> str | None:
            return await post_purchase(gql, s, keys.next())

        op.close = gql.http.close  # type: ignore[attr-defined]
        return op

    print(f"phase {name} ...", flush=True)
    result = await run_closed_loop(name, args.clients, args.seconds, make,
                                   server.proc.pid if server.proc else None)
    print(f"  {result.ok} ok, {result.errors} errors, {result.rate:.0f}/s", flush=True)
    return result


async def admin_call(server: Server, query: str, inputs: list[dict[str, Any]]) -> list[str]:
    gql = GraphQL(make_http("raw", "127.0.0.1", server.port))
    try:
        token = (await gql.data(STAFF_LOG_IN, {"input": {
            "email": ADMIN_EMAIL, "password": PASSWORD}}))["staffLogIn"]["accessToken"]
        ids = []
        for item in inputs:
            data = await gql.data(query, {"input": item}, token)
            payload = next(iter(data.values()))
            if payload["errors"]:
                raise BenchError(f"{query.split('(')[0]}: {payload['errors']}")
            ids.append(payload["rule"]["id"])
        return ids
    finally:
        await gql.http.close()


async def sample_description(server: Server, s: Seed) -> str:
    gql = GraphQL(make_http("raw", "127.0.0.1", server.port))
    try:
        customer = s.customers[0]
        data = await gql.data(PURCHASE, {"input": {
            "idempotencyKey": f"sample-{time.time_ns()}", "receiptId": f"s{time.time_ns()}",
            "lines": LINES, "storeId": s.store_id,
            "card": {"qrPayload": make_qr(customer.card_number, customer.qr_secret).payload},
            "total": {"amountMinor": TOTAL_MINOR, "currency": "EUR"}}}, s.cashier_token)
        txn = data["recordPurchase"]["transaction"]
        return f"{txn['points']} points: {txn['description']}"
    finally:
        await gql.http.close()


def report(a1: PhaseResult, b: PhaseResult, a2: PhaseResult, args: argparse.Namespace) -> str:
    base = (a1.rate + a2.rate) / 2
    ratio = b.rate / base if base else 0.0
    lines = [
        f"rules bench: {args.seconds:g}s per phase, {args.clients} clients, "
        f"{args.workers} worker(s), {os.cpu_count()} CPUs, 3-line receipts",
        "",
        f"{'phase':<28}{'ok':>7}{'err':>5}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        "  CPU ms/req: server  postgres  client",
    ]
    for r in (a1, b, a2):
        lines.append(f"{r.name:<28}{r.ok:>7}{r.errors:>5}{r.rate:>8.0f}{r.p(0.50):>8.1f}"
                     f"{r.p(0.99):>8.1f}{r.cpu_ms('server'):>20.2f}"
                     f"{r.cpu_ms('postgres'):>10.2f}{r.cpu_ms('client'):>8.2f}")
    lines += [
        "",
        f"ratio 50 rules / no rules (mean of both): {ratio:.2f}   target >= {TARGET_RATIO}: "
        f"{'PASS' if ratio >= TARGET_RATIO else 'MISS'}",
    ]
    return "\n".join(lines)


async def amain(args: argparse.Namespace) -> int:
    dsn = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DSN)
    logdir = Path(tempfile.mkdtemp(prefix="rules-bench-"))
    print(f"database {plain_dsn(dsn)} (fresh); logs in {logdir}", flush=True)
    await fresh_database(dsn)
    server = Server(dsn, args.workers, logdir)
    status = 0
    try:
        server.start()
        await server.wait_healthy()
        s = await seed(server, args.customers, "raw")
        print(f"seeded {len(s.customers)} customers", flush=True)
        keys = Counter("rb")
        a1 = await phase("A  no rules", server, s, args, keys)
        ids = await admin_call(server, CREATE, fifty_rules(s.store_id))
        await asyncio.sleep(RULES_TTL_SECONDS + 1)  # every worker process has loaded them
        print(f"50 rules active; e.g. {await sample_description(server, s)}", flush=True)
        b = await phase("B  50 active rules", server, s, args, keys)
        await admin_call(server, DEACTIVATE, [{"id": i} for i in ids])
        await asyncio.sleep(RULES_TTL_SECONDS + 1)
        a2 = await phase("A' no rules again", server, s, args, keys)
        print()
        print(report(a1, b, a2, args))
        for r in (a1, b, a2):
            if r.errors:
                status = 1
                print(f"\n!!! {r.name}: {r.errors} errors, e.g. {r.error_samples[:3]}",
                      file=sys.stderr)
    finally:
        server.stop()
    verify = await asyncio.to_thread(server.cli, "ledger", "verify")
    print(f"loyalty ledger verify: {(verify.stdout + verify.stderr).strip()}")
    return status or verify.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=200)
    return asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
