"""Earning points for a purchase, and taking them back when goods come back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from loyalty.config import get_settings
from loyalty.earning import base_points, expiry_for, pending_until, refund_points
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.ledger import (
    SYSTEM_ISSUED,
    Channel,
    Kind,
    TransactionResult,
    add_entries,
    add_outbox,
    check_idempotency_key,
    consume_lots,
    find_by_key,
    insert_transaction,
    mature_lots,
    published_after_commit,
    request_hash,
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
    when = check_occurred_at(occurred_at, now)
    points = base_points(total, settings)
    fingerprint = request_hash(
        "recordPurchase",
        customer=customer_id,
        store=store_id,
        receipt=receipt_id,
        amount=total.amount_minor,
        currency=total.currency,
        channel=channel.value,
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
            if settings.pending_days > 0:
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
            await add_entries(conn, txn.id, account_id, points, available + pending, SYSTEM_ISSUED)
            await add_outbox(
                conn,
                "points.earned",
                customer_id,
                {
                    "transaction_id": txn.id,
                    "points": points,
                    "balance": available,
                    "store_id": store_id,
                    "store_name": name,
                    "channel": channel.value,
                },
            )
    except IntegrityError:
        return await _after_conflict(key, fingerprint, store_id, receipt_id, account_id)
    published_after_commit(pg, customer_id)
    return Posted(txn, available)


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


async def available_points(conn, account_id: int) -> int:  # type: ignore[no-untyped-def]
    row = await fetchrow(conn, "SELECT available FROM account WHERE id = $1", account_id)
    return int(row[0]) if row else 0


async def refund_purchase(
    *,
    idempotency_key: str,
    store_id: int,
    receipt_id: str,
    amount: Money | None = None,
) -> TransactionResult:
    """Take back the points a receipt earned, pro rata to the amount returned.

    The purchase's own lot is emptied first, then other lots first-expiring
    first; if the customer has already spent the points the account goes
    negative and later earnings repay it (docs/adr/0002)."""
    key = check_idempotency_key(idempotency_key)
    receipt_id = check_receipt(receipt_id)
    now = datetime.now(UTC)
    fingerprint = request_hash(
        "refundPurchase",
        store=store_id,
        receipt=receipt_id,
        amount=None if amount is None else amount.amount_minor,
        currency=None if amount is None else amount.currency,
    )
    try:
        async with in_transaction() as conn:
            pg = is_pg(conn)
            existing = await find_by_key(conn, key, fingerprint)
            if existing is not None:
                return existing
            name = await store_name(conn, store_id)
            # The purchase row is the lock that serialises refunds of one receipt.
            purchase = await fetchrow(
                conn,
                "SELECT id, customer_id, transaction_id, lot_id, total_minor, currency, "
                "refunded_minor, points_earned, points_refunded FROM purchase "
                "WHERE store_id = $1 AND receipt_id = $2 FOR UPDATE",
                store_id,
                receipt_id,
            )
            if purchase is None:
                raise DomainError(
                    ErrorCode.NOT_FOUND, "No purchase with this receipt.", "receiptId"
                )
            (
                purchase_id,
                customer_id,
                purchase_txn,
                lot_id,
                total_minor,
                currency,
                refunded_minor,
                points_earned,
                points_refunded,
            ) = purchase
            returned = total_minor - refunded_minor if amount is None else amount.amount_minor
            if amount is not None and amount.currency != currency:
                raise invalid(f"The purchase was in {currency}.", "amount.currency")
            if returned <= 0 or refunded_minor + returned > total_minor:
                raise DomainError(
                    ErrorCode.REFUND_EXCEEDS_PURCHASE,
                    f"Only {total_minor - refunded_minor} of {total_minor} minor units "
                    "remain to refund on this receipt.",
                    "amount",
                )
            points = refund_points(
                points_earned, total_minor, refunded_minor, returned, points_refunded
            )
            txn = await insert_transaction(
                conn,
                kind=Kind.REFUND,
                channel=Channel.STORE,
                description=f"Refund at {name}",
                key=key,
                fingerprint=fingerprint,
                customer_id=customer_id,
                store_id=store_id,
                points=-points,
                occurred_at=now,
                reverses_id=purchase_txn,
            )
            await execute(
                conn,
                "UPDATE purchase SET refunded_minor = refunded_minor + $1, "
                "points_refunded = points_refunded + $2 WHERE id = $3",
                returned,
                points,
                purchase_id,
            )
            account = await fetchrow(
                conn,
                "SELECT id, pending FROM account WHERE customer_id = $1 FOR UPDATE",
                customer_id,
            )
            assert account is not None
            account_id = account[0]
            from_pending = 0
            lot = await fetchrow(
                conn, "SELECT remaining, pending_until FROM lot WHERE id = $1", lot_id
            )
            if lot is not None and lot[1] is not None:
                # Still pending: take back from the pending lot, not available.
                from_pending = min(lot[0], points)
                await execute(
                    conn,
                    "UPDATE lot SET remaining = remaining - $1 WHERE id = $2",
                    from_pending,
                    lot_id,
                )
            await consume_lots(
                conn,
                account_id,
                points - from_pending,
                now,
                first_lot_id=None if from_pending else lot_id,
            )
            row = await fetchrow(
                conn,
                "UPDATE account SET available = available - $1, pending = pending - $2, "
                "lifetime_earned = lifetime_earned - $3, updated_at = $4 "
                "WHERE id = $5 RETURNING available, pending",
                points - from_pending,
                from_pending,
                points,
                now,
                account_id,
            )
            assert row is not None
            await add_entries(conn, txn.id, account_id, -points, row[0] + row[1], SYSTEM_ISSUED)
            await add_outbox(
                conn,
                "points.refunded",
                customer_id,
                {
                    "transaction_id": txn.id,
                    "points": points,
                    "balance": row[0],
                    "store_id": store_id,
                    "store_name": name,
                },
            )
    except IntegrityError:
        async with in_transaction() as conn:
            existing = await find_by_key(conn, key, fingerprint)
        if existing is None:  # pragma: no cover
            raise
        return existing
    published_after_commit(pg, customer_id)
    return txn
