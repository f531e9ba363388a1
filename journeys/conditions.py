"""Conditions in journeys: property filters on events (`where`, `match`) and
segment-grammar conditions (`audience`, a branch's `if`).

The segment grammar belongs to the audience package, which evaluates it and
owns its full validator (segment ids that exist, tiers by name). Here it is
checked for shape only, by `structural`, the default `SegmentCheck`;
audience plugs its own through `journeys.definition.parse_definition`.

Journeys may refer to the properties of the event that started the run:
"{{ trigger.cartId }}" as a whole string value in a `match`, a goal's
`where` or a branch condition, resolved when the run reaches that step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from journeys.issues import Issue, Issues, join, kind_of

SegmentCheck = Callable[[Any, str], Sequence[Issue]]

TRIGGER_REF = re.compile(r"\{\{\s*trigger\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
RFM = frozenset({
    "CHAMPIONS", "LOYAL", "POTENTIAL_LOYALISTS", "NEW", "PROMISING", "NEED_ATTENTION",
    "ABOUT_TO_SLEEP", "AT_RISK", "CANT_LOSE", "HIBERNATING", "LOST",
})
ENGAGEMENT = frozenset({"A", "B", "C", "D"})
# Deeper or larger conditions are refused rather than evaluated: a condition
# is written by a person, and a hostile one must not exhaust the checker.
MAX_DEPTH = 12
MAX_NODES = 200
_SCALAR = (str, int, float, bool)


def structural(condition: Any, path: str) -> list[Issue]:
    """The faults in a segment-grammar condition's shape (keys and value types)."""
    issues = Issues()
    budget = [MAX_NODES]
    _condition(condition, path, issues, 0, budget)
    return issues.found


def _condition(value: Any, path: str, issues: Issues, depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if depth > MAX_DEPTH or budget[0] < 0:
        issues.add(path, f"nested deeper than {MAX_DEPTH} or larger than {MAX_NODES} conditions")
        return
    if not isinstance(value, Mapping) or not value:
        issues.add(path, f"a condition must be a non-empty object, not {kind_of(value)}")
        return
    if "event" in value:
        _event_condition(value, path, issues)
        return
    if len(value) != 1:
        issues.add(path, "a condition has exactly one key (combine with all / any)")
        return
    ((key, arg),) = value.items()
    at = join(path, key)
    if key in ("all", "any"):
        if not isinstance(arg, list) or not arg:
            issues.add(at, "must be a non-empty list of conditions")
            return
        for i, item in enumerate(arg):
            _condition(item, join(at, i), issues, depth + 1, budget)
    elif key == "not":
        _condition(arg, at, issues, depth + 1, budget)
    elif key in _LEAVES:
        _LEAVES[key](arg, at, issues)
    else:
        issues.add(at, "unknown condition")


def _event_condition(value: Mapping[str, Any], path: str, issues: Issues) -> None:
    issues.obj(value, path, required=("event",), optional=("where", "gte", "lte", "within"))
    issues.string(value["event"], join(path, "event"), max_length=100)
    if "where" in value:
        check_where(value["where"], join(path, "where"), issues, refs=True)
    for op in ("gte", "lte"):
        if op in value:
            issues.integer(value[op], join(path, op), 0, 10**9)
    if "within" in value:
        issues.duration(value["within"], join(path, "within"))


def _names(allowed: frozenset[str] | None) -> Callable[[Any, str, Issues], None]:
    def check(arg: Any, path: str, issues: Issues) -> None:
        if not isinstance(arg, list) or not arg or not all(isinstance(a, str) for a in arg):
            issues.add(path, "must be a non-empty list of names")
        elif allowed is not None and set(arg) - allowed:
            issues.add(path, f"unknown value(s) {sorted(set(arg) - allowed)}")
    return check


def _counts(required: tuple[str, ...], optional: tuple[str, ...]) -> Callable[
        [Any, str, Issues], None]:
    def check(arg: Any, path: str, issues: Issues) -> None:
        found = issues.obj(arg, path, required=required, optional=optional)
        for key, item in (found or {}).items():
            at = join(path, key)
            if key in ("gte", "lte"):
                issues.integer(item, at, 0, 10**12)
            elif key in ("within", "olderThan"):
                issues.duration(item, at)
            elif key in ("channel", "storeId"):
                issues.string(item, at, max_length=64)
    return check


def _string(arg: Any, path: str, issues: Issues) -> None:
    issues.string(arg, path, max_length=64)


def _boolean(arg: Any, path: str, issues: Issues) -> None:
    if not isinstance(arg, bool):
        issues.add(path, f"must be true or false, not {kind_of(arg)}")


_LEAVES: dict[str, Callable[[Any, str, Issues], None]] = {
    "tier": _names(None),
    "rfm": _names(RFM),
    "engagement": _names(ENGAGEMENT),
    "channels": _counts((), ("gte", "lte")),
    "purchases": _counts(("gte",), ("within", "channel")),
    "spend": _counts(("gte",), ("within",)),
    "visited": _counts(("storeId",), ("within",)),
    "lastPurchase": _counts(("olderThan",), ()),
    "points": _counts((), ("gte", "lte")),
    "segment": _string,
    "marketingOptIn": _boolean,
}


def check_where(value: Any, path: str, issues: Issues, *, refs: bool) -> Mapping[str, Any] | None:
    """A property filter: {"name": value or [values...]}, each value a JSON
    scalar; with `refs`, a value may be a whole "{{ trigger.x }}"."""
    if not isinstance(value, Mapping):
        issues.add(path, f"must be an object of property values, not {kind_of(value)}")
        return None
    ok = True
    for key, item in value.items():
        at = join(path, str(key))
        items = item if isinstance(item, list) else [item]
        if isinstance(item, list) and not item:
            issues.add(at, "an empty list matches nothing")
            ok = False
        for one in items:
            if not isinstance(one, _SCALAR):
                issues.add(at, f"must be a string, number or boolean, not {kind_of(one)}")
                ok = False
            elif isinstance(one, str) and "{{" in one:
                if not refs:
                    issues.add(at, "placeholders are not allowed here")
                    ok = False
                elif TRIGGER_REF.fullmatch(one) is None:
                    issues.add(at, "a reference is a whole \"{{ trigger.<property> }}\"")
                    ok = False
    return value if ok else None


def check_refs(value: Any, path: str, issues: Issues) -> None:
    """Every "{{" in a condition's strings is a whole trigger reference."""
    if isinstance(value, str) and "{{" in value and TRIGGER_REF.fullmatch(value) is None:
        issues.add(path, "a reference is a whole \"{{ trigger.<property> }}\"")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_refs(item, join(path, str(key)), issues)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_refs(item, join(path, i), issues)


def resolve(value: Any, trigger: Mapping[str, Any], placeholder: Any = None) -> Any:
    """`value` with each trigger reference replaced by the trigger's property
    (`placeholder` where the trigger has none): a plain, mutable copy."""
    if isinstance(value, str):
        ref = TRIGGER_REF.fullmatch(value)
        return value if ref is None else trigger.get(ref.group(1), placeholder)
    if isinstance(value, Mapping):
        return {key: resolve(item, trigger, placeholder) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item, trigger, placeholder) for item in value]
    return value


def _same(wanted: Any, actual: Any) -> bool:
    # IDs come as strings from GraphQL clients and as integers in the
    # server's own events: "3" and 3 name the same store.
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return wanted is actual
    if isinstance(wanted, str) != isinstance(actual, str):
        return str(wanted) == str(actual)
    return bool(wanted == actual)


def matches(where: Mapping[str, Any], properties: Mapping[str, Any]) -> bool:
    """Every filtered property is present and equal to the value (or to one
    of the values of a list). A None value (an unresolved reference) matches
    nothing, so a run waiting on a property its trigger lacked only times out."""
    for key, wanted in where.items():
        if key not in properties:
            return False
        options = wanted if isinstance(wanted, list | tuple) else (wanted,)
        if not any(w is not None and _same(w, properties[key]) for w in options):
            return False
    return True


def for_check(condition: Any) -> Any:
    """A condition as the segment validator should see it: references stand
    for a string, the type a segment's property filters compare with."""
    return resolve(condition, {}, placeholder="trigger-value")

