"""How offers and a coupon combine on one purchase: order, rounding, minimum
basket, never more discount than the bill."""

from __future__ import annotations

import pytest

from loyalty.programme.benefits import apply_benefits, discount_of
from loyalty.programme.coupons import Benefit


def offer(kind: str, value: int, min_basket: int | None = None, n: int = 1) -> Benefit:
    return Benefit(source="offer", offer_id=n, coupon_id=None, activation_id=10 + n,
                   title=f"offer {n}", kind=kind, value=value, min_basket_minor=min_basket)


def coupon(kind: str, value: int) -> Benefit:
    return Benefit(source="coupon", offer_id=None, coupon_id=7, activation_id=None,
                   title="coupon", kind=kind, value=value, min_basket_minor=None)


@pytest.mark.parametrize(
    ("total", "benefits", "discounts", "bonus"),
    [
        # 10 % of 12.34 is 1.234: rounded down, the shop never gives a cent more.
        (1234, [offer("PERCENT_OFF", 10)], [123], 0),
        # A fixed amount never exceeds what is left to pay.
        (500, [offer("AMOUNT_OFF", 800)], [500], 0),
        # Sequential: 20 % off 10.00 leaves 8.00, then 5.00 off leaves 3.00.
        (1000, [offer("PERCENT_OFF", 20), coupon("AMOUNT_OFF", 500)], [200, 500], 0),
        # 5.00 off first, then 50 % of the 5.00 left.
        (1000, [offer("AMOUNT_OFF", 500), coupon("PERCENT_OFF", 50)], [500, 250], 0),
        # Bonus points take nothing off the bill.
        (1000, [coupon("BONUS_POINTS", 150)], [0], 150),
        # A percentage above 100 is treated as 100: the bill cannot go negative.
        (999, [offer("PERCENT_OFF", 250)], [999], 0),
        # 100 % then anything: nothing left to discount.
        (999, [offer("PERCENT_OFF", 100), coupon("AMOUNT_OFF", 100)], [999, 0], 0),
    ],
)
def test_discounts_combine_in_order(
    total: int, benefits: list[Benefit], discounts: list[int], bonus: int
) -> None:
    applied = apply_benefits(total, benefits)
    assert [a.discount_minor for a in applied] == discounts
    assert sum(a.bonus_points for a in applied) == bonus
    assert discount_of(applied) <= total


def test_an_offer_below_its_minimum_basket_is_not_applied_nor_used() -> None:
    applied = apply_benefits(1999, [offer("AMOUNT_OFF", 300, min_basket=2000, n=1),
                                    offer("BONUS_POINTS", 40, n=2)])
    assert [a.title for a in applied] == ["offer 2"]
    assert applied[0].activation_id == 12


def test_the_minimum_basket_is_judged_on_the_bill_before_discounts() -> None:
    # 20.00 with 5.00 off is 15.00, but the second offer's 20.00 minimum holds.
    applied = apply_benefits(2000, [offer("AMOUNT_OFF", 500, n=1),
                                    offer("PERCENT_OFF", 10, min_basket=2000, n=2)])
    assert [a.discount_minor for a in applied] == [500, 150]
