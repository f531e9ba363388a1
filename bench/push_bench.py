#!/usr/bin/env python
"""Push throughput: a campaign to N devices through the whole pipeline
(sendCampaign's use case -> outbox -> worker -> firebase-admin -> FCM), against
the bare ceiling of firebase-admin's `send_each_async` with pre-built messages,
both against the local fake FCM (tests/fakes/fcm.py), in one run.

    python bench/push_bench.py [--devices 100000] [--workers N] [--batch 500]
                               [--max-seconds 60] [--database-url postgres://...]

Without --database-url a fresh SQLite file is used. A PostgreSQL database given
there is DROPPED and re-created. Each phase (not the run) stops at --max-seconds
and reports the rate of what it did. Target: pipeline / ceiling >= 0.8.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cpu import cpu_delta, cpu_snapshot  # noqa: E402
from firebase_admin import messaging  # noqa: E402
from tortoise import connections  # noqa: E402

from loyalty import db  # noqa: E402
from loyalty.config import Settings, set_settings  # noqa: E402
from loyalty.sql import execute, fetchrow  # noqa: E402
from notifications.campaigns import Target, send_campaign  # noqa: E402
from notifications.loop import default_concurrency  # noqa: E402
from notifications.policy import Policy  # noqa: E402
from notifications.push import SEND_CHUNK, FirebaseSender, PushMessage, _message  # noqa: E402
from notifications.worker import run_once  # noqa: E402

CHUNK = 500


def _stats(fcm_url: str) -> dict[str, int]:
    base = fcm_url.split("/v1/")[0]
    with urllib.request.urlopen(f"{base}/stats", timeout=10) as response:
        return dict(json.load(response))


async def fresh_pg(url: str) -> None:
    import asyncpg

    from api.listener import plain_dsn

    dsn = plain_dsn(url)
    base, name = dsn.rsplit("/", 1)
    admin = await asyncpg.connect(base + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def seed(devices: int) -> None:
    """N customers who consented to marketing, one Android phone each."""
    conn = connections.get("default")
    now = datetime.now(UTC)
    for start in range(0, devices, CHUNK):
        ids = range(start, min(devices, start + CHUNK))
        rows = ", ".join(
            f"(${6 * i + 1}, 'x', ${6 * i + 2}, 'en', ${6 * i + 3}, ${6 * i + 4}, ${6 * i + 5}, "
            f"${6 * i + 6}, FALSE)"
            for i in range(len(ids))
        )
        args: list[object] = []
        for n in ids:
            args += [f"bench-{n}@example.test", f"C{n}", "Europe/Paris", True, True, now]
        await execute(
            conn,
            "INSERT INTO customer (email, password_hash, first_name, locale, timezone, "
            "marketing_opt_in, push_opt_in, created_at, location_opt_in) VALUES " + rows,
            *args,
        )
    first = await fetchrow(conn, "SELECT MIN(id) FROM customer")
    assert first is not None
    for start in range(0, devices, CHUNK):
        ids = range(start, min(devices, start + CHUNK))
        rows = ", ".join(
            f"(${5 * i + 1}, ${5 * i + 2}, 'ANDROID', ${5 * i + 3}, ${5 * i + 4}, ${5 * i + 5})"
            for i in range(len(ids))
        )
        args = []
        for n in ids:
            args += [first[0] + n, f"token-{n}", True, now, now]
        await execute(
            conn,
            "INSERT INTO device (customer_id, token, platform, push_enabled, last_seen, "
            "created_at) VALUES " + rows,
            *args,
        )


async def ceiling(sender: FirebaseSender, n: int, deadline: float) -> tuple[int, float]:
    """send_each_async alone, messages built beforehand, in chunks of
    SEND_CHUNK one after the other (as the worker's sender sends them)."""
    built = [
        _message(
            PushMessage(
                f"token-{i}",
                "Sale",
                "-20% this weekend",
                {"kind": "campaign.message", "notificationId": str(i)},
                f"n{i}",
            )
        )
        for i in range(n)
    ]
    await sender._ensure_token()
    sent, started = 0, time.perf_counter()
    for start in range(0, n, SEND_CHUNK):
        batch = await messaging.send_each_async(built[start : start + SEND_CHUNK], app=sender._app)
        sent += batch.success_count
        if time.perf_counter() > deadline:
            break
    return sent, time.perf_counter() - started


async def pipeline(
    sender: FirebaseSender, n: int, workers: int, batch: int, deadline: float
) -> tuple[int, float, float]:
    """The campaign written (one outbox event per customer, one transaction),
    then `workers` worker loops until every message is pushed."""
    policy = Policy(marketing_daily_cap=1_000)
    started = time.perf_counter()
    result = await send_campaign(
        title="Sale",
        body="-20% this weekend",
        target=Target(everyone=True),
        idempotency_key=f"bench-{time.time_ns()}",
    )
    assert result.targeted == n, result
    written = time.perf_counter() - started
    pushed = 0

    async def loop() -> None:
        nonlocal pushed
        while time.perf_counter() < deadline:
            stats = await run_once(batch, sender=sender, policy=policy)
            pushed += stats.pushed
            if not stats.busy:
                return

    await asyncio.gather(*(loop() for _ in range(workers)))
    return pushed, time.perf_counter() - started, written


async def main(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="push-bench-"))
    url = args.database_url or f"sqlite://{folder}/bench.sqlite3"
    if args.workers is None:
        args.workers = default_concurrency(url)
    if url.startswith(("postgres://", "postgresql://")):
        await fresh_pg(url)
    set_settings(Settings(database_url=url, env="test", secret_key="bench-" * 8))
    await db.init(url)
    try:
        t = time.perf_counter()
        await seed(args.devices)
        print(
            f"seeded {args.devices} customers and devices in {time.perf_counter() - t:.1f} s "
            f"({url.split('://')[0]})"
        )
        # The fake runs in a process of its own: in this one it would share
        # the GIL with the client it is measured against.
        fake = subprocess.Popen(  # noqa: ASYNC220 (once, before anything is timed)
            [sys.executable, "-m", "tests.fakes.fcm", str(folder)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert fake.stdout is not None
            fcm_url, account = fake.stdout.readline().split()
            messaging._MessagingService.FCM_URL = fcm_url
            sender = FirebaseSender(account)
            try:
                cpu0 = cpu_snapshot(fake.pid)
                n_c, s_c = await ceiling(
                    sender, args.devices, time.perf_counter() + args.max_seconds
                )
                cpu1 = cpu_snapshot(fake.pid)
                before = _stats(fcm_url)
                n_p, s_p, written = await pipeline(
                    sender,
                    args.devices,
                    args.workers,
                    args.batch,
                    time.perf_counter() + args.max_seconds,
                )
                after = _stats(fcm_url)
                cpu2 = cpu_snapshot(fake.pid)
            finally:
                await sender.close()
        finally:
            fake.kill()
            fake.wait()
        accepted = after["delivered"] - before["delivered"]
        rate_c, rate_p = n_c / s_c, n_p / s_p
        print(
            f"ceiling  send_each_async, pre-built: {n_c:>7} msgs in {s_c:6.1f} s "
            f"= {rate_c:8.0f} msg/s"
        )
        print(
            f"pipeline outbox -> FCM ({args.workers} loops x {args.batch}): {n_p:>7} msgs in "
            f"{s_p:6.1f} s = {rate_p:8.0f} msg/s (campaign written in {written:.1f} s; "
            f"FCM accepted {accepted})"
        )
        for name, used, n in (("ceiling", cpu_delta(cpu0, cpu1), n_c),
                              ("pipeline", cpu_delta(cpu1, cpu2), n_p)):
            # Where the 2 cores went: this process (firebase-admin, the worker),
            # the fake FCM's process, and PostgreSQL (all of its processes).
            print(f"  {name:<9} CPU ms/msg: bench process {1000 * used['client'] / n:.2f}, "
                  f"fake FCM {1000 * used['server'] / n:.2f}, "
                  f"postgres {1000 * used['postgres'] / n:.2f}")
        ratio = rate_p / rate_c
        print(
            f"ratio pipeline / ceiling = {ratio:.2f} ({'OK' if ratio >= 0.8 else 'MISS'}, "
            f"target >= 0.8)"
        )
        complete = n_p == args.devices and n_c == args.devices
        if not complete:
            print("stopped at --max-seconds: rates are of the part done")
        return 0
    finally:
        await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker passes side by side, as loyalty worker --concurrency "
                        "(default: its default, 2 on PostgreSQL, 1 on SQLite)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--database-url", default=None)
    sys.exit(asyncio.run(main(parser.parse_args())))
