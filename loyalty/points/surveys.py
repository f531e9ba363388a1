"""The satisfaction survey a customer answers in the app (or from a signed
link in a message) about one purchase, and the bonus the active SURVEY rule
gives for it (once per purchase).

Every accepted answer writes a `survey.submitted` outbox event in its own
transaction, bonus or not (journeys wait for it); a bonus whose purchase is
later refunded in full is taken back (loyalty/points/refunds.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from loyalty import ledger
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.events import PointsEarned, SurveySubmitted
from loyalty.ledger import Channel, Kind, NewLot, Posting, TransactionResult, request_hash
from loyalty.money import Money
from loyalty.platform.config import get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetchrow
from loyalty.points import survey_links
from loyalty.points.earning import expiry_for
from loyalty.points.purchase_input import check_receipt
from loyalty.programme import tiers
from loyalty.programme.earn_rules import active_rules, survey_rule
from loyalty.programme.rules import PurchaseFacts, Rule, RuleKind
from loyalty.programme.stores import store_info

MAX_COMMENT = 2000


def survey_url(customer_id: int, store_id: int, receipt_id: str,
               now: datetime | None = None) -> str | None:
    """The link inviting this customer to rate this purchase: LOYALTY_SURVEY_URL
    with its `{token}` replaced by a signed token (submitSurveyFromLink takes
    it), valid LOYALTY_SURVEY_LINK_DAYS; None when LOYALTY_SURVEY_URL is unset.
    Nothing is read or written: whether the purchase is the customer's is
    checked when the survey is answered."""
    template = get_settings().survey_url
    if not template:
        return None
    return template.replace("{token}",
                            survey_links.new_token(customer_id, store_id, receipt_id, now))


async def submit_survey_from_link(
    *, token: str, rating: int, comment: str | None = None
) -> SurveyResult:
    """submit_survey for the customer, store and receipt a survey link names."""
    link = survey_links.read(token)
    return await submit_survey(customer_id=link.customer_id, store_id=link.store_id,
                               receipt_id=link.receipt_id, rating=rating, comment=comment)


@dataclass(frozen=True)
class SurveyResult:
    survey_id: int
    points_awarded: int
    transaction: TransactionResult | None  # None when no SURVEY rule is active


def _check(rating: Any, comment: Any) -> tuple[int, str | None]:
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise invalid("rating must be 1 to 5.", "rating")
    if comment is None:
        return rating, None
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise invalid(f"comment must be at most {MAX_COMMENT} characters.", "comment")
    return rating, comment.strip() or None


async def _survey_rule(
    conn: BaseDBAsyncClient, rules: tuple[Rule, ...], customer_id: int, store_id: int,
    purchase: Any,
) -> Rule | None:
    """The rule whose conditions the purchase meets, on the purchase's own
    day in its store (the survey is about that visit)."""
    if not any(r.kind == RuleKind.SURVEY for r in rules):
        return None
    _, timezone = await store_info(conn, store_id)
    facts = PurchaseFacts(
        total_minor=purchase[3],
        exponent=Money(purchase[3], purchase[4]).exponent,
        channel=purchase[2],
        store_id=store_id,
        local_date=as_datetime(purchase[5]).astimezone(ZoneInfo(timezone)).date(),
    )
    tier = None
    if any(r.kind == RuleKind.SURVEY and r.conditions.tiers for r in rules):
        info = await tiers.tier_of(conn, customer_id)
        tier = None if info is None else info.name
    return survey_rule(rules, facts, tier)


async def submit_survey(
    *, customer_id: int, store_id: int, receipt_id: str, rating: int, comment: str | None = None
) -> SurveyResult:
    """Store the survey and post the SURVEY rule's bonus. Only the customer
    who made the purchase may answer, once: a different second answer, even at
    the same instant, is SURVEY_ALREADY_ANSWERED; the same answer again (a
    retry) returns the original result and posts nothing."""
    rating, comment = _check(rating, comment)
    receipt_id = check_receipt(receipt_id)
    rules = await active_rules()
    now = datetime.now(UTC)
    try:
        async with transaction() as conn:
            account = await fetchrow(
                conn, "SELECT a.id FROM account a WHERE a.customer_id = $1", customer_id)
            if account is not None:
                # The account first, as every posting (a refund of this
                # purchase takes it before the purchase row): the answer and a
                # refund in full are serialised, so either the refund sees the
                # bonus (and takes it back) or the answer sees the refund.
                await ledger.lock(conn, account[0], now)
            purchase = await fetchrow(
                conn,
                "SELECT id, customer_id, channel, total_minor, currency, occurred_at, "
                "refunded_minor FROM purchase WHERE store_id = $1 AND receipt_id = $2",
                store_id,
                receipt_id,
            )
            owner = None if purchase is None or purchase[1] != customer_id else await fetchrow(
                conn, "SELECT erased_at FROM customer WHERE id = $1", customer_id)
            if (purchase is None or account is None or owner is None
                    or owner[0] is not None):
                # Someone else's receipt looks exactly like no receipt; so does
                # an erased customer's (a survey link outlives the account).
                raise DomainError(ErrorCode.NOT_FOUND, "No such purchase of yours.", "receiptId")
            if purchase[6] >= purchase[3]:
                # Nothing of it was kept: a bonus for it would be points for
                # nothing (buy, answer, return everything).
                raise DomainError(ErrorCode.SURVEY_NOT_ELIGIBLE,
                                  "This purchase was refunded in full.", "receiptId")
            purchase_id = purchase[0]
            # The survey claims the purchase: a concurrent answer waits, then
            # fails on the unique purchase_id.
            survey = await fetchrow(
                conn,
                "INSERT INTO survey_response (customer_id, purchase_id, rating, comment, "
                "created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                customer_id,
                purchase_id,
                rating,
                comment,
                now,
            )
            assert survey is not None
            rule = await _survey_rule(conn, rules, customer_id, store_id, purchase)
            txn = None
            if rule is not None and rule.points:
                txn = await _post_bonus(conn, customer_id, account[0], store_id, purchase_id,
                                        rule, now)
                await execute(conn,
                              "UPDATE survey_response SET transaction_id = $1 WHERE id = $2",
                              txn.id, survey[0])
                await tiers.after_earning(conn, customer_id, now)
            # Bonus or not, the answer is an event (a journey waiting for it).
            await ledger.emit(conn, customer_id, SurveySubmitted(
                survey_id=survey[0], purchase_id=purchase_id, store_id=store_id,
                receipt_id=receipt_id, rating=rating, points=txn.points if txn else 0,
            ), now=now)
    except IntegrityError:
        answered = await _answered(store_id, receipt_id)
        if answered is None:
            raise  # pragma: no cover - another constraint: a bug
        # The app retrying the same answer (its response was lost) gets the
        # original result back; another answer is refused.
        if answered[1:3] == (customer_id, rating) and answered[3] == comment:
            return SurveyResult(answered[0], int(answered[4] or 0), None)
        raise DomainError(ErrorCode.SURVEY_ALREADY_ANSWERED,
                          "This purchase's survey was already answered.",
                          "receiptId") from None
    if txn is None:
        return SurveyResult(survey[0], 0, None)
    return SurveyResult(survey[0], txn.points, txn)


async def _answered(store_id: int, receipt_id: str) -> Any | None:
    """(survey id, customer, rating, comment, points awarded) of the answer given."""
    async with transaction() as conn:
        return await fetchrow(
            conn,
            "SELECT s.id, s.customer_id, s.rating, s.comment, t.points FROM survey_response s "
            "JOIN purchase p ON p.id = s.purchase_id "
            "LEFT JOIN ledger_transaction t ON t.id = s.transaction_id "
            "WHERE p.store_id = $1 AND p.receipt_id = $2",
            store_id,
            receipt_id,
        )


async def _post_bonus(
    conn: BaseDBAsyncClient, customer_id: int, account_id: int, store_id: int,
    purchase_id: int, rule: Rule, now: datetime,
) -> TransactionResult:
    """Credit the bonus as purchases credit their points: a lot expiring like
    them, the points.earned event. Available at once: a survey has no return
    window."""
    name, _ = await store_info(conn, store_id)
    posted = await ledger.post(conn, Posting(
        kind=Kind.BONUS, channel=Channel.APP, customer_id=customer_id, account_id=account_id,
        points=int(rule.points or 0), lots=NewLot(expiry_for(now, get_settings())),
        description=rule.label, key=f"sys:survey:{purchase_id}",
        fingerprint=request_hash("submitSurvey", purchase=purchase_id),
        event=PointsEarned(store_id=store_id, store_name=name, channel=Channel.APP.value),
        occurred_at=now, now=now, store_id=store_id,
    ))
    return posted.transaction
