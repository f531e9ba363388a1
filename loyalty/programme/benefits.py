"""What clipped offers and a presented coupon give a purchase, and the record
of it that a retry reads back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import execute, fetch

if TYPE_CHECKING:
    from loyalty.programme.coupons import Benefit

PERCENT_OFF, AMOUNT_OFF, BONUS_POINTS = "PERCENT_OFF", "AMOUNT_OFF", "BONUS_POINTS"


@dataclass(frozen=True)
class Applied:
    title: str
    kind: str
    discount_minor: int
    bonus_points: int
    source: str
    offer_id: int | None = None
    coupon_id: int | None = None
    activation_id: int | None = None


def apply_benefits(total_minor: int, benefits: Sequence[Benefit]) -> tuple[Applied, ...]:
    """Offers in the order given (the caller sorts them by id), then the coupon.

    Each discount applies to what earlier ones left, rounded down, so the
    discounts never exceed the total; a benefit whose minimum basket the
    purchase (before discounts) does not reach is not applied and not used."""
    left = total_minor
    applied: list[Applied] = []
    for b in benefits:
        if b.min_basket_minor is not None and total_minor < b.min_basket_minor:
            continue
        discount = bonus = 0
        if b.kind == PERCENT_OFF:
            discount = left * min(max(b.value, 0), 100) // 100
        elif b.kind == AMOUNT_OFF:
            discount = min(max(b.value, 0), left)
        elif b.kind == BONUS_POINTS:
            bonus = max(b.value, 0)
        left -= discount
        applied.append(
            Applied(b.title, b.kind, discount, bonus, b.source, b.offer_id, b.coupon_id,
                    b.activation_id)
        )
    return tuple(applied)


def discount_of(applied: Sequence[Applied]) -> int:
    return sum(a.discount_minor for a in applied)


async def record_applied(
    conn: BaseDBAsyncClient, transaction_id: int, applied: Sequence[Applied]
) -> None:
    for a in applied:
        await execute(
            conn,
            "INSERT INTO applied_benefit (transaction_id, offer_id, coupon_id, title, "
            "benefit_kind, discount_minor, bonus_points) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            transaction_id,
            a.offer_id,
            a.coupon_id,
            a.title,
            a.kind,
            a.discount_minor,
            a.bonus_points,
        )


async def applied_to(conn: BaseDBAsyncClient, transaction_id: int) -> tuple[Applied, ...]:
    rows = await fetch(
        conn,
        "SELECT title, benefit_kind, discount_minor, bonus_points, offer_id, coupon_id "
        "FROM applied_benefit WHERE transaction_id = $1 ORDER BY id",
        transaction_id,
    )
    return tuple(
        Applied(r[0], r[1], r[2], r[3], "offer" if r[4] is not None else "coupon", r[4], r[5])
        for r in rows
    )
