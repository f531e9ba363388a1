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
import os
import resource
import sys
import tempfile
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from audience_phases import (  # noqa: E402
    BACKGROUND_RATE,
    phase_copy,
    phase_profile,
    phase_segment,
    phase_track,
)
from audience_rfm import phase_rfm  # noqa: E402
from harness import (  # noqa: E402
    BenchError,
    GraphQL,
    Server,
    fresh_database,
    make_http,
    pct,
    plain_dsn,
)

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_bench_audience"
PASSWORD = "correct horse battery staple"
ADMIN = "admin@bench.test"
TARGET_EVENTS = 20_000.0
TARGET_PROFILE_P99_MS = 50.0
TARGET_SEGMENT_P99_S = 5.0
TARGET_RFM_S = 60.0

STAFF_LOG_IN = """mutation($input: LogInInput!) {
  staffLogIn(input: $input) { accessToken errors { code } } }"""
SIGN_UP = """mutation($input: SignUpInput!) {
  signUp(input: $input) { accessToken errors { code } } }"""


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
