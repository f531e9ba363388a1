#!/usr/bin/env python
"""What the audit line of an API client's call costs (api/client_audit.py).

    python bench/client_audit_bench.py [--dsn postgres://...] [--calls 2000]

Two figures, on one PostgreSQL database made fresh (its name is the DSN's):

1. the insert alone (loyalty.identity.audit.record_client_calls): one line per
   statement (what writing each call's line at once would cost), and
   batches of 100 (what api/client_audit.py's flush writes);
2. recordPurchase with an API key through the ASGI app in this process
   (httpx's ASGI transport: no network, no uvicorn), one call at a time,
   with the audit middleware noting its line and with it skipped,
   alternating in rounds so that the database's warm-up and the machine's
   other load fall on both alike.

It prints microseconds per call and the audit's share of a purchase.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from harness import fresh_database  # noqa: E402
from tortoise import connections  # noqa: E402

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_remainders_bench"
PURCHASE = """mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { transaction { points } errors { code } } }"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()

    from api import client_audit
    from api.app import create_app
    from loyalty.identity import accounts as identity
    from loyalty.identity import api_clients, audit
    from loyalty.identity.tokens import Principal
    from loyalty.platform import db
    from loyalty.platform.config import get_settings, set_settings
    from loyalty.programme import stores
    from wallet.cards import issue_card
    from wallet.models import Card

    await fresh_database(args.dsn)
    set_settings(dataclasses.replace(get_settings(), database_url=args.dsn))
    await db.init(args.dsn)
    conn = connections.get("default")
    store = await stores.create_store("Web", 48.87, 2.33, "Europe/Paris")
    admin = Principal("staff", 0, role="ADMIN")
    _, secret = await api_clients.create_api_client(admin, "bench", ["PURCHASES"], [store.id])
    await identity.sign_up(email="b@example.test", password="bench-password-1",
                           first_name="B", issue_card=issue_card)
    card = (await Card.get(customer__email="b@example.test")).number

    # 1. The insert alone.
    def line(i: int) -> audit.ClientCall:
        return audit.ClientCall(1, "recordPurchase", "ok", 200, f"r{i}", datetime.now(UTC))

    started = time.perf_counter()
    for i in range(args.calls):
        await audit.record_client_calls([line(i)])
    single_us = (time.perf_counter() - started) / args.calls * 1e6
    started = time.perf_counter()
    for i in range(0, args.calls, 100):
        await audit.record_client_calls([line(i + j) for j in range(100)])
    batched_us = (time.perf_counter() - started) / args.calls * 1e6

    # 2. recordPurchase with and without the line.
    app = create_app(manage_db=False)
    original = client_audit.note

    def skipped(*_: object) -> None:
        return None

    timings: dict[str, list[float]] = {"with": [], "without": []}
    per_round = max(1, args.calls // args.rounds)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://bench") as http:
        headers = {"authorization": f"Bearer {secret}"}

        async def buy() -> None:
            receipt = uuid.uuid4().hex[:16]
            response = await http.post("/graphql", headers=headers, json={
                "query": PURCHASE, "variables": {"input": {
                    "idempotencyKey": receipt, "card": {"cardNumber": card},
                    "storeId": str(store.id), "receiptId": receipt, "channel": "WEB",
                    "total": {"amountMinor": 1234, "currency": "EUR"}}}})
            body = response.json()
            assert body["data"]["recordPurchase"]["errors"] == [], body

        for _ in range(50):  # warm-up: caches, prepared statements
            await buy()
        for round_ in range(args.rounds * 2):
            mode = "without" if round_ % 2 == 0 else "with"
            client_audit.note = original if mode == "with" else skipped  # type: ignore
            started = time.perf_counter()
            for _ in range(per_round):
                await buy()
            timings[mode].append((time.perf_counter() - started) / per_round * 1e6)
    client_audit.note = original  # type: ignore[assignment]
    await client_audit.flush()
    lines = (await conn.execute_query(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'api.call'"))[1][0][0]
    await db.close()

    with_us = statistics.median(timings["with"])
    without_us = statistics.median(timings["without"])
    print(f"audit insert, a line each:     {single_us:8.1f} µs per line "
          f"({args.calls} one after another)")
    print(f"audit insert, 100 a statement: {batched_us:8.1f} µs per line")
    print(f"recordPurchase with the line:  {with_us:8.1f} µs per call (median of "
          f"{args.rounds} rounds of {per_round})")
    print(f"recordPurchase without it:     {without_us:8.1f} µs per call")
    print(f"the line's cost on a purchase: {with_us - without_us:8.1f} µs "
          f"({(with_us - without_us) / without_us * 100:+.1f} %)")
    print(f"audit lines written: {lines}")


if __name__ == "__main__":
    asyncio.run(main())
