"""Customer service corrects a balance: a signed adjustment with a reason,
through the ledger (ADJUST, against the adjustments account), idempotent,
capped per role, audited, and shown to the customer with its reason.

A negative adjustment never overdraws: it is refused with
INSUFFICIENT_POINTS when the points are not available (a conditional update,
as redemptions do). Unlike a refund, nothing has been handed back that the
ledger must record regardless; support can take what is there and no more.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from loyalty import ledger
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.events import LedgerEvent, PointsAdjusted, PointsEarned
from loyalty.identity import audit
from loyalty.identity.tokens import Principal
from loyalty.ledger import (
    Channel,
    Kind,
    NewLot,
    Posting,
    Spend,
    TransactionResult,
    check_idempotency_key,
    find_by_key,
    request_hash,
)
from loyalty.platform.config import Settings, get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import fetchrow
from loyalty.points.earning import expiry_for

MAX_REASON = 300


def ceiling(role: str | None, settings: Settings) -> int:
    """The largest adjustment, either way, a role may post at once."""
    if role == "ADMIN":
        return settings.adjust_max_points_admin
    if role == "SUPPORT":
        return settings.adjust_max_points_support
    return 0


async def adjust_points(
    actor: Principal, *, idempotency_key: str, customer_id: int, points: int, reason: str
) -> TransactionResult:
    key = check_idempotency_key(idempotency_key)
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > MAX_REASON:
        raise invalid(f"A reason of 1 to {MAX_REASON} characters is required.", "reason")
    if not isinstance(points, int) or points == 0:
        raise invalid("points must be a non-zero whole number.", "points")
    limit = ceiling(actor.role if actor.is_staff else None, get_settings())
    if abs(points) > limit:
        raise DomainError(ErrorCode.FORBIDDEN,
                          f"Your role may adjust at most {limit} points at once.", "points")
    fingerprint = request_hash("adjustPoints", customer=customer_id, points=points,
                               reason=reason)
    try:
        return await _post(actor, key, fingerprint, customer_id, points, reason)
    except IntegrityError:
        # A concurrent retry with the same key committed first.
        existing = await ledger.replay(key, fingerprint)
        if existing is None:  # pragma: no cover - another constraint: a bug
            raise
        return existing


async def _post(actor: Principal, key: str, fingerprint: str, customer_id: int, points: int,
                reason: str) -> TransactionResult:
    now = datetime.now(UTC)
    async with transaction() as conn:
        existing = await find_by_key(conn, key, fingerprint)
        if existing is not None:
            return existing
        txn = await _credit_or_debit(
            conn, kind=Kind.ADJUST, key=key, fingerprint=fingerprint, customer_id=customer_id,
            points=points, description=f"Adjustment: {reason}", now=now,
            event=PointsAdjusted(signed_points=points, reason=reason))
        await audit.record(conn, actor, PointsAdjusted.kind, target_kind="customer",
                           target_id=customer_id, reason=reason,
                           detail={"points": points, "transaction_id": txn.id}, at=now)
    return txn


async def post_bonus(conn: BaseDBAsyncClient, *, key: str, customer_id: int, points: int,
                     reason: str, now: datetime) -> TransactionResult:
    """Points the programme gives (a journey's award step), in the caller's
    transaction: a BONUS against the issued account, shown in the customer's
    history with `reason`, idempotent by `key`, a system key that the caller
    makes ("sys:..."; clients cannot use one), (a retried step posts nothing
    and returns the first posting, `replayed`)."""
    reason = reason.strip()[:MAX_REASON] or "Bonus"
    fingerprint = request_hash("journeyBonus", customer=customer_id, points=points,
                               reason=reason)
    existing = await find_by_key(conn, key, fingerprint)
    if existing is not None:
        return existing
    return await _credit_or_debit(
        conn, kind=Kind.BONUS, key=key, fingerprint=fingerprint, customer_id=customer_id,
        points=points, description=reason, now=now,
        event=PointsEarned(channel=Channel.SYSTEM.value))


async def _credit_or_debit(conn: BaseDBAsyncClient, *, kind: Kind, key: str, fingerprint: str,
                           customer_id: int, points: int, description: str, now: datetime,
                           event: LedgerEvent) -> TransactionResult:
    account = await fetchrow(
        conn,
        "SELECT a.id FROM account a JOIN customer c ON c.id = a.customer_id "
        "WHERE c.id = $1 AND c.erased_at IS NULL",
        customer_id,
    )
    if account is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such customer.", "customerId")
    posted = await ledger.post(conn, Posting(
        kind=kind, channel=Channel.SYSTEM, customer_id=customer_id, account_id=account[0],
        points=points,
        # A credit is like points earned: a lot that expires, repaying any
        # debt first. A debit never overdraws: support takes what is there.
        lots=NewLot(expiry_for(now, get_settings())) if points > 0 else Spend(unearn=True),
        description=description, key=key, fingerprint=fingerprint, event=event,
        occurred_at=now, now=now,
    ))
    return posted.transaction
