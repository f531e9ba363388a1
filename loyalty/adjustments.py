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

from loyalty import audit
from loyalty.config import Settings, get_settings
from loyalty.db import transaction
from loyalty.earning import expiry_for
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.ledger import (
    SYSTEM_ADJUSTMENTS,
    SYSTEM_ISSUED,
    Channel,
    Kind,
    TransactionResult,
    check_idempotency_key,
    consume_lots,
    credit_points,
    find_by_key,
    finish_posting,
    insert_transaction,
    mature_lots,
    published_after_commit,
    request_hash,
)
from loyalty.sql import fetchrow, is_pg
from loyalty.tokens import Principal

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
        txn, pg = await _post(actor, key, fingerprint, customer_id, points, reason)
    except IntegrityError:
        # A concurrent retry with the same key committed first.
        async with transaction() as conn:
            existing = await find_by_key(conn, key, fingerprint)
        if existing is None:  # pragma: no cover - another constraint: a bug
            raise
        return existing
    if not txn.replayed:
        published_after_commit(pg, customer_id)
    return txn


async def _post(actor: Principal, key: str, fingerprint: str, customer_id: int, points: int,
                reason: str) -> tuple[TransactionResult, bool]:
    """The whole posting, in one function, so that it moves onto the ledger's
    single posting function as one piece."""
    now = datetime.now(UTC)
    async with transaction() as conn:
        pg = is_pg(conn)
        existing = await find_by_key(conn, key, fingerprint)
        if existing is not None:
            return existing, pg
        txn = await _credit_or_debit(
            conn, kind=Kind.ADJUST, key=key, fingerprint=fingerprint, customer_id=customer_id,
            points=points, description=f"Adjustment: {reason}",
            system_account=SYSTEM_ADJUSTMENTS, event="points.adjusted", now=now,
            reason=reason)
        await audit.record(conn, actor, "points.adjusted", target_kind="customer",
                           target_id=customer_id, reason=reason,
                           detail={"points": points, "transaction_id": txn.id}, at=now)
    return txn, pg


async def post_bonus(conn: BaseDBAsyncClient, *, key: str, customer_id: int, points: int,
                     reason: str, now: datetime) -> TransactionResult:
    """Points the programme gives (a journey's award step), in the caller's
    transaction: a BONUS against the issued account, shown in the customer's
    history with `reason`, idempotent by `key`, a system key that the caller
    makes ("sys:..."; clients cannot use one), (a retried step posts nothing
    and returns the first posting, `replayed`). The caller publishes after
    commit (ledger.published_after_commit) when it is not replayed."""
    reason = reason.strip()[:MAX_REASON] or "Bonus"
    fingerprint = request_hash("journeyBonus", customer=customer_id, points=points,
                               reason=reason)
    existing = await find_by_key(conn, key, fingerprint)
    if existing is not None:
        return existing
    return await _credit_or_debit(
        conn, kind=Kind.BONUS, key=key, fingerprint=fingerprint, customer_id=customer_id,
        points=points, description=reason, system_account=SYSTEM_ISSUED,
        event="points.earned", now=now)


async def _credit_or_debit(conn: BaseDBAsyncClient, *, kind: Kind, key: str, fingerprint: str,
                           customer_id: int, points: int, description: str,
                           system_account: str, event: str, now: datetime,
                           reason: str | None = None) -> TransactionResult:
    account = await fetchrow(
        conn,
        "SELECT a.id FROM account a JOIN customer c ON c.id = a.customer_id "
        "WHERE c.id = $1 AND c.erased_at IS NULL",
        customer_id,
    )
    if account is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such customer.", "customerId")
    account_id = account[0]
    txn = await insert_transaction(
        conn, kind=kind, channel=Channel.SYSTEM, description=description,
        key=key, fingerprint=fingerprint, customer_id=customer_id, store_id=None,
        points=points, occurred_at=now,
    )
    await mature_lots(conn, account_id, now)  # takes the account's row lock
    if points > 0:
        # Like earned points: a lot that expires, repaying any debt first.
        available, pending, _ = await credit_points(
            conn, account_id=account_id, transaction_id=txn.id, points=points,
            expires_at=expiry_for(now, get_settings()), now=now)
    else:
        taken = -points
        row = await fetchrow(
            conn,
            "UPDATE account SET available = available - $1, "
            "lifetime_earned = lifetime_earned - $2, updated_at = $3 "
            "WHERE id = $4 AND available >= $5 RETURNING available, pending",
            taken, taken, now, account_id, taken,
        )
        if row is None:
            raise DomainError(ErrorCode.INSUFFICIENT_POINTS,
                              "The customer does not have that many points available.",
                              "points")
        available, pending = row[0], row[1]
        await consume_lots(conn, account_id, taken)
    await finish_posting(
        conn, txn, account_id=account_id, available=available, pending=pending,
        system_account=system_account, event=event, store_id=None,
        store_name=None, signed_points=points, **({} if reason is None else {"reason": reason}),
    )
    return txn
