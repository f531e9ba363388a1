"""What a posting does to the customer's account row and its lots: the lock
(and maturing of pending lots) every posting starts with, then the balance
and the lots each kind of move changes (`ledger.NewLot`, `Spend`, `ClawBack`,
`Expire`, `Close`). Written step by step on either database; the points
earned of the one-statement path change the account in its first CTE
(`statement.py`, from `credit_set`'s same arithmetic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.errors import DomainError, ErrorCode
from loyalty.platform.sql import execute, fetch, fetchrow, is_pg, placeholders

if TYPE_CHECKING:
    from loyalty.ledger import Posting


def credit_set(arg: Callable[[Any, str], str], p: Posting) -> str:
    """The account change of points earned (shared by both paths)."""
    from loyalty.ledger import NewLot

    assert isinstance(p.lots, NewLot)
    column = "pending" if p.lots.pending_until is not None else "available"
    # Each parameter once (loyalty.platform.sql: SQLite numbers them by position).
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


