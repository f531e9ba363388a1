"""The check of each step's JSON, to the contract's grammar (section
"journeys and experiments"), into the frozen classes of journeys.steps.

Each parser records every fault it finds in `issues` and returns None when
there was any: a half-checked step never reaches a Definition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from journeys import content as templates
from journeys.conditions import SegmentCheck, check_refs, check_where, for_check
from journeys.durations import parse_local_time
from journeys.issues import Issues, join
from journeys.steps import (
    LANGUAGES,
    Arm,
    AwardPoints,
    Branch,
    Channel,
    Content,
    Exit,
    IssueCoupon,
    Message,
    Money,
    Split,
    Step,
    Wait,
    WaitFor,
    freeze,
)
from loyalty.money import EXPONENTS

MAX_TITLE = 200
MAX_BODY = 20_000
MAX_POINTS = 1_000_000
# loyalty.points.purchase_input.SALES_CHANNELS, repeated so that checking a definition
# needs no database layer (tests/unit/test_journey_definition.py keeps them in step).
# Where a coupon may be used: the kinds of store a till belongs to (PHYSICAL,
# ONLINE, CALL_CENTRE), as loyalty.programme.coupons.COUPON_CHANNELS names them.
COUPON_CHANNELS = frozenset({"STORE", "WEB", "PHONE"})


def parse_step(step_id: str, raw: Any, path: str, issues: Issues,
               check_segment: SegmentCheck) -> Step | None:
    if not isinstance(raw, Mapping) or "type" not in raw:
        issues.add(path, "a step is an object with a type")
        return None
    parser = _PARSERS.get(raw["type"]) if isinstance(raw["type"], str) else None
    if parser is None:
        issues.add(join(path, "type"), f"unknown step type (one of {', '.join(_PARSERS)})")
        return None
    before = len(issues.found)
    step = parser(step_id, raw, path, issues, check_segment)
    return step if len(issues.found) == before else None


def _next(raw: Mapping[str, Any], key: str, path: str, issues: Issues) -> str:
    value = raw.get(key)
    if isinstance(value, str) and value:
        return value
    if key in raw:  # a missing key is already reported by Issues.obj
        issues.add(join(path, key), "must name a step")
    return ""


def _message(step_id: str, raw: Mapping[str, Any], path: str, issues: Issues,
             _: SegmentCheck) -> Message | None:
    issues.obj(raw, path, required=("type", "channel", "content", "next"), optional=("fallback",))
    channel = issues.parsed(raw.get("channel"), join(path, "channel"), _channel)
    fallback: list[Channel] = []
    raw_fallback = raw.get("fallback", [])
    if not isinstance(raw_fallback, list):
        issues.add(join(path, "fallback"), "must be a list of channels")
        raw_fallback = []
    for i, item in enumerate(raw_fallback):
        one = issues.parsed(item, join(path, f"fallback.{i}"), _channel)
        if one == Channel.PREFERRED or one == channel or one in fallback:
            issues.add(join(path, f"fallback.{i}"), "a fallback is another, plain channel")
        elif one is not None:
            fallback.append(one)
    # A subject or a push title is needed unless the message can only be an SMS.
    needs_title = {channel, *fallback} != {Channel.SMS}
    languages = _content(raw.get("content"), join(path, "content"), needs_title, issues)
    if channel is None or languages is None:
        return None
    return Message(step_id, channel, tuple(fallback), MappingProxyType(languages),
                   _next(raw, "next", path, issues))


def _channel(raw: Any) -> Channel:
    if not isinstance(raw, str) or raw not in Channel.__members__:
        raise ValueError(f"unknown channel (one of {', '.join(Channel)})")
    return Channel(raw)


def _content(raw: Any, path: str, needs_title: bool, issues: Issues) -> dict[str, Content] | None:
    if raw is None:
        return None
    if issues.obj(raw, path, optional=LANGUAGES) is None:
        return None
    if not any(lang in raw for lang in LANGUAGES):
        issues.add(path, "needs a text in fr or en")
        return None
    found: dict[str, Content] = {}
    for lang in LANGUAGES:
        if lang not in raw:
            continue
        at = join(path, lang)
        texts = issues.obj(raw[lang], at, required=("body",), optional=("title",))
        if texts is None:
            continue
        if needs_title and "title" not in texts:
            issues.add(join(at, "title"), "is required (a subject or push title)")
        title = _template(texts["title"], join(at, "title"), MAX_TITLE, issues) \
            if "title" in texts else None
        body = _template(texts["body"], join(at, "body"), MAX_BODY, issues) \
            if "body" in texts else None
        if body is not None:
            found[lang] = Content(title, body)
    return found


def _template(raw: Any, path: str, max_length: int, issues: Issues) -> str | None:
    text = issues.string(raw, path, max_length=max_length)
    for problem in templates.check(text) if text is not None else ():
        issues.add(path, problem)
    return text


def _wait(step_id: str, raw: Mapping[str, Any], path: str, issues: Issues,
          _: SegmentCheck) -> Wait | None:
    issues.obj(raw, path, required=("type", "next"), optional=("duration", "until"))
    if ("duration" in raw) == ("until" in raw):
        issues.add(path, "a wait has either a duration or an until")
        return None
    if "duration" in raw:
        duration = issues.duration(raw["duration"], join(path, "duration"))
        return Wait(step_id, _next(raw, "next", path, issues), duration=duration)
    until = issues.obj(raw["until"], join(path, "until"), required=("localTime",))
    if until is None or "localTime" not in until:
        return None
    at = issues.parsed(until["localTime"], join(path, "until.localTime"), parse_local_time)
    return Wait(step_id, _next(raw, "next", path, issues), until=at)


def _wait_for(step_id: str, raw: Mapping[str, Any], path: str, issues: Issues,
              _: SegmentCheck) -> WaitFor | None:
    issues.obj(raw, path, required=("type", "event", "timeout", "next", "timeoutNext"),
               optional=("match",))
    event = issues.string(raw.get("event"), join(path, "event"), max_length=100)
    match = check_where(raw.get("match", {}), join(path, "match"), issues, refs=True)
    timeout = issues.duration(raw.get("timeout"), join(path, "timeout"))
    if event is None or match is None or timeout is None:
        return None
    return WaitFor(step_id, event, freeze(match), timeout, _next(raw, "next", path, issues),
                   _next(raw, "timeoutNext", path, issues))


def _issue_coupon(step_id: str, raw: Mapping[str, Any], path: str, issues: Issues,
                  _: SegmentCheck) -> IssueCoupon | None:
    issues.obj(raw, path, required=("type", "validFor", "channels", "next"),
               optional=("percentOff", "amountOff", "remindBefore", "title"))
    if ("percentOff" in raw) == ("amountOff" in raw):
        issues.add(path, "a coupon has either a percentOff or an amountOff")
        return None
    percent = amount = None
    if "percentOff" in raw:
        percent = issues.integer(raw["percentOff"], join(path, "percentOff"), 1, 100)
    else:
        amount = _money(raw["amountOff"], join(path, "amountOff"), issues)
    valid_for = issues.duration(raw.get("validFor"), join(path, "validFor"))
    remind = None
    if "remindBefore" in raw:
        remind = issues.duration(raw["remindBefore"], join(path, "remindBefore"))
        if remind and valid_for and remind.approx_seconds >= valid_for.approx_seconds:
            issues.add(join(path, "remindBefore"), "must be shorter than validFor")
    channels = raw.get("channels")
    if not isinstance(channels, list) or not channels or len(set(map(str, channels))) \
            != len(channels) or not set(map(str, channels)) <= COUPON_CHANNELS:
        issues.add(join(path, "channels"),
                   f"must list distinct sales channels ({', '.join(sorted(COUPON_CHANNELS))})")
        return None
    title = issues.string(raw["title"], join(path, "title"), max_length=100) \
        if "title" in raw else None
    if (percent is None and amount is None) or valid_for is None:
        return None
    return IssueCoupon(step_id, valid_for, tuple(channels), _next(raw, "next", path, issues),
                       percent, amount, remind, title)


def _money(raw: Any, path: str, issues: Issues) -> Money | None:
    found = issues.obj(raw, path, required=("amountMinor", "currency"))
    if found is None or not {"amountMinor", "currency"} <= set(found):
        return None
    amount = issues.integer(found["amountMinor"], join(path, "amountMinor"), 1, 10**9)
    currency = found["currency"]
    if not isinstance(currency, str) or currency not in EXPONENTS:
        issues.add(join(path, "currency"), "not an ISO 4217 currency code")
        return None
    return None if amount is None else Money(amount, currency)


def _award_points(step_id: str, raw: Mapping[str, Any], path: str, issues: Issues,
                  _: SegmentCheck) -> AwardPoints | None:
    issues.obj(raw, path, required=("type", "points", "reason", "next"))
    points = issues.integer(raw.get("points"), join(path, "points"), 1, MAX_POINTS)
    reason = issues.string(raw.get("reason"), join(path, "reason"), max_length=200)
    if points is None or reason is None:
        return None
    return AwardPoints(step_id, points, reason, _next(raw, "next", path, issues))


def _branch(step_id: str, raw: Mapping[str, Any], path: str, issues: Issues,
            check_segment: SegmentCheck) -> Branch | None:
    issues.obj(raw, path, required=("type", "if", "then", "else"))
    if "if" not in raw:
        return None
    at = join(path, "if")
    check_refs(raw["if"], at, issues)
    issues.extend(check_segment(for_check(raw["if"]), at))
    return Branch(step_id, freeze(raw["if"]), _next(raw, "then", path, issues),
                  _next(raw, "else", path, issues))


def _split(step_id: str, raw: Mapping[str, Any], path: str, issues: Issues,
           _: SegmentCheck) -> Split | None:
    issues.obj(raw, path, required=("type", "arms"))
    arms_raw = raw.get("arms")
    if not isinstance(arms_raw, list) or len(arms_raw) < 2:
        issues.add(join(path, "arms"), "a split has at least two arms")
        return None
    arms: list[Arm] = []
    for i, item in enumerate(arms_raw):
        at = join(path, f"arms.{i}")
        if issues.obj(item, at, required=("name", "percent", "next")) is None:
            continue
        name = issues.string(item.get("name"), join(at, "name"), max_length=40)
        percent = issues.integer(item.get("percent"), join(at, "percent"), 1, 99)
        if name == "holdout" or any(arm.name == name for arm in arms):
            issues.add(join(at, "name"), "arm names are distinct and not \"holdout\"")
        elif name is not None and percent is not None:
            arms.append(Arm(name, percent, _next(item, "next", at, issues)))
    if len(arms) == len(arms_raw) and sum(arm.percent for arm in arms) != 100:
        issues.add(join(path, "arms"), "the arms' percents must add up to 100")
    return Split(step_id, tuple(arms))


def _exit(step_id: str, raw: Mapping[str, Any], path: str, issues: Issues,
          _: SegmentCheck) -> Exit:
    issues.obj(raw, path, required=("type",))
    return Exit(step_id)


_PARSERS: dict[str, Callable[[str, Mapping[str, Any], str, Issues, SegmentCheck], Step | None]] = {
    "message": _message,
    "wait": _wait,
    "waitFor": _wait_for,
    "issueCoupon": _issue_coupon,
    "awardPoints": _award_points,
    "branch": _branch,
    "split": _split,
    "exit": _exit,
}
