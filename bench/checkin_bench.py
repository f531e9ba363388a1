#!/usr/bin/env python
"""checkIn throughput bench on PostgreSQL, end to end through `loyalty serve`.

    python bench/checkin_bench.py [--seconds 10] [--clients 32] [--workers 2]

Makes a fresh database (BENCH_CHECKIN_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/loyalty_checkin_bench; dropped and re-created),
seeds stores and location-opted-in customers through GraphQL, then runs
closed-loop clients posting ENTER / DWELL / EXIT check-ins (fresh keys, each
customer at its own store so no travel-speed refusal). Every check-in must be
accepted (`errors: []`); `loyalty ledger verify` must pass afterwards. The
per-customer rate limit is raised for the run: the bench measures throughput,
not the limiter (whose COUNT is still executed on every check-in).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BenchError,
    GraphQL,
    PhaseResult,
    RawHttp,
    Server,
    fresh_database,
    run_closed_loop,
)
from pos_seed import ADMIN_EMAIL, CREATE_STORE, PASSWORD, SIGN_UP, STAFF_LOG_IN  # noqa: E402

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_checkin_bench"
TARGET_RATE = 500.0
OPT_IN = "mutation { updatePreferences(input: {locationOptIn: true}) { errors { code } } }"
NEARBY = """query($lat: Float!, $lon: Float!) {
  nearbyGeofences(latitude: $lat, longitude: $lon, limit: 1) { id } }"""
CHECK_IN = """mutation($input: CheckInInput!) {
  checkIn(input: $input) { visit { id pointsEarned } errors { code message } } }"""
# A cycle a phone could produce: arrive, linger (the visit is confirmed and,
# once a day, rewarded), leave.
CYCLE = ("ENTER", "DWELL", "EXIT")


async def seed(server: Server, n_stores: int, n_customers: int) -> list[tuple[str, str, float,
                                                                                float]]:
    """(token, geofence id, latitude, longitude) per customer."""
    done = await asyncio.to_thread(server.cli, "create-admin", "--email", ADMIN_EMAIL,
                                   LOYALTY_ADMIN_PASSWORD=PASSWORD)
    if done.returncode != 0:
        raise BenchError(f"create-admin failed: {done.stdout}{done.stderr}")
    gql = GraphQL(RawHttp("127.0.0.1", server.port))
    places: list[tuple[str, float, float]] = []
    try:
        admin = (await gql.data(STAFF_LOG_IN, {"input": {"email": ADMIN_EMAIL,
                                                         "password": PASSWORD}}))["staffLogIn"]
        for i in range(n_stores):
            lat, lon = 48.80 + 0.01 * i, 2.30 + 0.005 * i
            made = (await gql.data(CREATE_STORE, {"input": {
                "name": f"Bench {i}", "latitude": lat, "longitude": lon,
                "timezone": "Europe/Paris", "radiusMeters": 100}},
                admin["accessToken"]))["createStore"]
            if made["errors"]:
                raise BenchError(f"createStore: {made['errors']}")
            places.append(("", lat, lon))
    finally:
        await gql.http.close()

    run = uuid.uuid4().hex[:8]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n_customers):
        queue.put_nowait(i)
    customers: list[tuple[str, str, float, float]] = []

    async def signer() -> None:
        c = GraphQL(RawHttp("127.0.0.1", server.port))
        try:
            while not queue.empty():
                i = queue.get_nowait()
                auth = (await c.data(SIGN_UP, {"input": {
                    "email": f"c{i}-{run}@bench.test", "password": PASSWORD,
                    "firstName": f"Client{i}", "timezone": "Europe/Paris"}}))["signUp"]
                if auth["errors"]:
                    raise BenchError(f"signUp: {auth['errors']}")
                token = auth["accessToken"]
                await c.data(OPT_IN, token=token)
                _, lat, lon = places[i % len(places)]
                fence = (await c.data(NEARBY, {"lat": lat, "lon": lon},
                                      token=token))["nearbyGeofences"][0]["id"]
                customers.append((token, fence, lat, lon))
        finally:
            await c.http.close()

    await asyncio.wait_for(asyncio.gather(*(signer() for _ in range(8))), 600)
    return customers


async def phase(server: Server, customers: list[tuple[str, str, float, float]],
                args: argparse.Namespace) -> PhaseResult:
    prefix = uuid.uuid4().hex[:8]
    counter = 0

    async def make(i: int):  # type: ignore[no-untyped-def]
        gql = GraphQL(RawHttp("127.0.0.1", server.port))
        # Each client owns a slice of the customers: one customer's check-ins
        # stay in order, as they do from one phone.
        mine = customers[i::args.clients] or [random.choice(customers)]
        steps = {id(c): 0 for c in mine}

        async def op() -> str | None:
            nonlocal counter
            counter += 1
            token, fence, lat, lon = customer = mine[counter % len(mine)]
            kind = CYCLE[steps[id(customer)] % len(CYCLE)]
            steps[id(customer)] += 1
            status, body = await gql.raw(CHECK_IN, {"input": {
                "idempotencyKey": f"{prefix}-{counter}", "kind": kind, "geofenceId": fence,
                "latitude": lat, "longitude": lon, "accuracyMeters": 15.0,
                "occurredAt": datetime.now(UTC).isoformat()}}, token)
            payload = (body.get("data") or {}).get("checkIn") or {}
            if status != 200 or body.get("errors") or payload.get("errors") != []:
                return f"HTTP {status}: {json.dumps(body)[:400]}"
            return None

        op.close = gql.http.close  # type: ignore[attr-defined]
        return op

    pid = server.proc.pid if server.proc else None
    return await run_closed_loop("GraphQL checkIn", args.clients, args.seconds, make, pid)


async def amain(args: argparse.Namespace) -> int:
    dsn = os.environ.get("BENCH_CHECKIN_DATABASE_URL", DEFAULT_DSN)
    await fresh_database(dsn)
    server = Server(dsn, args.workers, Path(tempfile.mkdtemp(prefix="checkin-bench-")))
    server.env["LOYALTY_CHECKIN_RATE_PER_MINUTE"] = "1000000"
    migrated = await asyncio.to_thread(server.cli, "migrate")
    if migrated.returncode != 0:
        raise BenchError(f"migrate failed: {migrated.stdout}{migrated.stderr}")
    server.start()
    status = 0
    try:
        await server.wait_healthy()
        customers = await seed(server, args.stores, args.customers)
        print(f"seeded {args.stores} stores, {len(customers)} customers; "
              f"{args.clients} clients x {args.seconds:.0f} s, {args.workers} workers")
        result = await phase(server, customers, args)
        verdict = "OK" if result.rate >= TARGET_RATE else "MISS"
        print(f"checkIn: {result.ok} ok, {result.errors} errors, {result.rate:.0f}/s "
              f"(target {TARGET_RATE:.0f}/s: {verdict}), p50 {result.p(0.5):.1f} ms, "
              f"p99 {result.p(0.99):.1f} ms, server CPU {result.cpu_ms('server'):.2f} ms/op, "
              f"postgres CPU {result.cpu_ms('postgres'):.2f} ms/op")
        for sample in result.error_samples:
            print(f"  error: {sample}")
        if result.errors:
            status = 1
    finally:
        server.stop()
    verify = await asyncio.to_thread(server.cli, "ledger", "verify")
    print(f"loyalty ledger verify: {(verify.stdout + verify.stderr).strip()}")
    return 1 if verify.returncode != 0 else status


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args()
    try:
        return asyncio.run(amain(args))
    except BenchError as e:
        print(f"\nBENCH FAILED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
