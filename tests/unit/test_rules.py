"""The earn-rule engine, table by table: stacking order, caps, rounding, dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.errors import DomainError, ErrorCode
from loyalty.ledger import Channel
from loyalty.programme.rules import (
    CHANNELS,
    Conditions,
    CustomerFacts,
    Evaluation,
    Fired,
    Line,
    PurchaseFacts,
    Rule,
    RuleKind,
    evaluate,
    is_birthday,
)

K = RuleKind
ONE = Decimal(1)
MONDAY = date(2025, 3, 3)
COFFEE = Line("CAF-1", "coffee", 2, 3_00)  # 6.00
CAKE = Line("CAK-1", "bakery", 1, 4_50)  # 4.50
NOBODY = CustomerFacts()


def buy(total: int = 10_50, *, lines: tuple[Line, ...] = (COFFEE, CAKE), channel: str = "STORE",
        store: int = 1, day: date = MONDAY, exponent: int = 2) -> PurchaseFacts:
    return PurchaseFacts(total, exponent, channel, store, day, lines)


def rule(rid: int, kind: RuleKind, label: str = "", *, rate: str | None = None,
         points: int | None = None, cap: int | None = None, priority: int = 0,
         **conditions: object) -> Rule:
    return Rule(rid, kind, label or f"rule {rid}", Decimal(rate) if rate else None, points, cap,
                Conditions(**conditions), priority)  # type: ignore[arg-type]


def fired(evaluation: Evaluation) -> list[tuple[int | None, int]]:
    return [(line.rule_id, line.points) for line in evaluation.lines]


# (name, purchase, customer, rules, expected (rule_id, points) lines, total)
CASES = [
    ("no rules: default rate, rounded down", buy(), NOBODY, [], [(None, 10)], 10),
    ("base line present at zero", buy(99), NOBODY, [], [(None, 0)], 0),
    ("BASE_RATE replaces the default", buy(), NOBODY,
     [rule(1, K.BASE_RATE, rate="2")], [(1, 21)], 21),
    ("highest-priority BASE_RATE wins", buy(), NOBODY,
     [rule(1, K.BASE_RATE, rate="2"), rule(2, K.BASE_RATE, rate="3", priority=5)], [(2, 31)], 31),
    ("BASE_RATE tie: lowest id", buy(), NOBODY,
     [rule(7, K.BASE_RATE, rate="3"), rule(4, K.BASE_RATE, rate="2")], [(4, 21)], 21),
    ("channel base rate applies only on its channel", buy(channel="APP"), NOBODY,
     [rule(1, K.BASE_RATE, rate="2", channels=frozenset({"APP"})),
      rule(2, K.BASE_RATE, rate="5", channels=frozenset({"WEB"}))], [(1, 21)], 21),
    ("channel base rate off its channel: default", buy(channel="STORE"), NOBODY,
     [rule(1, K.BASE_RATE, rate="2", channels=frozenset({"APP"}))], [(None, 10)], 10),
    ("BASE_RATE 0 earns nothing", buy(), NOBODY, [rule(1, K.BASE_RATE, rate="0")], [(1, 0)], 0),
    ("zero-decimal currency", buy(1500, lines=(), exponent=0), NOBODY,
     [rule(1, K.BASE_RATE, rate="0.01")], [(1, 15)], 15),
    ("whole-basket multiplier", buy(), NOBODY,
     [rule(1, K.MULTIPLIER, rate="2")], [(None, 10), (1, 10)], 20),
    ("multiplier on the rate used for base", buy(), NOBODY,
     [rule(1, K.BASE_RATE, rate="2"), rule(2, K.MULTIPLIER, rate="2")], [(1, 21), (2, 21)], 42),
    ("sku portion", buy(), NOBODY,
     [rule(1, K.MULTIPLIER, rate="2", skus=frozenset({"CAF-1"}))], [(None, 10), (1, 6)], 16),
    ("category portion", buy(), NOBODY,
     [rule(1, K.MULTIPLIER, rate="3", categories=frozenset({"bakery"}))],
     [(None, 10), (1, 9)], 19),
    ("sku or category, each line counted once", buy(), NOBODY,
     [rule(1, K.MULTIPLIER, rate="2", skus=frozenset({"CAF-1"}),
           categories=frozenset({"coffee", "bakery"}))], [(None, 10), (1, 10)], 20),
    ("no matching line: the multiplier does not fire", buy(), NOBODY,
     [rule(1, K.MULTIPLIER, rate="2", skus=frozenset({"TEA"}))], [(None, 10)], 10),
    ("portion never more than the total paid", buy(5_00), NOBODY,
     [rule(1, K.MULTIPLIER, rate="2", skus=frozenset({"CAF-1"}))], [(None, 5), (1, 5)], 10),
    ("multipliers add: x2 and x3 make x4", buy(), NOBODY,
     [rule(1, K.MULTIPLIER, rate="2", skus=frozenset({"CAF-1"})),
      rule(2, K.MULTIPLIER, rate="3", skus=frozenset({"CAF-1"}))],
     [(None, 10), (1, 6), (2, 12)], 28),
    ("each multiplier line rounds down on its own", buy(3_33, lines=()), NOBODY,
     [rule(1, K.MULTIPLIER, rate="1.5"), rule(2, K.MULTIPLIER, rate="1.5")],
     [(None, 3), (1, 1), (2, 1)], 5),
    ("multiplier order: priority desc then id", buy(), NOBODY,
     [rule(3, K.MULTIPLIER, rate="2"), rule(9, K.MULTIPLIER, rate="2", priority=1),
      rule(2, K.MULTIPLIER, rate="2")], [(None, 10), (9, 10), (2, 10), (3, 10)], 40),
    ("per-rule cap on a multiplier", buy(), NOBODY,
     [rule(1, K.MULTIPLIER, rate="5", cap=7)], [(None, 10), (1, 7)], 17),
    ("tier multiplier first, on base", buy(), CustomerFacts("Gold", Decimal("1.5")),
     [rule(1, K.MULTIPLIER, rate="2")], [(None, 10), (None, 5), (1, 10)], 25),
    ("bonus after multipliers, by priority", buy(), NOBODY,
     [rule(1, K.BONUS, points=5), rule(2, K.BONUS, points=7, priority=2),
      rule(3, K.MULTIPLIER, rate="2")], [(None, 10), (3, 10), (2, 7), (1, 5)], 32),
    ("bonus capped by its own cap", buy(), NOBODY,
     [rule(1, K.BONUS, points=50, cap=20)], [(None, 10), (1, 20)], 30),
    ("bonus on a sku needs a matching line", buy(), NOBODY,
     [rule(1, K.BONUS, points=5, skus=frozenset({"TEA"})),
      rule(2, K.BONUS, points=6, categories=frozenset({"bakery"}))], [(None, 10), (2, 6)], 16),
    ("min basket met (inclusive)", buy(10_50), NOBODY,
     [rule(1, K.BONUS, points=5, min_basket_minor=10_50)], [(None, 10), (1, 5)], 15),
    ("min basket missed", buy(10_49), NOBODY,
     [rule(1, K.BONUS, points=5, min_basket_minor=10_50)], [(None, 10)], 10),
    ("day of week matches (Monday = 1)", buy(), NOBODY,
     [rule(1, K.BONUS, points=5, days_of_week=frozenset({1})),
      rule(2, K.BONUS, points=6, days_of_week=frozenset({6, 7}))], [(None, 10), (1, 5)], 15),
    ("starts_on inclusive", buy(day=date(2025, 3, 3)), NOBODY,
     [rule(1, K.BONUS, points=5, starts_on=date(2025, 3, 3))], [(None, 10), (1, 5)], 15),
    ("the day before starts_on", buy(day=date(2025, 3, 2)), NOBODY,
     [rule(1, K.BONUS, points=5, starts_on=date(2025, 3, 3))], [(None, 10)], 10),
    ("ends_on inclusive", buy(day=date(2025, 3, 31)), NOBODY,
     [rule(1, K.BONUS, points=5, ends_on=date(2025, 3, 31))], [(None, 10), (1, 5)], 15),
    ("the day after ends_on", buy(day=date(2025, 4, 1)), NOBODY,
     [rule(1, K.BONUS, points=5, ends_on=date(2025, 3, 31))], [(None, 10)], 10),
    ("store condition", buy(store=2), NOBODY,
     [rule(1, K.BONUS, points=5, store_ids=frozenset({1})),
      rule(2, K.BONUS, points=6, store_ids=frozenset({2, 3}))], [(None, 10), (2, 6)], 16),
    ("tier condition met", buy(), CustomerFacts("Gold"),
     [rule(1, K.BONUS, points=5, tiers=frozenset({"Gold"}))], [(None, 10), (1, 5)], 15),
    ("tier condition, customer without a tier", buy(), NOBODY,
     [rule(1, K.BONUS, points=5, tiers=frozenset({"Gold"}))], [(None, 10)], 10),
    ("first purchase", buy(), CustomerFacts(first_purchase=True),
     [rule(1, K.FIRST_PURCHASE, points=50)], [(None, 10), (1, 50)], 60),
    ("not the first purchase", buy(), NOBODY, [rule(1, K.FIRST_PURCHASE, points=50)],
     [(None, 10)], 10),
    ("birthday", buy(), CustomerFacts(birthday_today=True),
     [rule(1, K.BIRTHDAY, points=100)], [(None, 10), (1, 100)], 110),
    ("not the birthday", buy(), NOBODY, [rule(1, K.BIRTHDAY, points=100)], [(None, 10)], 10),
    ("survey never fires on a purchase", buy(), NOBODY, [rule(1, K.SURVEY, points=20)],
     [(None, 10)], 10),
    ("CAP: negative line brings the total down", buy(), CustomerFacts(first_purchase=True),
     [rule(1, K.FIRST_PURCHASE, points=50), rule(2, K.CAP, points=25)],
     [(None, 10), (1, 50), (2, -35)], 25),
    ("CAP: the smallest matching cap wins", buy(), NOBODY,
     [rule(1, K.BONUS, points=50), rule(2, K.CAP, points=30), rule(3, K.CAP, points=20),
      rule(4, K.CAP, points=5, channels=frozenset({"APP"}))],
     [(None, 10), (1, 50), (3, -40)], 20),
    ("CAP not reached: no line", buy(), NOBODY, [rule(1, K.CAP, points=100)], [(None, 10)], 10),
    ("CAP of zero", buy(), NOBODY, [rule(1, K.CAP, points=0)], [(None, 10), (1, -10)], 0),
    ("per-rule cap on the base rate", buy(), NOBODY, [rule(1, K.BASE_RATE, rate="10", cap=40)],
     [(1, 40)], 40),
]


@pytest.mark.parametrize(("purchase", "customer", "rules", "lines", "total"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evaluation(purchase, customer, rules, lines, total):
    result = evaluate(purchase, customer, tuple(rules), ONE)
    assert fired(result) == lines
    assert result.points == total == sum(p for _, p in lines)


def test_labels_name_the_rule_the_tier_and_the_default_base():
    rules = (rule(1, K.MULTIPLIER, "x2 on coffee", rate="2", skus=frozenset({"CAF-1"})),
             rule(2, K.FIRST_PURCHASE, "+50 first purchase", points=50))
    result = evaluate(buy(), CustomerFacts("Gold", Decimal("1.50"), first_purchase=True), rules,
                      ONE)
    assert [line.label for line in result.lines] == [
        "base points", "x1.5 Gold tier", "x2 on coffee", "+50 first purchase"]
    assert result.description("Purchase at Opéra") == (
        "Purchase at Opéra: 10 base points; x1.5 Gold tier +5; x2 on coffee +6; "
        "+50 first purchase")


def test_description_shows_the_cap_and_is_clipped_to_500_characters():
    capped = Evaluation(5, (Fired(None, "base points", 10), Fired(3, "Max 5 per visit", -5)))
    assert capped.description("Purchase at A") == (
        "Purchase at A: 10 base points; Max 5 per visit -5")
    many = Evaluation(60, tuple([Fired(None, "base points", 0)]
                                + [Fired(i, "x" * 100, 1) for i in range(60)]))
    text = many.description("Purchase at A")
    assert len(text) == 500 and text.endswith("…")


@given(total=st.integers(1, 10**7), rate=st.decimals("0.01", "10", places=2),
       factors=st.lists(st.decimals("1", "5", places=2), max_size=6),
       bonus=st.integers(0, 500), cap=st.integers(0, 10**5) | st.none())
def test_lines_always_sum_to_the_points_which_are_never_negative(total, rate, factors, bonus,
                                                                 cap):
    rules = [rule(1, K.BASE_RATE, rate=str(rate)), rule(2, K.BONUS, points=bonus)]
    rules += [rule(10 + i, K.MULTIPLIER, rate=str(f)) for i, f in enumerate(factors)]
    if cap is not None:
        rules.append(rule(99, K.CAP, points=cap))
    result = evaluate(buy(total, lines=()), CustomerFacts("Gold", Decimal("1.25")), rules, ONE)
    assert result.points == sum(line.points for line in result.lines) >= 0
    if cap is not None:
        assert result.points <= cap


@pytest.mark.parametrize(("birth", "day", "expected"), [
    (date(1990, 6, 15), date(2025, 6, 15), True),
    (date(1990, 6, 15), date(2025, 6, 16), False),
    (None, date(2025, 6, 15), False),
    (date(2000, 2, 29), date(2024, 2, 29), True),    # leap year: the day itself
    (date(2000, 2, 29), date(2024, 2, 28), False),   # ... and not the day before
    (date(2000, 2, 29), date(2025, 2, 28), True),    # common year: Feb 28
    (date(2000, 2, 29), date(2025, 3, 1), False),
    (date(1999, 2, 28), date(2025, 2, 28), True),
])
def test_is_birthday(birth, day, expected):
    assert is_birthday(birth, day) is expected


def test_conditions_round_trip_through_json():
    stored = {"skus": ["B", "A"], "categories": ["coffee"], "storeIds": [2, "1"],
              "channels": ["APP"], "tiers": ["Gold"], "daysOfWeek": [6, 7],
              "startsOn": "2025-03-01", "endsOn": "2025-03-31", "minBasketMinor": 1000}
    conditions = Conditions.from_json(stored)
    assert conditions.store_ids == {1, 2} and conditions.starts_on == date(2025, 3, 1)
    assert conditions.to_json() == {**stored, "skus": ["A", "B"], "storeIds": [1, 2]}
    assert Conditions.from_json({}) == Conditions() == Conditions.from_json(None)
    assert Conditions.from_json({"skus": None}) == Conditions()


@pytest.mark.parametrize(("data", "field"), [
    ("nope", "conditions"),
    ({"colour": ["red"]}, "conditions.colour"),
    ({"skus": "CAF-1"}, "conditions.skus"),
    ({"skus": [""]}, "conditions.skus"),
    ({"channels": ["SHOP"]}, "conditions.channels"),
    ({"storeIds": [0]}, "conditions.storeIds"),
    ({"daysOfWeek": [8]}, "conditions.daysOfWeek"),
    ({"daysOfWeek": [True]}, "conditions.daysOfWeek"),
    ({"startsOn": "03/01/2025"}, "conditions.startsOn"),
    ({"startsOn": "2025-03-02", "endsOn": "2025-03-01"}, "conditions.endsOn"),
    ({"minBasketMinor": -1}, "conditions.minBasketMinor"),
    ({"minBasketMinor": "10"}, "conditions.minBasketMinor"),
])
def test_bad_conditions_name_the_key_at_fault(data, field):
    with pytest.raises(DomainError) as err:
        Conditions.from_json(data)
    assert (err.value.code, err.value.field) == (ErrorCode.INVALID_INPUT, field)


def test_engine_channels_are_the_ledger_channels():
    assert CHANNELS == {c.value for c in Channel}


def test_a_list_of_rules_is_not_cached_across_changes():
    rules = [rule(1, K.BONUS, points=5)]
    assert evaluate(buy(), NOBODY, rules, ONE).points == 15
    rules.append(rule(2, K.BONUS, points=6))
    assert evaluate(buy(), NOBODY, rules, ONE).points == 21
