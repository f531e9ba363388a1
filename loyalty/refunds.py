"""Taking points back when goods come back (docs/adr/0002).

A refund that leaves nothing of the purchase kept also takes back the survey
bonus it earned, in the same transaction: a second reversal posting naming the
bonus. A partial refund leaves the bonus alone: the bonus rewards answering
about the visit, not the basket's size, and a purchase partly kept may still
earn it (submitSurvey refuses only one refunded in full)."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from loyalty.db import transaction
from loyalty.earning import refund_points
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.ledger import (
    SYSTEM_ISSUED,
    Channel,
    Kind,
    TransactionResult,
    check_idempotency_key,
    consume_lots,
    find_by_key,
    finish_posting,
    insert_transaction,
    mature_lots,
    published_after_commit,
    request_hash,
)
from loyalty.money import Money
from loyalty.purchases import check_receipt
from loyalty.sql import execute, fetchrow, is_pg
from loyalty.stores import store_name


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
        async with transaction() as conn:
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
            # Checked again under the lock: a retry that waited for the first
            # attempt to commit must replay it, not refund twice or fail.
            existing = await find_by_key(conn, key, fingerprint)
            if existing is not None:
                return existing
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
            await mature_lots(conn, account_id, now)
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
            await finish_posting(
                conn,
                txn,
                account_id=account_id,
                available=row[0],
                pending=row[1],
                system_account=SYSTEM_ISSUED,
                event="points.refunded",
                store_id=store_id,
                store_name=name,
            )
            if refunded_minor + returned >= total_minor:
                await _claw_back_survey_bonus(
                    conn, purchase_id=purchase_id, customer_id=customer_id,
                    account_id=account_id, store_id=store_id, store_name=name, now=now,
                )
    except IntegrityError:
        async with transaction() as conn:
            existing = await find_by_key(conn, key, fingerprint)
        if existing is None:  # pragma: no cover
            raise
        return existing
    published_after_commit(pg, customer_id)
    return txn


SURVEY_CLAWBACK = "survey_bonus"


async def _claw_back_survey_bonus(
    conn: BaseDBAsyncClient, *, purchase_id: int, customer_id: int, account_id: int,
    store_id: int, store_name: str, now: datetime,
) -> TransactionResult | None:
    """Reverse the survey bonus of a purchase now refunded in full, under the
    account lock the refund holds: the bonus's own lot is emptied first, then
    others first-expiring-first; points already spent leave the account
    negative, as a refund does (docs/adr/0002). Its key makes it happen once."""
    bonus = await fetchrow(
        conn,
        "SELECT t.id, t.points FROM survey_response s "
        "JOIN ledger_transaction t ON t.id = s.transaction_id WHERE s.purchase_id = $1",
        purchase_id,
    )
    if bonus is None or int(bonus[1]) <= 0:
        return None
    bonus_id, points = int(bonus[0]), int(bonus[1])
    txn = await insert_transaction(
        conn,
        kind=Kind.REFUND,
        channel=Channel.STORE,
        description=f"Survey bonus taken back: refund at {store_name}",
        key=f"sys:survey-clawback:{purchase_id}",
        fingerprint=request_hash("surveyClawback", purchase=purchase_id),
        customer_id=customer_id,
        store_id=store_id,
        points=-points,
        occurred_at=now,
        reverses_id=bonus_id,
    )
    lot = await fetchrow(conn, "SELECT id FROM lot WHERE transaction_id = $1", bonus_id)
    await consume_lots(conn, account_id, points, first_lot_id=None if lot is None else lot[0])
    row = await fetchrow(
        conn,
        "UPDATE account SET available = available - $1, "
        "lifetime_earned = lifetime_earned - $2, updated_at = $3 "
        "WHERE id = $4 RETURNING available, pending",
        points,
        points,
        now,
        account_id,
    )
    assert row is not None
    await finish_posting(
        conn,
        txn,
        account_id=account_id,
        available=row[0],
        pending=row[1],
        system_account=SYSTEM_ISSUED,
        event="points.refunded",
        store_id=store_id,
        store_name=store_name,
        # The event stream's `refund` is the refund's own event: this one is
        # its consequence (audience/domain_events.py leaves it out).
        reason=SURVEY_CLAWBACK,
    )
    return txn
