"""The rows a posting writes, described once and written two ways.

`plan` lists the rows of a posting: its ledger transaction, the lot it
creates, the purchase it records, its two entries and its outbox event, as
columns of named values (`Arg`: the posting's fields, one parameter however
often used; `Lit`: constants of the posting's shape). Some values are known
only once an earlier row is written (the transaction's id, the balance after,
the lot's id, the part of the points that repays a debt): they are `Ref`s and
`Remaining`. `loyalty.ledger.post` writes a plan step by step on either
database, reading each Ref from the RETURNING of the statement before;
`one_statement` compiles the very same plan into one PostgreSQL statement
whose CTEs supply the Refs (the purchase's one-statement path,
docs/adr/0020). A column added to a row or a field to an event reaches both at
once, and tests/integration/test_posting_paths.py checks that they write the
same rows. A plan depends only on the posting's shape (its kind, channel, lot
move, event class...), so plans and compiled statements are kept by shape.

With `lots.py` (what a posting does to the account row and its lots) and
`statement.py` (the one-statement form), this package is the only writer of
ledger entries, lots, customer balances and outbox rows.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.events import Event, LedgerEvent, plain
from loyalty.platform.attribution import acting_client
from loyalty.platform.bus import CHANNEL
from loyalty.platform.sql import execute, fetch, fetchrow, is_pg

if TYPE_CHECKING:
    from loyalty.ledger import Posting


class Ref(Enum):
    """A value the database gives back, named by the CTE column that holds it."""

    TRANSACTION = "t.id"
    LOT = "l.id"
    AVAILABLE = "a.available"
    BALANCE_AFTER = "a.available + a.pending"


class Arg(str):
    """A value of the posting, by name (`values`)."""


@dataclass(frozen=True)
class Lit:
    """A constant of the posting's shape, written into the SQL."""

    value: int | str

    def sql(self) -> str:
        if isinstance(self.value, int):
            return str(self.value)
        assert "'" not in self.value, "a constant of the shape is an identifier"
        return f"'{self.value}'"


@dataclass(frozen=True)
class Remaining:
    """What a new lot keeps of the points credited to the available balance:
    the part that repays a negative balance never enters it (ADR 0002)."""

    points: Arg

    @staticmethod
    def value(points: int, available_after: int) -> int:
        return points - min(points, max(0, points - available_after))


class SqlExpr(str):
    """A value the statement itself computes (a CTE's column)."""


@dataclass(frozen=True)
class Payload:
    """An event's JSON object, with Args and Refs for its values."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Insert:
    table: str
    alias: str  # its CTE in the one statement
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    returning: str | None = None


_TRANSACTION = ("kind", "channel", "description", "idempotency_key", "request_hash",
                "customer_id", "store_id", "points", "reverses_id", "occurred_at", "created_at",
                "api_client_id")
_LOT = ("account_id", "transaction_id", "points", "remaining", "pending_until", "expires_at",
        "created_at")
_PURCHASE = ("store_id", "receipt_id", "customer_id", "transaction_id", "lot_id", "channel",
             "total_minor", "currency", "refunded_minor", "points_earned", "points_refunded",
             "occurred_at")
_ENTRY = ("transaction_id", "account_id", "points", "balance_after")
OUTBOX = ("kind", "customer_id", "payload", "created_at", "attempts")
# The fields of a posting's event that are the ledger's (ledger.events.LedgerEvent).
_FILLED = {"transaction_id": Ref.TRANSACTION, "points": Arg("event_points"),
           "balance": Ref.AVAILABLE}


def _omitted(event: LedgerEvent | None) -> frozenset[str]:
    """The event's fields its payload leaves out (the ledger's never)."""
    if event is None or not event.omitted_when_none:
        return frozenset()
    return frozenset(n for n in event.omitted_when_none
                     if n not in _FILLED and getattr(event, n) is None)


def values(p: Posting) -> dict[str, Any]:
    """The posting's values by name, as its plan's Args name them."""
    lots, purchase, event = p.lots, p.purchase, p.event
    found = {
        "description": p.description, "key": p.key, "fingerprint": p.fingerprint,
        "customer": p.customer_id, "customer_text": str(p.customer_id),
        "account": p.account_id, "store": p.store_id,
        "points": p.points, "minus_points": -p.points, "event_points": abs(p.points),
        "reverses": p.reverses_id, "occurred": p.occurred_at, "now": p.now,
        # The API client whose call this posting serves (loyalty/platform/attribution.py).
        "api_client": acting_client.get(),
        "expires": getattr(lots, "expires_at", None),
        "pending_until": getattr(lots, "pending_until", None),
    }
    if purchase is not None:
        found.update(receipt=purchase.receipt_id, purchase_store=purchase.store_id,
                     total=purchase.total_minor, currency=purchase.currency)
    if event is not None:
        for name in _event_fields(type(event), _omitted(event)):  # type: ignore[arg-type]
            found[f"event.{name}"] = plain(getattr(event, name))
    return found


def shape(p: Posting, counter_id: int) -> tuple[Any, ...]:
    """What decides a posting's plan (not its values)."""
    lots, event = p.lots, p.event
    return (p.kind, p.channel, type(lots), getattr(lots, "pending_until", None) is None,
            p.purchase is None, type(event), _omitted(event), counter_id)


@lru_cache(maxsize=64)
def _event_fields(cls: type[LedgerEvent], omitted: frozenset[str]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls)
                 if f.name not in _FILLED and f.name not in omitted)


@lru_cache(maxsize=256)
def _plan(key: tuple[Any, ...]) -> tuple[Insert, ...]:
    from loyalty.ledger import NewLot

    kind, channel, lots, no_pending, no_purchase, event, omitted, counter_id = key
    txn = Ref.TRANSACTION
    rows = [Insert("ledger_transaction", "t", _TRANSACTION, ((
        Lit(kind.value), Lit(channel.value), Arg("description"), Arg("key"),
        Arg("fingerprint"), Arg("customer"), Arg("store"), Arg("points"), Arg("reverses"),
        Arg("occurred"), Arg("now"), Arg("api_client")),), "id")]
    if lots is NewLot:
        remaining: Any = Remaining(Arg("points")) if no_pending else Arg("points")
        rows.append(Insert("lot", "l", _LOT, ((
            Arg("account"), txn, Arg("points"), remaining, Arg("pending_until"),
            Arg("expires"), Arg("now")),), "id"))
    if not no_purchase:
        rows.append(Insert("purchase", "p", _PURCHASE, ((
            Arg("purchase_store"), Arg("receipt"), Arg("customer"), txn, Ref.LOT,
            Lit(channel.value), Arg("total"), Arg("currency"), Lit(0), Arg("points"), Lit(0),
            Arg("occurred")),)))
    rows.append(Insert("ledger_entry", "e", _ENTRY, (
        (txn, Arg("account"), Arg("points"), Ref.BALANCE_AFTER),
        (txn, Lit(counter_id), Arg("minus_points"), None),
    )))
    if event is type(None):
        return tuple(rows)  # a posting without an event (an import's history)
    payload = []
    for f in dataclasses.fields(event):
        name = f.metadata.get("json", f.name)
        if f.name in _FILLED:
            payload.append((name, _FILLED[f.name]))
        elif f.name not in omitted:
            payload.append((name, Arg(f"event.{f.name}")))
    rows.append(Insert("outbox_event", "o", OUTBOX, (
        (Lit(event.kind), Arg("customer"), Payload(tuple(payload)), Arg("now"), Lit(0)),)))
    return tuple(rows)


def plan(p: Posting, counter_id: int) -> tuple[Insert, ...]:
    """The posting's rows, in the order they are written."""
    return _plan(shape(p, counter_id))


# -- Step by step (either database) ------------------------------------------


@lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], count: int, returning: str | None) -> str:
    width = len(columns)
    rows = ", ".join(
        "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")" for r in range(count)
    )
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {rows}"
    return sql + (f" RETURNING {returning}" if returning else "")


def _resolve(value: Any, named: dict[str, Any], known: dict[Ref, Any]) -> Any:
    kind = type(value)
    if kind is Arg:
        return named[value]
    if kind is Lit:
        return value.value
    if kind is Ref:
        return known[value]
    if kind is Remaining:
        return Remaining.value(named[value.points], known[Ref.AVAILABLE])
    if kind is Payload:
        return json.dumps({k: _resolve(v, named, known) for k, v in value.items})
    return value


async def write(conn: BaseDBAsyncClient, insert: Insert, named: dict[str, Any],
                known: dict[Ref, Any], notify: int | None = None) -> Any | None:
    """One planned insert, its values resolved; its RETURNING value, if any.
    `notify` (PostgreSQL): the customer whose balance every listening process
    hears about at commit, in the same round trip."""
    args = [_resolve(v, named, known) for row in insert.rows for v in row]
    sql = _insert_sql(insert.table, insert.columns, len(insert.rows), insert.returning)
    if notify is not None:
        n = len(args)
        await fetch(conn, f"WITH w AS ({sql}) SELECT pg_notify(${n + 1}, ${n + 2})",
                    *args, CHANNEL, str(notify))
        return None
    if insert.returning:
        row = await fetchrow(conn, sql, *args)
        return None if row is None else row[0]
    await execute(conn, sql, *args)
    return None


async def emit(conn: BaseDBAsyncClient, customer_id: int | None, event: Event,
               processed_at: datetime | None, now: datetime) -> int:
    """An outbox row for an event that moves no points (no NOTIFY)."""
    row = await fetchrow(
        conn,
        "INSERT INTO outbox_event (kind, customer_id, payload, created_at, processed_at, "
        "attempts) VALUES ($1, $2, $3, $4, $5, 0) RETURNING id",
        event.kind, customer_id, event.to_json(), now, processed_at,
    )
    assert row is not None
    return int(row[0])


_CHUNK = 500  # rows per INSERT on SQLite: 5 parameters each, far below its limit


async def emit_to_many(conn: BaseDBAsyncClient, event: Event, customer_ids: Sequence[int],
                       now: datetime) -> None:
    """The same event for each customer, in the order given."""
    payload = event.to_json()
    if is_pg(conn):
        # One statement whatever the audience: the ids go as one array, not
        # four parameters a row (100,000 recipients: ~0.3 s instead of ~2.5 s).
        await execute(
            conn,
            "INSERT INTO outbox_event (kind, customer_id, payload, created_at, attempts) "
            "SELECT $1::varchar, u.id, $2::jsonb, $3::timestamptz, 0 "
            "FROM unnest($4::bigint[]) WITH ORDINALITY AS u(id, n) ORDER BY u.n",
            event.kind, payload, now, list(customer_ids),
        )
        return
    for start in range(0, len(customer_ids), _CHUNK):
        chunk = customer_ids[start : start + _CHUNK]
        args: list[object] = []
        for customer_id in chunk:
            args += [event.kind, customer_id, payload, now, 0]
        await execute(conn, _insert_sql("outbox_event", OUTBOX, len(chunk), None), *args)
