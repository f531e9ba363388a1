"""Experiments: stable, uniform, independent assignment; the report's math
checked against values worked out by hand."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from scipy.stats import chi2_contingency, chisquare

from journeys.experiments import (
    HOLDOUT,
    ArmCounts,
    ArmReport,
    assign_arm,
    bucket,
    in_holdout,
    report,
    two_proportion_p_value,
)
from journeys.steps import Arm

CUSTOMERS = range(1, 100_001)
ARMS = (Arm("A", 50, "a"), Arm("B", 30, "b"), Arm("C", 20, "c"))


def test_assignment_is_a_pure_function_of_journey_and_customer():
    assert bucket(7, 42, HOLDOUT) == bucket("7", "42", HOLDOUT)
    assert [assign_arm(7, c, "ab", ARMS) for c in range(50)] \
        == [assign_arm(7, c, "ab", ARMS) for c in range(50)]
    # Sticky across versions: the version is not an input at all, and the
    # arm depends on the split's id, not on its position or its targets.
    moved = (Arm("A", 50, "elsewhere"), Arm("B", 30, "b2"), Arm("C", 20, "c2"))
    assert [assign_arm(7, c, "ab", ARMS).name for c in range(200)] \
        == [assign_arm(7, c, "ab", moved).name for c in range(200)]


def test_buckets_are_uniform_over_100k_customers():
    counts = Counter(int(bucket(3, c, HOLDOUT) * 20) for c in CUSTOMERS)
    assert chisquare([counts[i] for i in range(20)]).pvalue > 0.001


def test_the_holdout_takes_its_percent():
    held = sum(in_holdout(3, c, 10) for c in CUSTOMERS)
    assert chisquare([held, len(CUSTOMERS) - held], [10_000, 90_000]).pvalue > 0.001
    assert not any(in_holdout(3, c, 0) for c in range(1000))


def test_arms_follow_their_weights():
    counts = Counter(assign_arm(3, c, "ab", ARMS).name for c in CUSTOMERS)
    observed = [counts["A"], counts["B"], counts["C"]]
    assert chisquare(observed, [50_000, 30_000, 20_000]).pvalue > 0.001


def test_the_holdout_and_the_arms_are_independent_and_journeys_differ():
    table = Counter((in_holdout(3, c, 20), assign_arm(3, c, "ab", ARMS).name)
                    for c in CUSTOMERS)
    rows = [[table[(held, arm.name)] for arm in ARMS] for held in (True, False)]
    assert chi2_contingency(rows).pvalue > 0.001
    # Another journey's holdout overlaps this one's by chance only (10% of 10%).
    both = sum(in_holdout(3, c, 10) and in_holdout(4, c, 10) for c in CUSTOMERS)
    assert 800 < both < 1_200


def test_a_two_proportion_test_worked_by_hand():
    # 120 of 1,000 against 100 of 1,000: pooled rate 0.11,
    # standard error sqrt(0.11 * 0.89 * (1/1000 + 1/1000)) = 0.0139929,
    # z = 0.02 / 0.0139929 = 1.42930, two-sided p = erfc(z / sqrt 2) = 0.15292.
    assert two_proportion_p_value(120, 1000, 100, 1000) == pytest.approx(0.15292, abs=1e-5)
    z = 0.02 / math.sqrt(0.11 * 0.89 * 0.002)
    assert two_proportion_p_value(120, 1000, 100, 1000) == pytest.approx(
        math.erfc(z / math.sqrt(2)), rel=1e-9)
    # 200 of 1,000 against 100 of 1,000: z = 0.1 / 0.0159687 = 6.2622, p ~ 3.8e-10.
    assert two_proportion_p_value(200, 1000, 100, 1000) == pytest.approx(3.80e-10, rel=0.01)
    # Symmetric, and undefined where the test is.
    assert two_proportion_p_value(100, 1000, 120, 1000) \
        == two_proportion_p_value(120, 1000, 100, 1000)
    assert two_proportion_p_value(0, 1000, 0, 500) is None
    assert two_proportion_p_value(5, 5, 7, 7) is None
    assert two_proportion_p_value(1, 0, 1, 10) is None


def test_the_report_per_arm_against_the_holdout():
    rows = report([ArmCounts("A", 1000, 120, 45_000), ArmCounts("B", 1000, 100, 30_000),
                   ArmCounts(HOLDOUT, 1000, 100, 28_000)])
    assert rows[0].name == "A" and rows[0].conversion_rate == 0.12
    assert rows[0].uplift_vs_holdout == pytest.approx(0.2)
    assert rows[0].p_value == pytest.approx(0.15292, abs=1e-5)
    assert rows[1].uplift_vs_holdout == 0.0 and rows[1].p_value == pytest.approx(1.0)
    assert rows[2] == ArmReport(HOLDOUT, 1000, 100, 0.1, 28_000, None, None)


def test_uplift_is_none_when_the_holdout_converts_nobody_or_there_is_none():
    rows = report([ArmCounts("A", 100, 10), ArmCounts(HOLDOUT, 100, 0)])
    assert rows[0].uplift_vs_holdout is None
    assert rows[0].p_value == pytest.approx(two_proportion_p_value(10, 100, 0, 100))
    alone = report([ArmCounts("A", 100, 10), ArmCounts("B", 0, 0)])
    assert [(r.uplift_vs_holdout, r.p_value) for r in alone] == [(None, None), (None, None)]
    assert alone[1].conversion_rate == 0.0
