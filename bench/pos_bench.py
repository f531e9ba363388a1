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
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import (  # noqa: E402
    SECRET_KEY,
    BenchError,
    GraphQL,
    PhaseResult,
    Profiler,
    Server,
    fresh_database,
    make_http,
    plain_dsn,
    run_closed_loop,
)

from wallet.qr import make_qr  # noqa: E402

DEFAULT_DSN = "postgres://postgres@127.0.0.1:5432/loyalty_bench"
PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@bench.test"
CASHIER_EMAIL = "cashier@bench.test"
TOTAL_MINOR = 1234  # 12.34 EUR -> 12 points at the default 1 point per euro
SERVER_POOL_PER_WORKER = 20  # loyalty/db.py: minsize=1&maxsize=20

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
