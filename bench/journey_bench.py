#!/usr/bin/env python
"""Journeys bench on PostgreSQL: N customers entering a 5-step journey at
once, advanced by W worker processes (the journeys loop of `loyalty worker`),
then events waking waiting runs under 1,000 events/s of other traffic.

    python bench/journey_bench.py [--customers 100000] [--workers 2]
                                  [--pings 300] [--traffic 1000]

PostgreSQL at BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/loyalty_bench_journeys), dropped and made
again on every run. Targets (issue 14): >= 2,000 steps/s per worker process,
every step executed exactly once (counted in the tables), timer lag p99 < 2 s;
an event that a waiting run matches advances it within 1 s (p99) under 1,000
events/s of other traffic. A MISS is reported, not a failure.

Phase 1. Every customer's run is inserted due at the journey's start (the
entry of a segment or a schedule: all at once), and the workers take it
through message -> wait PT5S -> split -> message -> exit: five steps a run,
two messages (`--points`: the split is an award of 1 point, a ledger posting
per run). Steps/s = 5 N / (last message queued - start) / W. Timer lag: for
each run, the second message's pass time minus the wait's due time (the
first message's pass time + 5 s).

Phase 2. `--pings` runs wait for a `ping` event with their own key (a
waitFor on {"k": "{{ trigger.k }}"}); the bench writes `--traffic` other
events a second for random customers and, among them, each waiting run's
ping; the latency is from the ping's insert to the bench seeing the run's
message committed (polled every 20 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import fresh_database, pct, plain_dsn  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench_journeys"
SECRET = "bench-secret-key-" + "0123456789abcdef" * 3


def _message(body: str, nxt: str) -> dict:
    return {"type": "message", "channel": "INBOX", "fallback": [],
            "content": {"en": {"title": "Bench", "body": body}}, "next": nxt}


def five_steps(points: bool) -> dict:
    """message -> wait PT5S -> split (or award points) -> message -> exit."""
    middle = {"type": "awardPoints", "points": 1, "reason": "Bench", "next": "again"} \
        if points else {"type": "split", "arms": [
            {"name": "a", "percent": 50, "next": "again"},
            {"name": "b", "percent": 50, "next": "again"}]}
    return {
        "trigger": {"event": "bench_never"},
        "start": "hello",
        "steps": {
            "hello": _message("Hello {{ customer.first_name }}", "pause"),
            "pause": {"type": "wait", "duration": "PT5S", "next": "middle"},
            "middle": middle,
            "again": _message("Again {{ customer.first_name }}, {{ points.available }} "
                              "points", "end"),
            "end": {"type": "exit"},
        },
    }


PING = {
    "trigger": {"event": "bench_never"},
    "start": "wait",
    "steps": {
        "wait": {"type": "waitFor", "event": "ping", "match": {"k": "{{ trigger.k }}"},
                 "timeout": "PT1H", "next": "pong", "timeoutNext": "end"},
        "pong": _message("Pong", "end"),
        "end": {"type": "exit"},
    },
}


async def setup(url: str, customers: int, points: bool) -> None:
    from journeys.models import Journey
    from journeys.publish import publish_version
    from loyalty.platform import db

    await fresh_database(url)
    await db.init(url)  # migrations
    try:
        now = datetime.now(UTC)
        five = await Journey.create(name="five steps")
        await publish_version(five.id, five_steps(points), now)
        ping = await Journey.create(name="ping")
        await publish_version(ping.id, PING, now)
        from tortoise import connections

        from audience import partitions

        await partitions.ensure_for(connections.get("default"), [now])
    finally:
        await db.close()
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        await conn.execute(
            "INSERT INTO customer (email, password_hash, first_name, locale, timezone, "
            "marketing_opt_in, push_opt_in, location_opt_in, created_at) "
            "SELECT 'c' || g || '@bench.example', 'x', 'C' || g, 'en', 'Europe/Paris', true, "
            "true, false, now() FROM generate_series(1, $1) g", customers)
        await conn.execute(
            "INSERT INTO account (kind, customer_id, available, pending, lifetime_earned, "
            "updated_at) SELECT 'customer', id, 0, 0, 0, now() FROM customer")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def start_workers(url: str, count: int) -> list[asyncio.subprocess.Process]:
    env = {**os.environ, "DATABASE_URL": url, "LOYALTY_ENV": "test",
           "LOYALTY_SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1", "LOYALTY_LOG_LEVEL": "WARNING"}
    found = []
    for _ in range(count):
        found.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fakes.journey_worker", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=sys.stderr))
    for p in found:
        assert p.stdout is not None
        line = await asyncio.wait_for(p.stdout.readline(), 60)
        assert b"worker running" in line, line
    return found


async def phase_one(conn: asyncpg.Connection, customers: int, workers: int,
                    points: bool) -> dict:
    five = await conn.fetchval("SELECT id FROM journey WHERE name = 'five steps'")
    start = time.time()
    await conn.execute(
        "INSERT INTO journey_run (journey_id, customer_id, version, entry, step, status, seq, "
        "trigger, wake_at, entered_at) SELECT $1, id, 1, 1, 'hello', 'active', 0, '{}', now(), "
        "now() FROM customer", five)
    while True:
        left = await conn.fetchval("SELECT COUNT(*) FROM journey_run WHERE journey_id = $1 "
                                   "AND status <> 'completed'", five)
        if not left:
            break
        await asyncio.sleep(0.25)
    end = await conn.fetchval(
        "SELECT EXTRACT(EPOCH FROM MAX(created_at)) FROM notification")
    elapsed = float(end) - start
    counts = await conn.fetchrow(
        "SELECT (SELECT COUNT(*) FROM journey_run WHERE journey_id = $1 AND status = "
        "'completed'), (SELECT COUNT(*) FROM notification WHERE journey_id = $1), "
        "(SELECT COUNT(DISTINCT dedupe_key) FROM notification WHERE journey_id = $1), "
        "(SELECT COUNT(*) FROM ledger_transaction WHERE kind = 'BONUS'), "
        "(SELECT COUNT(*) FROM journey_message), "
        "(SELECT COUNT(*) FROM account WHERE customer_id IS NOT NULL AND available <> $2)",
        five, 1 if points else 0)
    lags = sorted(float(r[0]) for r in await conn.fetch(
        "SELECT EXTRACT(EPOCH FROM b.created_at - a.created_at) - 5 FROM notification a "
        "JOIN notification b ON b.dedupe_key = split_part(a.dedupe_key, ':', 1) || ':again:4' "
        "WHERE a.journey_id = $1 AND a.dedupe_key LIKE '%:hello:1'", five))
    steps = 5 * customers
    return {
        "customers": customers, "workers": workers, "seconds": round(elapsed, 2),
        "steps": steps, "steps_per_second_per_worker": round(steps / elapsed / workers),
        "runs_completed": counts[0], "notifications": counts[1],
        "distinct_dedupe_keys": counts[2], "postings": counts[3],
        "journey_message_rows": counts[4], "accounts_not_at_1_point": counts[5],
        "exactly_once": counts[0] == customers and counts[1] == counts[2] == 2 * customers
        and counts[3] == (customers if points else 0) and counts[5] == 0,
        "timer_lag_p50_s": round(pct(lags, 0.5), 3), "timer_lag_p99_s": round(pct(lags, 0.99), 3),
        "timer_lag_max_s": round(lags[-1], 3) if lags else None,
    }


async def phase_two(conn: asyncpg.Connection, customers: int, pings: int,
                    traffic: int) -> dict:
    ping = await conn.fetchval("SELECT id FROM journey WHERE name = 'ping'")
    chosen = random.sample(range(1, customers + 1), pings)
    ids = [int(r[0]) for r in await conn.fetch(
        "SELECT id FROM customer WHERE email = ANY($1::text[])",
        [f"c{i}@bench.example" for i in chosen])]
    await conn.execute(
        "INSERT INTO journey_run (journey_id, customer_id, version, entry, step, status, seq, "
        "trigger, wake_at, waiting_event, waiting_match, entered_at) "
        "SELECT $1, c, 1, 1, 'wait', 'waiting', 1, jsonb_build_object('k', c::text), "
        "now() + interval '1 hour', 'ping', '{\"k\":\"' || c::text || '\"}', now() "
        "FROM unnest($2::bigint[]) c", ping, ids)
    all_ids = [int(r[0]) for r in await conn.fetch("SELECT id FROM customer")]
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    stop = asyncio.Event()

    async def write_traffic() -> None:
        # `traffic` events a second in ten slices, the pings spread among them.
        queue = list(ids)
        per_slice = max(1, traffic // 10)
        pings_per_slice = 1  # ten pings a second among the traffic
        n = 0
        while queue and not stop.is_set():
            tick = time.monotonic()
            rows = [(f"bench:{n}:{i}", random.choice(all_ids), "page_viewed", "{}")
                    for i in range(per_slice)]
            n += 1
            due = [queue.pop() for _ in range(min(pings_per_slice, len(queue)))]
            await conn.executemany(
                "INSERT INTO customer_event (message_id, customer_id, name, channel, "
                "occurred_at, received_at, properties) VALUES ($1, $2, $3, 'WEB', now(), "
                "clock_timestamp(), $4::jsonb)", rows)
            for c in due:
                await conn.execute(
                    "INSERT INTO customer_event (message_id, customer_id, name, channel, "
                    "occurred_at, received_at, properties) VALUES ($1, $2, 'ping', 'WEB', "
                    "now(), clock_timestamp(), $3::jsonb)", f"ping:{c}", c,
                    json.dumps({"k": str(c)}))
                sent[c] = time.monotonic()
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))

    watcher = await asyncpg.connect(DSN)  # a second connection

    async def watch() -> None:
        while len(seen) < len(ids):
            rows = await watcher.fetch("SELECT customer_id FROM notification "
                                       "WHERE journey_id = $1", ping)
            t = time.monotonic()
            for r in rows:
                seen.setdefault(int(r[0]), t)
            await asyncio.sleep(0.02)

    started = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(write_traffic(), watch()), 600)
    finally:
        stop.set()
        await watcher.close()
    latencies = sorted(seen[c] - sent[c] for c in ids if c in seen and c in sent)
    return {"pings": len(ids), "woken": len(latencies),
            "traffic_events_per_second": traffic,
            "seconds": round(time.monotonic() - started, 1),
            "latency_p50_s": round(pct(latencies, 0.5), 3),
            "latency_p99_s": round(pct(latencies, 0.99), 3),
            "latency_max_s": round(latencies[-1], 3) if latencies else None}


DSN = ""


async def main() -> int:
    global DSN
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pings", type=int, default=300)
    parser.add_argument("--traffic", type=int, default=1000)
    parser.add_argument("--points", action="store_true",
                        help="the third step awards a point (a ledger posting) instead of "
                        "a split")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    DSN = plain_dsn(url)
    print(f"seeding {args.customers} customers ...", flush=True)
    await setup(url, args.customers, args.points)
    workers = await start_workers(url, args.workers)
    conn = await asyncpg.connect(DSN)
    try:
        one = await phase_one(conn, args.customers, args.workers, args.points)
        print(json.dumps({"phase": "5-step journey, all entering at once", **one}), flush=True)
        two = await phase_two(conn, args.customers, args.pings, args.traffic)
        print(json.dumps({"phase": "event wakes a waiting run", **two}), flush=True)
    finally:
        await conn.close()
        for p in workers:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for p in workers:
            await p.wait()
    ok_steps = one["steps_per_second_per_worker"] >= 2000
    print(f"steps/s per worker {one['steps_per_second_per_worker']} (target >= 2000): "
          f"{'ok' if ok_steps else 'MISS'}; exactly once: {one['exactly_once']}; "
          f"timer lag p99 {one['timer_lag_p99_s']} s (target < 2): "
          f"{'ok' if one['timer_lag_p99_s'] < 2 else 'MISS'}; event p99 "
          f"{two['latency_p99_s']} s (target < 1): "
          f"{'ok' if two['latency_p99_s'] < 1 else 'MISS'}")
    return 0 if one["exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
