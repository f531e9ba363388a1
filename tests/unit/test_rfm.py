"""RFM quintiles (equal to SQL's ntile), the 25-cell segment map, ABCD quadrants."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audience.rfm import (
    BuyerActivity,
    EngagementQuadrant,
    EngagementThresholds,
    RfmSegment,
    engagement_quadrant,
    quadrant_counts,
    rfm_grid,
    rfm_segment,
    score_rfm,
    thresholds_from_population,
)

S = RfmSegment
Q = EngagementQuadrant
DAY0 = datetime(2024, 1, 1, tzinfo=UTC)

# The usual R x F map, written out cell by cell from the brief's list
# (independently of the module's grid).
EXPECTED_CELLS = {
    **{(5, f): S.CHAMPIONS for f in (4, 5)},
    **{(r, f): S.LOYAL for r in (3, 4) for f in (4, 5)},
    **{(r, f): S.POTENTIAL_LOYALISTS for r in (4, 5) for f in (2, 3)},
    (5, 1): S.NEW,
    (4, 1): S.PROMISING,
    (3, 3): S.NEED_ATTENTION,
    **{(3, f): S.ABOUT_TO_SLEEP for f in (1, 2)},
    **{(r, f): S.AT_RISK for r in (1, 2) for f in (3, 4)},
    **{(r, 5): S.CANT_LOSE for r in (1, 2)},
    (2, 1): S.HIBERNATING, (2, 2): S.HIBERNATING, (1, 2): S.HIBERNATING,
    (1, 1): S.LOST,
}


def test_every_one_of_the_25_cells_has_exactly_one_segment():
    assert len(EXPECTED_CELLS) == 25
    for r in range(1, 6):
        for f in range(1, 6):
            assert rfm_segment(r, f) is EXPECTED_CELLS[(r, f)], (r, f)
    assert {rfm_segment(r, f) for r in range(1, 6) for f in range(1, 6)} == set(RfmSegment)
    for bad in ((0, 3), (6, 3), (3, 0), (3, 6)):
        with pytest.raises(ValueError):
            rfm_segment(*bad)


def _buyer(cid: int, days_ago: int, purchases: int, spend: int) -> BuyerActivity:
    return BuyerActivity(cid, DAY0 - timedelta(days=days_ago), purchases, spend)


def test_ten_buyers_get_two_per_quintile_recency_reversed():
    buyers = [_buyer(i, days_ago=100 - 10 * i, purchases=i, spend=1_000 * (10 - i))
              for i in range(10)]
    scores = score_rfm(buyers)
    assert [scores[i].recency for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [scores[i].frequency for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [scores[i].monetary for i in range(10)] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scores[9].segment is S.CHAMPIONS and scores[0].segment is S.LOST


def test_ties_are_broken_by_the_other_dimensions_then_by_id():
    # Five one-time buyers on the same day: frequency ties are ordered by
    # spend, so the biggest spender gets F5; equal spend falls back on the id.
    buyers = [_buyer(1, 5, 1, 300), _buyer(2, 5, 1, 100), _buyer(3, 5, 1, 200),
              _buyer(4, 5, 1, 200), _buyer(5, 5, 1, 500)]
    scores = score_rfm(buyers)
    assert {c: s.frequency for c, s in scores.items()} == {2: 1, 3: 2, 4: 3, 1: 4, 5: 5}
    assert score_rfm(list(reversed(buyers))) == scores          # input order is irrelevant
    with pytest.raises(ValueError):
        score_rfm([_buyer(1, 1, 1, 1), _buyer(1, 2, 1, 1)])


def test_rfm_grid_counts_all_cells():
    grid = rfm_grid(score_rfm([_buyer(i, i, i + 1, 100) for i in range(7)]).values())
    assert len(grid) == 25 and sum(grid.values()) == 7
    # 7 rows fill quintiles 2, 2, 1, 1, 1: R (newest last) 6 5 | 4 3 | 2 | 1 | 0,
    # F (fewest first) 0 1 | 2 3 | 4 | 5 | 6.
    assert {cell for cell, n in grid.items() if n} == {
        (5, 1), (4, 1), (3, 2), (2, 2), (2, 3), (1, 4), (1, 5)}


# The SQL of the module's docstring, run on SQLite (in memory, standard
# library) as an oracle: the database side must give the same scores.
RFM_SQL = """
SELECT customer_id,
  ntile(5) OVER (ORDER BY last_purchase_at, purchases, spend_minor, customer_id),
  ntile(5) OVER (ORDER BY purchases, spend_minor, last_purchase_at, customer_id),
  ntile(5) OVER (ORDER BY spend_minor, purchases, last_purchase_at, customer_id)
FROM buyers
"""

_buyers = st.lists(st.tuples(st.integers(0, 30), st.integers(1, 4), st.integers(1, 5)),
                   max_size=40)


@settings(max_examples=40, deadline=None)
@given(rows=_buyers)
def test_scores_equal_sql_ntile(rows):
    # Narrow ranges so that ties are the common case, not the exception.
    buyers = [_buyer(i + 1, d, p, s * 100) for i, (d, p, s) in enumerate(rows)]
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE buyers (customer_id INTEGER, last_purchase_at TEXT, "
                   "purchases INTEGER, spend_minor INTEGER)")
        db.executemany("INSERT INTO buyers VALUES (?, ?, ?, ?)",
                       [(b.customer_id, b.last_purchase_at.isoformat(), b.purchases,
                         b.spend_minor) for b in buyers])
        sql = {cid: (r, f, m) for cid, r, f, m in db.execute(RFM_SQL)}
    db.close()
    assert {c: (s.recency, s.frequency, s.monetary) for c, s in score_rfm(buyers).items()} == sql


# ---- ABCD ------------------------------------------------------------------------

@pytest.mark.parametrize(("clicks", "purchases", "quadrant"), [
    (5, 0, Q.A), (5, 1, Q.A), (2, 3, Q.B), (0, 0, Q.C), (1, 1, Q.C), (0, 4, Q.D), (1, 2, Q.D),
])
def test_quadrants_with_default_thresholds(clicks, purchases, quadrant):
    assert engagement_quadrant(clicks, purchases) is quadrant


def test_custom_thresholds_and_bad_counts():
    assert engagement_quadrant(1, 1, EngagementThresholds(clicks=1, purchases=1)) is Q.B
    with pytest.raises(ValueError):
        engagement_quadrant(-1, 0)


def test_thresholds_at_the_median_of_the_active():
    # Clickers (non-zero): 1, 2, 3, 8 -> median 2.5 -> 3. Buyers: 1, 1, 2 -> 1, floor 1.
    thresholds = thresholds_from_population([0, 0, 0, 1, 2, 3, 8], [0, 1, 1, 2, 0, 0, 0])
    assert thresholds == EngagementThresholds(clicks=3, purchases=1)
    assert thresholds_from_population([], [], EngagementThresholds(2, 2)) == \
        EngagementThresholds(2, 2)


def test_quadrant_counts_has_all_four():
    assert quadrant_counts([Q.A, Q.A, Q.D]) == {Q.A: 2, Q.B: 0, Q.C: 0, Q.D: 1}
