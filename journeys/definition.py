"""A journey definition: its JSON grammar checked on save, as a frozen object.

`parse_definition` is the one door: it reports every fault with its path
(DefinitionInvalid.issues, INVALID_DEFINITION at the API) or returns a
Definition whose every step exists, is reachable from `start`, and whose
every loop waits for something (a loop of instant steps would spin the
worker). What a step's JSON may hold is in journeys.steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from journeys.conditions import SegmentCheck, check_where, structural
from journeys.durations import Duration
from journeys.grammar import parse_step
from journeys.issues import DefinitionInvalid, Issue, Issues, join
from journeys.steps import STEP_ID, WAITS, Exit, Step, freeze, raw_targets, targets, thaw
from journeys.timing import check_rule

MAX_STEPS = 200
MAX_HOLDOUT = 50


@dataclass(frozen=True)
class EventTrigger:
    event: str
    where: Mapping[str, Any]


@dataclass(frozen=True)
class SegmentTrigger:
    segment_id: str


@dataclass(frozen=True)
class ScheduleTrigger:
    rule: str  # "RRULE:...", occurrences in each customer's zone (journeys.timing)


Trigger = EventTrigger | SegmentTrigger | ScheduleTrigger


@dataclass(frozen=True)
class Reentry:
    """Whether a customer may enter again: "never", "afterExit" (once their
    last run ended), or "after" a duration since their last entry (and once
    it ended: a customer never has two runs of one journey at once)."""

    mode: str  # "never" | "afterExit" | "after"
    after: Duration | None = None


@dataclass(frozen=True)
class Goal:
    event: str
    where: Mapping[str, Any]


@dataclass(frozen=True)
class Definition:
    trigger: Trigger
    audience: Mapping[str, Any] | None
    reentry: Reentry
    holdout_percent: int
    goal: Goal | None
    start: str
    steps: Mapping[str, Step]
    raw: Mapping[str, Any]  # the JSON as saved, read-only, for storage and the API

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]

    def to_json(self) -> dict[str, Any]:
        """The definition as saved, as plain JSON for a column or the API."""
        return dict(thaw(self.raw))


def parse_definition(raw: Any, *, check_segment: SegmentCheck = structural) -> Definition:
    """The Definition for `raw`, or DefinitionInvalid listing every fault.
    `check_segment` validates segment-grammar conditions (`audience`, a
    branch's `if`); audience/ passes its full validator."""
    issues = Issues()
    raw = thaw(raw)  # a stored Definition's frozen raw parses like fresh JSON
    top = issues.obj(raw, "", required=("trigger", "start", "steps"),
                     optional=("audience", "reentry", "holdoutPercent", "goal"))
    if top is None:
        raise DefinitionInvalid(issues.found)
    trigger = _trigger(top.get("trigger"), issues)
    audience = None
    if "audience" in top:
        issues.extend(check_segment(top["audience"], "audience"))
        audience = freeze(top["audience"])
    reentry = _reentry(top.get("reentry", "never"), issues)
    holdout = issues.integer(top.get("holdoutPercent", 0), "holdoutPercent", 0, MAX_HOLDOUT)
    goal = _goal(top["goal"], issues) if "goal" in top else None
    steps = _steps(top.get("steps"), issues, check_segment)
    start = top.get("start")
    if steps is not None and "start" in top:
        if not isinstance(start, str) or start not in top["steps"]:
            issues.add("start", "must name a step")
        elif steps.complete:
            issues.extend(check_graph(start, steps.parsed))
    if issues.found:
        raise DefinitionInvalid(issues.found)
    assert trigger is not None and reentry is not None and steps is not None
    assert holdout is not None and isinstance(start, str)
    return Definition(trigger, audience, reentry, holdout, goal, start,
                      MappingProxyType(steps.parsed), freeze(top))


def validate(raw: Any, *, check_segment: SegmentCheck = structural) -> list[Issue]:
    """Every fault in `raw`, none if it is a valid definition."""
    try:
        parse_definition(raw, check_segment=check_segment)
    except DefinitionInvalid as exc:
        return list(exc.issues)
    return []


def _trigger(raw: Any, issues: Issues) -> Trigger | None:
    kinds = ("event", "segmentEntered", "schedule")
    found = issues.obj(raw, "trigger", optional=(*kinds, "where"))
    if found is None:
        return None
    named = [k for k in kinds if k in found]
    if len(named) != 1:
        issues.add("trigger", "names exactly one of event, segmentEntered or schedule")
        return None
    if "where" in found and named != ["event"]:
        issues.add("trigger.where", "only an event trigger has a filter")
    if named == ["event"]:
        event = issues.string(found["event"], "trigger.event", max_length=100)
        where = check_where(found.get("where", {}), "trigger.where", issues, refs=False)
        return None if event is None or where is None else EventTrigger(event, freeze(where))
    if named == ["segmentEntered"]:
        segment = found["segmentEntered"]
        if isinstance(segment, int) and not isinstance(segment, bool):
            segment = str(segment)  # an ID, written as a number by hand
        checked = issues.string(segment, "trigger.segmentEntered", max_length=64)
        return None if checked is None else SegmentTrigger(checked)
    rule = issues.parsed(found["schedule"], "trigger.schedule", check_rule)
    return None if rule is None else ScheduleTrigger(rule)


def _reentry(raw: Any, issues: Issues) -> Reentry | None:
    if raw in ("never", "afterExit"):
        return Reentry(raw)
    if isinstance(raw, Mapping) and issues.obj(raw, "reentry", required=("after",)) is not None:
        after = issues.duration(raw.get("after"), "reentry.after")
        return None if after is None else Reentry("after", after)
    if not isinstance(raw, Mapping):
        issues.add("reentry", "must be \"never\", \"afterExit\" or {\"after\": duration}")
    return None


def _goal(raw: Any, issues: Issues) -> Goal | None:
    found = issues.obj(raw, "goal", required=("event",), optional=("where",))
    if found is None or "event" not in found:
        return None
    event = issues.string(found["event"], "goal.event", max_length=100)
    where = check_where(found.get("where", {}), "goal.where", issues, refs=True)
    return None if event is None or where is None else Goal(event, freeze(where))


@dataclass(frozen=True)
class _Steps:
    parsed: dict[str, Step]
    complete: bool  # every step parsed and every target exists: the graph can be checked


def _steps(raw: Any, issues: Issues, check_segment: SegmentCheck) -> _Steps | None:
    if not isinstance(raw, Mapping) or not raw:
        issues.add("steps", "must be a non-empty object of steps by id")
        return None
    if len(raw) > MAX_STEPS:
        issues.add("steps", f"at most {MAX_STEPS} steps")
        return None
    steps: dict[str, Step] = {}
    before = len(issues.found)
    for step_id, item in raw.items():
        path = join("steps", str(step_id))
        if not isinstance(step_id, str) or STEP_ID.fullmatch(step_id) is None:
            issues.add(path, "a step id is 1 to 64 letters, digits, _ or -")
            continue
        step = parse_step(step_id, item, path, issues, check_segment)
        if step is not None:
            steps[step_id] = step
    # Targets are read from the JSON, so that a step with another fault
    # still has its unknown targets reported.
    for step_id, item in raw.items():
        for field, target in raw_targets(item):
            if target not in raw:
                issues.add(join(join("steps", str(step_id)), field), f"unknown step {target!r}")
    return _Steps(steps, len(issues.found) == before)


def check_graph(start: str, steps: Mapping[str, Step]) -> list[Issue]:
    """Unreachable steps, and loops in which no step waits."""
    found: list[Issue] = []
    seen = {start}
    todo = [start]
    while todo:
        for _, target in targets(steps[todo.pop()]):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for step_id in steps:
        if step_id not in seen:
            found.append(Issue(join("steps", step_id), f"unreachable from start {start!r}"))
    # Loops of instant steps: a depth-first search over the graph without its
    # waits, so any cycle left is one that nothing slows down.
    instant = {i: [t for _, t in targets(s)] for i, s in steps.items()
               if not isinstance(s, WAITS) and not isinstance(s, Exit)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(instant):
        cycle = _cycle_from(root, instant, state)
        if cycle:
            shown = " -> ".join(cycle)
            found.append(Issue(join("steps", cycle[0]),
                               f"the loop {shown} has no wait or waitFor step"))
    return found


def _cycle_from(root: str, graph: Mapping[str, list[str]], state: dict[str, int]) -> list[str]:
    path: list[str] = []
    stack: list[tuple[str, int]] = [(root, 0)]
    while stack:
        node, index = stack.pop()
        if index == 0:
            if state.get(node) == 2:
                continue
            state[node] = 1
            path.append(node)
        outs = graph.get(node, [])
        if index < len(outs):
            stack.append((node, index + 1))
            nxt = outs[index]
            if nxt in graph and state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                state.update(dict.fromkeys(path, 2))  # one report per loop found
                return cycle
            if nxt in graph and state.get(nxt) != 2:
                stack.append((nxt, 0))
        else:
            state[node] = 2
            path.pop()
    return []


__all__ = ["Definition", "DefinitionInvalid", "EventTrigger", "Goal", "Issue", "Reentry",
           "ScheduleTrigger", "SegmentTrigger", "Trigger", "parse_definition",
           "validate"]
