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

from loyalty import ledger
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.events import SURVEY_CLAWBACK, PointsRefunded
from loyalty.ledger import (
    Channel,
    ClawBack,
    Kind,
    Posting,
    TransactionResult,
    check_idempotency_key,
    find_by_key,
    request_hash,
)
from loyalty.money import Money
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetchrow
from loyalty.points.earning import refund_points
from loyalty.points.purchase_input import check_receipt
from loyalty.programme.stores import store_name

_PURCHASE = (
    "SELECT p.id, p.customer_id, p.transaction_id, p.lot_id, p.total_minor, p.currency, "
    "p.refunded_minor, p.points_earned, p.points_refunded, a.id FROM purchase p "
    "JOIN account a ON a.customer_id = p.customer_id "
    "WHERE p.store_id = $1 AND p.receipt_id = $2"
)


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
            existing = await find_by_key(conn, key, fingerprint)
            if existing is not None:
                return existing
            name = await store_name(conn, store_id)
            found = await fetchrow(conn, _PURCHASE, store_id, receipt_id)
            if found is None:
                raise DomainError(
                    ErrorCode.NOT_FOUND, "No purchase with this receipt.", "receiptId"
                )
            # The customer's account first, as every posting: it is also the
            # lock that serialises the refunds of this receipt (the only
            # writers of its row), which is read again under it.
            await ledger.lock(conn, found[9], now)
            purchase = await fetchrow(conn, _PURCHASE, store_id, receipt_id)
            assert purchase is not None, "purchases are never deleted"
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
                account_id,
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
            posted = await ledger.post(conn, Posting(
                kind=Kind.REFUND, channel=Channel.STORE, customer_id=customer_id,
                account_id=account_id, points=-points, lots=ClawBack(lot_id),
                description=f"Refund at {name}", key=key, fingerprint=fingerprint,
                event=PointsRefunded(store_id=store_id, store_name=name),
                occurred_at=now, now=now, store_id=store_id, reverses_id=purchase_txn,
            ))
            await execute(
                conn,
                "UPDATE purchase SET refunded_minor = refunded_minor + $1, "
                "points_refunded = points_refunded + $2 WHERE id = $3",
                returned,
                points,
                purchase_id,
            )
            if refunded_minor + returned >= total_minor:
                await _claw_back_survey_bonus(
                    conn, purchase_id=purchase_id, customer_id=customer_id,
                    account_id=account_id, store_id=store_id, store_name=name, now=now,
                )
    except IntegrityError:
        existing = await ledger.replay(key, fingerprint)
        if existing is None:  # pragma: no cover
            raise
        return existing
    return posted.transaction


async def _claw_back_survey_bonus(
    conn: BaseDBAsyncClient, *, purchase_id: int, customer_id: int, account_id: int,
    store_id: int, store_name: str, now: datetime,
) -> None:
    """Reverse the survey bonus of a purchase now refunded in full, under the
    account lock the refund holds: the bonus's own lot is emptied first, then
    others first-expiring-first; points already spent leave the account
    negative, as a refund does (docs/adr/0002). Its key makes it happen once."""
    bonus = await fetchrow(
        conn,
        "SELECT t.id, t.points, l.id FROM survey_response s "
        "JOIN ledger_transaction t ON t.id = s.transaction_id "
        "LEFT JOIN lot l ON l.transaction_id = t.id WHERE s.purchase_id = $1",
        purchase_id,
    )
    if bonus is None or int(bonus[1]) <= 0:
        return
    bonus_id, points, lot_id = int(bonus[0]), int(bonus[1]), bonus[2]
    await ledger.post(conn, Posting(
        kind=Kind.REFUND, channel=Channel.STORE, customer_id=customer_id,
        account_id=account_id, points=-points, lots=ClawBack(lot_id),
        description=f"Survey bonus taken back: refund at {store_name}",
        key=f"sys:survey-clawback:{purchase_id}",
        fingerprint=request_hash("surveyClawback", purchase=purchase_id),
        # The event stream's `refund` is the refund's own event: this one is
        # its consequence (audience/domain_events.py leaves it out).
        event=PointsRefunded(store_id=store_id, store_name=store_name,
                             reason=SURVEY_CLAWBACK),
        occurred_at=now, now=now, store_id=store_id, reverses_id=bonus_id,
    ))
