"""Exact helpers: largest remainder, PostgreSQL's ntile, median, breakage, liability."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audience.stats import (
    breakage_rate,
    largest_remainder,
    median,
    ntile,
    points_value_minor,
)


def test_largest_remainder_hand_worked():
    assert largest_remainder(100, [1, 1, 1]) == [34, 33, 33]      # equal remainders: first wins
    assert largest_remainder(10, [0.25, 0.25, 0.5]) == [3, 2, 5]  # 2.5, 2.5, 5
    assert largest_remainder(7, [0.1, 0.6, 0.3]) == [1, 4, 2]     # 0.7, 4.2, 2.1
    assert largest_remainder(0, [1, 2]) == [0, 0]
    assert largest_remainder(-100, [1, 1, 1]) == [-34, -33, -33]
    assert largest_remainder(5, [0, 1, 0]) == [0, 5, 0]
    assert largest_remainder(0, []) == []


def test_largest_remainder_refuses_what_has_no_proportion():
    for total, weights in ((5, []), (5, [0, 0]), (5, [1, -1]), (5, [float("nan")])):
        with pytest.raises(ValueError):
            largest_remainder(total, weights)


@given(total=st.integers(min_value=-10**12, max_value=10**12),
       weights=st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=20)
       .filter(lambda ws: sum(ws) > 0))
def test_largest_remainder_sums_exactly_and_stays_within_one_of_the_share(total, weights):
    parts = largest_remainder(total, weights)
    assert sum(parts) == total
    whole = sum(Fraction(w) for w in weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - total * Fraction(weight) / whole) < 1


def test_ntile_sizes_match_postgresql():
    # SELECT ntile(5) OVER (ORDER BY k) FROM generate_series(1, 7) k
    #   -> 1, 1, 2, 2, 3, 4, 5
    assert list(ntile(list("abcdefg"), 5).values()) == [1, 1, 2, 2, 3, 4, 5]
    # Fewer rows than buckets: 1, 2, 3 (buckets 4 and 5 stay empty).
    assert ntile(["x", "y", "z"], 5) == {"x": 1, "y": 2, "z": 3}
    assert ntile([], 5) == {}
    assert list(ntile(list(range(10)), 5).values()) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    with pytest.raises(ValueError):
        ntile(["a"], 0)


@given(n=st.integers(min_value=0, max_value=200), buckets=st.integers(min_value=1, max_value=9))
def test_ntile_is_ordered_and_balanced(n, buckets):
    assigned = list(ntile(list(range(n)), buckets).values())
    assert assigned == sorted(assigned)
    sizes = [assigned.count(b) for b in range(1, buckets + 1)]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_median():
    assert median([]) == 0.0
    assert median([3, 1, 2]) == 2.0
    assert median([4, 1, 3, 2]) == 2.5


def test_breakage_rate_is_expired_over_issued():
    assert breakage_rate(issued_points=1_000, expired_points=150) == pytest.approx(0.15)
    assert breakage_rate(0, 0) == 0.0
    for issued, expired in ((10, 11), (-1, 0), (5, -1)):
        with pytest.raises(ValueError):
            breakage_rate(issued, expired)


def test_points_value_is_exact_and_rounds_half_away_from_zero():
    assert points_value_minor(12_345, "0.5") == 6_173              # 6172.5 -> 6173
    assert points_value_minor(12_344, "0.5") == 6_172
    assert points_value_minor(-3, "0.5") == -2                     # -1.5 -> -2
    assert points_value_minor(10**15, "0.1") == 10**14            # no float drift
    assert points_value_minor(7, 2) == 14
    assert points_value_minor(3, Fraction(1, 3)) == 1
