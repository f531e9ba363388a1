"""A coupon nobody named is titled by what it gives."""

from __future__ import annotations

import pytest

from loyalty.programme.coupons import benefit_title


@pytest.mark.parametrize(("kind", "value", "currency", "title"), [
    ("PERCENT_OFF", 10, None, "10% off"),
    ("AMOUNT_OFF", 500, "EUR", "5.00 EUR off"),
    ("AMOUNT_OFF", 1999, "EUR", "19.99 EUR off"),
    ("AMOUNT_OFF", 500, "JPY", "500 JPY off"),
    ("AMOUNT_OFF", 1500, "KWD", "1.500 KWD off"),
    ("AMOUNT_OFF", 250, None, "2.50 off"),
    ("BONUS_POINTS", 50, None, "+50 points"),
])
def test_a_title_says_what_the_coupon_gives(kind, value, currency, title):
    assert benefit_title(kind, value, currency) == title
