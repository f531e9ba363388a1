"""Small exact helpers the analytics share: integer splits, ntile, medians, breakage.

Pure and database-free. Two of them have a twin in SQL that must agree with
them row for row: `ntile` (PostgreSQL's `ntile(n) OVER (ORDER BY ...)`) and
`breakage_rate`. Money is integer minor units throughout.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from fractions import Fraction
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Split the integer `total` in proportion to `weights`; the parts sum to `total`.

    Hamilton's largest-remainder method: every part gets the floor of its
    exact share, then the units still missing go, one each, to the largest
    fractional remainders. Ties between equal remainders go to the earlier
    position, so the result is deterministic for a given order of weights.
    Shares are computed with exact fractions (weights are turned into
    fractions once): a float product such as 0.1 * 30 must not decide which
    part gets the last cent.

    Negative totals are split as the negation of the split of |total|, so a
    refund splits like the sale it reverses. All-zero weights are an error:
    there is no proportion to follow.
    """
    if any(w < 0 or not math.isfinite(w) for w in weights):
        raise ValueError("weights must be finite and non-negative")
    if not weights:
        if total:
            raise ValueError("cannot split a non-zero total over no weights")
        return []
    if total < 0:
        return [-part for part in largest_remainder(-total, weights)]
    exact = [Fraction(w) for w in weights]
    whole = sum(exact)
    if whole == 0:
        raise ValueError("weights must not all be zero")
    shares = [total * w / whole for w in exact]
    parts = [math.floor(s) for s in shares]
    missing = total - sum(parts)
    # Largest remainder first; on equal remainders the earlier position wins.
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in order[:missing]:
        parts[i] += 1
    return parts


def ntile(keys_in_order: Sequence[K], buckets: int) -> dict[K, int]:
    """Bucket numbers 1..`buckets` exactly as PostgreSQL's `ntile(buckets)`.

    `keys_in_order` must already be in the window's ORDER BY order. PostgreSQL
    gives each bucket `n // buckets` rows and the first `n % buckets` buckets
    one row more, filled in order (so with 7 rows and 5 buckets the sizes are
    2, 2, 1, 1, 1). Ties are not special: equal values that straddle a
    boundary land in different buckets, which is why the caller's ORDER BY
    must end with a unique key (the customer id) on both sides.
    """
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    n = len(keys_in_order)
    size, extra = divmod(n, buckets)
    out: dict[K, int] = {}
    position = 0
    for bucket in range(1, buckets + 1):
        rows = size + (1 if bucket <= extra else 0)
        for key in keys_in_order[position:position + rows]:
            out[key] = bucket
        position += rows
    return out


def median(values: Sequence[float]) -> float:
    """The median (mean of the two middle values for an even count); 0.0 when empty.

    Matches PostgreSQL's `percentile_cont(0.5) WITHIN GROUP (ORDER BY v)`.
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def breakage_rate(issued_points: int, expired_points: int) -> float:
    """Share of the points issued that expired unspent: expired / issued.

    0.0 when nothing has been issued yet (no breakage can have happened).
    Both counts cover the same window of issue; points still outstanding
    have not broken yet, so the rate only rises as lots expire.
    """
    if issued_points < 0 or expired_points < 0:
        raise ValueError("points must be non-negative")
    if issued_points == 0:
        return 0.0
    if expired_points > issued_points:
        raise ValueError("cannot expire more points than were issued")
    return expired_points / issued_points


def points_value_minor(points: int, cost_per_point_minor: Fraction | int | str) -> int:
    """The liability of `points` at the programme's cost per point, in minor units.

    The cost per point is often a fraction of a minor unit (0.5 cent), so it is
    taken exactly (a Fraction, an int or a decimal string such as "0.5") and
    the product is rounded half away from zero once, at the end: a liability
    reported to finance must not drift with float error.
    """
    value = Fraction(points) * Fraction(cost_per_point_minor)
    floor = math.floor(abs(value))
    rounded = floor + (1 if abs(value) - floor >= Fraction(1, 2) else 0)
    return rounded if value >= 0 else -rounded
