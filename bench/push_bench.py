#!/usr/bin/env python
"""Push throughput: a campaign to N devices through the whole pipeline
(sendCampaign's use case -> outbox -> worker -> firebase-admin -> FCM), against
the bare ceiling of firebase-admin's `send_each_async` with pre-built messages,
both against the local fake FCM (tests/fakes/fcm.py), in one run.

    python bench/push_bench.py [--devices 100000] [--workers N] [--batch 500]
                               [--max-seconds 60] [--rounds 4]
                               [--database-url postgres://...]

Without --database-url a fresh SQLite file is used. A PostgreSQL database given
there is DROPPED and re-created. Each side runs --max-seconds in all, in
--rounds alternating slices (this shared machine's speed drifts by more than
the difference measured; alternating gives both sides the same share of it);
each reports the rate of what it did. Target: pipeline / ceiling >= 0.8.
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

from loyalty.platform import db  # noqa: E402
from loyalty.platform.config import Settings, set_settings  # noqa: E402
from loyalty.platform.sql import execute, fetchrow  # noqa: E402
from notifications.campaigns import Target, send_campaign  # noqa: E402
from notifications.loop import default_concurrency  # noqa: E402
from notifications.policy import Policy  # noqa: E402
from notifications.push import SEND_CHUNK, FirebaseSender, PushMessage, _message  # noqa: E402
from notifications.worker import run_once  # noqa: E402

CHUNK = 500
PREBUILT = 5_000


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


def prebuilt(n: int) -> list[messaging.Message]:
    """The ceiling's messages, built before anything is timed: the payload
    the pipeline sends (title, body, data, collapse id)."""
    return [
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


class Side:
    """One side's running totals over the rounds: messages, seconds, CPU."""

    def __init__(self) -> None:
        self.sent, self.seconds = 0, 0.0
        self.cpu: dict[str, float] = {}
        self.rates: list[float] = []

    def add(self, sent: int, seconds: float, cpu: dict[str, float]) -> None:
        self.sent += sent
        self.seconds += seconds
        self.rates.append(sent / seconds if seconds else 0.0)
        for k, v in cpu.items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


async def ceiling_slice(
    sender: FirebaseSender, built: list[messaging.Message], at: int, deadline: float
) -> tuple[int, float, int]:
    """send_each_async alone, from message `at` (wrapping round), in chunks of
    SEND_CHUNK one after the other as the worker's sender sends them, until
    `deadline`: (sent, seconds, where it stopped)."""
    sent, started = 0, time.perf_counter()
    while time.perf_counter() < deadline:
        chunk = built[at : at + SEND_CHUNK] or built[:SEND_CHUNK]
        at = (at + len(chunk)) % len(built)
        batch = await messaging.send_each_async(chunk, app=sender._app)
        sent += batch.success_count
    return sent, time.perf_counter() - started, at


async def write_campaign(n: int) -> float:
    """sendCampaign's use case: one outbox event per customer, one transaction."""
    started = time.perf_counter()
    result = await send_campaign(
        title="Sale",
        body="-20% this weekend",
        target=Target(everyone=True),
        idempotency_key=f"bench-{time.time_ns()}",
    )
    assert result.targeted == n, result
    return time.perf_counter() - started


async def pipeline_slice(
    sender: FirebaseSender, workers: int, batch: int, deadline: float
) -> tuple[int, float, bool]:
    """`workers` worker passes side by side until `deadline` or until nothing
    is left: (pushed, seconds, done)."""
    policy = Policy(marketing_daily_cap=1_000)
    pushed, done, started = 0, False, time.perf_counter()

    async def loop() -> None:
        nonlocal pushed, done
        while time.perf_counter() < deadline and not done:
            stats = await run_once(batch, sender=sender, policy=policy)
            pushed += stats.pushed
            if not stats.busy:
                done = True

    await asyncio.gather(*(loop() for _ in range(workers)))
    return pushed, time.perf_counter() - started, done


async def measure(
    sender: FirebaseSender, args: argparse.Namespace, fake_pid: int, fcm_url: str
) -> tuple[Side, Side, int, float]:
    """The two sides in alternating slices (ceiling, pipeline, then pipeline,
    ceiling, ...): the machine's speed drifts by more than the difference
    measured, and alternating gives both sides the same share of it."""
    # A pool of pre-built messages sent round and round: 100,000 of them would
    # stay alive through the pipeline's slices too, and every full garbage
    # collection there would walk their million objects.
    built = prebuilt(min(args.devices, PREBUILT))
    await sender._ensure_token()
    # Untimed: the client's connections, the fake's and this process's caches
    # are cold at first, which would count against whichever side goes first.
    await ceiling_slice(sender, built, 0, time.perf_counter() + 2)
    ceiling, pipeline = Side(), Side()
    slice_seconds = args.max_seconds / args.rounds
    at, done, written = 0, False, -1.0
    before = _stats(fcm_url)
    for r in range(args.rounds):
        order = ("ceiling", "pipeline") if r % 2 == 0 else ("pipeline", "ceiling")
        for side in order:
            cpu0 = cpu_snapshot(fake_pid)
            if side == "ceiling":
                sent, seconds, at = await ceiling_slice(
                    sender, built, at, time.perf_counter() + slice_seconds
                )
                ceiling.add(sent, seconds, cpu_delta(cpu0, cpu_snapshot(fake_pid)))
            elif not done:
                extra = 0.0
                if written < 0:  # the campaign's writing is part of the pipeline
                    written = extra = await write_campaign(args.devices)
                pushed, seconds, done = await pipeline_slice(
                    sender, args.workers, args.batch, time.perf_counter() + slice_seconds - extra
                )
                pipeline.add(pushed, seconds + extra, cpu_delta(cpu0, cpu_snapshot(fake_pid)))
    accepted = _stats(fcm_url)["delivered"] - before["delivered"] - ceiling.sent
    return ceiling, pipeline, accepted, written


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
                c, p, accepted, written = await measure(sender, args, fake.pid, fcm_url)
            finally:
                await sender.close()
        finally:
            fake.kill()
            fake.wait()
        print(
            f"ceiling  send_each_async, pre-built: {c.sent:>7} msgs in {c.seconds:6.1f} s "
            f"= {c.rate:8.0f} msg/s"
        )
        print(
            f"pipeline outbox -> FCM ({args.workers} loops x {args.batch}): {p.sent:>7} msgs in "
            f"{p.seconds:6.1f} s = {p.rate:8.0f} msg/s (campaign written in {written:.1f} s; "
            f"FCM accepted {accepted})"
        )
        print(
            f"  {args.rounds} rounds, alternating; msg/s per round: ceiling "
            + " ".join(f"{x:.0f}" for x in c.rates)
            + ", pipeline "
            + " ".join(f"{x:.0f}" for x in p.rates)
        )
        for name, side in (("ceiling", c), ("pipeline", p)):
            # Where the 2 cores went: this process (firebase-admin, the worker),
            # the fake FCM's process, and PostgreSQL (all of its processes).
            n = max(1, side.sent)
            print(
                f"  {name:<9} CPU ms/msg: bench process {1000 * side.cpu['client'] / n:.2f}, "
                f"fake FCM {1000 * side.cpu['server'] / n:.2f}, "
                f"postgres {1000 * side.cpu['postgres'] / n:.2f}"
            )
        ratio = p.rate / c.rate
        print(
            f"ratio pipeline / ceiling = {ratio:.2f} ({'OK' if ratio >= 0.8 else 'MISS'}, "
            f"target >= 0.8)"
        )
        if p.sent < args.devices:
            print("the campaign was not finished within --max-seconds: rates are of the part done")
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
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="seconds of each side in all (split between the rounds)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating slices of each side (ceiling first, then pipeline "
                        "first, ...)")
    parser.add_argument("--database-url", default=None)
    sys.exit(asyncio.run(main(parser.parse_args())))
