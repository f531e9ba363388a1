"""Earning points for a purchase, and taking them back when goods come back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty.config import get_settings
from loyalty.earning import base_points, expiry_for, pending_until
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.ledger import (
    SYSTEM_ISSUED,
    Channel,
    Kind,
    TransactionResult,
    check_idempotency_key,
    find_by_key,
    finish_posting,
    insert_transaction,
    mature_lots,
    published_after_commit,
    request_hash,
    system_account_id,
)
from loyalty.money import Money
from loyalty.sql import execute, fetchrow, is_pg
from loyalty.stores import store_name

# Tills that were offline may post late; beyond this a receipt is refused.
MAX_BACKDATE = timedelta(days=30)
MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Posted:
    transaction: TransactionResult
    available: int


def check_occurred_at(occurred_at: datetime | None, now: datetime) -> datetime:
    if occurred_at is None:
        return now
    if occurred_at.tzinfo is None:
        raise invalid("occurredAt needs a UTC offset.", "occurredAt")
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise invalid("occurredAt is in the future.", "occurredAt")
    if occurred_at < now - MAX_BACKDATE:
        raise invalid("occurredAt is too old to earn points.", "occurredAt")
    return occurred_at.astimezone(UTC)


def check_receipt(receipt_id: str) -> str:
    receipt_id = receipt_id.strip() if isinstance(receipt_id, str) else ""
    if not receipt_id or len(receipt_id) > 128:
        raise invalid("receiptId must be 1 to 128 characters.", "receiptId")
    return receipt_id


async def record_purchase(
    *,
    idempotency_key: str,
    customer_id: int,
    account_id: int,
    store_id: int,
    receipt_id: str,
    total: Money,
    channel: Channel = Channel.STORE,
    occurred_at: datetime | None = None,
) -> Posted:
    """Post the points a purchase earns. A retry with the same key returns the
    original posting; another purchase with the same (store, receipt) is
    DUPLICATE_RECEIPT."""
    settings = get_settings()
    key = check_idempotency_key(idempotency_key)
    receipt_id = check_receipt(receipt_id)
    now = datetime.now(UTC)
    fingerprint = _fingerprint(customer_id, store_id, receipt_id, total, channel, occurred_at)
    try:
        when = check_occurred_at(occurred_at, now)
    except DomainError:
        # A till retrying an offline receipt that has since aged past the
        # window gets its original posting back, not a refusal.
        posted = await replay_by_key(key, fingerprint, account_id)
        if posted is None:
            raise
        return posted
    points = base_points(total, settings)
    default = connections.get("default")
    if is_pg(default) and settings.pending_days <= 0:
        return await _earn_in_one_statement(
            default,
            key=key,
            fingerprint=fingerprint,
            customer_id=customer_id,
            account_id=account_id,
            store_id=store_id,
            receipt_id=receipt_id,
            total=total,
            points=points,
            channel=channel,
            when=when,
            now=now,
            expires_at=expiry_for(when, settings),
        )
    try:
        async with in_transaction() as conn:
            pg = is_pg(conn)
            name = await store_name(conn, store_id)
            description = f"Purchase at {name}"
            txn = await insert_transaction(
                conn,
                kind=Kind.EARN,
                channel=channel,
                description=description,
                key=key,
                fingerprint=fingerprint,
                customer_id=customer_id,
                store_id=store_id,
                points=points,
                occurred_at=when,
            )
            await mature_lots(conn, account_id, now)
            mature = pending_until(when, settings)
            column = "pending" if mature else "available"
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
            assert row is not None
            available, pending = row[0], row[1]
            # Points that land while the account is negative repay that debt
            # first (docs/adr/0002): they never enter a lot.
            repaid = 0 if mature else min(points, max(0, -(available - points)))
            lot = await fetchrow(
                conn,
                "INSERT INTO lot (account_id, transaction_id, points, remaining, pending_until, "
                "expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                account_id,
                txn.id,
                points,
                points - repaid,
                mature,
                expiry_for(when, settings),
                now,
            )
            assert lot is not None
            await execute(
                conn,
                "INSERT INTO purchase (store_id, receipt_id, customer_id, transaction_id, lot_id, "
                "channel, total_minor, currency, refunded_minor, points_earned, points_refunded, "
                "occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, 0, $10)",
                store_id,
                receipt_id,
                customer_id,
                txn.id,
                lot[0],
                channel.value,
                total.amount_minor,
                total.currency,
                points,
                when,
            )
            await finish_posting(
                conn,
                txn,
                account_id=account_id,
                available=available,
                pending=pending,
                system_account=SYSTEM_ISSUED,
                event="points.earned",
                store_id=store_id,
                store_name=name,
                channel=channel.value,
            )
    except IntegrityError:
        return await _after_conflict(key, fingerprint, store_id, receipt_id, account_id)
    published_after_commit(pg, customer_id)
    return Posted(txn, available)


# PostgreSQL, nothing pending: the same rows as the general path below, written
# by one statement in one round trip (its own transaction; with no account row
# nothing at all is written). The lot keeps only
# what is left after repaying a negative balance (docs/adr/0002); NOTIFY is
# delivered at commit like everywhere else.
_EARN_SQL = """WITH a AS (
  UPDATE account SET available = available + $6, lifetime_earned = lifetime_earned + $6,
    updated_at = $8 WHERE id = $9 RETURNING available, pending),
t AS (
  INSERT INTO ledger_transaction (kind, channel, description, idempotency_key, request_hash,
    customer_id, store_id, points, reverses_id, occurred_at, created_at)
  SELECT 'EARN', $16, $1, $2, $3, $4, $5, $6, NULL, $7, $8 FROM a RETURNING id),
l AS (INSERT INTO lot (account_id, transaction_id, points, remaining, pending_until, expires_at,
    created_at)
  SELECT $9, t.id, $6, $6 - LEAST($6, GREATEST(0, $6 - a.available)), NULL, $10, $8 FROM t, a
  RETURNING id, transaction_id),
p AS (INSERT INTO purchase (store_id, receipt_id, customer_id, transaction_id, lot_id, channel,
    total_minor, currency, refunded_minor, points_earned, points_refunded, occurred_at)
  SELECT $5, $11, $4, l.transaction_id, l.id, $16, $12, $13, 0, $6, 0, $7 FROM l),
e AS (INSERT INTO ledger_entry (transaction_id, account_id, points, balance_after)
  SELECT t.id, $9, $6, a.available + a.pending FROM t, a
  UNION ALL SELECT t.id, $14, -$6, NULL FROM t),
o AS (INSERT INTO outbox_event (kind, customer_id, payload, created_at, attempts)
  SELECT 'points.earned', $4, json_build_object('transaction_id', t.id, 'points', $6,
    'balance', a.available, 'store_id', $5, 'store_name', $15::text, 'channel', $16::text),
    $8, 0 FROM t, a)
SELECT t.id, a.available, pg_notify($17, $4::text) FROM t, a"""


async def _earn_in_one_statement(
    conn: BaseDBAsyncClient,
    *,
    key: str,
    fingerprint: str,
    customer_id: int,
    account_id: int,
    store_id: int,
    receipt_id: str,
    total: Money,
    points: int,
    channel: Channel,
    when: datetime,
    now: datetime,
    expires_at: datetime,
) -> Posted:
    from loyalty.bus import CHANNEL

    name = await store_name(conn, store_id)
    description = f"Purchase at {name}"
    system_id = await system_account_id(conn, SYSTEM_ISSUED)
    try:
        row = await fetchrow(
            conn,
            _EARN_SQL,
            description,
            key,
            fingerprint,
            customer_id,
            store_id,
            points,
            when,
            now,
            account_id,
            expires_at,
            receipt_id,
            total.amount_minor,
            total.currency,
            system_id,
            name,
            channel.value,
            CHANNEL,
        )
    except IntegrityError:
        return await _after_conflict(key, fingerprint, store_id, receipt_id, account_id)
    assert row is not None, "the customer's account is missing"
    txn = TransactionResult(row[0], Kind.EARN.value, points, description, now, customer_id)
    return Posted(txn, row[1])


def _fingerprint(customer_id: int, store_id: int, receipt_id: str, total: Money,
                 channel: Channel, occurred_at: datetime | None) -> str:
    return request_hash(
        "recordPurchase",
        customer=customer_id,
        store=store_id,
        receipt=receipt_id,
        amount=total.amount_minor,
        currency=total.currency,
        channel=channel.value,
        occurred_at=None if occurred_at is None else occurred_at.isoformat(),
    )


async def replay_by_key(key: str, fingerprint: str, account_id: int) -> Posted | None:
    """The posting made under `key` with this fingerprint, and the balance now."""
    async with in_transaction() as conn:
        existing = await find_by_key(conn, key, fingerprint)
        if existing is None:
            return None
        return Posted(existing, await available_points(conn, account_id))


async def replay(
    *, idempotency_key: str, customer_id: int, account_id: int, store_id: int, receipt_id: str,
    total: Money, channel: Channel = Channel.STORE, occurred_at: datetime | None = None,
) -> Posted | None:
    """The purchase already posted under this key, if any (for a till that
    retries with a QR code that has since expired)."""
    key = check_idempotency_key(idempotency_key)
    fingerprint = _fingerprint(customer_id, store_id, check_receipt(receipt_id), total,
                               channel, occurred_at)
    return await replay_by_key(key, fingerprint, account_id)


async def _after_conflict(
    key: str, fingerprint: str, store_id: int, receipt_id: str, account_id: int
) -> Posted:
    async with in_transaction() as conn:
        existing = await find_by_key(conn, key, fingerprint)
        if existing is None:
            row = await fetchrow(
                conn,
                "SELECT id FROM purchase WHERE store_id = $1 AND receipt_id = $2",
                store_id,
                receipt_id,
            )
            if row is None:  # pragma: no cover - some other constraint; a bug
                raise
            raise DomainError(
                ErrorCode.DUPLICATE_RECEIPT, "This receipt has already earned points.", "receiptId"
            )
        return Posted(existing, await available_points(conn, account_id))


async def available_points(conn: BaseDBAsyncClient, account_id: int) -> int:
    row = await fetchrow(conn, "SELECT available FROM account WHERE id = $1", account_id)
    return int(row[0]) if row else 0
