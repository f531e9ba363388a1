"""A posting of points earned as one PostgreSQL statement, compiled from the
same planned rows `ledger.post` writes step by step (`rows.plan`): the
account's row first (its lock, under the caller's guards), then each planned
insert as a CTE whose `Ref`s the CTEs before supply. Compiled once per shape,
so asyncpg prepares each text once per connection (docs/adr/0020)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loyalty.events import Event
from loyalty.ledger.lots import Params
from loyalty.ledger.rows import (
    OUTBOX,
    Arg,
    Lit,
    Payload,
    Ref,
    Remaining,
    SqlExpr,
    plan,
    shape,
    values,
)
from loyalty.platform.bus import CHANNEL

if TYPE_CHECKING:
    from loyalty.ledger import Posting


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
    return (f"INSERT INTO outbox_event ({', '.join(OUTBOX)}) SELECT "
            f"{Lit(event.kind).sql()}, {arg(customer_id, 'bigint')}, "
            f"json_build_object({', '.join(items)}), {arg(now, 'timestamptz')}, 0 FROM {source}")
