"""The earn-rule engine: one pure function of (purchase, customer, active rules).

No I/O here. The callers read the rules (loyalty/programme/earn_rules.py), the
customer's context and the store's local date, then call `evaluate`. The
result lists one line per rule that fired; those lines become the ledger
entry's description, so a customer sees exactly why they earned what they did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

from loyalty.errors import invalid


class RuleKind(StrEnum):
    BASE_RATE = "BASE_RATE"
    MULTIPLIER = "MULTIPLIER"
    BONUS = "BONUS"
    FIRST_PURCHASE = "FIRST_PURCHASE"
    BIRTHDAY = "BIRTHDAY"
    SURVEY = "SURVEY"
    CAP = "CAP"


# loyalty.ledger.Channel's values, repeated so that this module stays free of
# the database layer (a unit test keeps the two in step).
CHANNELS = frozenset({"STORE", "APP", "WEB", "PHONE", "FRANCHISE", "CHECKIN", "SYSTEM"})
DESCRIPTION_MAX = 500
BASE_LABEL = "base points"

_KEYS = ("skus", "categories", "storeIds", "channels", "tiers", "daysOfWeek", "startsOn",
         "endsOn", "minBasketMinor")


def _strings(key: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list | tuple | set | frozenset):
        raise invalid(f"{key} must be a list.", f"conditions.{key}")
    out = set()
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > 120:
            raise invalid(f"{key} must hold strings of 1 to 120 characters.", f"conditions.{key}")
        out.add(item.strip())
    return frozenset(out)


def _ints(key: str, value: Any, low: int, high: int | None = None) -> frozenset[int]:
    if not isinstance(value, list | tuple | set | frozenset):
        raise invalid(f"{key} must be a list.", f"conditions.{key}")
    out = set()
    for item in value:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if not isinstance(item, int) or isinstance(item, bool) or item < low or (
            high is not None and item > high
        ):
            span = f"{low} to {high}" if high is not None else f"at least {low}"
            raise invalid(f"{key} must hold whole numbers {span}.", f"conditions.{key}")
        out.add(item)
    return frozenset(out)


def _date(key: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise invalid(f"{key} must be a date (YYYY-MM-DD).", f"conditions.{key}") from None


@dataclass(frozen=True)
class Conditions:
    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    store_ids: frozenset[int] = frozenset()
    channels: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()
    days_of_week: frozenset[int] = frozenset()  # ISO: 1 = Monday .. 7 = Sunday
    starts_on: date | None = None  # store-local dates, inclusive
    ends_on: date | None = None
    min_basket_minor: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> Conditions:
        """Read the camelCase object stored in earn_rule.conditions; absent or
        null keys set no condition."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise invalid("conditions must be an object.", "conditions")
        for key in data:
            if key not in _KEYS:
                raise invalid(f"Unknown condition {key!r}.", f"conditions.{key}")
        get = {k: v for k, v in data.items() if v is not None}.get
        channels = _strings("channels", get("channels", ()))
        unknown = channels - CHANNELS
        if unknown:
            raise invalid(f"Unknown channel {sorted(unknown)[0]!r}.", "conditions.channels")
        starts = _date("startsOn", get("startsOn")) if get("startsOn") is not None else None
        ends = _date("endsOn", get("endsOn")) if get("endsOn") is not None else None
        if starts is not None and ends is not None and ends < starts:
            raise invalid("endsOn is before startsOn.", "conditions.endsOn")
        basket = get("minBasketMinor")
        if basket is not None and (
            not isinstance(basket, int) or isinstance(basket, bool) or basket < 0
        ):
            raise invalid("minBasketMinor must be a whole number >= 0.",
                          "conditions.minBasketMinor")
        return cls(
            skus=_strings("skus", get("skus", ())),
            categories=_strings("categories", get("categories", ())),
            store_ids=_ints("storeIds", get("storeIds", ()), 1),
            channels=channels,
            tiers=_strings("tiers", get("tiers", ())),
            days_of_week=_ints("daysOfWeek", get("daysOfWeek", ()), 1, 7),
            starts_on=starts,
            ends_on=ends,
            min_basket_minor=basket,
        )

    def to_json(self) -> dict[str, Any]:
        """Only the conditions that are set, in a stable order."""
        out: dict[str, Any] = {}
        for key, value in (
            ("skus", sorted(self.skus)),
            ("categories", sorted(self.categories)),
            ("storeIds", sorted(self.store_ids)),
            ("channels", sorted(self.channels)),
            ("tiers", sorted(self.tiers)),
            ("daysOfWeek", sorted(self.days_of_week)),
        ):
            if value:
                out[key] = value
        if self.starts_on is not None:
            out["startsOn"] = self.starts_on.isoformat()
        if self.ends_on is not None:
            out["endsOn"] = self.ends_on.isoformat()
        if self.min_basket_minor is not None:
            out["minBasketMinor"] = self.min_basket_minor
        return out

    @property
    def by_line(self) -> bool:
        return bool(self.skus or self.categories)


@dataclass(frozen=True)
class Rule:
    id: int
    kind: RuleKind
    label: str  # the customer-facing line, e.g. "x2 on coffee"
    rate: Decimal | None = None  # BASE_RATE: points per currency unit; MULTIPLIER: factor
    points: int | None = None  # BONUS/FIRST_PURCHASE/BIRTHDAY/SURVEY: points; CAP: the maximum
    cap: int | None = None  # at most this many points from this rule
    conditions: Conditions = field(default_factory=Conditions)
    priority: int = 0


@dataclass(frozen=True)
class Line:
    sku: str
    category: str | None
    quantity: int
    unit_price_minor: int


@dataclass(frozen=True)
class PurchaseFacts:
    total_minor: int
    exponent: int
    channel: str
    store_id: int
    local_date: date  # the purchase's date in the store's timezone
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True)
class CustomerFacts:
    tier: str | None = None
    tier_multiplier: Decimal = Decimal(1)
    first_purchase: bool = False
    birthday_today: bool = False


@dataclass(frozen=True)
class Fired:
    rule_id: int | None
    label: str
    points: int


def _line_text(line: Fired, first: bool) -> str:
    if first:
        return f"{line.points} {line.label}"
    # "+50 first purchase" already says how much; "x2 on coffee" does not.
    if line.label == f"+{line.points}" or line.label.startswith(f"+{line.points} "):
        return line.label
    return f"{line.label} {line.points:+d}"


@dataclass(frozen=True)
class Evaluation:
    points: int
    lines: tuple[Fired, ...]  # sum(line.points) == points, always; the base line first

    def description(self, prefix: str) -> str:
        """"Purchase at Opéra: 12 base points; x2 on coffee +4; +50 first purchase",
        clipped to the ledger's 500 characters."""
        parts = "; ".join(_line_text(line, i == 0) for i, line in enumerate(self.lines))
        text = f"{prefix}: {parts}" if parts else prefix
        if len(text) > DESCRIPTION_MAX:
            text = text[: DESCRIPTION_MAX - 1] + "…"
        return text


def is_birthday(birth: date | None, local_day: date) -> bool:
    """Feb 29 birthdays are celebrated on Feb 28 in common years."""
    if birth is None:
        return False
    if (birth.month, birth.day) == (local_day.month, local_day.day):
        return True
    if (birth.month, birth.day) == (2, 29) and (local_day.month, local_day.day) == (2, 28):
        return not _leap(local_day.year)
    return False


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def _capped(points: int, cap: int | None) -> int:
    points = max(0, points)
    return points if cap is None else min(points, max(0, cap))


def _by_order(rule: Rule) -> tuple[int, int]:
    return (-rule.priority, rule.id)


def matches(c: Conditions, p: PurchaseFacts, tier: str | None) -> bool:
    """Whether the purchase-level conditions hold (skus and categories are the
    caller's: they restrict a rule to lines, they do not gate it)."""
    if c.store_ids and p.store_id not in c.store_ids:
        return False
    if c.channels and p.channel not in c.channels:
        return False
    if c.tiers and tier not in c.tiers:
        return False
    if c.days_of_week and p.local_date.isoweekday() not in c.days_of_week:
        return False
    if c.starts_on is not None and p.local_date < c.starts_on:
        return False
    if c.ends_on is not None and p.local_date > c.ends_on:
        return False
    return c.min_basket_minor is None or p.total_minor >= c.min_basket_minor


def _portion(c: Conditions, p: PurchaseFacts) -> int:
    """The amount a line-restricted rule applies to; never more than was paid
    (line prices may come before a basket discount)."""
    if not c.by_line:
        return p.total_minor
    amount = 0
    for line in p.lines:
        if line.sku in c.skus or (line.category is not None and line.category in c.categories):
            amount += line.quantity * line.unit_price_minor
    return max(0, min(amount, p.total_minor))


class RuleSet:
    """Rules sorted by kind and order once, so that each evaluation only checks
    conditions (the active set changes rarely and is cached by its loader)."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        ordered = sorted(rules, key=_by_order)
        self.base = [r for r in ordered if r.kind == RuleKind.BASE_RATE]
        self.multipliers = [
            (r, r.rate - 1) for r in ordered if r.kind == RuleKind.MULTIPLIER and r.rate is not None
        ]
        self.bonuses = [
            r for r in ordered
            if r.kind in (RuleKind.BONUS, RuleKind.FIRST_PURCHASE, RuleKind.BIRTHDAY)
        ]
        self.caps = [r for r in ordered if r.kind == RuleKind.CAP and r.points is not None]

    def evaluate(
        self, purchase: PurchaseFacts, customer: CustomerFacts, default_rate: Decimal
    ) -> Evaluation:
        tier = customer.tier
        # 1. Base: the first matching BASE_RATE rule in (priority desc, id) order.
        rate, base_rule = default_rate, None
        for rule in self.base:
            if rule.rate is not None and matches(rule.conditions, purchase, tier):
                rate, base_rule = rule.rate, rule
                break
        scale = -purchase.exponent
        base = _floor((Decimal(max(0, purchase.total_minor)) * rate).scaleb(scale))
        if base_rule is None:
            lines = [Fired(None, BASE_LABEL, max(0, base))]
        else:
            lines = [Fired(base_rule.id, base_rule.label, _capped(base, base_rule.cap))]
        total = lines[0].points
        # 2. Multipliers add up (x2 and x3 on one item make x4): tier first.
        m = customer.tier_multiplier
        if m != 1:
            extra = max(0, _floor(Decimal(total) * (m - 1)))
            if extra:
                shown = format(m.normalize(), "f")
                label = f"x{shown} {tier} tier" if tier else f"x{shown} tier"
                lines.append(Fired(None, label, extra))
                total += extra
        for rule, factor in self.multipliers:
            c = rule.conditions
            if not matches(c, purchase, tier):
                continue
            portion = _portion(c, purchase)
            if portion <= 0:
                continue
            extra = _capped(_floor((Decimal(portion) * rate * factor).scaleb(scale)), rule.cap)
            if extra:
                lines.append(Fired(rule.id, rule.label, extra))
                total += extra
        # 3. Fixed bonuses.
        for rule in self.bonuses:
            if rule.kind == RuleKind.FIRST_PURCHASE and not customer.first_purchase:
                continue
            if rule.kind == RuleKind.BIRTHDAY and not customer.birthday_today:
                continue
            c = rule.conditions
            if not matches(c, purchase, tier):
                continue
            if rule.kind == RuleKind.BONUS and c.by_line and _portion(c, purchase) <= 0:
                continue
            extra = _capped(rule.points or 0, rule.cap)
            if extra:
                lines.append(Fired(rule.id, rule.label, extra))
                total += extra
        # 4. The smallest matching CAP bounds the whole; its negative line keeps
        # the lines summing to the total.
        cap_rule = None
        for rule in self.caps:
            if matches(rule.conditions, purchase, tier) and (
                cap_rule is None or (rule.points or 0) < (cap_rule.points or 0)
            ):
                cap_rule = rule
        if cap_rule is not None:
            limit = max(0, cap_rule.points or 0)
            if total > limit:
                lines.append(Fired(cap_rule.id, cap_rule.label, limit - total))
                total = limit
        return Evaluation(total, tuple(lines))


# The last rule set compiled, kept with the tuple it came from: the loader
# hands out the same tuple until the rules change, so this is an identity check.
_last: tuple[tuple[Rule, ...], RuleSet] | None = None


def compile_rules(rules: Sequence[Rule]) -> RuleSet:
    global _last
    last = _last
    if last is not None and last[0] is rules:
        return last[1]
    compiled = RuleSet(rules)
    if isinstance(rules, tuple):  # a list could change under the cache
        _last = (rules, compiled)
    return compiled


def evaluate(
    purchase: PurchaseFacts,
    customer: CustomerFacts,
    rules: Sequence[Rule],
    default_rate: Decimal,
) -> Evaluation:
    """The points a purchase earns and one line per rule that fired; every line
    rounds down on its own so that the lines sum exactly to the points."""
    return compile_rules(rules).evaluate(purchase, customer, default_rate)
