"""Phases A, D and C of the audience bench (bench/audience_bench.py), against
its running server: trackEvents in a closed loop beside raw COPY of the same
rows, the staff 360 view of a customer with 10,000 events, and segment
membership latency under background events with a `loyalty worker`."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from harness import (
    BenchError,
    GraphQL,
    PhaseResult,
    Server,
    make_http,
    plain_dsn,
    run_closed_loop,
)

from api.fast_track import TRACK_DOCUMENT
from audience.partitions import month_of, partition_ddl

BACKGROUND_RATE = 2000.0

# The persisted document the app and the web shop send (api/fast_track.py).
TRACK = TRACK_DOCUMENT
CREATE_SEGMENT = """mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id } errors { code field } } }"""
PROFILE = """query($id: ID!) { customer(id: $id) {
  id firstName email cardNumber points { available pending lifetimeEarned }
  tier { name nextTier pointsToNextTier } channels preferredChannel
  rfm { recency frequency monetary segment computedAt } engagement segments { id name }
  lifetimeValue { currency historicalMarginMinor acquisitionCostMinor retentionCostMinor
                  predicted12MonthsMinor }
  acquisition { source medium campaign }
  history(first: 20) { edges { node { kind points occurredAt } } }
  events(first: 20) { edges { cursor node { name channel occurredAt properties } } }
  messages(first: 20) { edges { node { channel title status sentAt openedAt } } }
  journeys { id } } }"""


def _props(rng: random.Random) -> dict[str, Any]:
    return {"sku": f"SKU-{rng.randrange(5000)}", "category": rng.choice(("coffee", "home")),
            "priceMinor": rng.randrange(100, 5000), "currency": "EUR"}


def _batch(rng: random.Random, size: int, name: str = "product_viewed",
           customer_ids: list[int] | None = None) -> bytes:
    now = datetime.now(UTC).isoformat()
    events = []
    for i in range(size):
        event: dict[str, Any] = {"messageId": uuid.uuid4().hex, "name": name, "channel": "WEB",
                                 "occurredAt": now, "properties": _props(rng)}
        if customer_ids is not None:
            event["customerId"] = str(customer_ids[i % len(customer_ids)])
        events.append(event)
    return json.dumps({"query": TRACK, "variables": {"input": {"events": events}}}).encode()


def _accepted(status: int, data: bytes, size: int) -> str | None:
    if status != 200:
        return f"HTTP {status}: {data[:200]!r}"
    body = json.loads(data)
    if body.get("errors"):
        return json.dumps(body["errors"])[:300]
    payload = body["data"]["trackEvents"]
    if payload["accepted"] != size or payload["errors"]:
        return json.dumps(payload)[:300]
    return None


# --------------------------------------------------------------------------- phase A


async def phase_track(server: Server, app: list[tuple[int, str]],
                      args: argparse.Namespace) -> PhaseResult:
    """Closed loop: each client is one customer's app sending batches of 100."""
    async def make(i: int) -> Any:
        http = make_http("raw", "127.0.0.1", server.port)
        rng = random.Random(i)
        token = app[i % args.clients][1]
        # Bodies are made ahead, so that the client's JSON work stays out of the
        # measured loop (two cores are shared with the server and PostgreSQL).
        bodies = [_batch(rng, args.batch) for _ in range(64)]
        turn = 0

        async def op() -> str | None:
            nonlocal turn
            body = bodies[turn % len(bodies)]
            if turn >= len(bodies):  # fresh message ids once the made ones are spent
                body = _batch(rng, args.batch)
            turn += 1
            status, data = await http.post(body, token)
            return _accepted(status, data, args.batch)

        op.close = http.close  # type: ignore[attr-defined]
        return op

    pid = server.proc.pid if server.proc else None
    return await run_closed_loop("trackEvents", args.clients, args.seconds, make, pid)


async def phase_copy(dsn: str, rows: int, customer_ids: list[int], clients: int) -> float:
    """The same rows (event_message and customer_event) through raw COPY,
    `clients` connections side by side: rows per second."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    per = rows // clients
    batches = []
    for c in range(clients):
        events, messages = [], []
        for i in range(per):
            mid = uuid.uuid4().hex
            messages.append((mid, now))
            events.append((mid, customer_ids[(c + i) % len(customer_ids)], None,
                           "product_viewed", "WEB", now, now, json.dumps(_props(rng))))
        batches.append((events, messages))
    pool = await asyncpg.create_pool(plain_dsn(dsn), min_size=clients, max_size=clients)

    async def copy(events: list[Any], messages: list[Any]) -> None:
        async with pool.acquire() as conn:
            for start in range(0, len(events), 100):
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "event_message", records=messages[start:start + 100],
                        columns=["message_id", "received_at"])
                    await conn.copy_records_to_table(
                        "customer_event", records=events[start:start + 100],
                        columns=["message_id", "customer_id", "anonymous_id", "name", "channel",
                                 "occurred_at", "received_at", "properties"])

    t = time.perf_counter()
    try:
        await asyncio.gather(*(copy(e, m) for e, m in batches))
    finally:
        await pool.close()
    return per * clients / (time.perf_counter() - t)


# --------------------------------------------------------------------------- phase D


async def phase_profile(server: Server, dsn: str, admin: str, customer_id: int,
                        args: argparse.Namespace, load: bool) -> PhaseResult:
    """10,000 events on one customer (COPY, once), then its 360 view in a
    closed loop."""
    conn = await asyncpg.connect(plain_dsn(dsn))
    try:
        if not load:
            return await _profile_loop(server, admin, customer_id, args)
        rng = random.Random(3)
        now = datetime.now(UTC)
        # Mostly browsing, a few opens of messages, as an app's customer sends.
        names = ("product_viewed",) * 70 + ("page_viewed",) * 25 + ("cart_updated",) * 3 + (
            "push_opened", "email_opened")
        rows = [(f"p-{i}", customer_id, None, rng.choice(names),
                 rng.choice(("WEB", "APP")), now - timedelta(seconds=i), now,
                 json.dumps(_props(rng))) for i in range(10_000)]
        for moment in (now, now - timedelta(seconds=10_000)):
            await conn.execute(partition_ddl(*month_of(moment)))
        await conn.copy_records_to_table(
            "customer_event", records=rows,
            columns=["message_id", "customer_id", "anonymous_id", "name", "channel",
                     "occurred_at", "received_at", "properties"])
        count = await conn.fetchval("SELECT COUNT(*) FROM customer_event WHERE customer_id = $1",
                                    customer_id)
    finally:
        await conn.close()
    print(f"  customer {customer_id} has {count} events", flush=True)
    return await _profile_loop(server, admin, customer_id, args)


async def _profile_loop(server: Server, admin: str, customer_id: int,
                        args: argparse.Namespace) -> PhaseResult:
    body = json.dumps({"query": PROFILE, "variables": {"id": str(customer_id)}}).encode()

    async def make(i: int) -> Any:
        http = make_http("raw", "127.0.0.1", server.port)

        async def op() -> str | None:
            status, data = await http.post(body, admin)
            if status != 200 or b'"errors"' in data:
                return f"HTTP {status}: {data[:300]!r}"
            return None

        op.close = http.close  # type: ignore[attr-defined]
        return op

    pid = server.proc.pid if server.proc else None
    return await run_closed_loop("customer(id)", args.clients_now, args.seconds, make, pid)


# --------------------------------------------------------------------------- phase C


def _start_worker(server: Server, logdir: Path) -> subprocess.Popen[bytes]:
    """`loyalty worker` on the bench database (its own session, stopped after)."""
    with open(logdir / "worker.log", "wb") as log:
        return subprocess.Popen([server.loyalty, "worker"], env=server.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


async def phase_segment(server: Server, dsn: str, admin: str, logdir: Path,
                        args: argparse.Namespace) -> list[float]:
    """A `loyalty worker` keeps segments current while admin-sent batches of
    100 events for 100 different customers arrive at BACKGROUND_RATE per
    second; a probe event for a fresh customer every 250 ms, and the time
    until that customer is a member of the probe's segment."""
    conn = await asyncpg.connect(plain_dsn(dsn))
    try:
        await conn.execute(
            "INSERT INTO customer (email, password_hash, first_name, locale, timezone, "
            "marketing_opt_in, push_opt_in, location_opt_in, created_at) "
            "SELECT 'bg' || g || '@bench.test', 'x', 'Bg', 'en', 'UTC', g % 2 = 0, true, false, "
            "now() FROM generate_series(1, $1) g", args.background_customers)
        await conn.execute(
            "INSERT INTO account (kind, customer_id, available, pending, lifetime_earned, "
            "updated_at) SELECT 'customer', id, 0, 0, 0, now() FROM customer "
            "WHERE email LIKE 'bg%@bench.test'")
        pool = [r[0] for r in await conn.fetch(
            "SELECT id FROM customer WHERE email LIKE 'bg%@bench.test' ORDER BY id")]
    finally:
        await conn.close()
    gql = GraphQL(make_http("raw", "127.0.0.1", server.port))
    try:
        for name, definition in (
                ("probe", {"event": "bench_probe"}),
                ("viewers", {"event": "product_viewed", "gte": 3, "within": "P7D"}),
                ("opted in browsers", {"all": [{"marketingOptIn": True},
                                               {"event": "product_viewed"}]})):
            made = (await gql.data(CREATE_SEGMENT, {"input": {"name": name,
                                                              "definition": definition}},
                                   admin))["createSegment"]
            if made["errors"]:
                raise BenchError(f"createSegment: {made['errors']}")
            if name == "probe":
                segment_id = int(made["segment"]["id"])
    finally:
        await gql.http.close()
    worker = _start_worker(server, logdir)
    stop = asyncio.Event()
    sent = 0

    async def background(k: int, clients: int) -> None:
        nonlocal sent
        http = make_http("raw", "127.0.0.1", server.port)
        rng = random.Random(100 + k)
        interval = args.batch * clients / BACKGROUND_RATE
        next_at = time.perf_counter()
        try:
            while not stop.is_set():
                ids = rng.sample(pool[: len(pool) // 2], args.batch)
                status, data = await http.post(_batch(rng, args.batch, customer_ids=ids), admin)
                if _accepted(status, data, args.batch) is None:
                    sent += args.batch
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        finally:
            await http.close()

    latencies: list[float] = []
    try:
        await asyncio.sleep(3)  # the worker starts and evaluates the new segments
        db = await asyncpg.connect(plain_dsn(dsn))
        senders = [asyncio.create_task(background(k, 4)) for k in range(4)]
        http = make_http("raw", "127.0.0.1", server.port)
        probes = pool[len(pool) // 2:]
        started = time.perf_counter()
        try:
            for n in range(args.probes):
                customer_id = probes[n]
                body = _batch(random.Random(n), 1, "bench_probe", [customer_id])
                t0 = time.perf_counter()
                status, data = await http.post(body, admin)
                if _accepted(status, data, 1) is not None:
                    raise BenchError(f"probe refused: {data[:200]!r}")
                while True:
                    if await db.fetchval("SELECT 1 FROM segment_member WHERE segment_id = $1 "
                                         "AND customer_id = $2", segment_id, customer_id):
                        latencies.append(time.perf_counter() - t0)
                        break
                    if time.perf_counter() - t0 > 60:
                        latencies.append(float("inf"))
                        break
                    await asyncio.sleep(0.02)
                await asyncio.sleep(max(0.0, 0.25 - (time.perf_counter() - t0)))
            elapsed = time.perf_counter() - started
        finally:
            stop.set()
            await asyncio.gather(*senders, return_exceptions=True)
            await http.close()
            await db.close()
        print(f"  background: {sent / elapsed:.0f} events/s accepted while probing", flush=True)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    return sorted(latencies)
