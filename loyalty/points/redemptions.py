"""Spending points at the till."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from loyalty import ledger
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.events import PointsRedeemed
from loyalty.ledger import (
    Channel,
    Kind,
    Posted,
    Posting,
    Spend,
    check_idempotency_key,
    find_by_key,
    request_hash,
)
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch
from loyalty.points.purchases import available_points
from loyalty.programme.stores import store_name

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
    qr_expired: ErrorCode | None = None,
) -> Posted:
    """Spend `points` now. `spend_key` names the single-use credential (the QR
    code) this spend consumes: the same code can never pay twice. A code past
    its window (`qr_expired`, the refusal's code) only replays a retry.

    The balance check is one conditional UPDATE (`available >= n`), which on
    PostgreSQL also takes the account's row lock, so concurrent redemptions
    from any number of processes can never overdraw."""
    key = check_idempotency_key(idempotency_key)
    fingerprint = _fingerprint(customer_id, store_id, points, receipt_id, channel)
    if qr_expired is not None:
        return await ledger.replay_only(_replay(key, fingerprint, account_id), qr_expired)
    if not isinstance(points, int) or points <= 0:
        raise invalid("points must be a positive whole number.", "points")
    if points > MAX_REDEEM_POINTS:
        raise invalid("points is too large.", "points")
    if receipt_id is not None and (not receipt_id.strip() or len(receipt_id) > 128):
        raise invalid("receiptId must be 1 to 128 characters.", "receiptId")
    now = datetime.now(UTC)
    try:
        async with transaction() as conn:
            name = await store_name(conn, store_id)
            posted = await ledger.post(conn, Posting(
                kind=Kind.REDEEM, channel=channel, customer_id=customer_id,
                account_id=account_id, points=-points, lots=Spend("points"),
                description=f"Points spent at {name}", key=key, fingerprint=fingerprint,
                event=PointsRedeemed(store_id=store_id, store_name=name),
                occurred_at=now, now=now, store_id=store_id,
            ))
            if spend_key is not None:
                await execute(
                    conn,
                    "INSERT INTO spent_code (key, transaction_id, created_at) VALUES ($1, $2, $3)",
                    spend_key,
                    posted.transaction.id,
                    now,
                )
    except (IntegrityError, DomainError):
        # A retry finds its original; a code already spent says so, even when
        # the points would not have sufficed either (ADR 0003).
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
        raise
    return posted


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


async def _replay(key: str, fingerprint: str, account_id: int) -> Posted | None:
    """The redemption already posted under this key, if any."""
    async with transaction() as conn:
        existing = await find_by_key(conn, key, fingerprint)
        return None if existing is None else Posted(
            existing, await available_points(conn, account_id))
