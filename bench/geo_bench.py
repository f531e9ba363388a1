#!/usr/bin/env python
"""nearbyGeofences against 100,000 geofences: the spatial index beside a
brute-force scan in-process, then the GraphQL query end to end on PostgreSQL.

    python bench/geo_bench.py [--fences 100000] [--seconds 10] [--clients 32] [--workers 2]

Prints lookups per second and p50/p99 for the index and for brute force (the
same random points, the same k=20), their ratio, and the end-to-end GraphQL
throughput; checks every index answer against brute force on a sample.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import (  # noqa: E402
    GraphQL,
    RawHttp,
    Server,
    fresh_database,
    pct,
    plain_dsn,
)

from geofence.index import SphereIndex  # noqa: E402
from geofence.nearby import haversine_m  # noqa: E402

K = 20
NEARBY = ("query($lat: Float!, $lon: Float!) { nearbyGeofences(latitude: $lat, "
          "longitude: $lon, limit: 20) { id storeId storeName latitude longitude "
          "radiusMeters } }")


def random_points(n: int, rng: random.Random) -> list[tuple[int, float, float]]:
    # Uniform on the sphere, so polar and antimeridian cases occur naturally.
    return [(i, math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180))
            for i in range(1, n + 1)]


def brute(points: list[tuple[int, float, float]], lat: float, lon: float) -> list[int]:
    scored = sorted((haversine_m(lat, lon, a, b), key) for key, a, b in points)
    return [key for _, key in scored[:K]]


def timed(fn, queries) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for lat, lon in queries:
        t0 = time.perf_counter()
        fn(lat, lon)
        out.append((time.perf_counter() - t0) * 1000)
    return sorted(out)


def in_process(n: int, rng: random.Random) -> tuple[list[tuple[int, float, float]], str]:
    points = random_points(n, rng)
    t0 = time.perf_counter()
    index = SphereIndex(points)
    build = time.perf_counter() - t0
    queries = [(math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180))
               for _ in range(2000)]
    for lat, lon in queries[:30]:  # correctness on a sample
        assert [h.key for h in index.nearest(lat, lon, K)] == brute(points, lat, lon), (lat, lon)
    idx = timed(lambda a, b: index.nearest(a, b, K), queries)
    bf = timed(lambda a, b: brute(points, a, b), queries[:40])
    idx_rate, bf_rate = 1000 / statistics.mean(idx), 1000 / statistics.mean(bf)
    lines = [
        f"in-process, {n} fences, k={K} (index built in {build:.2f}s)",
        f"  index        {idx_rate:>10.0f} lookups/s  p50 {pct(idx, 0.5):7.3f} ms  "
        f"p99 {pct(idx, 0.99):7.3f} ms",
        f"  brute force  {bf_rate:>10.1f} lookups/s  p50 {pct(bf, 0.5):7.3f} ms  "
        f"p99 {pct(bf, 0.99):7.3f} ms",
        f"  ratio index/brute force: {idx_rate / bf_rate:.0f}x "
        f"(target >= 50x: {'PASS' if idx_rate / bf_rate >= 50 else 'MISS'}); "
        f"index p99 < 2 ms: {'PASS' if pct(idx, 0.99) < 2 else 'MISS'}",
    ]
    return points, "\n".join(lines)


async def end_to_end(points, args: argparse.Namespace) -> str:  # type: ignore[no-untyped-def]
    dsn = args.database_url
    await fresh_database(dsn)
    server = Server(dsn, args.workers, Path(tempfile.mkdtemp(prefix="geo-bench-")))
    server.start()
    try:
        await server.wait_healthy()
        conn = await asyncpg.connect(plain_dsn(dsn))
        try:
            store = await conn.fetchval(
                "INSERT INTO store (name, latitude, longitude, timezone, created_at) "
                "VALUES ('Bench', 0, 0, 'UTC', now()) RETURNING id")
            await conn.copy_records_to_table(
                "geofence", columns=["store_id", "latitude", "longitude", "radius_meters",
                                     "active", "created_at"],
                records=[(store, a, b, 150.0, True, _now()) for _, a, b in points])
        finally:
            await conn.close()
        gql = GraphQL(RawHttp("127.0.0.1", server.port))
        auth = await gql.data("mutation($i: SignUpInput!) { signUp(input: $i) "
                              "{ accessToken errors { code } } }",
                              {"i": {"email": "geo@bench.test", "password": "bench-password",
                                     "firstName": "Geo"}})
        token = auth["signUp"]["accessToken"]
        for _ in range(2 * args.workers):  # build each worker's index before timing
            await gql.data(NEARBY, {"lat": 0.0, "lon": 0.0}, token)
        latencies: list[float] = []
        errors = 0
        deadline = time.monotonic() + args.seconds
        rng = random.Random(7)

        async def client() -> None:
            nonlocal errors
            http = GraphQL(RawHttp("127.0.0.1", server.port))
            try:
                while time.monotonic() < deadline:
                    lat, lon = rng.uniform(-80, 80), rng.uniform(-180, 180)
                    t0 = time.perf_counter()
                    status, body = await http.raw(NEARBY, {"lat": lat, "lon": lon}, token)
                    if status == 200 and len(body["data"]["nearbyGeofences"]) == K:
                        latencies.append((time.perf_counter() - t0) * 1000)
                    else:
                        errors += 1
            finally:
                await http.http.close()

        started = time.monotonic()
        await asyncio.gather(*[client() for _ in range(args.clients)])
        wall = time.monotonic() - started
        latencies.sort()
        rate = len(latencies) / wall
        return (f"GraphQL nearbyGeofences end to end ({args.clients} clients, "
                f"{args.workers} workers, PostgreSQL): {rate:.0f} req/s, "
                f"p50 {pct(latencies, 0.5):.1f} ms, p99 {pct(latencies, 0.99):.1f} ms, "
                f"{errors} errors")
    finally:
        server.stop()


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fences", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url",
                        default="postgres://postgres@127.0.0.1:5432/loyalty_geo_bench")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    points, text = in_process(args.fences, random.Random(42))
    print(text, flush=True)
    if not args.skip_http:
        print(asyncio.run(end_to_end(points, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
