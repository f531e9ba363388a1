"""What makes an earn rule valid, kind by kind, before it is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from loyalty.errors import invalid
from loyalty.programme.rules import Conditions, RuleKind

MAX_NAME = 200
MAX_LABEL = 120
MAX_RATE = Decimal(1000)
MAX_POINTS = 10**9
MAX_PRIORITY = 10**6

_RATED = frozenset({RuleKind.BASE_RATE, RuleKind.MULTIPLIER})
# Kinds that may be restricted to some lines of the basket by sku or category.
_BY_LINE = frozenset({RuleKind.MULTIPLIER, RuleKind.BONUS})


@dataclass(frozen=True)
class RuleFields:
    name: str
    label: str
    kind: RuleKind
    rate: Decimal | None
    points: int | None
    cap: int | None
    conditions: Conditions
    priority: int

    def columns(self) -> tuple[Any, ...]:
        """name, label, kind, rate, points, cap, conditions, priority as stored."""
        return (self.name, self.label, self.kind.value,
                None if self.rate is None else str(self.rate), self.points, self.cap,
                json.dumps(self.conditions.to_json()), self.priority)


def _text(value: Any, field: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(text) <= limit:
        raise invalid(f"{field} must be 1 to {limit} characters.", field)
    return text


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid(f"{field} must be a whole number from {low} to {high}.", field)
    return value


def _rate(value: Any, kind: RuleKind) -> Decimal:
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise invalid("rate must be a decimal number such as 1.5.", "rate") from None
    # A multiplier adds (rate - 1) x the base: at 1 or below it could never
    # add anything (points are not taken away by a rule), so it is refused.
    low = Decimal(0) if kind == RuleKind.BASE_RATE else Decimal(1)
    if not rate.is_finite() or rate > MAX_RATE or (
        rate < low if kind == RuleKind.BASE_RATE else rate <= low
    ):
        bound = "at least 0" if kind == RuleKind.BASE_RATE else "more than 1"
        raise invalid(f"rate must be {bound} and at most {MAX_RATE}.", "rate")
    if rate.as_tuple().exponent < -4:  # type: ignore[operator]
        raise invalid("rate may have at most 4 decimals.", "rate")
    # Stored as text: "2", never "2.00" or "2E+1".
    return Decimal(int(rate)) if rate == rate.to_integral_value() else rate.normalize()


def validated(
    *, name: Any, label: Any, kind: Any, rate: Any, points: Any, cap: Any, conditions: Any,
    priority: Any, rate_given: bool = True, points_given: bool = True,
) -> RuleFields:
    """The rule's fields, normalised; the first fault is INVALID_INPUT naming
    its field. `rate_given`/`points_given` False: a value left over from
    another kind is dropped rather than refused."""
    try:
        rule_kind = RuleKind(kind)
    except ValueError:
        raise invalid(f"Unknown kind {kind!r}.", "kind") from None
    name = _text(name, "name", MAX_NAME)
    label = _text(label, "label", MAX_LABEL)
    if rule_kind in _RATED:
        if rate is None:
            raise invalid(f"A {rule_kind.value} rule needs a rate.", "rate")
        rate = _rate(rate, rule_kind)
        if points is not None and points_given:
            raise invalid(f"A {rule_kind.value} rule takes no points.", "points")
        points = None
    else:
        if points is None:
            raise invalid(f"A {rule_kind.value} rule needs points.", "points")
        points = _whole(points, "points", 0, MAX_POINTS)
        if rate is not None and rate_given:
            raise invalid(f"A {rule_kind.value} rule takes no rate.", "rate")
        rate = None
    if cap is not None:
        if rule_kind == RuleKind.CAP:
            raise invalid("A CAP rule's maximum is its points.", "cap")
        cap = _whole(cap, "cap", 0, MAX_POINTS)
    parsed = Conditions.from_json(conditions)
    if rule_kind not in _BY_LINE:
        for key, value in (("skus", parsed.skus), ("categories", parsed.categories)):
            if value:
                raise invalid(f"{key} only applies to MULTIPLIER and BONUS rules.",
                              f"conditions.{key}")
    priority = _whole(priority, "priority", -MAX_PRIORITY, MAX_PRIORITY)
    return RuleFields(name, label, rule_kind, rate, points, cap, parsed, priority)
