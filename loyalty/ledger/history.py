"""Postings of the past, written in bulk: what `post` would have written, for
balances and histories that arrive all at once.

Two callers, both writing many thousands of rows where one `post` each would
take minutes:

- an import's opening balances (`load_openings`, loyalty/imports/runs.py): an
  ADJUST against the issued account, its two entries and a lot, for accounts
  the import has just created with that balance; no event (history people
  already had is not news);
- the demo programme's year and a half of purchases, redemptions and expiries
  (`History`, api/demo_programme.py): kept consistent as `post` keeps it
  (two legs summing to zero, running balances, lots spent and expired
  first-expiring-first), with its events written already processed.

Either way `loyalty ledger verify` holds afterwards; these are, with the
rows `post` writes (loyalty/ledger/rows.py), the only writers of ledger and
outbox rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.events import Event, PointsEarned, PointsRedeemed
from loyalty.platform.sql import bulk_insert, fetch, is_pg, next_ids, placeholders

if TYPE_CHECKING:
    from loyalty.ledger import Opening

_ENTRY = ("transaction_id", "account_id", "points", "balance_after")
_OPENING_LOT = ("account_id", "transaction_id", "points", "remaining", "expires_at",
                "created_at")
_OPENING_TRANSACTION = ("kind", "channel", "description", "idempotency_key", "request_hash",
                        "customer_id", "points", "occurred_at", "created_at")


# -- Opening balances -----------------------------------------------------------


async def load_openings(conn: BaseDBAsyncClient, openings: Sequence[Opening], issued_id: int,
                        fingerprint: str, now: datetime) -> None:
    """Per opening, its ADJUST transaction (keyed `opening.key`), its two
    entries and its lot. COPY on PostgreSQL, multi-row inserts on SQLite."""
    if not openings:
        return
    txn_ids = await _opening_transactions(conn, openings, fingerprint, now)
    entries: list[tuple[int, int, int, int | None]] = []
    for tid, o in zip(txn_ids, openings, strict=True):
        entries.append((tid, o.account_id, o.points, o.points))
        entries.append((tid, issued_id, -o.points, None))
    lots = [(o.account_id, tid, o.points, o.points, o.expires_at, now)
            for tid, o in zip(txn_ids, openings, strict=True)]
    if is_pg(conn):
        raw = conn._connection
        await raw.copy_records_to_table("ledger_entry", columns=list(_ENTRY), records=entries)
        await raw.copy_records_to_table("lot", columns=list(_OPENING_LOT), records=lots)
        return
    await bulk_insert(conn, "ledger_entry", _ENTRY, ("bigint", "bigint", "bigint", "bigint"),
                      entries)
    await bulk_insert(conn, "lot", _OPENING_LOT, ("bigint", "bigint", "bigint", "bigint",
                                                  "timestamptz", "timestamptz"), lots)


async def _opening_transactions(conn: BaseDBAsyncClient, openings: Sequence[Opening],
                                fingerprint: str, now: datetime) -> list[int]:
    """The openings' transactions; their ids, in order."""
    from loyalty.ledger import Channel, Kind

    rows = [(Kind.ADJUST.value, Channel.SYSTEM.value, "Opening balance", o.key, fingerprint,
             o.customer_id, o.points, now, now) for o in openings]
    if is_pg(conn):
        raw = conn._connection
        ids = await next_ids(raw, "ledger_transaction", len(rows))
        await raw.copy_records_to_table(
            "ledger_transaction", columns=["id", *_OPENING_TRANSACTION],
            records=[(tid, *row) for tid, row in zip(ids, rows, strict=True)])
        return ids
    by_key = dict((r[1], r[0]) for r in await bulk_insert(
        conn, "ledger_transaction", _OPENING_TRANSACTION,
        ("text", "text", "text", "text", "text", "bigint", "bigint", "timestamptz",
         "timestamptz"), rows, returning="id, idempotency_key"))
    return [by_key[o.key] for o in openings]


# -- A simulated past (the demo programme) ---------------------------------------


class Ids:
    """Row ids handed out in memory, after the largest each table holds."""

    TABLES = ("customer", "account", "card", "ledger_transaction", "ledger_entry", "lot",
              "purchase")

    def __init__(self, start: dict[str, int]) -> None:
        self.next = dict(start)

    @classmethod
    async def after_existing(cls, conn: BaseDBAsyncClient) -> Ids:
        found = {}
        for table in cls.TABLES:
            rows = await fetch(conn, f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            found[table] = int(rows[0][0]) if rows else 0
        return cls(found)

    def take(self, table: str) -> int:
        self.next[table] += 1
        return self.next[table]


@dataclass
class History:
    """The rows of many customers' past postings, written by `load`."""

    transactions: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    lots: list[list[Any]] = field(default_factory=list)  # [id, account, txn, points, remaining,
    #                                                        expires_at, created_at]
    purchases: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Event, int, datetime]] = field(default_factory=list)

    async def load(self, conn: BaseDBAsyncClient, now: datetime) -> None:
        """Every row, in the caller's transaction; the events already
        processed (the notifications worker has nothing to tell of history;
        the events stream reads them all the same)."""
        outbox = [(e.kind, customer_id, e.to_json(), at, now, 1)
                  for e, customer_id, at in sorted(self.events, key=lambda x: x[2])]
        for table, columns, rows in (
            ("ledger_transaction", _TRANSACTION, self.transactions),
            ("ledger_entry", ("id", *_ENTRY), self.entries),
            ("lot", _LOT, [tuple(lot) for lot in self.lots]),
            ("purchase", _PURCHASE, self.purchases),
            ("outbox_event", _OUTBOX, outbox),
        ):
            marks = placeholders(len(columns)) if is_pg(conn) else ", ".join("?" * len(columns))
            statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            for start in range(0, len(rows), 5000):
                await conn.execute_many(statement, [list(r) for r in rows[start:start + 5000]])


_TRANSACTION = ("id", "kind", "channel", "description", "idempotency_key", "request_hash",
                "customer_id", "store_id", "points", "occurred_at", "created_at")
_LOT = ("id", "account_id", "transaction_id", "points", "remaining", "expires_at",
        "created_at")
_PURCHASE = ("id", "store_id", "receipt_id", "customer_id", "transaction_id", "lot_id",
             "channel", "total_minor", "currency", "refunded_minor", "points_earned",
             "points_refunded", "occurred_at")
_OUTBOX = ("kind", "customer_id", "payload", "created_at", "processed_at", "attempts")


class PastPostings:
    """One customer's postings, in time order, kept consistent as `post`
    keeps them: a lot per purchase, spending and expiry first-expiring-first."""

    def __init__(self, history: History, ids: Ids, system: dict[str, int], customer_id: int,
                 account_id: int) -> None:
        self.history, self.ids, self.system = history, ids, system
        self.customer_id, self.account_id = customer_id, account_id
        self.balance = 0
        self.earned = 0
        self._lots: list[list[Any]] = []  # the customer's, shared with history.lots

    def _post(self, kind: str, channel: str, store: tuple[int, str] | None, points: int,
              when: datetime, description: str, system: str) -> int:
        txn = self.ids.take("ledger_transaction")
        self.balance += points
        self.history.transactions.append((
            txn, kind, channel, description, f"demo:{txn}", "demo", self.customer_id,
            None if store is None else store[0], points, when, when))
        self.history.entries.append((self.ids.take("ledger_entry"), txn, self.account_id,
                                     points, self.balance))
        self.history.entries.append((self.ids.take("ledger_entry"), txn, self.system[system],
                                     -points, None))
        return txn

    def expire_until(self, moment: datetime) -> None:
        from loyalty.ledger import SYSTEM_EXPIRED

        for lot in sorted(self._lots, key=lambda lot: lot[5]):
            if lot[5] <= moment and lot[4] > 0:
                self._post("EXPIRE", "SYSTEM", None, -lot[4], lot[5], "Points expired",
                           SYSTEM_EXPIRED)
                lot[4] = 0

    def purchase(self, store: tuple[int, str], channel: str, total: int, when: datetime,
                 points: int, expires_in: timedelta) -> None:
        from loyalty.ledger import SYSTEM_ISSUED

        self.expire_until(when)
        txn = self._post("EARN", channel, store, points, when, f"Purchase at {store[1]}",
                         SYSTEM_ISSUED)
        lot = [self.ids.take("lot"), self.account_id, txn, points, points, when + expires_in,
               when]
        self._lots.append(lot)
        self.history.lots.append(lot)
        self.earned += points
        self.history.purchases.append((
            self.ids.take("purchase"), store[0], f"demo-{txn}", self.customer_id, txn, lot[0],
            channel, total, "EUR", 0, points, 0, when))
        self.history.events.append((PointsEarned(
            transaction_id=txn, points=points, balance=self.balance, store_id=store[0],
            store_name=store[1], channel=channel), self.customer_id, when))

    def redeem(self, store: tuple[int, str], points: int, when: datetime) -> bool:
        from loyalty.ledger import SYSTEM_REDEEMED

        self.expire_until(when)
        if self.balance < points:
            return False
        txn = self._post("REDEEM", "STORE", store, -points, when,
                         f"Points spent at {store[1]}", SYSTEM_REDEEMED)
        left = points
        for lot in sorted(self._lots, key=lambda lot: (lot[5], lot[0])):
            take = min(left, lot[4])
            lot[4] -= take
            left -= take
        self.history.events.append((PointsRedeemed(
            transaction_id=txn, points=points, balance=self.balance, store_id=store[0],
            store_name=store[1]), self.customer_id, when))
        return True
