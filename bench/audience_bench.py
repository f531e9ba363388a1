#!/usr/bin/env python
"""Audience bench on PostgreSQL: trackEvents end to end beside raw COPY of
the same rows, the staff 360 view of a customer with 10,000 events, segment
membership latency under background events, and RFM over many customers.

    python bench/audience_bench.py [--seconds 10] [--clients 16] [--workers 2]
                                   [--customers 1000000] [--purchases 10]

PostgreSQL at BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/loyalty_bench_audience), dropped and made
again on every run. Targets (issue 13): trackEvents >= 20,000 events/s in
batches of 100; customer(id) p99 < 50 ms with 10,000 events; a segment's
membership within 5 s (p99) of the event under 2,000 events/s; RFM over
1,000,000 customers and 10,000,000 purchases < 60 s. `--customers` scales the
RFM phase down for a quick run; a MISS is reported, not a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

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
    pct,
    plain_dsn,
    run_closed_loop,
)

from api.fast_track import TRACK_DOCUMENT  # noqa: E402
from audience.partitions import month_of, partition_ddl  # noqa: E402

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_bench_audience"
PASSWORD = "correct horse battery staple"
ADMIN = "admin@bench.test"
TARGET_EVENTS = 20_000.0
TARGET_PROFILE_P99_MS = 50.0
TARGET_SEGMENT_P99_S = 5.0
TARGET_RFM_S = 60.0
BACKGROUND_RATE = 2000.0

STAFF_LOG_IN = """mutation($input: LogInInput!) {
  staffLogIn(input: $input) { accessToken errors { code } } }"""
SIGN_UP = """mutation($input: SignUpInput!) {
  signUp(input: $input) { accessToken errors { code } } }"""
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


# --------------------------------------------------------------------------- setup


async def setup(server: Server, customers: int) -> tuple[str, list[tuple[int, str]]]:
    done = await asyncio.to_thread(server.cli, "create-admin", "--email", ADMIN,
                                   "--password", PASSWORD)
    if done.returncode != 0:
        raise BenchError(f"create-admin: {done.stdout}{done.stderr}")
    gql = GraphQL(make_http("raw", "127.0.0.1", server.port))
    try:
        admin = (await gql.data(STAFF_LOG_IN, {"input": {"email": ADMIN, "password": PASSWORD}}
                                ))["staffLogIn"]["accessToken"]
        people = []
        for i in range(customers):
            auth = (await gql.data(SIGN_UP, {"input": {
                "email": f"app{i}@bench.test", "password": PASSWORD, "firstName": f"App{i}"}}
            ))["signUp"]
            people.append(auth["accessToken"])
    finally:
        await gql.http.close()
    conn = await asyncpg.connect(plain_dsn(server.env["DATABASE_URL"]))
    try:
        ids = [r[0] for r in await conn.fetch(
            "SELECT id FROM customer WHERE email LIKE 'app%@bench.test' ORDER BY id")]
    finally:
        await conn.close()
    return admin, list(zip(ids, people, strict=True))


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


# --------------------------------------------------------------------------- phase B


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


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


async def amain(args: argparse.Namespace) -> int:
    dsn = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DSN)
    logdir = Path(tempfile.mkdtemp(prefix="audience-bench-"))
    print(f"database {plain_dsn(dsn)} (fresh); logs in {logdir}", flush=True)
    await fresh_database(dsn)
    server = Server(dsn, args.workers, logdir)
    lines = []
    status = 0
    try:
        server.start()
        await server.wait_healthy()
        # One customer more than clients: the 360 view's, whose events are its own.
        admin, app = await setup(server, args.clients + 1)
        print(f"server up on port {server.port}; {len(app)} app customers", flush=True)
        if "events" in args.phases:
            print("phase A: trackEvents, batches of 100 ...", flush=True)
            a = await phase_track(server, app, args)
            rate = a.ok * args.batch / a.elapsed if a.elapsed else 0.0
            print(f"  {a.ok} batches ok, {a.errors} errors", flush=True)
            copy = await phase_copy(dsn, max(20_000, a.ok * args.batch // 2),
                                    [c for c, _ in app[:-1]], 4)
            lines.append(f"trackEvents (HTTP, {args.clients} clients, batches of {args.batch}):"
                         f" {rate:,.0f} events/s, p50 {a.p(0.5):.1f} ms, p99 {a.p(0.99):.1f} ms"
                         f" per batch; raw COPY of the same rows {copy:,.0f} rows/s; ratio "
                         f"{rate / copy:.2f}; target >= {TARGET_EVENTS:,.0f}/s "
                         f"{verdict(rate >= TARGET_EVENTS)}")
            if a.errors:
                status = 1
                print("  errors:", a.error_samples, file=sys.stderr)
        if "profile" in args.phases:
            print("phase D: customer(id) with 10,000 events ...", flush=True)
            for clients in sorted({1, args.profile_clients}):
                args.clients_now = clients
                d = await phase_profile(server, dsn, admin, app[-1][0], args, load=clients == 1)
                lines.append(f"customer(id) 360 view ({clients} client(s)): "
                             f"{d.rate:,.0f}/s, p50 {d.p(0.5):.1f} ms, p99 {d.p(0.99):.1f} ms; "
                             f"target p99 < {TARGET_PROFILE_P99_MS:.0f} ms "
                             f"{verdict(d.p(0.99) < TARGET_PROFILE_P99_MS)}")
                if d.errors:
                    status = 1
                    print("  errors:", d.error_samples, file=sys.stderr)
        if "segments" in args.phases:
            print(f"phase C: segment membership under {BACKGROUND_RATE:,.0f} events/s ...",
                  flush=True)
            c = await phase_segment(server, dsn, admin, logdir, args)
            p99 = pct(c, 0.99)
            lines.append(f"segment membership ({len(c)} probes): p50 {pct(c, 0.5):.2f} s, "
                         f"p99 {p99:.2f} s after the event; target p99 < "
                         f"{TARGET_SEGMENT_P99_S:.0f} s {verdict(p99 < TARGET_SEGMENT_P99_S)}")
    finally:
        server.stop()
    if "rfm" in args.phases:
        print(f"phase B: RFM over {args.customers:,} customers, "
              f"{args.customers * args.purchases:,} purchases ...", flush=True)
        took, loaded, scored, grew = await phase_rfm(dsn, args.customers, args.purchases)
        scale = "" if args.customers >= 1_000_000 else " (scaled down: target is for 1M)"
        lines.append(f"RFM recompute: {took:.1f} s for {scored:,} customers scored "
                     f"(load {loaded:.0f} s, Python memory +{grew:.0f} MiB); target < "
                     f"{TARGET_RFM_S:.0f} s {verdict(took < TARGET_RFM_S)}{scale}")
    print()
    for line in lines:
        print(line)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per closed-loop phase")
    parser.add_argument("--clients", type=int, default=16, help="trackEvents clients")
    parser.add_argument("--profile-clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--batch", type=int, default=100, help="events per trackEvents call")
    parser.add_argument("--customers", type=int, default=1_000_000, help="RFM phase")
    parser.add_argument("--purchases", type=int, default=10, help="per customer, RFM phase")
    parser.add_argument("--background-customers", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--phases", default="events,profile,segments,rfm",
                        help="comma-separated: events, profile, segments, rfm")
    args = parser.parse_args()
    args.phases = set(args.phases.split(","))
    _ = resource  # the RFM child measures its own memory
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
