"""Phase B of the POS bench: the SQL a recordPurchase issues, captured from
the service's own code and replayed through raw asyncpg with fresh keys."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from harness import (
    SECRET_KEY,
    BenchError,
    PhaseResult,
    plain_dsn,
    run_closed_loop,
)

from wallet.qr import make_qr

if TYPE_CHECKING:
    from pos_seed import Seed

TOTAL_MINOR = 1234  # 12.34 EUR -> 12 points at the default 1 point per euro
SERVER_POOL_PER_WORKER = 20  # loyalty/platform/db.py: minsize=1&maxsize=20


class Counter:
    def __init__(self, prefix: str) -> None:
        self.prefix = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n}"



@dataclass
class Captured:
    """One statement the service issued for a recordPurchase, as Tortoise logged it."""

    role: str
    sql: str
    nargs: int
    fetch: bool  # run with conn.fetch (rows wanted) rather than conn.execute


# Which captured statement is which, by a fragment of its text. The posting's
# statement is rebuilt per purchase by the service's own builder
# (loyalty.ledger.statement.one_statement), checked against the captured text.
ROLES = [
    ("card", "FROM card c JOIN customer"),
    ("store_name", "SELECT name, timezone"),  # and kind (a coupon's channels)
    ("rules", "FROM earn_rule"),
    ("tiers", "FROM tier"),
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
# The programme's active rules and tiers: cached per process for a few seconds
# (loyalty/programme/earn_rules.py, loyalty/programme/tiers.py), so not part of a purchase's cost.
PROGRAMME_ROLES = {"rules", "tiers"}


def _role_of(sql: str) -> str:
    for role, fragment in ROLES:
        if fragment in sql:
            return role
    raise BenchError(f"recordPurchase issued a statement the replay does not know; "
                     f"update bench/pos_bench.py ROLES:\n  {sql}")


async def capture_statements(dsn: str, s: Seed) -> list[Captured]:
    """Run one real purchase in this process through the service's own code path
    (wallet.cards.resolve_card + loyalty.points.purchases.record_purchase, as the
    recordPurchase resolver calls them) with Tortoise's SQL logger on."""
    from loyalty.ledger import Channel, reset_caches
    from loyalty.money import parse_money
    from loyalty.platform import db
    from loyalty.platform.config import Settings, set_settings
    from loyalty.points.purchases import RecordPurchase, record_purchase
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
        await record_purchase(RecordPurchase(
            idempotency_key=key, customer_id=holder.customer_id, account_id=holder.account_id,
            store_id=int(s.store_id), receipt_id="r" + key,
            total=parse_money(TOTAL_MINOR, "EUR", "t"), channel=Channel.STORE))
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
    out = [c for c in out if c.role not in PROGRAMME_ROLES]
    roles = [c.role for c in out]
    # The service writes a purchase with nothing pending in one statement
    # (ledger.post_in_one_statement); the store name and the system account are
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
    from loyalty.ledger import Channel
    from loyalty.ledger.statement import one_statement
    from loyalty.money import Money
    from loyalty.points.purchase_fast import guards
    from loyalty.points.purchases import purchase_posting

    by_role = {c.role: c for c in statements}
    store_id = int(s.store_id)
    pool_size = min(SERVER_POOL_PER_WORKER * args.workers, args.clients)
    pool = await asyncpg.create_pool(plain_dsn(dsn), min_size=pool_size, max_size=pool_size)
    assert pool is not None
    try:
        # The service caches these per process: issue them once, as it does.
        async with pool.acquire() as conn:
            name = (await conn.fetch(by_role["store_name"].sql, store_id))[0][0]
            system_id = (await conn.fetch(by_role["system_account"].sql, "issued"))[0][0]
        description = f"Purchase at {name}: {TOTAL_MINOR // 100} base points"
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
                # the posting: the service's statement for this purchase, built
                # as the service builds it, in its own transaction
                posting = purchase_posting(
                    key=key, fingerprint=fingerprint(customer_id, store_id, receipt),
                    customer_id=customer_id, account_id=account_id, store_id=store_id,
                    store_name=name, receipt_id=receipt, total=Money(TOTAL_MINOR, "EUR"),
                    channel=Channel.STORE, when=now, now=now, points=points,
                    description=description)
                sql, values = one_statement(posting, system_id, guards(posting, None, False))
                if sql != earn.sql.removeprefix("/**/ "):
                    raise BenchError("the service's posting statement differs from the "
                                     "builder's; update the replay")
                async with pool.acquire() as conn:
                    await conn.fetch(sql, *values)
                return None

            return op

        result = await run_closed_loop("raw SQL replay", args.clients, args.seconds, make,
                                       server_pid)
    finally:
        await asyncio.wait_for(pool.close(), 30)
    result.name = f"raw SQL replay ({args.clients} tasks, asyncpg pool of {pool_size})"
    return result


