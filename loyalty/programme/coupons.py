"""Single-use coupon codes: issued by the rewards catalogue, a marketer or a
journey, spent once at the till.

A coupon may be limited to some channels (STORE, WEB, PHONE: a PHYSICAL, ONLINE
or CALL_CENTRE store's) and an AMOUNT_OFF coupon may name its currency; at a
till it does not cover it is refused with COUPON_NOT_VALID_HERE and nothing is
posted.

Spending is one conditional UPDATE, so two tills presenting the same code at
the same instant apply it once: on PostgreSQL the second UPDATE waits for the
first's row lock and then no longer matches `redeemed_at IS NULL`; SQLite
serialises writers."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.models import StoreKind
from loyalty.money import EXPONENTS
from loyalty.platform.sql import as_datetime, fetch, fetchrow

# No 0/O, 1/I/L: a code read aloud or typed from a receipt stays unambiguous.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10  # 31**10 ~ 8e14 codes: a collision is rare and retried
MAX_CODE_LENGTH = 32
MAX_PERCENT = 100
MAX_VALUE = 10**9


class CouponChannel(StrEnum):
    """Where a coupon may be used: at a till in a store, on the web shop, by phone."""

    STORE = "STORE"
    WEB = "WEB"
    PHONE = "PHONE"


COUPON_CHANNELS = tuple(c.value for c in CouponChannel)
# The channel a store's tills are: the kind of store decides, not the channel a
# till claims for the sale (a cashier cannot turn the shop into the web shop).
STORE_CHANNEL = {
    StoreKind.PHYSICAL: CouponChannel.STORE,
    StoreKind.ONLINE: CouponChannel.WEB,
    StoreKind.CALL_CENTRE: CouponChannel.PHONE,
}


class BenefitKind(StrEnum):
    PERCENT_OFF = "PERCENT_OFF"
    AMOUNT_OFF = "AMOUNT_OFF"
    BONUS_POINTS = "BONUS_POINTS"


@dataclass(frozen=True)
class Benefit:
    """What a clipped offer or a coupon gives one purchase."""

    source: str  # "offer" | "coupon"
    offer_id: int | None
    coupon_id: int | None
    activation_id: int | None
    title: str
    kind: str  # a BenefitKind value
    value: int  # percent 1..100, minor units, or points
    min_basket_minor: int | None


@dataclass(frozen=True)
class CouponView:
    id: int
    code: str
    title: str
    kind: str
    value: int
    expires_at: datetime
    redeemed_at: datetime | None
    # None: valid anywhere.
    channels: tuple[str, ...] | None = None
    # The AMOUNT_OFF value's currency; None: any.
    currency: str | None = None


def parse_channels(raw: str | None) -> tuple[str, ...] | None:
    """The coupon row's `channels` column as a tuple (None: anywhere)."""
    if raw is None:
        return None
    return tuple(c for c in str(raw).split(",") if c)


def benefit_title(kind: str, value: int, currency: str | None = None) -> str:
    """A coupon's title from what it gives, for coupons nobody named (a
    journey's issueCoupon without a title): "10% off", "5.00 EUR off",
    "+50 points"."""
    if kind == BenefitKind.PERCENT_OFF:
        return f"{value}% off"
    if kind == BenefitKind.AMOUNT_OFF:
        exponent = EXPONENTS.get(currency or "", 2)
        whole, fraction = divmod(value, 10**exponent)
        amount = f"{whole}.{fraction:0{exponent}d}" if exponent else str(whole)
        return f"{amount} {currency} off" if currency else f"{amount} off"
    return f"+{value} points"


def check_benefit(kind: str, value: int, field: str = "benefit") -> BenefitKind:
    """A benefit as an admin typed it: percent 1..100, amount or points > 0."""
    try:
        parsed = BenefitKind(kind)
    except ValueError:
        raise invalid("Unknown benefit kind.", f"{field}Kind") from None
    if not isinstance(value, int) or value <= 0 or value > MAX_VALUE:
        raise invalid("The benefit's value must be a positive whole number.", f"{field}Value")
    if parsed is BenefitKind.PERCENT_OFF and value > MAX_PERCENT:
        raise invalid("A percentage is 1 to 100.", f"{field}Value")
    return parsed


def normalise_code(code: str) -> str:
    """Case, spaces and dashes are ignored: "abcd-efgh 23" is "ABCDEFGH23"."""
    if not isinstance(code, str):
        return ""
    return "".join(c for c in code.upper() if c not in " -\t")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


async def issue_coupon(
    conn: BaseDBAsyncClient,
    *,
    customer_id: int | None,
    title: str,
    kind: str,
    value: int,
    expires_at: datetime,
    reward_id: int | None = None,
    bought_with_id: int | None = None,
    channels: Sequence[str] | None = None,
    remind_at: datetime | None = None,
    issue_key: str | None = None,
    currency: str | None = None,
) -> str:
    """Insert a coupon in the caller's transaction and return its code.

    `channels` limits where it may be used ("STORE", "WEB", "PHONE"; None:
    anywhere); `remind_at` is when its expiry reminder is due; `issue_key`
    makes the call idempotent: a second call with the same key returns the
    first coupon's code and inserts nothing (a journey step retried);
    `currency` is an AMOUNT_OFF value's (ISO 4217; None: any currency), and a
    till selling in another one refuses the coupon.

    ON CONFLICT DO NOTHING turns a code collision into "no row" instead of an
    error, which on PostgreSQL would abort the caller's whole transaction."""
    check_benefit(kind, value)
    if channels is not None:
        unknown = [c for c in channels if c not in COUPON_CHANNELS]
        if not channels or unknown:
            raise invalid(f"A coupon's channels are among {', '.join(COUPON_CHANNELS)}.",
                          "channels")
    if currency is not None:
        if kind != BenefitKind.AMOUNT_OFF:
            raise invalid("Only an AMOUNT_OFF coupon has a currency.", "currency")
        if currency not in EXPONENTS:
            raise invalid("Not an ISO 4217 currency code.", "currency")
    while True:
        if issue_key is not None:
            issued = await fetchrow(conn, "SELECT code FROM coupon WHERE issue_key = $1",
                                    issue_key)
            if issued is not None:
                return str(issued[0])
        code = new_code()
        row = await fetchrow(
            conn,
            "INSERT INTO coupon (code, customer_id, reward_id, bought_with_id, title, "
            "benefit_kind, benefit_value, expires_at, created_at, channels, remind_at, "
            "issue_key, currency) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
            "ON CONFLICT DO NOTHING RETURNING id",
            code,
            customer_id,
            reward_id,
            bought_with_id,
            title,
            kind,
            value,
            expires_at,
            datetime.now(UTC),
            None if channels is None else ",".join(channels),
            remind_at,
            issue_key,
            currency,
        )
        if row is not None:
            return code


_NOT_FOUND = "No such coupon."


def _benefit(row: Any) -> Benefit:
    return Benefit("coupon", None, row[0], None, row[1], row[2], row[3], None)


async def peek_coupon(
    conn: BaseDBAsyncClient, code: str, customer_id: int, now: datetime, *,
    where: str | None = None, currency: str | None = None,
) -> Benefit:
    """What the coupon would give, checked but not spent. A coupon issued to
    someone else reads as unknown: a code is not a way to probe other cards.
    `where` is the till's channel (STORE_CHANNEL of its store's kind) and
    `currency` the purchase's; a coupon that covers neither is
    COUPON_NOT_VALID_HERE (unchecked when None)."""
    normal = normalise_code(code)
    if not normal or len(normal) > MAX_CODE_LENGTH:
        raise DomainError(ErrorCode.COUPON_NOT_FOUND, _NOT_FOUND, "couponCode")
    row = await fetchrow(
        conn,
        "SELECT id, title, benefit_kind, benefit_value, customer_id, expires_at, redeemed_at, "
        "channels, currency FROM coupon WHERE code = $1",
        normal,
    )
    if row is None or (row[4] is not None and row[4] != customer_id):
        raise DomainError(ErrorCode.COUPON_NOT_FOUND, _NOT_FOUND, "couponCode")
    if row[6] is not None:
        raise DomainError(
            ErrorCode.COUPON_ALREADY_USED, "This coupon was already used.", "couponCode"
        )
    if as_datetime(row[5]) <= now:
        raise DomainError(ErrorCode.COUPON_EXPIRED, "This coupon has expired.", "couponCode")
    channels = parse_channels(row[7])
    if where is not None and channels is not None and where not in channels:
        raise DomainError(
            ErrorCode.COUPON_NOT_VALID_HERE,
            f"This coupon is valid only {_places(channels)}.", "couponCode",
        )
    if currency is not None and row[8] is not None and row[8] != currency:
        raise DomainError(
            ErrorCode.COUPON_NOT_VALID_HERE,
            f"This coupon takes off {row[8]}; the purchase is in {currency}.", "couponCode",
        )
    return _benefit(row)


_PLACES = {"STORE": "in store", "WEB": "online", "PHONE": "by phone"}


def _places(channels: Sequence[str]) -> str:
    return " or ".join(_PLACES.get(c, c) for c in channels)


async def spend_coupon(
    conn: BaseDBAsyncClient, code: str, customer_id: int, transaction_id: int, now: datetime,
    *, where: str | None = None, currency: str | None = None,
) -> Benefit:
    """Mark the coupon spent by `transaction_id`, in the caller's transaction.
    `where` and `currency` are checked as peek_coupon checks them, in the
    same conditional UPDATE."""
    normal = normalise_code(code)
    if not normal or len(normal) > MAX_CODE_LENGTH:
        raise DomainError(ErrorCode.COUPON_NOT_FOUND, _NOT_FOUND, "couponCode")
    args: list[object] = [now, transaction_id, normal, now, customer_id]
    extra = ""
    if where is not None:
        # channels is a comma-separated list: ",WEB,STORE," contains ",STORE,".
        args.append(f"%,{where},%")
        extra += f" AND (channels IS NULL OR ',' || channels || ',' LIKE ${len(args)})"
    if currency is not None:
        args.append(currency)
        extra += f" AND (currency IS NULL OR currency = ${len(args)})"
    row = await fetchrow(
        conn,
        "UPDATE coupon SET redeemed_at = $1, redeemed_in_id = $2 "
        "WHERE code = $3 AND redeemed_at IS NULL AND expires_at > $4 "
        "AND (customer_id IS NULL OR customer_id = $5)" + extra + " "
        "RETURNING id, title, benefit_kind, benefit_value",
        *args,
    )
    if row is not None:
        return _benefit(row)
    # Nothing matched: the checks name the reason (they see the winner's
    # committed row when another till got there first).
    await peek_coupon(conn, normal, customer_id, now, where=where, currency=currency)
    raise DomainError(  # pragma: no cover - peek found nothing wrong after all
        ErrorCode.COUPON_ALREADY_USED, "This coupon was already used.", "couponCode"
    )


async def list_coupons(
    conn: BaseDBAsyncClient, customer_id: int, now: datetime, limit: int = 100
) -> list[CouponView]:
    """The customer's coupons: usable ones first (soonest to expire first),
    then spent or expired ones, newest first."""
    rows = await fetch(
        conn,
        "SELECT id, code, title, benefit_kind, benefit_value, expires_at, redeemed_at, "
        "CASE WHEN redeemed_at IS NULL AND expires_at > $1 THEN 0 ELSE 1 END AS spent, "
        "channels, currency "
        "FROM coupon WHERE customer_id = $2 ORDER BY spent, "
        "CASE WHEN redeemed_at IS NULL AND expires_at > $3 THEN expires_at END, id DESC "
        "LIMIT $4",
        now,
        customer_id,
        now,
        limit,
    )
    return [
        CouponView(
            id=r[0],
            code=r[1],
            title=r[2],
            kind=r[3],
            value=r[4],
            expires_at=as_datetime(r[5]),
            redeemed_at=None if r[6] is None else as_datetime(r[6]),
            channels=parse_channels(r[8]),
            currency=r[9],
        )
        for r in rows
    ]
