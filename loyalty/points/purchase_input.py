"""What a till's purchase must look like before anything is read or written:
its time, channel, receipt, lines and coupon code, each refused as
INVALID_INPUT naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty.errors import invalid
from loyalty.ledger import Channel
from loyalty.programme import coupons
from loyalty.programme import rules as engine

# Tills that were offline may post late; beyond this a receipt is refused.
MAX_BACKDATE = timedelta(days=30)
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_LINES = 500


def check_occurred_at(occurred_at: datetime | None, now: datetime) -> datetime:
    if occurred_at is None:
        return now
    if occurred_at.tzinfo is None:
        raise invalid("occurredAt needs a UTC offset.", "occurredAt")
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise invalid("occurredAt is in the future.", "occurredAt")
    if occurred_at < now - MAX_BACKDATE:
        raise invalid("occurredAt is too old to earn points.", "occurredAt")
    return occurred_at.astimezone(UTC)


# Where something is sold. CHECKIN and SYSTEM are the programme's own postings
# (visit rewards, expiry): a purchase never claims them.
SALES_CHANNELS = frozenset({Channel.STORE, Channel.APP, Channel.WEB, Channel.PHONE,
                            Channel.FRANCHISE})


def check_sales_channel(channel: Channel | str) -> Channel:
    try:
        parsed = Channel(channel)
    except ValueError:
        parsed = None
    if parsed not in SALES_CHANNELS:
        names = ", ".join(sorted(SALES_CHANNELS))
        raise invalid(f"A purchase's channel is a sales channel: {names}.", "channel")
    assert parsed is not None
    return parsed


def check_receipt(receipt_id: str) -> str:
    receipt_id = receipt_id.strip() if isinstance(receipt_id, str) else ""
    if not receipt_id or len(receipt_id) > 128:
        raise invalid("receiptId must be 1 to 128 characters.", "receiptId")
    return receipt_id


def check_lines(lines: tuple[engine.Line, ...]) -> tuple[engine.Line, ...]:
    if len(lines) > MAX_LINES:
        raise invalid(f"At most {MAX_LINES} lines.", "lines")
    for i, line in enumerate(lines):
        if not line.sku or len(line.sku) > 64:
            raise invalid("sku must be 1 to 64 characters.", f"lines.{i}.sku")
        if line.category is not None and len(line.category) > 64:
            raise invalid("category must be at most 64 characters.", f"lines.{i}.category")
        if line.quantity <= 0 or line.quantity > 1_000_000:
            raise invalid("quantity must be 1 to 1000000.", f"lines.{i}.quantity")
        if line.unit_price_minor < 0:
            raise invalid("unitPrice must not be negative.", f"lines.{i}.unitPrice")
    return lines


def check_coupon_code(code: str | None) -> str | None:
    if code is None:
        return None
    code = coupons.normalise_code(code)
    if not code or len(code) > 32:
        raise invalid("couponCode must be 1 to 32 characters.", "couponCode")
    return code
