"""The one adapter from the ledger's domain events to the stream's names.

The domain events are the outbox rows (`outbox_event`: kind, customer, JSON
payload) that every posting writes in its own transaction, read as the typed
events of loyalty/events.py (`parse`). Each outbox row becomes zero or more
stream rows, with message ids derived from the outbox id (`srv:outbox:<id>`,
`srv:outbox:<id>:coupon:<n>`), so that reading a row twice writes nothing
twice.

- points.earned of a purchase: purchase (channel, storeId, totalMinor,
  currency, receiptId, points), and coupon_redeemed (code, receiptId,
  channel, storeId) for each coupon it used (any coupon: the catalogue's, a
  marketer's, a journey's);
- survey.submitted: survey_submitted (receiptId, rating, storeId, points),
  for every accepted answer, bonus or not; its message id is the survey's
  (`srv:survey:<id>`), which the points.earned of a survey bonus written
  before survey.submitted existed also maps to, so either gives one event;
- points.redeemed: redemption (points, storeId, rewardId, rewardName);
- points.refunded: refund (points, storeId, receiptId), except the survey
  bonus a full refund takes back (reason "survey_bonus"): one refund, one event;
- visit.accepted: checkin (storeId, kind "VISIT", visitId, points);
- tier.changed: tier_changed (from, to, direction);
- customer.signed_up: signed_up (source, the acquisition source if any).

Other kinds (expiry, reminders, campaigns) are not behaviour: no event. Nor
is a row whose payload erasure emptied (the stream reads processed rows too),
or one that does not read as its kind (logged, never fatal).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from audience.events import StreamRow
from loyalty.events import (
    SURVEY_CLAWBACK,
    CustomerSignedUp,
    Event,
    PointsEarned,
    PointsRedeemed,
    PointsRefunded,
    SurveySubmitted,
    TierChanged,
    VisitAccepted,
    parse,
)
from loyalty.ledger import Channel
from loyalty.platform.sql import as_datetime, fetch, placeholders

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str
    customer_id: int | None
    # None: a kind without class, a payload erasure emptied or one that does
    # not read as its kind.
    event: Event | None
    created_at: datetime


def outbox_row(row: Sequence[Any]) -> OutboxRow:
    """(id, kind, customer_id, payload, created_at) as read from outbox_event.
    Never raises on the payload: one bad row must not stop the stream."""
    event_id, kind = int(row[0]), row[1]
    event: Event | None = None
    try:
        event = parse(kind, row[3])
    except (ValueError, TypeError) as exc:  # BadEvent, or not JSON at all
        log.warning("outbox event %s (%s) skipped by the stream: %s", event_id, kind, exc)
    return OutboxRow(event_id, kind, None if row[2] is None else int(row[2]), event,
                     as_datetime(row[4]))


@dataclass
class _Facts:
    """What the payloads leave out, read for a whole batch at once."""

    purchases: dict[int, tuple[Any, ...]]
    surveys: dict[int, tuple[Any, ...]]
    coupons: dict[int, list[tuple[int, str]]]
    transactions: dict[int, tuple[Any, ...]]


async def _facts(conn: BaseDBAsyncClient, rows: list[OutboxRow]) -> _Facts:
    earned = sorted({r.event.transaction_id for r in rows
                     if isinstance(r.event, PointsEarned) and r.event.transaction_id})
    other = sorted({r.event.transaction_id for r in rows
                    if isinstance(r.event, PointsRedeemed | PointsRefunded)
                    and r.event.transaction_id})
    facts = _Facts({}, {}, {}, {})
    if earned:
        marks = placeholders(len(earned))
        for p in await fetch(
            conn,
            "SELECT transaction_id, channel, store_id, total_minor, currency, receipt_id, "
            f"occurred_at FROM purchase WHERE transaction_id IN ({marks})", *earned,
        ):
            facts.purchases[int(p[0])] = tuple(p)
        for s in await fetch(
            conn,
            "SELECT s.transaction_id, s.rating, p.receipt_id, p.store_id, s.id "
            "FROM survey_response s "
            f"JOIN purchase p ON p.id = s.purchase_id WHERE s.transaction_id IN ({marks})",
            *earned,
        ):
            facts.surveys[int(s[0])] = tuple(s)
        for c in await fetch(
            conn,
            "SELECT ab.transaction_id, c.id, c.code FROM applied_benefit ab JOIN coupon c "
            f"ON c.id = ab.coupon_id WHERE ab.transaction_id IN ({marks}) ORDER BY c.id",
            *earned,
        ):
            facts.coupons.setdefault(int(c[0]), []).append((int(c[1]), c[2]))
    if other:
        for t in await fetch(
            conn,
            "SELECT t.id, t.channel, p.receipt_id FROM ledger_transaction t "
            "LEFT JOIN purchase p ON p.transaction_id = t.reverses_id "
            f"WHERE t.id IN ({placeholders(len(other))})", *other,
        ):
            facts.transactions[int(t[0])] = tuple(t)
    return facts


def _row(source: OutboxRow, name: str, channel: str, properties: dict[str, Any],
         occurred_at: datetime | None = None, suffix: str = "",
         message_id: str | None = None) -> StreamRow:
    return StreamRow(
        message_id=message_id or f"srv:outbox:{source.id}{suffix}",
        name=name,
        channel=channel,
        occurred_at=occurred_at or source.created_at,
        customer_id=source.customer_id,
        anonymous_id=None,
        properties=orjson.dumps({k: v for k, v in properties.items() if v is not None}).decode(),
    )


def _store(value: Any) -> str | None:
    return None if value is None else str(value)


def _adapt(r: OutboxRow, facts: _Facts) -> list[StreamRow]:
    e = r.event
    if isinstance(e, PointsEarned):
        txn = e.transaction_id
        if txn is None:
            return []
        purchase = facts.purchases.get(txn)
        if purchase is not None:
            _, channel, store_id, total, currency, receipt, occurred = purchase
            when = as_datetime(occurred)
            out = [_row(r, "purchase", channel, {
                "channel": channel, "storeId": _store(store_id), "totalMinor": int(total),
                "currency": currency, "receiptId": receipt, "points": e.points,
            }, when)]
            for coupon_id, code in facts.coupons.get(txn, []):
                out.append(_row(r, "coupon_redeemed", channel,
                                {"code": code, "receiptId": receipt, "channel": channel,
                                 "storeId": _store(store_id)},
                                when, f":coupon:{coupon_id}"))
            return out
        survey = facts.surveys.get(txn)
        if survey is not None:
            _, rating, receipt, store_id, survey_id = survey
            return [_survey_row(r, survey_id, receipt, rating, store_id, e.points)]
        return []
    if isinstance(e, SurveySubmitted):
        return [_survey_row(r, e.survey_id, e.receipt_id, e.rating, e.store_id, e.points)]
    if isinstance(e, PointsRedeemed):
        channel = (facts.transactions.get(e.transaction_id or 0)
                   or (None, Channel.SYSTEM.value))[1]
        return [_row(r, "redemption", channel, {
            "points": e.points, "storeId": _store(e.store_id),
            "rewardId": _store(e.reward_id), "rewardName": e.reward_name})]
    if isinstance(e, PointsRefunded):
        if e.reason == SURVEY_CLAWBACK:
            return []
        known = facts.transactions.get(e.transaction_id or 0)
        return [_row(r, "refund", known[1] if known else Channel.SYSTEM.value, {
            "points": e.points, "storeId": _store(e.store_id),
            "receiptId": known[2] if known else None})]
    if isinstance(e, VisitAccepted):
        return [_row(r, "checkin", Channel.CHECKIN.value, {
            "storeId": _store(e.store_id), "kind": "VISIT",
            "visitId": _store(e.visit_id), "points": e.points})]
    if isinstance(e, CustomerSignedUp):
        return [_row(r, "signed_up", Channel.SYSTEM.value, {"source": e.source})]
    if isinstance(e, TierChanged):
        return [_row(r, "tier_changed", Channel.SYSTEM.value, {
            "from": e.from_tier, "to": e.to_tier, "direction": e.direction})]
    return []


def _survey_row(r: OutboxRow, survey_id: Any, receipt: Any, rating: Any, store_id: Any,
                points: int) -> StreamRow:
    return _row(r, "survey_submitted", Channel.APP.value, {
        "receiptId": str(receipt), "rating": int(rating), "storeId": _store(store_id),
        "points": points}, message_id=f"srv:survey:{int(survey_id)}")


async def stream_rows(conn: BaseDBAsyncClient, rows: list[OutboxRow]) -> list[StreamRow]:
    """The stream rows of a batch of outbox rows, in outbox order. A row that
    cannot be read (a payload of another shape, a purchase's facts of another
    type) is skipped, never fatal: the stream is a view of the ledger, which
    stays the truth."""
    rows = [r for r in rows if r.customer_id is not None and r.event is not None]
    if not rows:
        return []
    facts = await _facts(conn, rows)
    out: list[StreamRow] = []
    seen: set[str] = set()
    for r in rows:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            # Two rows of one batch may name one event (a survey's bonus and
            # its survey.submitted): write_events takes each id once per batch.
            for row in _adapt(r, facts):
                if row.message_id not in seen:
                    seen.add(row.message_id)
                    out.append(row)
    return out
