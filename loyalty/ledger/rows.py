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

This module and the compiled statement are the only writers of ledger
entries, lots, customer balances and outbox rows.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.attribution import acting_client
from loyalty.bus import CHANNEL
from loyalty.errors import DomainError, ErrorCode
from loyalty.events import Event, LedgerEvent, plain
from loyalty.sql import execute, fetch, fetchrow, is_pg, placeholders

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
_OUTBOX = ("kind", "customer_id", "payload", "created_at", "attempts")
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
        # The API client whose call this posting serves (loyalty/attribution.py).
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
    rows.append(Insert("outbox_event", "o", _OUTBOX, (
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
        await execute(conn, _insert_sql("outbox_event", _OUTBOX, len(chunk), None), *args)


# -- The account and its lots ------------------------------------------------


def credit_set(arg: Callable[[Any, str], str], p: Posting) -> str:
    """The account change of points earned (shared by both paths)."""
    from loyalty.ledger import NewLot

    assert isinstance(p.lots, NewLot)
    column = "pending" if p.lots.pending_until is not None else "available"
    # Each parameter once (loyalty.sql: SQLite numbers them by position).
    return (f"{column} = {column} + {arg(p.points, 'bigint')}, "
            f"lifetime_earned = lifetime_earned + {arg(p.points, 'bigint')}, "
            f"updated_at = {arg(p.now, 'timestamptz')}")


class Params:
    """Positional parameters of a statement built piece by piece: each use
    takes the next number; `cast` adds PostgreSQL casts (SQLite has none)."""

    def __init__(self, cast: bool) -> None:
        self.values: list[Any] = []
        self.cast = cast

    def __call__(self, value: Any, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}" if self.cast else f"${len(self.values)}"


async def lock_account(conn: BaseDBAsyncClient, account_id: int, skip_locked: bool) -> int | None:
    """The account row locked: its pending points; None when it is missing or
    (skip_locked) another transaction holds it."""
    sql = "SELECT pending FROM account WHERE id = $1 FOR UPDATE"
    if skip_locked and is_pg(conn):
        sql += " SKIP LOCKED"
    row = await fetchrow(conn, sql, account_id)
    return None if row is None else int(row[0])


async def mature_lots(conn: BaseDBAsyncClient, account_id: int, now: datetime) -> int:
    """Move lots whose pending window has passed from pending to available
    (the account row is locked). Points that mature while the account is
    negative repay that debt first: they are taken out of the lot, not left
    in it to be spent twice."""
    lots = await fetch(
        conn,
        "SELECT id, remaining FROM lot WHERE account_id = $1 AND pending_until IS NOT NULL "
        "AND pending_until <= $2 ORDER BY id",
        account_id,
        now,
    )
    if not lots:
        return 0
    total = sum(r[1] for r in lots)
    row = await fetchrow(
        conn,
        "UPDATE account SET pending = pending - $1, available = available + $2 "
        "WHERE id = $3 RETURNING available",
        total,
        total,
        account_id,
    )
    assert row is not None
    debt = max(0, -(row[0] - total))
    for lot_id, remaining in lots:
        repay = min(debt, remaining)
        debt -= repay
        await execute(
            conn,
            "UPDATE lot SET pending_until = NULL, remaining = remaining - $1 WHERE id = $2",
            repay,
            lot_id,
        )
    return total


async def consume_lots(conn: BaseDBAsyncClient, account_id: int, points: int, *,
                       first_lot_id: int | None = None) -> int:
    """Take `points` from the account's usable lots, first-expiring-first
    (after `first_lot_id`, when given). Returns how many were found in lots;
    the rest is a shortfall the caller accounts for."""
    left = points
    if first_lot_id is not None and left > 0:
        row = await fetchrow(conn, "SELECT remaining FROM lot WHERE id = $1", first_lot_id)
        if row is not None and row[0] > 0:
            take = min(row[0], left)
            await execute(
                conn, "UPDATE lot SET remaining = remaining - $1 WHERE id = $2", take, first_lot_id
            )
            left -= take
    if left <= 0:
        return points
    lots = await fetch(
        conn,
        "SELECT id, remaining FROM lot WHERE account_id = $1 AND remaining > 0 "
        "AND pending_until IS NULL ORDER BY expires_at, id",
        account_id,
    )
    for lot_id, remaining in lots:
        if left <= 0:
            break
        take = min(remaining, left)
        await execute(conn, "UPDATE lot SET remaining = remaining - $1 WHERE id = $2", take, lot_id)
        left -= take
    return points - left


async def move_points(conn: BaseDBAsyncClient, p: Posting) -> tuple[int, int]:
    """The account row and the lots the posting takes points from; (available,
    pending) after. A new lot is written by the plan."""
    from loyalty.ledger import ClawBack, Close, Expire, NewLot, Spend

    taken = -p.points
    if isinstance(p.lots, NewLot):
        args = Params(cast=False)
        sets = credit_set(args, p)
        row = await fetchrow(conn, f"UPDATE account SET {sets} WHERE id = "
                             f"{args(p.account_id, 'bigint')} RETURNING available, pending",
                             *args.values)
        assert row is not None, "the customer's account is missing"
        return int(row[0]), int(row[1])
    if isinstance(p.lots, Spend):
        spend = p.lots
        args = Params(cast=False)
        sets = f"available = available - {args(taken, 'bigint')}"
        if spend.unearn:
            sets += f", lifetime_earned = lifetime_earned - {args(taken, 'bigint')}"
        sets += f", updated_at = {args(p.now, 'timestamptz')}"
        where = f"id = {args(p.account_id, 'bigint')}"
        if not spend.overdraw:
            # On PostgreSQL the condition is checked on the locked row.
            where += f" AND available >= {args(taken, 'bigint')}"
        row = await fetchrow(conn, f"UPDATE account SET {sets} WHERE {where} "
                             "RETURNING available, pending", *args.values)
        if row is None:
            raise DomainError(ErrorCode.INSUFFICIENT_POINTS, "Not enough points available.",
                              spend.field)
        found = await consume_lots(conn, p.account_id, taken)
        assert spend.overdraw or found == taken, "lots out of step with the available balance"
        return int(row[0]), int(row[1])
    if isinstance(p.lots, Close):
        await execute(conn, "UPDATE lot SET remaining = 0 WHERE account_id = $1 "
                      "AND remaining > 0", p.account_id)
        row = await fetchrow(
            conn,
            "UPDATE account SET available = available - $1, pending = 0, updated_at = $2 "
            "WHERE id = $3 RETURNING available, pending",
            taken - await _pending(conn, p.account_id), p.now, p.account_id,
        )
        assert row is not None
        return int(row[0]), int(row[1])
    if isinstance(p.lots, ClawBack):
        return await _claw_back(conn, p, p.lots.lot_id, taken)
    assert isinstance(p.lots, Expire)
    ids = list(p.lots.lot_ids)
    await execute(conn, f"UPDATE lot SET remaining = 0 WHERE id IN ({placeholders(len(ids))})",
                  *ids)
    row = await fetchrow(
        conn,
        "UPDATE account SET available = available - $1, updated_at = $2 "
        "WHERE id = $3 RETURNING available, pending",
        taken, p.now, p.account_id,
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def _pending(conn: BaseDBAsyncClient, account_id: int) -> int:
    row = await fetchrow(conn, "SELECT pending FROM account WHERE id = $1", account_id)
    assert row is not None
    return int(row[0])


async def _claw_back(conn: BaseDBAsyncClient, p: Posting, lot_id: int | None,
                     points: int) -> tuple[int, int]:
    """A refund (ADR 0002): the purchase's own lot first, from `pending` while
    it has not matured, then other lots first-expiring-first; what they lack
    is taken anyway and `available` goes negative. Lifetime earnings shrink."""
    from_pending = 0
    if lot_id is not None:
        lot = await fetchrow(conn, "SELECT remaining, pending_until FROM lot WHERE id = $1",
                             lot_id)
        if lot is not None and lot[1] is not None:
            from_pending = min(lot[0], points)
            await execute(conn, "UPDATE lot SET remaining = remaining - $1 WHERE id = $2",
                          from_pending, lot_id)
    await consume_lots(conn, p.account_id, points - from_pending,
                       first_lot_id=None if from_pending else lot_id)
    row = await fetchrow(
        conn,
        "UPDATE account SET available = available - $1, pending = pending - $2, "
        "lifetime_earned = lifetime_earned - $3, updated_at = $4 "
        "WHERE id = $5 RETURNING available, pending",
        points - from_pending, from_pending, points, p.now, p.account_id,
    )
    assert row is not None
    return int(row[0]), int(row[1])


# -- One statement (PostgreSQL) ----------------------------------------------


@dataclass(frozen=True)
class Guard:
    """A condition the one statement checks on the account row it locks:
    `sql` makes it from the placeholders of the posting's values `uses` names
    (`extra` adds values of its own)."""

    name: str
    uses: tuple[str, ...]
    sql: Callable[..., str]
    extra: tuple[tuple[str, Any], ...] = ()


_CASTS = {bool: "boolean", int: "bigint", str: "text", datetime: "timestamptz"}


class _Numbering:
    """Each named value's one parameter, numbered at its first use."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.order: list[str] = []
        self.numbers: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        found = self.numbers.get(name)
        if found is None:
            self.order.append(name)
            found = f"${len(self.order)}::{_CASTS[type(self.named[name])]}"
            self.numbers[name] = found
        return found


def _sql_value(value: Any, arg: _Numbering) -> str:
    kind = type(value)
    if value is None:
        return "NULL"
    if kind is Arg:
        return "NULL" if arg.named[value] is None else arg(value)
    if kind is Lit:
        return value.sql()
    if kind is SqlExpr:
        return str(value)
    if kind is Ref:
        return value.value
    if kind is Remaining:
        points = arg(value.points)
        return f"{points} - LEAST({points}, GREATEST(0, {points} - a.available))"
    if kind is Payload:
        return "json_build_object(" + ", ".join(
            f"'{k}', {_sql_value(v, arg)}" for k, v in value.items) + ")"
    raise TypeError(f"no SQL for {value!r}")  # pragma: no cover - a new kind of value


def _sources(row: tuple[Any, ...]) -> str:
    found = {"a"}
    for value in row:
        items = [v for _, v in value.items] if isinstance(value, Payload) else [value]
        for v in items:
            if v is Ref.TRANSACTION:
                found.add("t")
            elif v is Ref.LOT:
                found.add("l")
    return ", ".join(sorted(found, key="tla".index))


# Statements by shape: the same text for every posting of one shape, so
# asyncpg prepares it once per connection (and Python builds it once), and the
# names of its parameters in order.
_compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}


def one_statement(p: Posting, counter_id: int, guards: Sequence[Guard]) -> tuple[str, list[Any]]:
    """The posting of points earned as one statement: the account's row (its
    lock) first, under `guards`, then the planned rows; nothing at all when a
    guard fails. Returns one row (transaction id, available, pending, lot id)
    or none."""
    named = values(p)
    for g in guards:
        named.update(g.extra)
    key = (shape(p, counter_id), tuple(g.name for g in guards),
           tuple(k for k, v in named.items() if v is None))
    found = _compiled.get(key)
    if found is None:
        found = _compile(p, counter_id, guards, named)
        if len(_compiled) > 256:
            _compiled.clear()
        _compiled[key] = found
    sql, order = found
    return sql, [named[name] for name in order]


def _compile(p: Posting, counter_id: int, guards: Sequence[Guard],
             named: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    arg = _Numbering(named)
    where = [f"id = {arg('account')}", "pending = 0",
             *(g.sql(*(arg(n) for n in g.uses)) for g in guards)]
    sets = (f"available = available + {arg('points')}, "
            f"lifetime_earned = lifetime_earned + {arg('points')}, updated_at = {arg('now')}")
    ctes = [f"a AS (UPDATE account SET {sets} WHERE {' AND '.join(where)} "
            "RETURNING available, pending)"]
    for insert in plan(p, counter_id):
        selects = " UNION ALL ".join(
            f"SELECT {', '.join(_sql_value(v, arg) for v in row)} FROM {_sources(row)}"
            for row in insert.rows
        )
        returning = f" RETURNING {insert.returning}" if insert.returning else ""
        ctes.append(f"{insert.alias} AS (INSERT INTO {insert.table} "
                    f"({', '.join(insert.columns)}) {selects}{returning})")
    sql = (f"WITH {', '.join(ctes)} SELECT t.id, a.available, a.pending, l.id, "
           f"pg_notify('{CHANNEL}', {arg('customer_text')}) FROM t, a, l")
    return sql, tuple(arg.order)


def emit_statement(arg: Params, customer_id: int, event: Event, now: datetime, *, source: str,
                   computed: dict[str, str]) -> str:
    """SQL: the outbox row `emit` writes for `event`, inserted for each row of
    `source` (a CTE of the caller's statement); `computed` gives payload
    fields as SQL expressions of it (an id the same statement writes)."""
    items = []
    for k, v in event.payload().items():
        if k in computed:
            items.append(f"'{k}', {computed[k]}")
        elif v is None:
            items.append(f"'{k}', NULL")
        else:
            items.append(f"'{k}', {arg(v, _CASTS[type(v)])}")
    return (f"INSERT INTO outbox_event ({', '.join(_OUTBOX)}) SELECT "
            f"{Lit(event.kind).sql()}, {arg(customer_id, 'bigint')}, "
            f"json_build_object({', '.join(items)}), {arg(now, 'timestamptz')}, 0 FROM {source}")
