"""The segment definition grammar (schema/contract-marketing.graphql, "segments"):
JSON in, a typed tree out, or INVALID_DEFINITION with the path at fault
(`definition.all.1.purchases.within`). Pure: no database.

    {"all": [D, ...]}  {"any": [D, ...]}  {"not": D}
    {"tier": ["Gold", ...]}                 by tier name (any case)
    {"rfm": ["CHAMPIONS", ...]}             RfmSegment names
    {"engagement": ["A", "B"]}              ABCD quadrants (no score yet reads as C)
    {"channels": {"gte": 3}}                channels bought or engaged on
    {"purchases": {"gte": 2, "within": "P90D", "channel": "WEB"}}
    {"spend": {"gte": 10000, "within": "P365D"}}    minor units, net of refunds
    {"event": "product_viewed", "where": {"sku": "X"}, "gte": 2, "within": "P7D"}
    {"visited": {"storeId": "3", "within": "P30D"}}  a check-in there, or a purchase in store
    {"lastPurchase": {"olderThan": "P60D"}}  (or "within": bought in the last ...)
    {"points": {"gte": 500}}                available points
    {"segment": "12"}                       member of another segment
    {"marketingOptIn": true}

Counts take any of gte, gt, lte, lt, eq (all must hold); `event` without one
means gte 1. Durations are ISO 8601 (PnYnMnWnDTnHnMnS; a year is 365 days, a
month 30), at most ten years.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from loyalty.errors import DomainError, ErrorCode
from loyalty.ledger import Channel

MAX_DEPTH = 12
MAX_NODES = 200
MAX_ITEMS = 100
MAX_WHERE = 20
RFM_SEGMENTS = ("CHAMPIONS", "LOYAL", "POTENTIAL_LOYALISTS", "NEW", "PROMISING",
                "NEED_ATTENTION", "ABOUT_TO_SLEEP", "AT_RISK", "CANT_LOSE", "HIBERNATING", "LOST")
QUADRANTS = ("A", "B", "C", "D")
COMPARISONS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "="}
_DURATION = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_PROPERTY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
MAX_DURATION = timedelta(days=3660)


@dataclass(frozen=True)
class Node:
    """A definition node; `path` says where it stood in the JSON."""

    path: str


@dataclass(frozen=True)
class All(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    item: Node


@dataclass(frozen=True)
class Tier(Node):
    names: tuple[str, ...]


@dataclass(frozen=True)
class Rfm(Node):
    segments: tuple[str, ...]


@dataclass(frozen=True)
class Engagement(Node):
    quadrants: tuple[str, ...]


Comparison = tuple[tuple[str, int], ...]  # ((operator, value), ...)


@dataclass(frozen=True)
class Channels(Node):
    compare: Comparison


@dataclass(frozen=True)
class Purchases(Node):
    compare: Comparison
    within: timedelta | None
    channel: str | None


@dataclass(frozen=True)
class Spend(Node):
    compare: Comparison
    within: timedelta | None


@dataclass(frozen=True)
class Event(Node):
    name: str
    where: tuple[tuple[str, str | int | float | bool], ...]
    compare: Comparison
    within: timedelta | None


@dataclass(frozen=True)
class Visited(Node):
    store_id: int | None
    within: timedelta | None


@dataclass(frozen=True)
class LastPurchase(Node):
    older_than: timedelta | None
    within: timedelta | None


@dataclass(frozen=True)
class Points(Node):
    compare: Comparison


@dataclass(frozen=True)
class SegmentRef(Node):
    segment_id: int


@dataclass(frozen=True)
class MarketingOptIn(Node):
    value: bool


def bad(path: str, message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_DEFINITION, message, path)


def parse_duration(value: Any, path: str) -> timedelta:
    if not isinstance(value, str) or not (m := _DURATION.fullmatch(value)) or value in ("P", "PT") \
            or value.endswith("T"):
        raise bad(path, "An ISO 8601 duration such as P90D or PT12H.")
    years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    try:
        span = timedelta(days=365 * years + 30 * months + 7 * weeks + days, hours=hours,
                         minutes=minutes, seconds=seconds)
    except OverflowError:
        raise bad(path, "At most ten years.") from None
    if not timedelta(0) < span <= MAX_DURATION:
        raise bad(path, "A duration longer than zero and at most ten years.")
    return span


class _Parser:
    def __init__(self) -> None:
        self.nodes = 0

    def node(self, value: Any, path: str, depth: int) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise bad(path, f"A definition has at most {MAX_NODES} conditions.")
        if depth > MAX_DEPTH:
            raise bad(path, f"Conditions nest at most {MAX_DEPTH} deep.")
        if not isinstance(value, dict) or not value:
            raise bad(path, "A condition is a JSON object such as {\"tier\": [\"Gold\"]}.")
        if "event" in value:
            return self.event(value, path)
        if len(value) != 1:
            raise bad(path, f"One condition per object, not {', '.join(sorted(value))}: "
                      "combine them with all or any.")
        ((key, arg),) = value.items()
        at = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(arg, list) or not 1 <= len(arg) <= MAX_ITEMS:
                raise bad(at, f"A list of 1 to {MAX_ITEMS} conditions.")
            items = tuple(self.node(v, f"{at}.{i}", depth + 1) for i, v in enumerate(arg))
            return All(path, items) if key == "all" else AnyOf(path, items)
        if key == "not":
            return Not(path, self.node(arg, at, depth + 1))
        if key == "tier":
            return Tier(path, _names(arg, at, lambda s: 1 <= len(s.strip()) <= 60, "tier names"))
        if key == "rfm":
            return Rfm(path, _names(arg, at, lambda s: s in RFM_SEGMENTS,
                                    f"RFM segments ({', '.join(RFM_SEGMENTS)})"))
        if key == "engagement":
            return Engagement(path, _names(arg, at, lambda s: s in QUADRANTS, "A, B, C or D"))
        if key == "channels":
            return Channels(path, _compare(_object(arg, at, set()), at, required=True))
        if key == "purchases":
            fields = _object(arg, at, {"within", "channel"})
            return Purchases(path, _compare(fields, at, required=True),
                             _within(fields, at), _channel(fields.get("channel"), at))
        if key == "spend":
            fields = _object(arg, at, {"within"})
            return Spend(path, _compare(fields, at, required=True), _within(fields, at))
        if key == "visited":
            fields = _object(arg, at, {"storeId", "within"})
            store = fields.get("storeId")
            return Visited(path, None if store is None else _id(store, f"{at}.storeId"),
                           _within(fields, at))
        if key == "lastPurchase":
            fields = _object(arg, at, {"olderThan", "within"})
            if ("olderThan" in fields) == ("within" in fields):
                raise bad(at, "Give olderThan or within.")
            older = fields.get("olderThan")
            return LastPurchase(path, None if older is None
                                else parse_duration(older, f"{at}.olderThan"),
                                _within(fields, at))
        if key == "points":
            return Points(path, _compare(_object(arg, at, set()), at, required=True))
        if key == "segment":
            return SegmentRef(path, _id(arg, at))
        if key == "marketingOptIn":
            if not isinstance(arg, bool):
                raise bad(at, "true or false.")
            return MarketingOptIn(path, arg)
        raise bad(at, f"Unknown condition {key!r}.")

    def event(self, value: dict[str, Any], path: str) -> Event:
        allowed = {"event", "where", "within", *COMPARISONS}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise bad(f"{path}.{unknown[0]}", f"Unknown key {unknown[0]!r} of an event condition.")
        name = value["event"]
        if not isinstance(name, str) or not _EVENT_NAME.fullmatch(name):
            raise bad(f"{path}.event", "An event name.")
        where = value.get("where", {})
        if not isinstance(where, dict) or len(where) > MAX_WHERE:
            raise bad(f"{path}.where", f"An object of at most {MAX_WHERE} properties.")
        pairs = []
        for key, item in sorted(where.items()):
            if not _PROPERTY.fullmatch(key):
                raise bad(f"{path}.where", f"{key!r} is not a property name (letters, digits, _).")
            if not isinstance(item, str | int | float | bool) or isinstance(item, float) \
                    and item != item:
                raise bad(f"{path}.where.{key}", "A string, a number or true/false.")
            pairs.append((key, item))
        compare = _compare(value, path, required=False) or (("gte", 1),)
        return Event(path, name, tuple(pairs), compare, _within(value, path))


def _object(value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(path, "A JSON object.")
    unknown = sorted(set(value) - allowed - set(COMPARISONS))
    if unknown:
        raise bad(f"{path}.{unknown[0]}", f"Unknown key {unknown[0]!r}.")
    return value


def _compare(fields: dict[str, Any], path: str, required: bool) -> Comparison:
    found = []
    for op in COMPARISONS:
        if op in fields:
            value = fields[op]
            if isinstance(value, bool) or not isinstance(value, int) \
                    or abs(value) > 2**53:
                raise bad(f"{path}.{op}", "An integer.")
            found.append((op, value))
    if required and not found:
        raise bad(path, "Give a bound: gte, gt, lte, lt or eq.")
    return tuple(found)


def _within(fields: dict[str, Any], path: str) -> timedelta | None:
    if fields.get("within") is None:
        return None
    return parse_duration(fields["within"], f"{path}.within")


def _channel(value: Any, path: str) -> str | None:
    if value is None:
        return None
    try:
        return Channel(value).value
    except ValueError:
        raise bad(f"{path}.channel", f"One of {', '.join(c.value for c in Channel)}.") from None


def _id(value: Any, path: str) -> int:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 2**63 - 1:
        raise bad(path, "An id such as \"12\".")
    return int(text)


def _names(value: Any, path: str, ok: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ITEMS:
        raise bad(path, f"A list of 1 to {MAX_ITEMS} {what}.")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not ok(item):
            raise bad(f"{path}.{i}", f"Not one of the {what}.")
    return tuple(value)


def parse(definition: Any, path: str = "definition") -> Node:
    """The typed tree of `definition`, or INVALID_DEFINITION at the fault."""
    return _Parser().node(definition, path, 1)


def references(node: Node) -> list[SegmentRef]:
    """The other segments `node` names, in the order they appear."""
    if isinstance(node, All | AnyOf):
        return [r for item in node.items for r in references(item)]
    if isinstance(node, Not):
        return references(node.item)
    return [node] if isinstance(node, SegmentRef) else []


def uses_scores(node: Node) -> bool:
    """Whether membership depends on the stored RFM or engagement scores
    (re-evaluated after each recomputation)."""
    if isinstance(node, All | AnyOf):
        return any(uses_scores(i) for i in node.items)
    if isinstance(node, Not):
        return uses_scores(node.item)
    return isinstance(node, Rfm | Engagement)
