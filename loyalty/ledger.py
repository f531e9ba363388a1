"""The double-entry ledger: posting transactions, keeping balances, idempotency.

Every posting runs inside one database transaction that also writes its outbox
event. The customer account row is the lock that serialises postings for one
customer; system accounts keep no running balance (their balance is the sum of
their entries), so concurrent postings for different customers never contend.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.attribution import acting_client
from loyalty.bus import CHANNEL, bus
from loyalty.errors import DomainError, ErrorCode
from loyalty.sql import as_datetime, execute, fetch, fetchrow, is_pg


class Kind(StrEnum):
    EARN = "EARN"
    REDEEM = "REDEEM"
    REFUND = "REFUND"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"
    BONUS = "BONUS"
    TRANSFER = "TRANSFER"


class Channel(StrEnum):
    STORE = "STORE"
    APP = "APP"
    WEB = "WEB"
    PHONE = "PHONE"
    FRANCHISE = "FRANCHISE"
    CHECKIN = "CHECKIN"
    SYSTEM = "SYSTEM"


SYSTEM_ISSUED = "issued"
SYSTEM_REDEEMED = "redeemed"
SYSTEM_EXPIRED = "expired"
SYSTEM_ADJUSTMENTS = "adjustments"

MAX_KEY_LENGTH = 128
# Keys the programme itself posts under (a visit's daily reward); a client may
# not use them, or it could take another customer's reward.
SYSTEM_KEY_PREFIX = "sys:"


@dataclass(frozen=True)
class TransactionResult:
    id: int
    kind: str
    points: int
    description: str
    created_at: datetime
    customer_id: int | None
    replayed: bool = False


def request_hash(operation: str, **fields: Any) -> str:
    """Fingerprint of a write's meaning, to tell a retry from a key reused for
    another request."""
    body = json.dumps({"op": operation, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def check_idempotency_key(key: str) -> str:
    key = key.strip() if isinstance(key, str) else ""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters.",
            "idempotencyKey",
        )
    if key.startswith(SYSTEM_KEY_PREFIX):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"idempotencyKey may not start with {SYSTEM_KEY_PREFIX!r}.",
            "idempotencyKey",
        )
    return key


_system_ids: dict[str, int] = {}


async def system_account_id(conn: BaseDBAsyncClient, code: str) -> int:
    if code not in _system_ids:
        row = await fetchrow(conn, "SELECT id FROM account WHERE code = $1", code)
        if row is None:  # pragma: no cover - created by migration 0002
            raise RuntimeError(f"system account {code!r} is missing; run migrations")
        _system_ids[code] = row[0]
    return _system_ids[code]


def reset_caches() -> None:
    _system_ids.clear()


async def find_by_key(
    conn: BaseDBAsyncClient, key: str, fingerprint: str
) -> TransactionResult | None:
    """The transaction already posted under `key`, or None; a key reused with
    another request is IDEMPOTENCY_CONFLICT."""
    row = await fetchrow(
        conn,
        "SELECT id, kind, points, description, created_at, customer_id, request_hash "
        "FROM ledger_transaction WHERE idempotency_key = $1",
        key,
    )
    if row is None:
        return None
    if row[6] != fingerprint:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was already used for a different request.",
            "idempotencyKey",
        )
    return TransactionResult(
        id=row[0],
        kind=row[1],
        points=row[2],
        description=row[3],
        created_at=as_datetime(row[4]),
        customer_id=row[5],
        replayed=True,
    )


async def insert_transaction(
    conn: BaseDBAsyncClient,
    *,
    kind: Kind,
    channel: Channel,
    description: str,
    key: str,
    fingerprint: str,
    customer_id: int | None,
    store_id: int | None,
    points: int,
    occurred_at: datetime,
    reverses_id: int | None = None,
) -> TransactionResult:
    """Claim the idempotency key first: a concurrent retry blocks on the unique
    index until this transaction ends, then fails and replays our result."""
    now = datetime.now(UTC)
    row = await fetchrow(
        conn,
        "INSERT INTO ledger_transaction (kind, channel, description, idempotency_key, "
        "request_hash, customer_id, store_id, points, reverses_id, occurred_at, created_at, "
        "api_client_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        kind.value,
        channel.value,
        description,
        key,
        fingerprint,
        customer_id,
        store_id,
        points,
        reverses_id,
        occurred_at,
        now,
        # The API client whose call this posting serves (loyalty/attribution.py).
        acting_client.get(),
    )
    assert row is not None
    return TransactionResult(row[0], kind.value, points, description, now, customer_id)


async def add_entries(
    conn: BaseDBAsyncClient,
    txn_id: int,
    customer_account_id: int,
    customer_points: int,
    customer_balance_after: int,
    system_account: str,
) -> None:
    """The two legs of a customer posting: they sum to zero by construction."""
    system_id = await system_account_id(conn, system_account)
    await execute(
        conn,
        "INSERT INTO ledger_entry (transaction_id, account_id, points, balance_after) "
        "VALUES ($1, $2, $3, $4), ($5, $6, $7, NULL)",
        txn_id,
        customer_account_id,
        customer_points,
        customer_balance_after,
        txn_id,
        system_id,
        -customer_points,
    )


async def add_outbox(
    conn: BaseDBAsyncClient, kind: str, customer_id: int | None, payload: dict[str, Any]
) -> None:
    await execute(
        conn,
        "INSERT INTO outbox_event (kind, customer_id, payload, created_at, attempts) "
        "VALUES ($1, $2, $3, $4, 0)",
        kind,
        customer_id,
        json.dumps(payload),
        datetime.now(UTC),
    )
    if is_pg(conn):
        # Delivered to every listening process at commit, never on rollback.
        await fetch(conn, "SELECT pg_notify($1, $2)", CHANNEL, str(customer_id))


async def finish_posting(
    conn: BaseDBAsyncClient,
    txn: TransactionResult,
    *,
    account_id: int,
    available: int,
    pending: int,
    system_account: str,
    event: str,
    store_id: int | None,
    store_name: str | None,
    **event_fields: Any,
) -> None:
    """The legs of a customer posting and its outbox event, which every use
    case writes last, once the balance it returns is known."""
    await add_entries(conn, txn.id, account_id, txn.points, available + pending, system_account)
    await add_outbox(
        conn,
        event,
        txn.customer_id,
        {
            "transaction_id": txn.id,
            "points": abs(txn.points),
            "balance": available,
            "store_id": store_id,
            "store_name": store_name,
            **event_fields,
        },
    )


def published_after_commit(conn_was_pg: bool, customer_id: int | None) -> None:
    """SQLite has no NOTIFY: tell this process's subscribers once committed."""
    if not conn_was_pg and customer_id is not None:
        bus.publish(customer_id)


async def consume_lots(
    conn: BaseDBAsyncClient,
    account_id: int,
    points: int,
    *,
    first_lot_id: int | None = None,
) -> int:
    """Take `points` from the account's usable lots, first-expiring-first
    (after `first_lot_id`, when given). Returns how many were found in lots;
    the rest is a shortfall the caller must account for."""
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


async def mature_lots(conn: BaseDBAsyncClient, account_id: int, now: datetime) -> int:
    """Move lots whose pending window has passed from pending to available.

    Locks the account row first, as every posting does before touching lots,
    so that two postings never wait on each other in opposite orders. Points
    that mature while the account is negative repay that debt first: they are
    taken out of the lot, not left in it to be spent twice."""
    account = await fetchrow(
        conn, "SELECT pending FROM account WHERE id = $1 FOR UPDATE", account_id
    )
    if account is None or account[0] == 0:
        return 0
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


async def credit_points(
    conn: BaseDBAsyncClient,
    *,
    account_id: int,
    transaction_id: int,
    points: int,
    expires_at: datetime,
    now: datetime,
    pending_until: datetime | None = None,
) -> tuple[int, int, int]:
    """Earned points onto the account row and into their lot: (available,
    pending, lot id) after. Points landing on a negative balance repay that
    debt first (docs/adr/0002): they never enter the lot. Pending points wait
    in it; mature_lots repays from them when they mature."""
    column = "pending" if pending_until else "available"
    row = await fetchrow(
        conn,
        f"UPDATE account SET {column} = {column} + $1, "
        "lifetime_earned = lifetime_earned + $2, updated_at = $3 "
        "WHERE id = $4 RETURNING available, pending",
        points,
        points,
        now,
        account_id,
    )
    assert row is not None, "the customer's account is missing"
    available, pending = row[0], row[1]
    repaid = 0 if pending_until else min(points, max(0, -(available - points)))
    lot = await fetchrow(
        conn,
        "INSERT INTO lot (account_id, transaction_id, points, remaining, pending_until, "
        "expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        account_id,
        transaction_id,
        points,
        points - repaid,
        pending_until,
        expires_at,
        now,
    )
    assert lot is not None
    return available, pending, lot[0]
