"""Attribution models on hand-worked paths, the Markov removal effect worked by
hand, the lookback window, and exact integer revenue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audience.attribution import (
    DIRECT,
    AttributionModel,
    AttributionRow,
    ConversionPath,
    Touch,
    attribute,
    markov_shares,
)

M = AttributionModel
NOON = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _path(*names_days_before: tuple[str, float], revenue: int = 0,
          converted: bool = True) -> ConversionPath:
    """Touches given as (touchpoint, days before the conversion at NOON)."""
    touches = [Touch(name, NOON - timedelta(days=days)) for name, days in names_days_before]
    return ConversionPath(touches, NOON if converted else None, revenue)


def _table(rows: list[AttributionRow]) -> dict[str, tuple[float, int]]:
    return {r.touchpoint: (pytest.approx(r.conversions), r.revenue_minor) for r in rows}


# Given one path email -> push -> sms -> web converting for 1000
JOURNEY = _path(("email", 20), ("push", 10), ("sms", 3), ("web", 0), revenue=1_000)


@pytest.mark.parametrize(("model", "expected"), [
    (M.FIRST_TOUCH, {"email": (1, 1000), "push": (0, 0), "sms": (0, 0), "web": (0, 0)}),
    (M.LAST_TOUCH, {"email": (0, 0), "push": (0, 0), "sms": (0, 0), "web": (1, 1000)}),
    (M.LINEAR, {"email": (0.25, 250), "push": (0.25, 250), "sms": (0.25, 250),
                "web": (0.25, 250)}),
    # 40 / 20 shared by the two in the middle / 40
    (M.POSITION_BASED, {"email": (0.4, 400), "push": (0.1, 100), "sms": (0.1, 100),
                        "web": (0.4, 400)}),
])
def test_rule_based_models_on_one_path(model, expected):
    assert _table(attribute([JOURNEY], model)) == expected


def test_position_based_with_one_and_two_touchpoints():
    rows = attribute([_path(("email", 1), revenue=90),
                      _path(("push", 2), ("web", 1), revenue=90)], M.POSITION_BASED)
    assert _table(rows) == {"email": (1, 90), "push": (0.5, 45), "web": (0.5, 45)}


def test_time_decay_halves_the_weight_every_half_life():
    # 14, 7 and 0 days before the conversion with a 7-day half-life:
    # weights 1/4, 1/2, 1 -> shares 1/7, 2/7, 4/7 of 700.
    path = _path(("email", 14), ("push", 7), ("web", 0), revenue=700)
    rows = attribute([path], M.TIME_DECAY, half_life=timedelta(days=7))
    assert _table(rows) == {"web": (4 / 7, 400), "push": (2 / 7, 200), "email": (1 / 7, 100)}
    assert [r.touchpoint for r in rows] == ["web", "push", "email"]    # most credited first
    # A one-day half-life: weights 2^-14, 2^-7, 1 -> 0.04, 5.43 and 694.57 of 700,
    # floors 0 + 5 + 694 = 699 and the missing unit goes to web's .57.
    short = attribute([path], M.TIME_DECAY, half_life=timedelta(days=1))
    assert [(r.touchpoint, r.revenue_minor) for r in short] == [
        ("web", 695), ("push", 5), ("email", 0)]


def test_repeated_touchpoints_accumulate_their_credit():
    path = _path(("email", 5), ("push", 3), ("email", 1), revenue=300)
    assert _table(attribute([path], M.LINEAR)) == {"email": (2 / 3, 200), "push": (1 / 3, 100)}


def test_lookback_drops_old_touches_and_an_empty_window_is_direct():
    old = _path(("email", 40), ("push", 29), revenue=100)
    only_old = _path(("sms", 31), revenue=50)
    rows = attribute([old, only_old], M.FIRST_TOUCH, lookback=timedelta(days=30))
    assert _table(rows) == {"push": (1, 100), DIRECT: (1, 50)}
    # The boundary itself is inside the window; touches after the conversion are not.
    edge = ConversionPath([Touch("email", NOON - timedelta(days=30)),
                           Touch("web", NOON + timedelta(minutes=1))], NOON, 10)
    assert _table(attribute([edge], M.LAST_TOUCH)) == {"email": (1, 10)}


def test_unsorted_touches_are_ordered_by_time():
    path = ConversionPath([Touch("web", NOON), Touch("email", NOON - timedelta(days=2))],
                          NOON, 10)
    assert _table(attribute([path], M.FIRST_TOUCH)) == {"email": (1, 10), "web": (0, 0)}


def test_revenue_splits_by_largest_remainder():
    # Three equal thirds of 100: 33.33 each, the one extra cent goes to the first row.
    path = _path(("a", 3), ("b", 2), ("c", 1), revenue=100)
    rows = attribute([path], M.LINEAR)
    assert [(r.touchpoint, r.revenue_minor) for r in rows] == [("a", 34), ("b", 33), ("c", 33)]


def test_markov_removal_effect_worked_by_hand():
    # Paths: A -> B -> conv (100), A -> null, B -> conv (300).
    # Transitions: START: A 2/3, B 1/3;  A: B 1/2, null 1/2;  B: conv 1.
    # P(conv)           = 2/3 * 1/2 * 1 + 1/3 * 1     = 2/3
    # without A (A->null): P = 1/3 * 1               = 1/3  -> RE_A = 1 - (1/3)/(2/3) = 1/2
    # without B (B->null): P = 0                            -> RE_B = 1
    # Shares: A = (1/2) / (3/2) = 1/3, B = 2/3 of 2 conversions and 400:
    # A 2/3 conversion and 133.33, B 4/3 and 266.67 -> 133 + 267 by largest remainder.
    paths = [_path(("A", 2), ("B", 1), revenue=100), _path(("A", 1), converted=False),
             _path(("B", 1), revenue=300)]
    assert markov_shares([["A", "B"], ["A"], ["B"]], [True, False, True]) == {
        "A": pytest.approx(1 / 3), "B": pytest.approx(2 / 3)}
    assert _table(attribute(paths, M.MARKOV)) == {"B": (4 / 3, 267), "A": (2 / 3, 133)}


def test_markov_solves_cycles_exactly():
    # Paths: A -> B -> A -> conv, B -> null.
    # START: A 1/2, B 1/2;  A: B 1/2, conv 1/2;  B: A 1/2, null 1/2.
    # v_A = 1/2 + 1/2 v_B, v_B = 1/2 v_A  ->  v_A = 2/3, v_B = 1/3;  P = 1/2.
    # without A: P = 0 -> RE_A = 1.  without B: v_A = 1/2, P = 1/4 -> RE_B = 1/2.
    # Shares 2/3 and 1/3 (a simulation would only approach them).
    assert markov_shares([["A", "B", "A"], ["B"]], [True, False]) == {
        "A": pytest.approx(2 / 3), "B": pytest.approx(1 / 3)}


def test_markov_self_loops_change_nothing():
    once = markov_shares([["A", "B"], ["A"], ["B"]], [True, False, True])
    looped = markov_shares([["A", "A", "B", "B"], ["A", "A"], ["B"]], [True, False, True])
    assert looped == pytest.approx(once)


def test_markov_without_conversions_gives_no_credit():
    paths = [_path(("A", 1), converted=False)]
    assert _table(attribute(paths, M.MARKOV)) == {"A": (0, 0)}
    assert markov_shares([], []) == {}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        attribute([JOURNEY], M.LINEAR, lookback=timedelta(0))
    with pytest.raises(ValueError):
        attribute([_path(("a", 1), revenue=-5)], M.LINEAR)


_touch = st.tuples(st.sampled_from(["email", "push", "sms", "web", "store"]),
                   st.floats(min_value=0, max_value=45, allow_nan=False))
_paths = st.lists(st.tuples(st.lists(_touch, max_size=6), st.booleans(),
                            st.integers(min_value=0, max_value=10**9)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(raw=_paths, model=st.sampled_from(list(M)))
def test_rows_add_up_to_the_conversions_and_the_revenue(raw, model):
    paths = [_path(*touches, revenue=revenue if ok else 0, converted=ok)
             for touches, ok, revenue in raw]
    rows = attribute(paths, model)
    converting = [p for p in paths if p.converted_at is not None]
    assert sum(r.revenue_minor for r in rows) == sum(p.revenue_minor for p in converting)
    assert sum(r.conversions for r in rows) == pytest.approx(len(converting))
    assert all(r.revenue_minor >= 0 and r.conversions >= -1e-12 for r in rows)
    assert len({r.touchpoint for r in rows}) == len(rows)
