"""RFM quintile scores, their segment names, and the ABCD engagement quadrant.

RFM (recency, frequency, monetary; Hughes 1994, "Strategic Database
Marketing") scores each buying customer 1..5 per dimension by quintile, 5
being the best: the most recent, the most frequent, the biggest spender.
Segments come from the usual R x F grid (the 11 names of the contract's
RfmSegment, as in Putler's / Shopify's RFM maps). ABCD is the contract's
click-versus-purchase engagement matrix.

The database computes the same scores in SQL; to agree row for row both use
PostgreSQL's ntile (see audience.stats.ntile) over the same total order, in
which ties on a dimension are broken by the other two and then by id:

    ntile(5) OVER (ORDER BY last_purchase_at, purchases, spend_minor, customer_id) AS r,
    ntile(5) OVER (ORDER BY purchases, spend_minor, last_purchase_at, customer_id) AS f,
    ntile(5) OVER (ORDER BY spend_minor, purchases, last_purchase_at, customer_id) AS m

over the customers with at least one purchase in the window the caller
chose. ntile does not keep ties together: with 60% one-time buyers, the
one-timers fill F1, F2 and part of F3, ordered by spend, then recency.
That is the price of equal-sized quintiles and of agreeing with SQL; the
other dimensions as tie-breakers at least make the order meaningful rather
than arbitrary. Ids must compare alike in both (integers, or text under
COLLATE "C"); timestamps are tz-aware UTC.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from audience.stats import median, ntile


class RfmSegment(StrEnum):
    CHAMPIONS = "CHAMPIONS"
    LOYAL = "LOYAL"
    POTENTIAL_LOYALISTS = "POTENTIAL_LOYALISTS"
    NEW = "NEW"
    PROMISING = "PROMISING"
    NEED_ATTENTION = "NEED_ATTENTION"
    ABOUT_TO_SLEEP = "ABOUT_TO_SLEEP"
    AT_RISK = "AT_RISK"
    CANT_LOSE = "CANT_LOSE"
    HIBERNATING = "HIBERNATING"
    LOST = "LOST"


class EngagementQuadrant(StrEnum):
    A = "A"     # clicks, buys little
    B = "B"     # clicks and buys
    C = "C"     # barely active
    D = "D"     # buys without clicking


# Integers, or text compared as under COLLATE "C"; one type per population.
CustomerId = int | str


@dataclass(frozen=True)
class BuyerActivity:
    customer_id: CustomerId
    last_purchase_at: datetime
    purchases: int
    spend_minor: int


@dataclass(frozen=True)
class RfmScore:
    recency: int
    frequency: int
    monetary: int
    segment: RfmSegment


S = RfmSegment
# Rows are R = 5 (top) down to R = 1, columns F = 1..5. Every cell holds
# exactly one segment; LOST is only the bottom corner, the rest of R1-2 x F1-2
# is HIBERNATING.
_GRID: dict[int, tuple[RfmSegment, ...]] = {
    5: (S.NEW, S.POTENTIAL_LOYALISTS, S.POTENTIAL_LOYALISTS, S.CHAMPIONS, S.CHAMPIONS),
    4: (S.PROMISING, S.POTENTIAL_LOYALISTS, S.POTENTIAL_LOYALISTS, S.LOYAL, S.LOYAL),
    3: (S.ABOUT_TO_SLEEP, S.ABOUT_TO_SLEEP, S.NEED_ATTENTION, S.LOYAL, S.LOYAL),
    2: (S.HIBERNATING, S.HIBERNATING, S.AT_RISK, S.AT_RISK, S.CANT_LOSE),
    1: (S.LOST, S.HIBERNATING, S.AT_RISK, S.AT_RISK, S.CANT_LOSE),
}


def rfm_segment(recency: int, frequency: int) -> RfmSegment:
    """The segment of an (R, F) cell, both 1..5."""
    if recency not in _GRID or not 1 <= frequency <= 5:
        raise ValueError("recency and frequency scores are 1 to 5")
    return _GRID[recency][frequency - 1]


def score_rfm(buyers: Sequence[BuyerActivity]) -> dict[CustomerId, RfmScore]:
    """Quintile scores and segment for every buyer (see the module doc for ties)."""
    if len({b.customer_id for b in buyers}) != len(buyers):
        raise ValueError("one row per customer")

    def order(key: Callable[[BuyerActivity], tuple[Any, ...]]) -> list[CustomerId]:
        return [b.customer_id for b in sorted(buyers, key=key)]

    r = ntile(order(lambda b: (b.last_purchase_at, b.purchases, b.spend_minor, b.customer_id)), 5)
    f = ntile(order(lambda b: (b.purchases, b.spend_minor, b.last_purchase_at, b.customer_id)), 5)
    m = ntile(order(lambda b: (b.spend_minor, b.purchases, b.last_purchase_at, b.customer_id)), 5)
    return {b.customer_id: RfmScore(r[b.customer_id], f[b.customer_id], m[b.customer_id],
                                    rfm_segment(r[b.customer_id], f[b.customer_id]))
            for b in buyers}


def rfm_grid(scores: Iterable[RfmScore]) -> dict[tuple[int, int], int]:
    """Customers per (R, F) cell, all 25 cells present (the rfmGrid query)."""
    counts = Counter((s.recency, s.frequency) for s in scores)
    return {(r, f): counts.get((r, f), 0) for r in range(1, 6) for f in range(1, 6)}


# ---- ABCD engagement ---------------------------------------------------------

@dataclass(frozen=True)
class EngagementThresholds:
    """Counts over the window (the contract says 90 days) from which a customer
    is a clicker / a buyer. The defaults, 2 of each, are judgement calls: one
    stray open or a single purchase in a quarter is 'barely active'."""

    clicks: int = 2
    purchases: int = 2


DEFAULT_THRESHOLDS = EngagementThresholds()


def engagement_quadrant(clicks: int, purchases: int,
                        thresholds: EngagementThresholds = DEFAULT_THRESHOLDS,
                        ) -> EngagementQuadrant:
    """A clicks but buys little, B clicks and buys, C neither, D buys without clicking.

    `clicks` counts the engagement events of the window (push, e-mail and
    in-app opens and clicks); a count at or above its threshold is 'high'.
    """
    if clicks < 0 or purchases < 0:
        raise ValueError("counts must not be negative")
    clicker = clicks >= thresholds.clicks
    buyer = purchases >= thresholds.purchases
    if clicker:
        return EngagementQuadrant.B if buyer else EngagementQuadrant.A
    return EngagementQuadrant.D if buyer else EngagementQuadrant.C


def thresholds_from_population(clicks: Iterable[int], purchases: Iterable[int],
                               minimum: EngagementThresholds = EngagementThresholds(1, 1),
                               ) -> EngagementThresholds:
    """Thresholds at the median among the active: ceil(median of the non-zero
    counts), never below `minimum`.

    Customers with no activity at all are left out of the median, or a base
    where most never click would make one click 'high'. With this, about half
    of those who click at all count as clickers, and likewise for buyers.
    """
    def level(counts: Iterable[int], floor: int) -> int:
        active = [c for c in counts if c > 0]
        return max(floor, math.ceil(median(active))) if active else floor

    return EngagementThresholds(level(clicks, minimum.clicks), level(purchases, minimum.purchases))


def quadrant_counts(quadrants: Iterable[EngagementQuadrant]) -> dict[EngagementQuadrant, int]:
    """Customers per quadrant, all four present (the engagementMatrix query)."""
    counts = Counter(quadrants)
    return {q: counts.get(q, 0) for q in EngagementQuadrant}
