"""Issuing cards and finding the customer behind a scanned or typed card."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.errors import DomainError, ErrorCode
from loyalty.models import Customer
from loyalty.platform.sql import fetchrow
from wallet.card_numbers import new_card_number, normalize_card_number
from wallet.models import Card
from wallet.qr import ParsedQr, QrError, new_qr_secret, parse_qr, verify_qr


@dataclass(frozen=True)
class CardHolder:
    customer_id: int
    account_id: int
    first_name: str
    card_number: str
    # Fresh from the database, or None when the holder came from the cache.
    available: int | None
    # Set when the card came from a QR code: the key a redemption consumes.
    spend_key: str | None = None
    qr_error: str | None = None


async def issue_card(conn: BaseDBAsyncClient, customer: Customer) -> Card:
    """A new card with a fresh number. Numbers are drawn from 10**10, so a taken
    one is rare; it is checked first because a unique violation would abort the
    whole sign-up transaction."""
    for _ in range(5):
        number = new_card_number()
        if await fetchrow(conn, "SELECT 1 FROM card WHERE number = $1", number) is None:
            return await Card.create(
                customer=customer, number=number, qr_secret=new_qr_secret(), using_db=conn
            )
    raise RuntimeError("could not allocate a unique card number")


_HOLDER_SQL = (
    "SELECT c.customer_id, a.id, u.first_name, c.number, a.available, c.qr_secret "
    "FROM card c JOIN customer u ON u.id = c.customer_id "
    "JOIN account a ON a.customer_id = c.customer_id WHERE c.number = $1"
)


# Card number -> (customer_id, account_id, first_name, number, qr_secret): none
# of these change once a card is issued, so the till's hot path may skip the
# lookup for a minute. Bounded so that scanning many cards cannot grow it.
_CACHE_TTL_SECONDS = 60.0
_CACHE_MAX = 50_000
_cache: dict[str, tuple[float, tuple[Any, ...]]] = {}


def forget(number: str) -> None:
    """Drop a card from this process's cache (an erased customer's)."""
    _cache.pop(number, None)


async def _holder_row(number: str, cached: bool) -> tuple[Any, ...] | None:
    now = time.monotonic()
    if cached:
        hit = _cache.get(number)
        if hit is not None and hit[0] > now:
            return hit[1]
    row = await fetchrow(connections.get("default"), _HOLDER_SQL, number)
    if row is None:
        return None
    values = tuple(row)
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[number] = (now + _CACHE_TTL_SECONDS, values)
    return values


async def resolve_card(
    qr_payload: str | None,
    card_number: str | None,
    *,
    allow_expired_qr: bool = False,
    cached: bool = False,
) -> CardHolder:
    """The holder of a card given exactly one of a QR payload or a typed number.

    A mistyped number fails its check digit before any database lookup. A QR
    code must carry a valid MAC and be inside its time window (QR_EXPIRED
    otherwise, unless `allow_expired_qr`, then `qr_error` says so). With
    `cached`, the holder may come from a short cache and `available` is None."""
    if (qr_payload is None) == (card_number is None):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Give exactly one of qrPayload or cardNumber.", "card"
        )
    parsed: ParsedQr | None = None
    if qr_payload is not None:
        try:
            parsed = parse_qr(qr_payload)
        except QrError as exc:
            raise DomainError(
                ErrorCode(exc.code), "This QR code is not valid.", "card.qrPayload"
            ) from None
        number = parsed.card_number
    else:
        normalized = normalize_card_number(card_number or "")
        if normalized is None:
            raise DomainError(
                ErrorCode.CARD_NOT_FOUND, "This card number is not valid.", "card.cardNumber"
            )
        number = normalized
    row = await _holder_row(number, cached)
    if row is None:
        raise DomainError(
            ErrorCode.CARD_NOT_FOUND,
            "No such card.",
            "card.qrPayload" if parsed else "card.cardNumber",
        )
    qr_error = None
    if parsed is not None:
        try:
            verify_qr(parsed, row[5])
        except QrError as exc:
            if exc.code != "QR_EXPIRED" or not allow_expired_qr:
                message = (
                    "This QR code has expired; ask for a fresh one."
                    if exc.code == "QR_EXPIRED"
                    else "This QR code is not valid."
                )
                raise DomainError(ErrorCode(exc.code), message, "card.qrPayload") from None
            qr_error = exc.code
    return CardHolder(
        row[0],
        row[1],
        row[2],
        row[3],
        None if cached else int(row[4]),
        parsed.spend_key if parsed else None,
        qr_error,
    )
