"""What advancing runs asks for, done in the worker's transaction: the
runs' new states stored, coupons issued, points posted, messages rendered
and queued, and every message step logged (journey_message).

Each effect is keyed by the step's key (journeys.engine): a coupon by its
issue key, a posting by its idempotency key ("sys:journey:<key>"), a
message by the notification's dedupe key and the log row's. A worker that
dies before committing leaves the stored states as they were; the next one
computes the same keys, and each effect happens once.

journey_message is the message log of journeys: one row per message step
a run went through, `queued` (its notification row carries the same
dedupe key), or `suppressed` with the reason (the holdout, a template that
cannot be rendered for this customer, no channel to send on). The
notification row is the message itself; suppressed steps have none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from audience.events import sqlite_time
from audience.timeline import activity_of
from journeys.content import RenderError, render
from journeys.definition import Definition
from journeys.run import (
    Advance,
    AwardPoints,
    IssueCoupon,
    RunState,
    SendMessage,
    Suppressed,
)
from journeys.steps import Channel, thaw
from journeys.values import Wanted, values_for_many
from loyalty.platform.sql import execute, is_pg
from loyalty.points.adjustments import post_bonus
from loyalty.programme.coupons import BenefitKind, benefit_title, issue_coupon
from notifications.outgoing import CHANNELS, Outgoing, enqueue_many

log = logging.getLogger(__name__)

QUEUED = "queued"
SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class Customer:
    id: int
    zone: ZoneInfo
    locale: str | None
    erased: bool = False


@dataclass
class Advanced:
    """One run moved on: as it was, as it is now, and for whom."""

    before: RunState
    result: Advance
    customer: Customer
    definition: Definition


@dataclass
class Applied:
    messages: int = 0
    suppressed: int = 0
    coupons: int = 0
    postings: int = 0


def stamp(conn: BaseDBAsyncClient, moment: datetime | None) -> Any:
    """A timestamp parameter as each database compares it (SQLite: text)."""
    if moment is None or is_pg(conn):
        return moment
    return sqlite_time(moment)


def as_json(value: Any) -> str | None:
    return None if value is None else json.dumps(thaw(value), default=str)


async def apply(conn: BaseDBAsyncClient, done: Sequence[Advanced], now: datetime) -> Applied:
    """Every effect of `done`, then their states stored, in `conn`."""
    applied = Applied()
    messages: list[tuple[Advanced, SendMessage]] = []
    logged: list[tuple[Any, ...]] = []
    # Customers in id order: points lock their account rows, and two workers
    # taking them in the same order never wait on each other in a cycle.
    done = sorted(done, key=lambda d: d.customer.id)
    # Coupons and points first: a message after them in the same advance
    # names the coupon and states the new balance.
    for d in done:
        customer_id = d.customer.id
        for action in d.result.actions:
            if isinstance(action, IssueCoupon):
                await _issue(conn, customer_id, action)
                applied.coupons += 1
            elif isinstance(action, AwardPoints):
                txn = await post_bonus(conn, key=f"sys:journey:{action.key}",
                                       customer_id=customer_id, points=action.points,
                                       reason=action.reason, now=now)
                if not txn.replayed:
                    applied.postings += 1
            elif isinstance(action, SendMessage):
                messages.append((d, action))
            elif isinstance(action, Suppressed):
                logged.append((action.key, d.before.run_id, customer_id, action.step_id, None,
                               SUPPRESSED, action.reason))
                applied.suppressed += 1
    if messages:
        await _send(conn, messages, now, logged, applied)
    await _log(conn, logged, now)
    await store(conn, [d.result.state for d in done])
    return applied


async def _issue(conn: BaseDBAsyncClient, customer_id: int, action: IssueCoupon) -> None:
    currency = None
    if action.percent_off is not None:
        kind, value = BenefitKind.PERCENT_OFF, action.percent_off
    else:
        assert action.amount_off is not None  # one or the other, by validation
        kind, value = BenefitKind.AMOUNT_OFF, action.amount_off.amount_minor
        currency = action.amount_off.currency
    title = action.title or benefit_title(kind.value, value, currency)
    await issue_coupon(conn, customer_id=customer_id, title=title, kind=kind.value,
                       value=value, expires_at=action.expires_at,
                       channels=list(action.channels) or None, remind_at=action.remind_at,
                       issue_key=action.key, currency=currency)


def channels_for(action: SendMessage, preferred: str | None) -> list[str]:
    """The channels to try, in order: the step's (or the customer's preferred
    one, for PREFERRED), then its fallbacks, each once."""
    first = [preferred] if action.channel == Channel.PREFERRED and preferred else []
    if action.channel != Channel.PREFERRED:
        first = [action.channel.value]
    found: list[str] = []
    for channel in (*first, *(c.value for c in action.fallback)):
        if channel in CHANNELS and channel not in found:
            found.append(channel)
    return found


async def _send(conn: BaseDBAsyncClient, messages: list[tuple[Advanced, SendMessage]],
                now: datetime, logged: list[tuple[Any, ...]], applied: Applied) -> None:
    wanting = sorted({d.customer.id for d, a in messages if a.channel == Channel.PREFERRED})
    preferred = {i: a.preferred for i, a in (await activity_of(wanting)).items()} \
        if wanting else {}
    values = await values_for_many(conn, [
        Wanted(d.customer.id, d.before.trigger, a.store_id, a.coupon_key)
        for d, a in messages], now)
    outgoing: list[Outgoing] = []
    for (d, action), value in zip(messages, values, strict=True):
        customer = d.customer
        row = (action.key, d.before.run_id, customer.id, action.step_id)
        channels = channels_for(action, preferred.get(customer.id))
        if not channels:
            logged.append((*row, None, SUPPRESSED, "no channel: no preferred channel yet "
                                                   "and no fallback"))
            applied.suppressed += 1
            continue
        try:
            rendered = render(action.content, Channel(channels[0]), customer.locale, value)
        except RenderError as exc:
            logged.append((*row, channels[0], SUPPRESSED, f"not rendered: {exc}"[:200]))
            applied.suppressed += 1
            continue
        outgoing.append(Outgoing(customer.id, channels, rendered.title, rendered.body,
                                 action.key, int(d.before.journey_id)))
        logged.append((*row, channels[0], QUEUED, None))
        applied.messages += 1
    await enqueue_many(conn, outgoing, now)


async def _log(conn: BaseDBAsyncClient, rows: list[tuple[Any, ...]], now: datetime) -> None:
    if not rows:
        return
    # One statement for the batch; a retried step's row is there already.
    values, args = [], []
    for i, row in enumerate(rows):
        base = i * 8
        values.append("(" + ", ".join(f"${base + k}" for k in range(1, 9)) + ")")
        args.extend([*row, stamp(conn, now)])
    await execute(conn, "INSERT INTO journey_message (dedupe_key, run_id, customer_id, step_id, "
                        "channel, status, reason, created_at) VALUES " + ", ".join(values) +
                        " ON CONFLICT (dedupe_key) DO NOTHING", *args)


_STORE = ("UPDATE journey_run SET version = $1, step = $2, status = $3, seq = $4, arm = $5, "
          "trigger = $6, last_event = $7, coupon_key = $8, wake_at = $9, waiting_event = $10, "
          "waiting_match = $11, ended_at = $12, reason = $13 WHERE id = $14")


def _stored(conn: BaseDBAsyncClient, state: RunState) -> list[Any]:
    from journeys.run import match_key

    waiting = state.waiting
    return [state.version, state.step, state.status.value, state.seq, state.arm,
            as_json(state.trigger), as_json(state.last_event), state.coupon_key,
            stamp(conn, state.wake_at), None if waiting is None else waiting.event,
            None if waiting is None else match_key(waiting.match),
            stamp(conn, state.ended_at), state.reason, int(state.run_id)]


async def store(conn: BaseDBAsyncClient, states: Sequence[RunState]) -> None:
    """The runs' new states, as journeys.rows maps them."""
    if not states:
        return
    if is_pg(conn) and len(states) > 1:
        # One round trip for the batch (asyncpg's executemany).
        client: Any = conn
        await client.execute_many(_STORE, [_stored(conn, s) for s in states])
        return
    for state in states:
        await execute(conn, _STORE, *_stored(conn, state))
