"""/healthz and /readyz of real processes: ready only with the database
reachable and every migration applied, alive whatever the database does.

The outage is real: a database of its own, whose connections PostgreSQL is
told to refuse and whose open ones it ends, then allowed again."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import DATABASE_URL, IS_PG, PASSWORD
from tests.integration.serve_process import (
    free_port,
    loyalty_command,
    server_env,
    start,
    stop,
    wait_healthy,
)

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
  accessToken errors { code } } }"""


async def _status(http: httpx.AsyncClient, path: str) -> int:
    try:
        return (await http.get(path)).status_code
    except httpx.TransportError:
        return 0


async def _eventually(http: httpx.AsyncClient, path: str, status: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (got := await _status(http, path)) != status:
        assert time.monotonic() < deadline, f"{path}: {got}, not {status}, after {seconds} s"
        await asyncio.sleep(0.1)


@pytest.mark.skipif(IS_PG, reason="on a SQLite file of its own: checked in the SQLite pass")
async def test_readyz_waits_for_the_migrations_and_healthz_does_not(tmp_path: Path):
    # given: a server process (as each of `--workers N` runs) on a database
    # that was never migrated
    url = f"sqlite://{tmp_path}/fresh.sqlite3"
    port = free_port()
    env = {**os.environ, **server_env(url), "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "uvicorn", "api.asgi:app", "--port", str(port), env=env,
            stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
                await _eventually(http, "/healthz", 200, 30)
                # then: it is alive, and not ready, and says which migrations are missing
                not_ready = await http.get("/readyz")
                assert not_ready.status_code == 503
                body = not_ready.json()
                assert body["status"] == "not ready" and body["database"] == "ok"
                assert "0001_initial" in body["migrations"]
                # when: the migrations are applied (as `loyalty migrate` does)
                migrate = await asyncio.create_subprocess_exec(
                    *loyalty_command(), "migrate", env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
                out = (await asyncio.wait_for(migrate.communicate(), 60))[0]
                assert migrate.returncode == 0, out.decode()
                # then: the same process is ready, without a restart
                ready = await http.get("/readyz")
                assert ready.status_code == 200, ready.text
                assert ready.json() == {"status": "ready", "database": "ok", "migrations": "ok"}
        finally:
            process.terminate()
            await process.wait()


def _dsn_of(url: str, name: str) -> str:
    from api.listener import plain_dsn

    return plain_dsn(url).rsplit("/", 1)[0] + "/" + name


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    """A database of this test's own (the outage must not reach the suite's),
    named after the suite's so that parallel runs do not share it, emptied
    rather than dropped: DROP DATABASE forces a checkpoint of the whole server,
    seconds on a busy one. It is left in place, allowing connections."""
    from api.listener import plain_dsn

    name = "readyz_" + plain_dsn(DATABASE_URL).rsplit("/", 1)[1]
    admin = await asyncpg.connect(_dsn_of(DATABASE_URL, "postgres"))
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            own = await asyncpg.connect(_dsn_of(DATABASE_URL, name))
            try:
                await own.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            finally:
                await own.close()
        else:
            await admin.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


async def _outage(name: str, on: bool) -> None:
    admin = await asyncpg.connect(_dsn_of(DATABASE_URL, "postgres"))
    try:
        allow = "false" if on else "true"
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allow}')
        if on:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
    finally:
        await admin.close()


@pytest.mark.postgres_only
@pytest.mark.slow
@pytest.mark.skipif(not IS_PG, reason="needs PostgreSQL (a real outage of a database of its "
                    "own): set TEST_DATABASE_URL=postgres://...")
async def test_readyz_goes_503_when_the_database_goes_away_and_200_when_it_returns(
        own_database: str):
    # given: `loyalty serve` and `loyalty worker` on their own database, ready
    url = _dsn_of(DATABASE_URL, own_database).replace("postgresql://", "postgres://", 1)
    url += "?minsize=1&maxsize=4"
    server = await start(url)
    worker_port = free_port()
    worker = None
    try:
        await wait_healthy(server)  # migrated: the worker would migrate too, at once
        worker = await asyncio.create_subprocess_exec(
            *loyalty_command(), "worker", "--metrics-port", str(worker_port),
            env={**os.environ, **server_env(url), "LOYALTY_WORKER_POLL_SECONDS": "0.2"},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{worker_port}", timeout=10) as w:
            await _eventually(w, "/readyz", 200, 30)
            assert (await http.get("/readyz")).json()["status"] == "ready"
            # when: the database refuses connections and drops the open ones
            await _outage(own_database, on=True)
            # then: neither is ready, within a probe or two, and both are alive
            await _eventually(http, "/readyz", 503, 10)
            await _eventually(w, "/readyz", 503, 10)
            body = (await http.get("/readyz")).json()
            assert body["status"] == "not ready" and body["database"].startswith("unreachable")
            assert (await http.get("/healthz")).status_code == 200
            assert (await w.get("/healthz")).status_code == 200
            # when: the database is back
            await _outage(own_database, on=False)
            # then: both are ready again, with no restart, and the server serves writes
            await _eventually(http, "/readyz", 200, 15)
            await _eventually(w, "/readyz", 200, 15)
            signed = (await http.post("/graphql", json={"query": SIGN_UP, "variables": {
                "input": {"email": "back@example.test", "password": PASSWORD,
                          "firstName": "Back"}}})).json()
            assert signed["data"]["signUp"]["errors"] == [], signed
    finally:
        if worker is not None and worker.returncode is None:
            worker.terminate()
            await worker.wait()
        await stop(server)
