"""Reading the ledger: balances, expiry, history, and the invariants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import as_datetime, fetch, fetchrow, placeholders


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    lifetime_earned: int
    next_expiry_points: int | None
    next_expiry_at: datetime | None


@dataclass(frozen=True)
class HistoryItem:
    id: int
    occurred_at: datetime
    kind: str
    points: int
    balance_after: int
    channel: str
    store_name: str | None
    description: str


def _conn() -> BaseDBAsyncClient:
    return connections.get("default")


async def balances_for(customer_ids: list[int]) -> dict[int, Balance]:
    """Balances of many customers in two statements (the dataloader's batch)."""
    if not customer_ids:
        return {}
    conn = _conn()
    marks = placeholders(len(customer_ids))
    accounts = await fetch(
        conn,
        f"SELECT customer_id, id, available, pending, lifetime_earned FROM account "
        f"WHERE customer_id IN ({marks})",
        *customer_ids,
    )
    by_account = {r[1]: r for r in accounts}
    if not by_account:
        return {}
    marks = placeholders(len(by_account))
    # The earliest expiry date per account and the points left in lots then.
    lots = await fetch(
        conn,
        "SELECT l.account_id, l.expires_at, SUM(l.remaining) FROM lot l "
        "JOIN (SELECT account_id, MIN(expires_at) AS first FROM lot "
        f"WHERE remaining > 0 AND account_id IN ({marks}) GROUP BY account_id) f "
        "ON f.account_id = l.account_id AND f.first = l.expires_at "
        "WHERE l.remaining > 0 GROUP BY l.account_id, l.expires_at",
        *by_account,
    )
    expiry = {r[0]: (int(r[2]), as_datetime(r[1])) for r in lots}
    result = {}
    for account_id, row in by_account.items():
        points, at = expiry.get(account_id, (None, None))
        result[row[0]] = Balance(int(row[2]), int(row[3]), int(row[4]), points, at)
    return result


async def history(customer_id: int, first: int, before_id: int | None) -> list[HistoryItem]:
    """The customer's entries, newest first, `first` of them after the cursor."""
    conn = _conn()
    cursor_clause = "AND e.id < $2 " if before_id is not None else ""
    args: list[object] = [customer_id]
    if before_id is not None:
        args.append(before_id)
    args.append(first)
    rows = await fetch(
        conn, f"{HISTORY_SQL}{cursor_clause}ORDER BY e.id DESC LIMIT ${len(args)}", *args
    )
    return [history_item(r) for r in rows]


# The history's select, up to its cursor and limit (the app's home-screen fast
# path, api/fast_home.py, embeds it too).
HISTORY_SQL = (
    "SELECT e.id, t.occurred_at, t.kind, e.points, e.balance_after, t.channel, s.name, "
    "t.description FROM ledger_entry e "
    "JOIN ledger_transaction t ON t.id = e.transaction_id "
    "LEFT JOIN store s ON s.id = t.store_id "
    # A scalar subquery, not a join: the planner then walks the (account_id, id)
    # index backwards instead of the whole entries table.
    "WHERE e.account_id = (SELECT id FROM account WHERE customer_id = $1) "
)


def history_item(r: Any) -> HistoryItem:
    """A row of HISTORY_SQL."""
    return HistoryItem(r[0], as_datetime(r[1]), r[2], int(r[3]), int(r[4]), r[5], r[6], r[7])


@dataclass(frozen=True)
class VerifyReport:
    accounts_checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_ledger() -> VerifyReport:
    """Every customer account's balance equals the sum of its entries; every
    transaction's entries, and so all entries, sum to zero; usable lots hold
    exactly the available points of a non-negative account, and pending lots
    exactly its pending points."""
    conn = _conn()
    problems: list[str] = []
    rows = await fetch(
        conn,
        "SELECT a.id, a.available + a.pending, COALESCE(SUM(e.points), 0) FROM account a "
        "LEFT JOIN ledger_entry e ON e.account_id = a.id "
        "WHERE a.kind = 'customer' GROUP BY a.id, a.available, a.pending "
        "HAVING a.available + a.pending <> COALESCE(SUM(e.points), 0)",
    )
    for account_id, kept, summed in rows:
        problems.append(f"account {account_id}: balance {kept} but entries sum to {summed}")
    for txn_id, total in await fetch(
        conn,
        "SELECT transaction_id, SUM(points) FROM ledger_entry GROUP BY transaction_id "
        "HAVING SUM(points) <> 0",
    ):
        problems.append(f"transaction {txn_id}: entries sum to {total}, not 0")
    for txn_id, legs in await fetch(
        conn,
        "SELECT t.id, COUNT(e.id) FROM ledger_transaction t LEFT JOIN ledger_entry e "
        "ON e.transaction_id = t.id GROUP BY t.id HAVING COUNT(e.id) < 2",
    ):
        problems.append(f"transaction {txn_id}: {legs} entries, a posting needs two or more")
    total = await fetchrow(conn, "SELECT COALESCE(SUM(points), 0) FROM ledger_entry")
    if total is not None and int(total[0]) != 0:
        problems.append(f"all entries sum to {total[0]}, not 0")
    for account_id, available, in_lots in await fetch(
        conn,
        "SELECT a.id, a.available, COALESCE(SUM(l.remaining), 0) FROM account a "
        "LEFT JOIN lot l ON l.account_id = a.id AND l.pending_until IS NULL "
        "WHERE a.kind = 'customer' GROUP BY a.id, a.available "
        "HAVING COALESCE(SUM(l.remaining), 0) <> "
        "CASE WHEN a.available > 0 THEN a.available ELSE 0 END",
    ):
        problems.append(
            f"account {account_id}: available {available} but usable lots hold {in_lots}"
        )
    for account_id, pending, in_lots in await fetch(
        conn,
        "SELECT a.id, a.pending, COALESCE(SUM(l.remaining), 0) FROM account a "
        "LEFT JOIN lot l ON l.account_id = a.id AND l.pending_until IS NOT NULL "
        "WHERE a.kind = 'customer' GROUP BY a.id, a.pending "
        "HAVING COALESCE(SUM(l.remaining), 0) <> a.pending",
    ):
        problems.append(f"account {account_id}: pending {pending} but pending lots "
                        f"hold {in_lots}")
    checked = await fetchrow(conn, "SELECT COUNT(*) FROM account")
    return VerifyReport(int(checked[0]) if checked else 0, problems)
