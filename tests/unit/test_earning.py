"""Points arithmetic: money parsing, expiry dates, pro-rata refunds (the base rate
and its rounding are the rules engine's: tests/unit/test_rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.errors import DomainError, ErrorCode
from loyalty.money import Money, parse_money
from loyalty.platform.config import Settings
from loyalty.points.earning import add_months, expiry_for, pending_until, refund_points

ONE_PER_UNIT = Settings(points_per_unit=Decimal("1"))


def test_parse_money_rejects_bad_amounts_and_unknown_currencies():
    assert parse_money(100, " eur ", "total") == Money(100, "EUR")
    for amount, currency, field in ((0, "EUR", "total.amountMinor"),
                                    (-1, "EUR", "total.amountMinor"),
                                    (1, "XYZ", "total.currency"),
                                    (1, "", "total.currency")):
        with pytest.raises(DomainError) as err:
            parse_money(amount, currency, "total")
        assert (err.value.code, err.value.field) == (ErrorCode.INVALID_INPUT, field)


@pytest.mark.parametrize(("start", "months", "end"), [
    (datetime(2025, 1, 31, tzinfo=UTC), 1, datetime(2025, 2, 28, tzinfo=UTC)),
    (datetime(2024, 2, 29, tzinfo=UTC), 12, datetime(2025, 2, 28, tzinfo=UTC)),
    (datetime(2025, 11, 15, tzinfo=UTC), 3, datetime(2026, 2, 15, tzinfo=UTC)),
])
def test_add_months_clamps_to_the_month_end(start, months, end):
    assert add_months(start, months) == end


def test_points_earned_on_one_day_expire_together_at_midnight_utc():
    morning = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
    evening = datetime(2025, 3, 10, 23, 59, tzinfo=UTC)
    assert expiry_for(morning, ONE_PER_UNIT) == expiry_for(evening, ONE_PER_UNIT)
    assert expiry_for(morning, ONE_PER_UNIT) == datetime(2026, 3, 11, tzinfo=UTC)


def test_pending_window_is_off_by_default():
    now = datetime(2025, 3, 10, tzinfo=UTC)
    assert pending_until(now, Settings()) is None
    assert pending_until(now, Settings(pending_days=14)) == datetime(2025, 3, 24, tzinfo=UTC)


@given(points=st.integers(0, 10_000), total=st.integers(1, 10**7),
       cuts=st.lists(st.integers(1, 10**6), min_size=1, max_size=8))
def test_partial_refunds_never_take_more_than_earned_and_all_of_it_at_the_end(
        points, total, cuts):
    refunded, taken = 0, 0
    for cut in cuts:
        amount = min(cut, total - refunded)
        if amount <= 0:
            break
        step = refund_points(points, total, refunded, amount, taken)
        assert step >= 0
        refunded += amount
        taken += step
        assert taken <= points
    rest = total - refunded
    if rest:
        taken += refund_points(points, total, refunded, rest, taken)
    assert taken == points
