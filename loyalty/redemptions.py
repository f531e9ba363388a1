"""Spending points at the till."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from loyalty.db import transaction
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.ledger import (
    SYSTEM_REDEEMED,
    Channel,
    Kind,
    check_idempotency_key,
    consume_lots,
    find_by_key,
    finish_posting,
    insert_transaction,
    mature_lots,
    published_after_commit,
    request_hash,
)
from loyalty.purchases import Posted, available_points, replay_by_key
from loyalty.sql import execute, fetch, fetchrow, is_pg
from loyalty.stores import store_name

MAX_REDEEM_POINTS = 10**9


async def redeem_points(
    *,
    idempotency_key: str,
    customer_id: int,
    account_id: int,
    store_id: int,
    points: int,
    spend_key: str | None,
    receipt_id: str | None = None,
    channel: Channel = Channel.STORE,
) -> Posted:
    """Spend `points` now. `spend_key` names the single-use credential (the QR
    code) this spend consumes: the same code can never pay twice.

    The balance check is one conditional UPDATE (`available >= n`), which on
    PostgreSQL also takes the account's row lock, so concurrent redemptions
    from any number of processes can never overdraw."""
    key = check_idempotency_key(idempotency_key)
    if not isinstance(points, int) or points <= 0:
        raise invalid("points must be a positive whole number.", "points")
    if points > MAX_REDEEM_POINTS:
        raise invalid("points is too large.", "points")
    if receipt_id is not None and (not receipt_id.strip() or len(receipt_id) > 128):
        raise invalid("receiptId must be 1 to 128 characters.", "receiptId")
    now = datetime.now(UTC)
    fingerprint = _fingerprint(customer_id, store_id, points, receipt_id, channel)
    try:
        async with transaction() as conn:
            pg = is_pg(conn)
            name = await store_name(conn, store_id)
            txn = await insert_transaction(
                conn,
                kind=Kind.REDEEM,
                channel=channel,
                description=f"Points spent at {name}",
                key=key,
                fingerprint=fingerprint,
                customer_id=customer_id,
                store_id=store_id,
                points=-points,
                occurred_at=now,
            )
            if spend_key is not None:
                await execute(
                    conn,
                    "INSERT INTO spent_code (key, transaction_id, created_at) VALUES ($1, $2, $3)",
                    spend_key,
                    txn.id,
                    now,
                )
            row = await take_points(conn, account_id, points, now)
            await finish_posting(
                conn,
                txn,
                account_id=account_id,
                available=row[0],
                pending=row[1],
                system_account=SYSTEM_REDEEMED,
                event="points.redeemed",
                store_id=store_id,
                store_name=name,
            )
    except IntegrityError:
        async with transaction() as conn:
            existing = await find_by_key(conn, key, fingerprint)
            if existing is not None:
                return Posted(existing, await available_points(conn, account_id))
            if spend_key is not None and await fetch(
                conn, "SELECT 1 FROM spent_code WHERE key = $1", spend_key
            ):
                raise DomainError(
                    ErrorCode.QR_ALREADY_USED,
                    "This QR code was already used to spend points.",
                    "card.qrPayload",
                ) from None
        raise  # pragma: no cover - another constraint: a bug
    published_after_commit(pg, customer_id)
    return Posted(txn, row[0])


async def take_points(
    conn: BaseDBAsyncClient, account_id: int, points: int, now: datetime, field: str = "points"
) -> tuple[int, int]:
    """Take `points` out of the available balance and its lots, first-expiring
    first; returns (available, pending) after. The caller's transaction."""
    # Also locks the account row before any lot is touched.
    await mature_lots(conn, account_id, now)
    row = await fetchrow(
        conn,
        "UPDATE account SET available = available - $1, updated_at = $2 "
        "WHERE id = $3 AND available >= $4 RETURNING available, pending",
        points,
        now,
        account_id,
        points,
    )
    if row is None:
        raise DomainError(ErrorCode.INSUFFICIENT_POINTS, "Not enough points available.", field)
    taken = await consume_lots(conn, account_id, points)
    assert taken == points, "lots out of step with the available balance"
    return row[0], row[1]


def _fingerprint(
    customer_id: int, store_id: int, points: int, receipt_id: str | None, channel: Channel
) -> str:
    return request_hash(
        "redeemPoints",
        customer=customer_id,
        store=store_id,
        points=points,
        receipt=receipt_id,
        channel=channel.value,
    )


async def replay(
    *,
    idempotency_key: str,
    customer_id: int,
    account_id: int,
    store_id: int,
    points: int,
    receipt_id: str | None = None,
    channel: Channel = Channel.STORE,
) -> Posted | None:
    """The redemption already posted under this key, if any (for a till that
    retries with a code that has since expired)."""
    key = check_idempotency_key(idempotency_key)
    fingerprint = _fingerprint(customer_id, store_id, points, receipt_id, channel)
    return await replay_by_key(key, fingerprint, account_id)
