#!/usr/bin/env python
"""POS throughput bench on PostgreSQL: GraphQL recordPurchase vs a raw asyncpg
replay of the same SQL, and the customer home-screen query.

    python bench/pos_bench.py [--seconds 10] [--clients 32] [--workers 2]

See bench/README.md for what each phase measures and how to read the table.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wallet.qr import make_qr  # noqa: E402

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_bench"
SECRET_KEY = "bench-secret-key-" + "0123456789abcdef" * 3  # 65 chars, prod-grade length
PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@bench.test"
CASHIER_EMAIL = "cashier@bench.test"
TOTAL_MINOR = 1234  # 12.34 EUR -> 12 points at the default 1 point per euro
SERVER_POOL_PER_WORKER = 20  # loyalty/db.py: minsize=1&maxsize=20
REQUEST_TIMEOUT = 30.0
MAX_ERROR_SAMPLES = 5

TARGET_RATIO = 0.5
TARGET_PURCHASES = 800.0
TARGET_P99_MS = 100.0
TARGET_HOME = 1500.0

STAFF_LOG_IN = """mutation($input: LogInInput!) {
  staffLogIn(input: $input) { accessToken errors { code field message } } }"""
CREATE_STORE = """mutation($input: CreateStoreInput!) {
  createStore(input: $input) { store { id name } errors { code field message } } }"""
CREATE_STAFF = """mutation($input: CreateStaffInput!) {
  createStaff(input: $input) { staff { id } errors { code field message } } }"""
SIGN_UP = """mutation($input: SignUpInput!) {
  signUp(input: $input) { accessToken errors { code field message } } }"""
ME_CARD = "query { me { id card { number qrSecret } } }"
RECORD_PURCHASE = """mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id points }
    customer { availablePoints }
    errors { code field message } } }"""
# A card number with a bad check digit is refused before any database access:
# the whole HTTP + auth + GraphQL path with no SQL, as a floor for comparison.
FLOOR = """query($store: ID!) { cardLookup(card: {cardNumber: "123"}, storeId: $store) {
  customer { firstName } errors { code } } }"""
HOME = (
    "query { me { firstName card { number qr { payload expiresAt } } "
    "points { available pending lifetimeEarned nextExpiry { points expiresAt } } "
    "tier { name pointsToNextTier nextTier } "
    "history(first: 20) { edges { cursor node { id occurredAt kind points balanceAfter "
    "channel storeName description } } pageInfo { hasNextPage endCursor } } } }"
)


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


_CLK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, str, float, float]]:
    """pid -> (ppid, comm, user cpu seconds, system cpu seconds) for every
    readable process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        # after the comm: state ppid ... utime is field 14 overall, index 11 here
        table[int(entry)] = (int(rest[1]), comm, int(rest[11]) / _CLK, int(rest[12]) / _CLK)
    return table


def cpu_snapshot(server_pid: int | None) -> dict[str, float]:
    """CPU seconds used so far by this process, the server tree and all postgres
    processes (the machine is shared: the postgres figure includes any other user)."""
    table = _proc_table()
    own = os.times()
    snap = {"client": own.user + own.system, "server": 0.0, "server_sys": 0.0,
            "postgres": 0.0}
    if server_pid is not None:
        tree = {server_pid}
        changed = True
        while changed:
            changed = False
            for pid, (ppid, *_) in table.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    changed = True
        snap["server"] = sum(table[p][2] + table[p][3] for p in tree if p in table)
        snap["server_sys"] = sum(table[p][3] for p in tree if p in table)
    snap["postgres"] = sum(u + k for _, comm, u, k in table.values() if comm == "postgres")
    return snap


def cpu_delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: b[k] - a[k] for k in a}


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

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.loyalty, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

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


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Profiler:
    """`py-spy record` on every server worker for the length of one phase
    (collapsed stacks, readable with bench/spy_summary.py)."""

    def __init__(self, py_spy: str | None, outdir: Path, server: Server, seconds: float) -> None:
        self.py_spy, self.outdir, self.server, self.seconds = py_spy, outdir, server, seconds
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, phase: str) -> None:
        if not self.py_spy:
            return
        for pid in self.server.worker_pids():
            out = self.outdir / f"{phase}-{pid}.txt"
            self.procs.append(subprocess.Popen(
                [self.py_spy, "record", "--nonblocking", "-r", "250", "-f", "raw", "-o",
                 str(out), "-d", str(max(1, int(self.seconds))), "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for proc in self.procs:
            try:
                proc.wait(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()


async def fresh_database(dsn: str) -> None:
    plain = plain_dsn(dsn)
    name = plain.rsplit("/", 1)[1]
    admin = await asyncpg.connect(plain.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


# --------------------------------------------------------------------------- seeding


@dataclass
class CustomerInfo:
    id: int
    token: str
    card_number: str
    qr_secret: str


@dataclass
class Seed:
    store_id: str
    cashier_token: str
    customers: list[CustomerInfo]


async def seed(server: Server, n_customers: int, http_kind: str) -> Seed:
    done = await asyncio.to_thread(server.cli, "create-admin", "--email", ADMIN_EMAIL,
                                   "--password", PASSWORD)
    if done.returncode != 0:
        raise BenchError(f"create-admin failed: {done.stdout}{done.stderr}")
    gql = GraphQL(make_http(http_kind, "127.0.0.1", server.port))
    try:
        admin = (await gql.data(STAFF_LOG_IN, {"input": {"email": ADMIN_EMAIL,
                                                         "password": PASSWORD}}))["staffLogIn"]
        store = (await gql.data(CREATE_STORE, {"input": {
            "name": "Bench Opéra", "latitude": 48.87, "longitude": 2.33,
            "timezone": "Europe/Paris"}}, admin["accessToken"]))["createStore"]
        if store["errors"]:
            raise BenchError(f"createStore: {store['errors']}")
        store_id = store["store"]["id"]
        staff = (await gql.data(CREATE_STAFF, {"input": {
            "email": CASHIER_EMAIL, "password": PASSWORD, "role": "CASHIER",
            "storeIds": [store_id]}}, admin["accessToken"]))["createStaff"]
        if staff["errors"]:
            raise BenchError(f"createStaff: {staff['errors']}")
        cashier = (await gql.data(STAFF_LOG_IN, {"input": {"email": CASHIER_EMAIL,
                                                           "password": PASSWORD}}))["staffLogIn"]
        if cashier["errors"] or not cashier["accessToken"]:
            raise BenchError(f"cashier staffLogIn: {cashier['errors']}")
    finally:
        await gql.http.close()

    # signUp hashes the password with scrypt (2**14 in prod): a few at a time.
    run = uuid.uuid4().hex[:8]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n_customers):
        queue.put_nowait(i)
    customers: list[CustomerInfo] = []

    async def signer() -> None:
        c = GraphQL(make_http(http_kind, "127.0.0.1", server.port))
        try:
            while not queue.empty():
                i = queue.get_nowait()
                auth = (await c.data(SIGN_UP, {"input": {
                    "email": f"c{i}-{run}@bench.test", "password": PASSWORD,
                    "firstName": f"Client{i}", "locale": "fr-FR",
                    "timezone": "Europe/Paris"}}))["signUp"]
                if auth["errors"]:
                    raise BenchError(f"signUp: {auth['errors']}")
                me = (await c.data(ME_CARD, token=auth["accessToken"]))["me"]
                customers.append(CustomerInfo(int(me["id"]), auth["accessToken"],
                                              me["card"]["number"], me["card"]["qrSecret"]))
        finally:
            await c.http.close()

    await asyncio.wait_for(asyncio.gather(*(signer() for _ in range(8))), 600)
    customers.sort(key=lambda c: c.id)
    return Seed(store_id, cashier["accessToken"], customers)


# --------------------------------------------------------------------------- phase A / C


class Counter:
    def __init__(self, prefix: str) -> None:
        self.prefix = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n}"


async def post_purchase(gql: GraphQL, s: Seed, customer: CustomerInfo,
                        key: str) -> str | None:
    """One recordPurchase; None on success, else what went wrong."""
    status, body = await gql.raw(RECORD_PURCHASE, {"input": {
        "idempotencyKey": key, "receiptId": "r" + key,
        "card": {"qrPayload": make_qr(customer.card_number, customer.qr_secret).payload},
        "storeId": s.store_id, "total": {"amountMinor": TOTAL_MINOR, "currency": "EUR"},
    }}, s.cashier_token)
    payload = (body.get("data") or {}).get("recordPurchase") or {}
    if (status != 200 or body.get("errors") or payload.get("errors") != []
            or not payload.get("transaction")):
        return f"HTTP {status}: {json.dumps(body)[:500]}"
    return None


async def phase_graphql(server: Server, s: Seed, args: argparse.Namespace) -> PhaseResult:
    keys = Counter("gql")

    async def make(i: int) -> Callable[[], Awaitable[str | None]]:
        gql = GraphQL(make_http(args.client, "127.0.0.1", server.port))

        async def op() -> str | None:
            return await post_purchase(gql, s, random.choice(s.customers), keys.next())

        op.close = gql.http.close  # type: ignore[attr-defined]
        return op

    return await run_closed_loop("GraphQL recordPurchase", args.clients, args.seconds, make,
                                 server.proc.pid if server.proc else None)


async def history_counts(dsn: str, ids: list[int]) -> dict[int, int]:
    conn = await asyncpg.connect(plain_dsn(dsn))
    try:
        rows = await conn.fetch(
            "SELECT a.customer_id, COUNT(e.id) FROM account a LEFT JOIN ledger_entry e "
            "ON e.account_id = a.id WHERE a.customer_id = ANY($1::bigint[]) "
            "GROUP BY a.customer_id", ids)
    finally:
        await conn.close()
    return {r[0]: r[1] for r in rows}


async def top_up_history(server: Server, s: Seed, dsn: str, home: list[CustomerInfo],
                         args: argparse.Namespace, need: int = 21) -> int:
    """Make sure every home-screen customer has >= `need` history entries (21 so
    that hasNextPage is true too), posting purchases through GraphQL."""
    counts = await history_counts(dsn, [c.id for c in home])
    todo: list[CustomerInfo] = []
    for c in home:
        todo += [c] * max(0, need - counts.get(c.id, 0))
    if not todo:
        return 0
    keys = Counter("topup")
    failures: list[str] = []

    async def worker() -> None:
        gql = GraphQL(make_http(args.client, "127.0.0.1", server.port))
        try:
            while todo and not failures:
                problem = await post_purchase(gql, s, todo.pop(), keys.next())
                if problem:
                    failures.append(problem)
        finally:
            await gql.http.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(min(args.clients, 16)))),
                           300)
    if failures:
        raise BenchError(f"top-up purchase failed: {failures[0]}")
    counts = await history_counts(dsn, [c.id for c in home])
    short = [c.id for c in home if counts.get(c.id, 0) < need]
    if short:
        raise BenchError(f"customers still below {need} entries: {short[:5]}")
    return len(todo)


async def phase_home(server: Server, home: list[CustomerInfo],
                     args: argparse.Namespace) -> PhaseResult:
    async def make(i: int) -> Callable[[], Awaitable[str | None]]:
        gql = GraphQL(make_http(args.client, "127.0.0.1", server.port))

        async def op() -> str | None:
            customer = random.choice(home)
            status, body = await gql.raw(HOME, None, customer.token)
            me = (body.get("data") or {}).get("me") or {}
            edges = (me.get("history") or {}).get("edges") or []
            if status != 200 or body.get("errors") or len(edges) != 20:
                return f"HTTP {status}, {len(edges)} edges: {json.dumps(body)[:400]}"
            return None

        op.close = gql.http.close  # type: ignore[attr-defined]
        return op

    return await run_closed_loop("home-screen query", args.clients, args.seconds, make,
                                 server.proc.pid if server.proc else None)


async def phase_floor(server: Server, s: Seed, args: argparse.Namespace) -> PhaseResult:
    async def make(i: int) -> Callable[[], Awaitable[str | None]]:
        gql = GraphQL(make_http(args.client, "127.0.0.1", server.port))

        async def op() -> str | None:
            status, body = await gql.raw(FLOOR, {"store": s.store_id}, s.cashier_token)
            payload = (body.get("data") or {}).get("cardLookup") or {}
            if status != 200 or body.get("errors") or payload.get("errors") != [
                {"code": "CARD_NOT_FOUND"}
            ]:
                return f"HTTP {status}: {json.dumps(body)[:400]}"
            return None

        op.close = gql.http.close  # type: ignore[attr-defined]
        return op

    return await run_closed_loop("GraphQL floor (no SQL)", args.clients, args.floor_seconds,
                                 make, server.proc.pid if server.proc else None)


# --------------------------------------------------------------------------- phase B


@dataclass
class Captured:
    """One statement the service issued for a recordPurchase, as Tortoise logged it."""

    role: str
    sql: str
    nargs: int
    fetch: bool  # run with conn.fetch (rows wanted) rather than conn.execute


# Which captured statement is which, by a fragment of its text. The replay fills
# each one's parameters the way loyalty/purchases.py and loyalty/ledger.py do.
ROLES = [
    ("card", "FROM card c JOIN customer"),
    ("store_name", "SELECT name FROM store"),
    ("txn", "INSERT INTO ledger_transaction"),
    ("account", "UPDATE account SET"),
    ("lot", "INSERT INTO lot"),
    ("purchase", "INSERT INTO purchase"),
    ("system_account", "SELECT id FROM account WHERE code"),
    ("entries", "INSERT INTO ledger_entry"),
    ("outbox", "INSERT INTO outbox_event"),
    ("notify", "pg_notify"),
]
CACHED_ROLES = {"store_name", "system_account"}  # per-process caches in the service


def _role_of(sql: str) -> str:
    for role, fragment in ROLES:
        if fragment in sql:
            return role
    raise BenchError(f"recordPurchase issued a statement the replay does not know; "
                     f"update bench/pos_bench.py ROLES:\n  {sql}")


async def capture_statements(dsn: str, s: Seed) -> list[Captured]:
    """Run one real purchase in this process through the service's own code path
    (wallet.cards.resolve_card + loyalty.purchases.record_purchase, as the
    recordPurchase resolver calls them) with Tortoise's SQL logger on."""
    from loyalty import db
    from loyalty.config import Settings, set_settings
    from loyalty.ledger import Channel, reset_caches
    from loyalty.money import parse_money
    from loyalty.purchases import record_purchase
    from wallet.cards import resolve_card

    set_settings(Settings(database_url=dsn, secret_key=SECRET_KEY, env="prod"))
    reset_caches()
    records: list[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tortoise.db_client")
    handler = Grab(level=logging.DEBUG)
    old_level = logger.level
    await db.init(dsn, run_migrations=False)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        c = s.customers[0]
        # cached=True as the recordPurchase resolver calls it (the first call
        # of a process still reads the card, which is what we capture).
        holder = await resolve_card(make_qr(c.card_number, c.qr_secret).payload, None,
                                    cached=True)
        key = f"capture-{uuid.uuid4().hex}"
        await record_purchase(idempotency_key=key, customer_id=holder.customer_id,
                              account_id=holder.account_id, store_id=int(s.store_id),
                              receipt_id="r" + key, total=parse_money(TOTAL_MINOR, "EUR", "t"),
                              channel=Channel.STORE, occurred_at=None)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        await db.close()
    out: list[Captured] = []
    for r in records:
        if not (isinstance(r.args, tuple) and len(r.args) == 2 and isinstance(r.args[0], str)):
            continue
        sql, values = r.args
        role = _role_of(sql)
        upper = sql.lstrip().upper()
        # tortoise's asyncpg client: INSERT/UPDATE/DELETE text -> execute, else fetch
        out.append(Captured(role, sql, len(values or []),
                            not upper.startswith(("UPDATE", "DELETE", "INSERT"))))
    roles = [c.role for c in out]
    # The service writes a purchase with nothing pending in one statement
    # (loyalty/purchases.py _EARN_SQL); the store name and the system account are
    # looked up once per process and cached.
    expected = ["card", "store_name", "system_account", "txn"]
    if roles != expected:
        raise BenchError(f"captured statement sequence changed: {roles}; update the replay")
    return out


def fingerprint(customer_id: int, store_id: int, receipt: str) -> str:
    body = json.dumps({"op": "recordPurchase", "customer": customer_id, "store": store_id,
                       "receipt": receipt, "amount": TOTAL_MINOR, "currency": "EUR",
                       "channel": "STORE"}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


async def phase_raw(dsn: str, s: Seed, statements: list[Captured],
                    args: argparse.Namespace, server_pid: int | None) -> PhaseResult:
    from loyalty.config import Settings
    from loyalty.earning import expiry_for

    by_role = {c.role: c for c in statements}
    settings = Settings()
    store_id = int(s.store_id)
    pool_size = min(SERVER_POOL_PER_WORKER * args.workers, args.clients)
    pool = await asyncpg.create_pool(plain_dsn(dsn), min_size=pool_size, max_size=pool_size)
    assert pool is not None
    try:
        # The service caches these per process: issue them once, as it does.
        async with pool.acquire() as conn:
            name = (await conn.fetch(by_role["store_name"].sql, store_id))[0][0]
            system_id = (await conn.fetch(by_role["system_account"].sql, "issued"))[0][0]
        description = f"Purchase at {name}"
        points = TOTAL_MINOR // 100
        keys = Counter("raw")

        def run(c: Captured, conn: Any, *values: Any) -> Awaitable[Any]:
            assert len(values) == c.nargs, (c.role, len(values), c.nargs)
            return conn.fetch(c.sql, *values) if c.fetch else conn.execute(c.sql, *values)

        card, earn = by_role["card"], by_role["txn"]
        holders: dict[str, tuple[float, int, int]] = {}

        async def make(i: int) -> Callable[[], Awaitable[str | None]]:
            async def op() -> str | None:
                customer = random.choice(s.customers)
                key = keys.next()
                receipt = "r" + key
                # resolve_card: its own pool acquisition, outside the posting, and
                # like the service only for a card not seen in the last minute
                row = holders.get(customer.card_number)
                if row is None or row[0] < time.monotonic():
                    async with pool.acquire() as conn:
                        fetched = (await run(card, conn, customer.card_number))[0]
                    row = (time.monotonic() + 60.0, fetched[0], fetched[1])
                    holders[customer.card_number] = row
                customer_id, account_id = row[1], row[2]
                now = datetime.now(UTC)
                # the posting: one statement, its own transaction, as in the service
                async with pool.acquire() as conn:
                    await run(earn, conn, description, key,
                              fingerprint(customer_id, store_id, receipt), customer_id,
                              store_id, points, now, now, account_id,
                              expiry_for(now, settings), receipt, TOTAL_MINOR, "EUR",
                              system_id, name, "STORE", "points_changed")
                return None

            return op

        result = await run_closed_loop("raw SQL replay", args.clients, args.seconds, make,
                                       server_pid)
    finally:
        await asyncio.wait_for(pool.close(), 30)
    result.name = f"raw SQL replay ({args.clients} tasks, asyncpg pool of {pool_size})"
    return result


# --------------------------------------------------------------------------- report


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(a: PhaseResult, b: PhaseResult, c: PhaseResult, floor: PhaseResult | None,
           args: argparse.Namespace) -> str:
    ratio = a.rate / b.rate if b.rate else 0.0
    lines = [
        f"POS bench: {args.seconds:g}s per phase, {args.clients} clients, "
        f"{args.workers} worker(s), client={args.client}, {os.cpu_count()} CPUs",
        "",
        f"{'phase':<26}{'ok':>7}{'err':>5}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        "  | CPU ms/req: client  server(sys)  postgres",
    ]
    rows = [(a, "GraphQL recordPurchase"), (b, "raw SQL replay"), (c, "home-screen query")]
    if floor is not None:
        rows.append((floor, "GraphQL floor (no SQL)"))
    for r, label in rows:
        server = (f"{r.cpu_ms('server'):6.2f}({r.cpu_ms('server_sys'):4.2f})"
                  if r is not b else f"{'-':>12}")
        lines.append(
            f"{label:<26}{r.ok:>7}{r.errors:>5}{r.rate:>8.0f}{r.p(0.50):>8.1f}{r.p(0.99):>8.1f}"
            f"  | {r.cpu_ms('client'):>18.2f}  {server}  {r.cpu_ms('postgres'):>8.2f}")
    lines += [
        f"ratio GraphQL/raw purchases/s: {ratio:.2f}",
        "",
        f"{'target':<36}{'measured':>10}  result",
        f"{'GraphQL >= 0.5 x raw':<36}{ratio:>10.2f}  {mark(ratio >= TARGET_RATIO)}",
        f"{'GraphQL >= 800 purchases/s':<36}{a.rate:>10.0f}  {mark(a.rate >= TARGET_PURCHASES)}",
        f"{'GraphQL purchase p99 < 100 ms':<36}{a.p(0.99):>10.1f}  "
        f"{mark(a.p(0.99) < TARGET_P99_MS)}",
        f"{'home-screen >= 1500 req/s':<36}{c.rate:>10.0f}  {mark(c.rate >= TARGET_HOME)}",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


async def amain(args: argparse.Namespace) -> int:
    dsn = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DSN)
    logdir = Path(tempfile.mkdtemp(prefix="pos-bench-"))
    status = 0
    print(f"database {plain_dsn(dsn)} (fresh); logs in {logdir}", flush=True)
    await fresh_database(dsn)
    server = Server(dsn, args.workers, logdir)
    try:
        server.start()
        await server.wait_healthy()
        print(f"server up on port {server.port}, worker pids {server.worker_pids()}",
              flush=True)
        t = time.perf_counter()
        s = await seed(server, args.customers, args.client)
        print(f"seeded admin, store {s.store_id}, cashier, {len(s.customers)} customers "
              f"in {time.perf_counter() - t:.1f}s", flush=True)
        statements = await capture_statements(dsn, s)
        if args.show_sql:
            for c in statements:
                print(f"  [{c.role}] {'fetch' if c.fetch else 'execute'}: {c.sql}")

        if args.pause_before:
            print(f"pausing {args.pause_before}s (attach a profiler to "
                  f"{server.worker_pids()})", flush=True)
            await asyncio.sleep(args.pause_before)
        profiler = Profiler(args.py_spy, logdir, server, args.seconds)
        print("phase A: GraphQL recordPurchase ...", flush=True)
        profiler.start("purchase")
        try:
            a = await phase_graphql(server, s, args)
        finally:
            await asyncio.to_thread(profiler.stop)
        print(f"  {a.ok} ok, {a.errors} errors, {a.rate:.0f}/s", flush=True)
        print("phase B: raw SQL replay ...", flush=True)
        b = await phase_raw(dsn, s, statements, args, server.proc.pid if server.proc else None)
        print(f"  {b.ok} ok, {b.errors} errors, {b.rate:.0f}/s", flush=True)
        home = s.customers[: max(1, min(len(s.customers), args.home_customers))]
        added = await top_up_history(server, s, dsn, home, args)
        print(f"phase C: home-screen query for {len(home)} customers "
              f"({added} top-up purchases to reach >= 21 entries) ...", flush=True)
        profiler.start("home")
        try:
            c = await phase_home(server, home, args)
        finally:
            await asyncio.to_thread(profiler.stop)
        print(f"  {c.ok} ok, {c.errors} errors, {c.rate:.0f}/s", flush=True)

        floor = None
        if args.floor_seconds > 0:
            print("phase D: GraphQL floor (cardLookup refused before any SQL) ...", flush=True)
            floor = await phase_floor(server, s, args)
            print(f"  {floor.ok} ok, {floor.errors} errors, {floor.rate:.0f}/s", flush=True)
        if args.py_spy:
            print(f"py-spy profiles: {logdir}/purchase-*.txt, {logdir}/home-*.txt")
        print()
        print(report(a, b, c, floor, args))
        for r in (a, b, c, floor):
            if r is not None and r.errors:
                status = 1
                print(f"\n!!! {r.name}: {r.errors} ERRORS, e.g.:", file=sys.stderr)
                for sample in r.error_samples:
                    print(f"    {sample}", file=sys.stderr)
    finally:
        server.stop()
        print(f"\nserver stopped (exit code {server.proc.returncode if server.proc else None})")
    verify = await asyncio.to_thread(server.cli, "ledger", "verify")
    print(f"loyalty ledger verify: {(verify.stdout + verify.stderr).strip()}")
    if verify.returncode != 0:
        status = 1
    if status:
        print("\nBENCH FAILED (errors above)", file=sys.stderr)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--home-customers", type=int, default=50,
                        help="customers the home-screen phase queries (topped up to 21+)")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="HTTP client: raw asyncio streams (default) or httpx")
    parser.add_argument("--show-sql", action="store_true",
                        help="print the captured recordPurchase statements")
    parser.add_argument("--pause-before", type=float, default=0,
                        help="seconds to wait before phase A (to attach a profiler)")
    parser.add_argument(
        "--floor-seconds", type=float, default=5,
        help="length of phase D, the no-SQL GraphQL floor (0 to skip)",
    )
    parser.add_argument(
        "--py-spy", metavar="PATH", default=None,
        help="py-spy executable: profile the server workers during phases A and C",
    )
    args = parser.parse_args()
    try:
        import uvloop

        runner: Callable[[Any], int] = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        return runner(amain(args))
    except BenchError as e:
        print(f"\nBENCH FAILED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
