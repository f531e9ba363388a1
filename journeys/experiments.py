"""Experiments: who is held out, who gets which arm, and what it changed.

Assignment is a stable hash of (journey, customer), never of the version:
a customer keeps their arm and their holdout when a live journey is edited
into a new version, and any worker computes the same answer without a
lookup. Each question (the holdout, each split step) salts the hash
differently, so that being held out says nothing about one's arm; a split
is keyed by its step id, which therefore should survive edits.

The report compares each arm's conversion rate with the holdout's: the
uplift ((arm - holdout) / holdout) and a two-sided two-proportion z-test.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import norm

from journeys.steps import Arm

HOLDOUT = "holdout"
_SCALE = 2.0**64


def bucket(journey_id: int | str, customer_id: int | str, salt: str) -> float:
    """A uniform number in [0, 1) fixed for (journey, customer, salt)."""
    key = f"{journey_id}\x1f{customer_id}\x1f{salt}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / _SCALE


def in_holdout(journey_id: int | str, customer_id: int | str, percent: int) -> bool:
    """Whether the customer is in the journey's control group (`percent` of all)."""
    return percent > 0 and bucket(journey_id, customer_id, HOLDOUT) * 100 < percent


def assign_arm(journey_id: int | str, customer_id: int | str, split_id: str,
               arms: Sequence[Arm]) -> Arm:
    """The customer's arm at a split step; arms' percents add up to 100."""
    point = bucket(journey_id, customer_id, f"split:{split_id}") * 100
    edge = 0
    for arm in arms:
        edge += arm.percent
        if point < edge:
            return arm
    return arms[-1]  # only if percents fell short of 100, which validation refuses


@dataclass(frozen=True)
class ArmCounts:
    name: str  # an arm's name, or HOLDOUT
    customers: int
    conversions: int
    revenue_minor: int = 0


@dataclass(frozen=True)
class ArmReport:
    name: str
    customers: int
    conversions: int
    conversion_rate: float
    revenue_minor: int
    uplift_vs_holdout: float | None  # None for the holdout itself, or when it converts nobody
    p_value: float | None  # None without a holdout, or when the test is undefined


def rate(conversions: int, customers: int) -> float:
    return conversions / customers if customers else 0.0


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of "both groups convert at the same rate", pooled
    z-test; None when a group is empty or nobody (or everybody) converted."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return float(2 * norm.sf(abs(z)))


def report(counts: Sequence[ArmCounts]) -> list[ArmReport]:
    """Each arm (and the holdout) with its rate, uplift and significance."""
    holdout = next((c for c in counts if c.name == HOLDOUT), None)
    base = None if holdout is None else rate(holdout.conversions, holdout.customers)
    found = []
    for arm in counts:
        arm_rate = rate(arm.conversions, arm.customers)
        uplift = p_value = None
        if holdout is not None and arm is not holdout:
            if base:
                uplift = (arm_rate - base) / base
            p_value = two_proportion_p_value(arm.conversions, arm.customers,
                                             holdout.conversions, holdout.customers)
        found.append(ArmReport(arm.name, arm.customers, arm.conversions, arm_rate,
                               arm.revenue_minor, uplift, p_value))
    return found
