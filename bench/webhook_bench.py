#!/usr/bin/env python
"""Webhook fan-out and delivery on PostgreSQL: N outbox events (over M
customers) to one webhook, delivered by the worker's passes to a receiver on
127.0.0.1 (its own process), signed, in order per customer.

    python bench/webhook_bench.py [--events 20000] [--customers 2000] [--webhooks 1]

Target: >= 1,000 deliveries/s, from the first fan-out to the last delivery
recorded. BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
loyalty_bench_webhooks) is dropped and re-created.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import free_port, fresh_database  # noqa: E402

RECEIVER = r"""
import asyncio, sys
count = 0
async def handle(reader, writer):
    global count
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            count += 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=512)
    print("ready", flush=True)
    async with server:
        await asyncio.sleep(float(sys.argv[2]))
asyncio.run(main())
"""


async def amain(args: argparse.Namespace, port: int) -> int:
    url = os.environ.get("BENCH_DATABASE_URL",
                         "postgres://postgres@127.0.0.1:5432/loyalty_bench_webhooks")
    await fresh_database(url)
    from loyalty.identity.tokens import Principal
    from loyalty.platform import db
    from loyalty.platform.config import Settings, set_settings
    from notifications.webhooks import admin
    from notifications.webhooks.delivery import run_until

    settings = Settings(database_url=url, webhook_allow_http=True, env="test")
    set_settings(settings)
    await db.init(url)
    try:
        from tortoise import connections

        conn = connections.get("default")
        for i in range(args.webhooks):
            await admin.create_webhook(Principal("staff", 1, "ADMIN"),
                                       f"http://127.0.0.1:{port}/hook/{i}", ["*"])
        # Customers, then events (as postings would write them), in one go.
        await conn.execute_query(
            "INSERT INTO customer (email, password_hash, first_name, locale, timezone, "
            "marketing_opt_in, push_opt_in, location_opt_in, created_at) SELECT "
            "'c' || g || '@bench.test', '!', 'C', 'en', 'UTC', false, true, false, now() "
            "FROM generate_series(1, $1) g", [args.customers])
        now = datetime.now(UTC)
        await conn.execute_query(
            "INSERT INTO outbox_event (kind, customer_id, payload, created_at, attempts, "
            "processed_at) SELECT 'points.earned', c.id, $1, $2, 0, $2 FROM "
            "generate_series(1, $3) g JOIN customer c ON c.id = (SELECT min(id) FROM customer) "
            "+ (g % $4)", [json.dumps({"points": 12, "balance": 100, "store_id": None}), now,
                           args.events, args.customers])
        expected = args.events * args.webhooks
        started = time.monotonic()
        stop = asyncio.Event()
        worker = asyncio.create_task(run_until(stop, settings, passes=args.passes,
                                               limit=args.batch, idle_seconds=0.05))
        delivered = 0
        while delivered < expected and time.monotonic() - started < 600:
            await asyncio.sleep(0.2)
            delivered = (await conn.execute_query(
                "SELECT count(*) FROM webhook_delivery WHERE status = 'delivered'"))[1][0][0]
        stop.set()
        await worker
        seconds = time.monotonic() - started
        failed = (await conn.execute_query(
            "SELECT count(*) FROM webhook_delivery WHERE status <> 'delivered'"))[1][0][0]
        retried = (await conn.execute_query(
            "SELECT count(*) FROM webhook_delivery WHERE attempts > 1"))[1][0][0]
        print(f"deliveries that needed more than one attempt: {retried}")
        rate = delivered / seconds
        print(f"webhooks: {delivered:,} deliveries ({args.events:,} events of "
              f"{args.customers:,} customers x {args.webhooks} webhook(s)) in {seconds:.1f} s = "
              f"{rate:,.0f} deliveries/s (target >= 1,000: {'OK' if rate >= 1000 else 'MISS'}); "
              f"not delivered: {failed}")
        return 0 if failed == 0 else 1
    finally:
        await db.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--webhooks", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500, help="deliveries claimed per pass")
    parser.add_argument("--passes", type=int, default=2, help="delivery loops side by side")
    args = parser.parse_args()
    port = free_port()
    # The receiver in its own process: the other core, as a real peer would be.
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port), "900"],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        return asyncio.run(amain(args, port))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
