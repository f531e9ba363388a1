"""When earned points mature and expire, and how many a refund takes back."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, time, timedelta

from loyalty.platform.config import Settings


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expiry_for(earned_at: datetime, settings: Settings) -> datetime:
    """Midnight UTC after the anniversary: points earned on one day expire
    together, so `nextExpiry` is one date with one amount."""
    anniversary = add_months(earned_at.astimezone(UTC), settings.expiry_months)
    return datetime.combine(anniversary.date() + timedelta(days=1), time(0), tzinfo=UTC)


def pending_until(earned_at: datetime, settings: Settings) -> datetime | None:
    if settings.pending_days <= 0:
        return None
    return earned_at + timedelta(days=settings.pending_days)


def refund_points(
    points_earned: int,
    total_minor: int,
    refunded_before: int,
    refunded_now: int,
    points_refunded_before: int,
) -> int:
    """Pro rata on the cumulative amount, so that partial refunds that add up
    to the whole purchase take back exactly the points it earned."""
    cumulative = points_earned * (refunded_before + refunded_now) // total_minor
    return cumulative - points_refunded_before
