"""What the benchmarks share: an HTTP/1.1 client cheap enough to share two
cores with the server, a `loyalty serve` process, a fresh PostgreSQL database,
CPU accounting per process, and closed-loop phases with percentiles."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

SECRET_KEY = "bench-secret-key-" + "0123456789abcdef" * 3  # 65 chars, prod-grade length
REQUEST_TIMEOUT = 30.0
MAX_ERROR_SAMPLES = 5


from cpu import _cmdline, _proc_table, cpu_delta, cpu_snapshot  # noqa: E402


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- helpers


def plain_dsn(url: str) -> str:
    parts = urlsplit(url.replace("postgres://", "postgresql://", 1))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]




# --------------------------------------------------------------------------- HTTP clients


class RawHttp:
    """Minimal HTTP/1.1 keep-alive client over asyncio streams: one connection,
    one request at a time. Handles Content-Length and chunked bodies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._prefix = (f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        "Content-Type: application/json\r\nAccept: application/json\r\n")

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def post(self, body: bytes, token: str | None) -> tuple[int, bytes]:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        head = self._prefix + f"Content-Length: {len(body)}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        chunked = close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and "close" in value.lower():
                close = True
        if length is not None:
            data = await self.reader.readexactly(length)
        elif chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            data = b"".join(parts)
        else:
            data = await self.reader.read()
            close = True
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


class HttpxHttp:
    """The same interface on httpx (for comparing client CPU cost)."""

    def __init__(self, host: str, port: int) -> None:
        import httpx

        self.client = httpx.AsyncClient(base_url=f"http://{host}:{port}",
                                        timeout=REQUEST_TIMEOUT,
                                        limits=httpx.Limits(max_connections=1))

    async def post(self, body: bytes, token: str | None) -> tuple[int, bytes]:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        r = await self.client.post("/graphql", content=body, headers=headers)
        return r.status_code, r.content

    async def close(self) -> None:
        await self.client.aclose()


class GraphQL:
    def __init__(self, http: RawHttp | HttpxHttp) -> None:
        self.http = http

    async def raw(self, query: str, variables: dict[str, Any] | None = None,
                  token: str | None = None) -> tuple[int, dict[str, Any]]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        status, data = await asyncio.wait_for(self.http.post(body, token), REQUEST_TIMEOUT)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"errors": [{"message": f"non-JSON body: {data[:200]!r}"}]}

    async def data(self, query: str, variables: dict[str, Any] | None = None,
                   token: str | None = None) -> dict[str, Any]:
        status, body = await self.raw(query, variables, token)
        if status != 200 or body.get("errors"):
            raise BenchError(f"GraphQL call failed ({status}): {json.dumps(body)[:500]}")
        return body["data"]


def make_http(kind: str, host: str, port: int) -> RawHttp | HttpxHttp:
    return HttpxHttp(host, port) if kind == "httpx" else RawHttp(host, port)


# --------------------------------------------------------------------------- results


@dataclass
class PhaseResult:
    name: str
    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return pct(self.latencies, q) * 1000

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(message[:600])

    def cpu_ms(self, who: str) -> float:
        return 1000 * self.cpu.get(who, 0.0) / self.ok if self.ok else float("nan")


async def run_closed_loop(name: str, clients: int, seconds: float,
                          make_worker: Callable[[int], Awaitable[Any]],
                          server_pid: int | None) -> PhaseResult:
    """`clients` workers, each `make_worker(i)` returning an async callable that
    performs one operation and returns None on success or an error string."""
    result = PhaseResult(name)
    ops = [await make_worker(i) for i in range(clients)]
    before = cpu_snapshot(server_pid)
    start = time.perf_counter()
    deadline = start + seconds
    last_end = start

    async def loop(op: Any) -> None:
        nonlocal last_end
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                problem = await asyncio.wait_for(op(), REQUEST_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - any failure is an error to report
                problem = f"{type(exc).__name__}: {exc}"
            t1 = time.perf_counter()
            last_end = max(last_end, t1)
            if problem is None:
                result.ok += 1
                result.latencies.append(t1 - t0)
            else:
                result.error(problem)

    await asyncio.wait_for(asyncio.gather(*(loop(op) for op in ops)),
                           seconds + 2 * REQUEST_TIMEOUT)
    result.elapsed = last_end - start
    result.cpu = cpu_delta(before, cpu_snapshot(server_pid))
    result.latencies.sort()
    closers = [getattr(op, "close", None) for op in ops]
    await asyncio.gather(*(c() for c in closers if c is not None))
    return result


# --------------------------------------------------------------------------- server


class Server:
    def __init__(self, dsn: str, workers: int, logdir: Path) -> None:
        self.port = free_port()
        self.workers = workers
        self.env = dict(os.environ, DATABASE_URL=dsn, LOYALTY_ENV="prod",
                        LOYALTY_SECRET_KEY=SECRET_KEY, LOYALTY_ACCESS_TOKEN_SECONDS="3600")
        self.log_path = logdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.loyalty = shutil.which("loyalty") or str(Path(sys.executable).parent / "loyalty")

    def cli(self, *args: str, timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.loyalty, *args], env={**self.env, **env},
                              capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(
            [self.loyalty, "serve", "--workers", str(self.workers), "--port", str(self.port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    async def wait_healthy(self, limit: float = 90) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise BenchError(f"server exited early:\n{self.log_tail()}")
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), 2)
                w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = await asyncio.wait_for(r.read(), 5)
                w.close()
                if data.startswith(b"HTTP/1.1 200"):
                    return
            except (TimeoutError, OSError):
                pass
            await asyncio.sleep(0.2)
        raise BenchError(f"server not healthy after {limit}s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        table = _proc_table()
        kids = [pid for pid, (ppid, *_) in table.items() if ppid == self.proc.pid]
        # uvicorn --workers N: supervisor -> (resource tracker,) N workers
        workers = [pid for pid in kids
                   if "multiprocessing.resource_tracker" not in _cmdline(pid)]
        return workers or [self.proc.pid]

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # our own session, started above
            self.proc.wait(timeout=10)


async def fresh_database(dsn: str) -> None:
    plain = plain_dsn(dsn)
    name = plain.rsplit("/", 1)[1]
    admin = await asyncpg.connect(plain.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


