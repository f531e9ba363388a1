"""Earning points for a purchase, and taking them back when goods come back."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from loyalty import ledger
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.events import PointsEarned
from loyalty.ledger import (
    Channel,
    Kind,
    NewLot,
    Posting,
    PurchaseRow,
    TransactionResult,
    check_idempotency_key,
    find_by_key,
    request_hash,
)
from loyalty.money import Money
from loyalty.platform.config import get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetchrow, is_pg
from loyalty.points import purchase_context as pc
from loyalty.points.earning import expiry_for, pending_until
from loyalty.points.purchase_fast import earn_in_one_statement
from loyalty.points.purchase_input import (
    check_coupon_code,
    check_lines,
    check_occurred_at,
    check_receipt,
    check_sales_channel,
)
from loyalty.programme import coupons, offers, tiers
from loyalty.programme import rules as engine
from loyalty.programme.benefits import (
    Applied,
    applied_to,
    apply_benefits,
    discount_of,
    record_applied,
)
from loyalty.programme.stores import store_info, store_kind


@dataclass(frozen=True)
class PurchasePosted:
    """A purchase's posting as the till sees it."""

    transaction: TransactionResult
    available: int
    # The offers and coupon this purchase applied (read back on a retry).
    applied: tuple[Applied, ...] = ()

    @property
    def discount_minor(self) -> int:
        return discount_of(self.applied)


@dataclass(frozen=True, kw_only=True)
class RecordPurchase:
    """A purchase to earn points for, as the till presents it."""

    idempotency_key: str
    customer_id: int
    account_id: int
    store_id: int
    receipt_id: str
    total: Money
    channel: Channel = Channel.STORE
    occurred_at: datetime | None = None
    lines: tuple[engine.Line, ...] = ()
    coupon_code: str | None = None
    # The card came from a QR code past its window (still genuine: it names
    # the card): the refusal's code. Only a retry of what it already paid
    # for goes through (ledger.replay_only).
    qr_expired: ErrorCode | None = None
    # An offline till's batch (recordPurchases): a purchase older than this
    # only replays what it already posted, like an expired QR code.
    max_age: timedelta | None = None


async def record_purchase(command: RecordPurchase) -> PurchasePosted:
    """Post the points a purchase earns under the programme's rules, applying
    the customer's clipped offers and a presented coupon once. A retry with
    the same key returns the original posting; another purchase with the same
    (store, receipt) is DUPLICATE_RECEIPT."""
    settings = get_settings()
    c = command
    customer_id, account_id, store_id = c.customer_id, c.account_id, c.store_id
    total, occurred_at = c.total, c.occurred_at
    key = check_idempotency_key(c.idempotency_key)
    channel = check_sales_channel(c.channel)
    receipt_id = check_receipt(c.receipt_id)
    lines = check_lines(tuple(c.lines))
    coupon = check_coupon_code(c.coupon_code)
    now = datetime.now(UTC)
    fingerprint = _fingerprint(customer_id, store_id, receipt_id, total, channel, occurred_at,
                               lines, coupon)
    if c.qr_expired is not None:
        return await ledger.replay_only(replay_by_key(key, fingerprint, account_id),
                                        c.qr_expired)
    if (c.max_age is not None and occurred_at is not None and occurred_at.tzinfo is not None
            and occurred_at < now - c.max_age):
        posted = await replay_by_key(key, fingerprint, account_id)
        if posted is None:
            raise invalid("occurredAt is older than an offline batch may be.", "occurredAt")
        return posted
    try:
        when = check_occurred_at(occurred_at, now)
    except DomainError:
        # A till retrying an offline receipt that has since aged past the
        # window gets its original posting back, not a refusal.
        posted = await replay_by_key(key, fingerprint, account_id)
        if posted is None:
            raise
        return posted
    default = connections.get("default")
    if is_pg(default) and settings.pending_days <= 0 and coupon is None:
        fast = await _try_fast(
            key=key, fingerprint=fingerprint, customer_id=customer_id, account_id=account_id,
            store_id=store_id, receipt_id=receipt_id, total=total, channel=channel, when=when,
            now=now, lines=lines,
        )
        if fast is not None:
            return fast
    try:
        return await _post(
            key=key, fingerprint=fingerprint, customer_id=customer_id, account_id=account_id,
            store_id=store_id, receipt_id=receipt_id, total=total, channel=channel, when=when,
            now=now, lines=lines, coupon=coupon,
        )
    except IntegrityError:
        return await _after_conflict(key, fingerprint, store_id, receipt_id, account_id)
    except DomainError:
        # A retry of a purchase that spent its coupon or used up its offer is
        # refused by them before its key is seen: it gets its original back.
        replayed = await replay_by_key(key, fingerprint, account_id)
        if replayed is None:
            raise
        return replayed


async def _try_fast(
    *, key: str, fingerprint: str, customer_id: int, account_id: int, store_id: int,
    receipt_id: str, total: Money, channel: Channel, when: datetime, now: datetime,
    lines: tuple[engine.Line, ...],
) -> PurchasePosted | None:
    """The one-statement path (loyalty/points/purchase_fast.py), or None when this
    purchase needs the general one."""
    conn = connections.get("default")
    name, timezone = await store_info(conn, store_id)
    day = pc.local_date(when, timezone)
    prog = await pc.programme(conn)
    context = None
    if prog.uses_context:
        context = (pc.cached_context(customer_id, when, now)
                   or await pc.read_context(conn, customer_id, now, at=when))
        if context.has_offers:
            return None
    facts = pc.facts_for(context, prog, day)
    if facts.first_purchase or facts.birthday_today:
        return None  # once-only bonuses are decided under the account's lock
    evaluation = pc.run_rules(pc.purchase_facts(total, lines, channel, store_id, day), facts, prog)
    posting = purchase_posting(
        key=key, fingerprint=fingerprint, customer_id=customer_id, account_id=account_id,
        store_id=store_id, store_name=name, receipt_id=receipt_id, total=total, channel=channel,
        when=when, now=now, points=evaluation.points,
        description=evaluation.description(f"Purchase at {name}"),
    )
    write = functools.partial(
        earn_in_one_statement, posting=posting,
        expected_tier_id=context.tier_id if context else None, with_tiers=bool(prog.tiers),
    )
    try:
        if prog.tiers:
            # These points may raise the tier: the posting and the upgrade
            # (with its event) commit together or not at all (ADR 0007).
            async with transaction() as tx:
                fast = await write(tx)
                if fast is not None:
                    await tiers.after_earning(tx, customer_id, now)
        else:
            fast = await write(conn)
    except IntegrityError:
        return await _after_conflict(key, fingerprint, store_id, receipt_id, account_id)
    if fast is None:
        pc.forget(customer_id)
        return None
    return PurchasePosted(fast.transaction, fast.available)


def purchase_posting(
    *, key: str, fingerprint: str, customer_id: int, account_id: int, store_id: int,
    store_name: str, receipt_id: str, total: Money, channel: Channel, when: datetime,
    now: datetime, points: int, description: str,
) -> Posting:
    """A purchase's posting, whichever path writes it."""
    settings = get_settings()
    return Posting(
        kind=Kind.EARN, channel=channel, customer_id=customer_id, account_id=account_id,
        points=points, description=description, key=key, fingerprint=fingerprint,
        lots=NewLot(expiry_for(when, settings), pending_until(when, settings)),
        event=PointsEarned(store_id=store_id, store_name=store_name, channel=channel.value),
        occurred_at=when, now=now, store_id=store_id,
        purchase=PurchaseRow(store_id, receipt_id, total.amount_minor, total.currency),
    )


async def _post(
    *, key: str, fingerprint: str, customer_id: int, account_id: int, store_id: int,
    receipt_id: str, total: Money, channel: Channel, when: datetime, now: datetime,
    lines: tuple[engine.Line, ...], coupon: str | None,
) -> PurchasePosted:
    async with transaction() as conn:
        name, timezone = await store_info(conn, store_id)
        # The account first, as every posting: the context read below (first
        # purchase, birthday given, offer uses) cannot change under us until
        # commit.
        await ledger.lock(conn, account_id, now)
        context = await pc.read_context(conn, customer_id, now, at=when)
        benefits: list[coupons.Benefit] = []
        if context.has_offers:
            benefits += await offers.clipped_benefits(conn, customer_id, store_id, now)
        where = None
        if coupon is not None:
            # Refused before anything is written where the coupon is not valid
            # (its channels, its currency): the transaction then rolls back.
            where = coupons.STORE_CHANNEL[await store_kind(conn, store_id)].value
            benefits.append(await coupons.peek_coupon(
                conn, coupon, customer_id, now, where=where, currency=total.currency))
        applied = apply_benefits(total.amount_minor, benefits)
        day = pc.local_date(when, timezone)
        prog = await pc.programme(conn)
        # Points are earned on what the customer paid, after discounts.
        net = Money(total.amount_minor - discount_of(applied), total.currency)
        evaluation = pc.run_rules(
            pc.purchase_facts(net, lines, channel, store_id, day),
            pc.facts_for(context, prog, day),
            prog,
        )
        fired = evaluation.lines + tuple(
            engine.Fired(None, f"+{a.bonus_points} {a.title}", a.bonus_points)
            for a in applied if a.bonus_points
        )
        points = sum(f.points for f in fired)
        posted = await ledger.post(conn, purchase_posting(
            key=key, fingerprint=fingerprint, customer_id=customer_id, account_id=account_id,
            store_id=store_id, store_name=name, receipt_id=receipt_id, total=total,
            channel=channel, when=when, now=now, points=points,
            description=engine.Evaluation(points, fired).description(f"Purchase at {name}"),
        ))
        txn = posted.transaction
        for a in applied:
            if a.coupon_id is not None:
                await coupons.spend_coupon(conn, coupon or "", customer_id, txn.id, now,
                                           where=where, currency=total.currency)
            elif a.activation_id is not None and not await offers.use_offer(
                conn, a.activation_id
            ):
                raise DomainError(
                    ErrorCode.OFFER_NOT_AVAILABLE, f"{a.title!r} is used up.", "card"
                )
        await record_applied(conn, txn.id, applied)
        if any(f.rule_id in prog.birthday_rule_ids for f in fired):
            await execute(
                conn, "UPDATE customer SET birthday_bonus_year = $1 WHERE id = $2",
                day.year, customer_id,
            )
        await tiers.after_earning(conn, customer_id, now)
    pc.forget(customer_id)
    return PurchasePosted(txn, posted.available, applied)


def _fingerprint(customer_id: int, store_id: int, receipt_id: str, total: Money,
                 channel: Channel, occurred_at: datetime | None,
                 lines: tuple[engine.Line, ...] = (), coupon: str | None = None) -> str:
    extra: dict[str, object] = {}
    # Only when given, so that keys of purchases posted before lines counted
    # keep their fingerprint.
    if lines:
        extra["lines"] = [[x.sku, x.category, x.quantity, x.unit_price_minor] for x in lines]
    if coupon is not None:
        extra["coupon"] = coupon
    return request_hash(
        "recordPurchase",
        customer=customer_id,
        store=store_id,
        receipt=receipt_id,
        amount=total.amount_minor,
        currency=total.currency,
        channel=channel.value,
        occurred_at=None if occurred_at is None else occurred_at.isoformat(),
        **extra,
    )


async def replay_by_key(key: str, fingerprint: str, account_id: int) -> PurchasePosted | None:
    """The posting made under `key` with this fingerprint, and the balance now."""
    async with transaction() as conn:
        existing = await find_by_key(conn, key, fingerprint)
        if existing is None:
            return None
        return PurchasePosted(
            existing,
            await available_points(conn, account_id),
            await applied_to(conn, existing.id),
        )


async def _after_conflict(
    key: str, fingerprint: str, store_id: int, receipt_id: str, account_id: int
) -> PurchasePosted:
    async with transaction() as conn:
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
        return PurchasePosted(
            existing,
            await available_points(conn, account_id),
            await applied_to(conn, existing.id),
        )


async def available_points(conn: BaseDBAsyncClient, account_id: int) -> int:
    row = await fetchrow(conn, "SELECT available FROM account WHERE id = $1", account_id)
    return int(row[0]) if row else 0
