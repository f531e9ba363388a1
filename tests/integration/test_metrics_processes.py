"""Metrics across processes: `loyalty serve --workers 2` scraped as one, and
`loyalty worker --metrics-port` with its own /metrics, /healthz and /readyz."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_pos import buy
from tests.conftest import DATABASE_URL, IS_PG
from tests.fakes.fixtures import notification_tables
from tests.integration.serve_process import free_port, start, stop, wait_healthy

__all__ = ["notification_tables"]


def _total(text: str, name: str, **labels: str) -> float:
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.mark.slow
@pytest.mark.skipif(IS_PG, reason="the metric files do not depend on the database: "
                    "checked in the SQLite pass")
async def test_two_server_processes_are_scraped_as_one(database: str, tmp_path: Path):
    # given: `loyalty serve --workers 2`, its metrics in a directory the
    # operator named (the command makes a fresh one when none is named)
    folder = tmp_path / "metrics"
    folder.mkdir()
    server = await start(database, "--workers", "2", PROMETHEUS_MULTIPROC_DIR=str(folder))
    try:
        await wait_healthy(server)
        # when: requests arrive on fresh connections until both processes
        # have answered some (each process writes files named by its pid)
        sent = 0
        async with httpx.AsyncClient(base_url=server.url, timeout=10,
                                     limits=httpx.Limits(max_keepalive_connections=0)) as http:
            deadline = time.monotonic() + 20
            while len(list(folder.glob("counter_*.db"))) < 2 or sent < 10:
                assert time.monotonic() < deadline, "one process answered every request"
                assert (await http.get("/healthz")).status_code == 200
                sent += 1
            text = (await http.get("/metrics")).text
        # then: whichever process answers the scrape counts every request
        assert _total(text, "loyalty_http_requests_total", route="/healthz") == sent
    finally:
        await stop(server)


def test_serve_makes_a_fresh_metrics_directory_per_run_and_removes_it(monkeypatch):
    from api.cli_serve import _metrics_directory

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with _metrics_directory():
        folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        assert folder.is_dir() and not any(folder.iterdir())
    assert not folder.exists() and "PROMETHEUS_MULTIPROC_DIR" not in os.environ


@pytest.mark.usefixtures("notification_tables")
async def test_the_worker_serves_its_metrics_and_readiness(gql, shop, alice):
    # given: a purchase, hence an outbox event, and a worker with its endpoint
    await buy(gql, shop, alice, 25_00)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "LOYALTY_WORKER_POLL_SECONDS": "0.1"}
    env.pop("FIREBASE_CREDENTIALS", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "worker", "--metrics-port", str(port), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            # when: it has had time to claim the event and settle the notification
            deadline = time.monotonic() + 30
            while True:
                try:
                    text = (await http.get("/metrics")).text
                except httpx.TransportError:
                    text = ""
                if _total(text, "loyalty_pushes_total", outcome="inbox_only") >= 1:
                    break
                assert time.monotonic() < deadline, f"no push counted:\n{text}"
                await asyncio.sleep(0.1)
            # then: the pass is counted and timed, and the worker is ready
            assert _total(text, "loyalty_outbox_events_total", outcome="claimed") >= 1
            assert _total(text, "loyalty_worker_step_seconds_count", step="claim") >= 1
            assert _total(text, "loyalty_worker_last_pass_timestamp_seconds") > 0
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["loop"] == "ok"
            # the backlog is sampled: nothing left to claim
            deadline = time.monotonic() + 15
            while "loyalty_outbox_depth" not in text:
                assert time.monotonic() < deadline, "no backlog sample"
                await asyncio.sleep(0.2)
                text = (await http.get("/metrics")).text
            assert _total(text, "loyalty_outbox_depth", consumer="notifications") == 0
        proc.send_signal(signal.SIGTERM)
        out, err = (b.decode() for b in await asyncio.wait_for(proc.communicate(), 30))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode == 0, err
    assert "worker stopped" in err
