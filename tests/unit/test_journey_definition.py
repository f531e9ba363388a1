"""Journey definitions are checked on save: every fault, each with its path."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from journeys.definition import (
    DefinitionInvalid,
    EventTrigger,
    Issue,
    Reentry,
    ScheduleTrigger,
    SegmentTrigger,
    parse_definition,
    validate,
)
from journeys.grammar import COUPON_CHANNELS
from journeys.steps import (
    AwardPoints,
    Branch,
    Channel,
    Exit,
    IssueCoupon,
    Message,
    Money,
    Split,
    Wait,
    WaitFor,
)
from loyalty.programme import coupons

EVERY_STEP: dict[str, Any] = {
    "trigger": {"event": "purchase", "where": {"channel": "WEB"}},
    "audience": {"all": [{"marketingOptIn": True}, {"not": {"tier": ["Staff"]}}]},
    "reentry": {"after": "P30D"},
    "holdoutPercent": 10,
    "goal": {"event": "coupon_redeemed"},
    "start": "thanks",
    "steps": {
        "thanks": {"type": "message", "channel": "EMAIL", "fallback": ["PUSH", "INBOX"],
                   "content": {
                       "fr": {"title": "Merci", "body": "Merci {{ customer.first_name }}"},
                       "en": {"title": "Thanks", "body": "Thanks {{ customer.first_name }}"}},
                   "next": "later"},
        "later": {"type": "wait", "duration": "P14D", "next": "survey"},
        "survey": {"type": "waitFor", "event": "survey_submitted",
                   "match": {"receiptId": "{{ trigger.receiptId }}"},
                   "timeout": "P7D", "next": "coupon", "timeoutNext": "end"},
        "coupon": {"type": "issueCoupon", "percentOff": 10, "validFor": "P30D",
                   "channels": ["WEB", "STORE"], "remindBefore": "P3D", "next": "bonus"},
        "bonus": {"type": "awardPoints", "points": 50, "reason": "Thank you", "next": "vip"},
        "vip": {"type": "branch", "if": {"points": {"gte": 500}}, "then": "ab", "else": "end"},
        "ab": {"type": "split", "arms": [{"name": "A", "percent": 50, "next": "morning"},
                                         {"name": "B", "percent": 50, "next": "fiver"}]},
        "morning": {"type": "wait", "until": {"localTime": "10:00"}, "next": "end"},
        "fiver": {"type": "issueCoupon", "amountOff": {"amountMinor": 500, "currency": "EUR"},
                  "validFor": "P7D", "channels": ["STORE"], "next": "end"},
        "end": {"type": "exit"},
    },
}


def changed(path: str, value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    """EVERY_STEP with the value at dotted `path` replaced (or deleted)."""
    definition = copy.deepcopy(EVERY_STEP)
    *parents, last = path.split(".")
    node: Any = definition
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if delete:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return definition


def faults(raw: Any) -> list[tuple[str, str]]:
    return [(issue.path, issue.message) for issue in validate(raw)]


def test_a_definition_with_every_step_type_parses_into_typed_steps():
    definition = parse_definition(EVERY_STEP)

    assert definition.trigger == EventTrigger("purchase", {"channel": "WEB"})
    assert definition.reentry.mode == "after" and str(definition.reentry.after) == "P30D"
    assert (definition.holdout_percent, definition.start) == (10, "thanks")
    assert definition.goal is not None and definition.goal.event == "coupon_redeemed"
    steps = definition.steps
    assert isinstance(steps["thanks"], Message)
    assert steps["thanks"].fallback == (Channel.PUSH, Channel.INBOX)
    assert steps["thanks"].content["fr"].body == "Merci {{ customer.first_name }}"
    assert isinstance(steps["later"], Wait) and steps["later"].duration is not None
    assert isinstance(steps["survey"], WaitFor) and steps["survey"].timeout_next == "end"
    coupon = steps["coupon"]
    assert isinstance(coupon, IssueCoupon)
    assert (coupon.percent_off, coupon.channels, str(coupon.remind_before)) \
        == (10, ("WEB", "STORE"), "P3D")
    assert isinstance(steps["fiver"], IssueCoupon)
    assert steps["fiver"].amount_off == Money(500, "EUR")
    assert isinstance(steps["bonus"], AwardPoints) and steps["bonus"].points == 50
    assert isinstance(steps["vip"], Branch) and steps["vip"].otherwise == "end"
    assert isinstance(steps["ab"], Split) and [a.name for a in steps["ab"].arms] == ["A", "B"]
    assert isinstance(steps["morning"], Wait) and steps["morning"].until is not None
    assert isinstance(steps["end"], Exit)
    assert validate(EVERY_STEP) == []


def test_a_definition_is_frozen_down_to_its_json():
    definition = parse_definition(EVERY_STEP)
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.start = "end"  # type: ignore[misc]
    with pytest.raises(TypeError):
        definition.raw["steps"]["end"]["type"] = "wait"  # type: ignore[index]
    with pytest.raises(TypeError):
        definition.steps["end"] = Exit("x")  # type: ignore[index]
    assert definition.raw["steps"]["thanks"]["fallback"] == ("PUSH", "INBOX")


def test_the_other_triggers_and_reentry_rules():
    by_segment = parse_definition({**EVERY_STEP, "trigger": {"segmentEntered": 12},
                                   "reentry": "afterExit"})
    assert by_segment.trigger == SegmentTrigger("12")
    assert by_segment.reentry == Reentry("afterExit")
    weekly = parse_definition({**EVERY_STEP, "reentry": "never",
                               "trigger": {"schedule": "RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=10"}})
    assert weekly.trigger == ScheduleTrigger("RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=10")
    minimal = {"trigger": {"event": "signed_up"}, "start": "end",
               "steps": {"end": {"type": "exit"}}}
    plain = parse_definition(minimal)
    assert (plain.reentry, plain.holdout_percent, plain.goal, plain.audience) \
        == (Reentry("never"), 0, None, None)


@pytest.mark.parametrize("path, value, fault", [
    ("steps.survey.timeout", "7 days", ("steps.survey.timeout", "not an ISO 8601 duration")),
    ("steps.survey.timeout", "PT0S", ("steps.survey.timeout", "must be longer than zero")),
    ("steps.later.duration", "PT5S", None),
    ("steps.later.until", {"localTime": "25:00"}, ("steps.later", "either a duration or an until")),
    ("steps.morning.until", {"localTime": "7:00"}, ("steps.morning.until.localTime", "HH:MM")),
    ("steps.thanks.channel", "FAX", ("steps.thanks.channel", "unknown channel")),
    ("steps.thanks.fallback", ["PUSH", "PUSH"], ("steps.thanks.fallback.1", "another, plain")),
    ("steps.thanks.fallback", ["PREFERRED"], ("steps.thanks.fallback.0", "another, plain")),
    ("steps.thanks.content", {"de": {"body": "Hallo"}}, ("steps.thanks.content.de",
                                                          "unknown field")),
    ("steps.thanks.content.fr.title", None, ("steps.thanks.content.fr.title",
                                             "must be a non-empty string")),
    ("steps.thanks.next", "nowhere", ("steps.thanks.next", "unknown step 'nowhere'")),
    ("steps.thanks.colour", "red", ("steps.thanks.colour", "unknown field")),
    ("steps.later.type", "sleep", ("steps.later.type", "unknown step type")),
    ("steps.coupon.percentOff", 0, ("steps.coupon.percentOff", "between 1 and 100")),
    ("steps.coupon.percentOff", 101, ("steps.coupon.percentOff", "between 1 and 100")),
    ("steps.coupon.amountOff", {"amountMinor": 5, "currency": "EUR"},
     ("steps.coupon", "either a percentOff or an amountOff")),
    ("steps.fiver.amountOff", {"amountMinor": 5, "currency": "XYZ"},
     ("steps.fiver.amountOff.currency", "ISO 4217")),
    ("steps.fiver.amountOff", {"amountMinor": 0, "currency": "EUR"},
     ("steps.fiver.amountOff.amountMinor", "between 1")),
    ("steps.coupon.channels", ["WEB", "MOON"], ("steps.coupon.channels", "sales channels")),
    ("steps.coupon.channels", [], ("steps.coupon.channels", "sales channels")),
    ("steps.coupon.remindBefore", "P30D", ("steps.coupon.remindBefore", "shorter than validFor")),
    ("steps.bonus.points", 0, ("steps.bonus.points", "between 1 and")),
    ("steps.bonus.points", True, ("steps.bonus.points", "whole number")),
    ("steps.vip.if", {"rfm": ["SLEEPY"]}, ("steps.vip.if.rfm", "unknown value(s) ['SLEEPY']")),
    ("steps.vip.if", {"tier": ["Gold"], "rfm": ["LOST"]}, ("steps.vip.if", "exactly one key")),
    ("steps.vip.if", {"planet": "Mars"}, ("steps.vip.if.planet", "unknown condition")),
    ("steps.vip.if", {"all": []}, ("steps.vip.if.all", "non-empty list")),
    ("steps.ab.arms.1.percent", 40, ("steps.ab.arms", "add up to 100")),
    ("steps.ab.arms.1.name", "A", ("steps.ab.arms.1.name", "distinct")),
    ("steps.ab.arms.1.name", "holdout", ("steps.ab.arms.1.name", "distinct")),
    ("steps.ab.arms", [{"name": "A", "percent": 100, "next": "end"}],
     ("steps.ab.arms", "at least two arms")),
    ("steps.survey.match", {"receiptId": "{{ trigger.receiptId }}-x"},
     ("steps.survey.match.receiptId", "whole")),
    ("steps.survey.match", {"receiptId": {"nested": 1}},
     ("steps.survey.match.receiptId", "string, number or boolean")),
    ("trigger", {"event": "purchase", "where": {"channel": "{{ trigger.x }}"}},
     ("trigger.where.channel", "not allowed here")),
    ("trigger", {"event": "purchase", "segmentEntered": "3"}, ("trigger", "exactly one")),
    ("trigger", {"schedule": "RRULE:FREQ=MINUTELY"}, ("trigger.schedule", "at most daily")),
    ("reentry", "sometimes", ("reentry", "\"never\", \"afterExit\"")),
    ("reentry", {"after": "soon"}, ("reentry.after", "not an ISO 8601 duration")),
    ("holdoutPercent", 51, ("holdoutPercent", "between 0 and 50")),
    ("holdoutPercent", 12.5, ("holdoutPercent", "whole number")),
    ("goal", {"event": "purchase", "when": "now"}, ("goal.when", "unknown field")),
    ("start", "nowhere", ("start", "must name a step")),
    ("steps.nowhere!", {"type": "exit"}, ("steps.nowhere!", "a step id")),
    ("name", "Durant", ("name", "unknown field")),
])
def test_each_fault_is_reported_at_its_path(path, value, fault):
    found = faults(changed(path, value))
    if fault is None:
        assert found == []
    else:
        assert any(p == fault[0] and fault[1] in m for p, m in found), found


@pytest.mark.parametrize("path, fault", [
    ("steps.survey.timeoutNext", ("steps.survey.timeoutNext", "is required")),
    ("steps.thanks.next", ("steps.thanks.next", "is required")),
    ("steps.thanks.content", ("steps.thanks.content", "is required")),
    ("steps.coupon.validFor", ("steps.coupon.validFor", "is required")),
    ("trigger", ("trigger", "is required")),
    ("steps.end", ("steps.vip.else", "unknown step 'end'")),
])
def test_missing_fields_are_reported_at_their_path(path, fault):
    assert fault in faults(changed(path, delete=True))


def test_every_fault_is_reported_at_once():
    broken = changed("steps.survey.timeout", "soon")
    broken["steps"]["bonus"]["points"] = -1
    broken["holdoutPercent"] = 99
    assert [p for p, _ in faults(broken)] \
        == ["holdoutPercent", "steps.survey.timeout", "steps.bonus.points"]
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(broken)
    assert len(caught.value.issues) == 3
    assert str(caught.value) == "holdoutPercent: must be between 0 and 50 (and 2 more)"


def test_the_root_must_be_an_object():
    assert faults(None) == [("", "must be an object, not null")]
    assert faults([EVERY_STEP]) == [("", "must be an object, not a list")]


def test_steps_unreachable_from_start_are_refused():
    orphan = changed("steps.orphan", {"type": "awardPoints", "points": 1, "reason": "r",
                                      "next": "end"})
    assert faults(orphan) == [("steps.orphan", "unreachable from start 'thanks'")]


def test_a_loop_needs_a_wait_to_be_accepted():
    spin = changed("steps.bonus.next", "coupon")  # coupon -> bonus -> coupon, nothing waits
    assert sorted(faults(spin)) == [
        ("steps.ab", "unreachable from start 'thanks'"),
        ("steps.bonus", "the loop bonus -> coupon -> bonus has no wait or waitFor step"),
        ("steps.fiver", "unreachable from start 'thanks'"),
        ("steps.morning", "unreachable from start 'thanks'"),
        ("steps.vip", "unreachable from start 'thanks'"),
    ]
    # A branch looping back through a wait is a reminder series, and fine.
    assert faults(changed("steps.vip.else", "later")) == []
    self_loop = changed("steps.vip.then", "vip")
    self_loop["steps"]["vip"]["else"] = "ab"
    assert ("steps.vip", "the loop vip -> vip has no wait or waitFor step") in faults(self_loop)


@pytest.mark.parametrize("body, message", [
    ("Hello {{ customer.last_name }}", "unknown placeholder customer.last_name"),
    ("{{ password }}", "unknown placeholder password"),
    ("{{ customer }}", "unknown placeholder customer (name one of its fields"),
    ("Hello {{ customer.first_name", "does not compile"),
    ("{{ tier | nosuchfilter }}", "does not compile: No filter named 'nosuchfilter'"),
    ("{% if %}", "does not compile"),
    ("{{ customer.first_name.upper() }}", "function calls are not allowed"),
    ("{{ 'x' * 10 }}", "* is not allowed"),
    ("{{ 100000000 }}", "numbers in templates are at most 10000"),
    ("{% macro m() %}x{% endmacro %}", "macros are not allowed"),
    ("{% include 'other' %}", "includes are not allowed"),
])
def test_templates_are_compiled_and_their_placeholders_checked(body, message):
    found = faults(changed("steps.thanks.content.en.body", body))
    assert any(p == "steps.thanks.content.en.body" and message in m for p, m in found), found


def test_every_contract_placeholder_is_accepted():
    body = ("{{ customer.first_name }} {{ points.available }} {{ points.to_next_reward }} "
            "{{ next_reward }} {{ tier }} {{ coupon.code }} {{ coupon.expires_at }} "
            "{{ store.name }} {{ trigger.receiptId }} {{ survey_url }} {{ unsubscribe_url }} "
            "{% for item in trigger['items'] %}{{ item.sku | upper }}{% endfor %}"
            "{% if coupon.code is defined %}!{% endif %}")
    assert faults(changed("steps.thanks.content.en.body", body)) == []


def test_a_title_is_needed_unless_the_message_can_only_be_an_sms():
    no_title = changed("steps.thanks.content.en", {"body": "Hi"})
    assert ("steps.thanks.content.en.title", "is required (a subject or push title)") \
        in faults(no_title)
    sms = changed("steps.thanks.content", {"en": {"body": "Hi"}})
    sms["steps"]["thanks"]["channel"] = "SMS"
    sms["steps"]["thanks"]["fallback"] = []
    assert faults(sms) == []


def test_segment_conditions_go_through_the_pluggable_validator():
    seen: list[tuple[Any, str]] = []

    def audience_validator(condition: Any, path: str) -> list[Issue]:
        seen.append((condition, path))
        return [Issue(path, "no such segment")] if "segment" in condition else []

    viewed = {"event": "product_viewed", "where": {"sku": "{{ trigger.sku }}"}, "gte": 2,
              "within": "P7D"}
    definition = changed("steps.vip.if", viewed)
    definition["audience"] = {"segment": "99"}
    assert faults(definition) == []  # the structural check knows no segment ids
    found = validate(definition, check_segment=audience_validator)
    assert found == [Issue("audience", "no such segment")]
    # The validator sees references as strings, the type a property filter compares.
    assert seen[1] == ({**viewed, "where": {"sku": "trigger-value"}}, "steps.vip.if")


def test_coupon_channels_are_the_tills_channels():
    # Where a coupon can be spent: the kind of store a till is (STORE, WEB, PHONE).
    assert COUPON_CHANNELS == set(coupons.COUPON_CHANNELS)


def test_hostile_conditions_are_refused_not_recursed_into():
    deep: dict[str, Any] = {"marketingOptIn": True}
    for _ in range(50):
        deep = {"not": deep}
    assert any("nested deeper" in m for _, m in faults(changed("steps.vip.if", deep)))
    wide = {"any": [{"marketingOptIn": True}] * 500}
    assert any("larger than" in m for _, m in faults(changed("steps.vip.if", wide)))


def test_a_definition_gives_back_its_json_and_parses_again_from_it():
    definition = parse_definition(EVERY_STEP)
    assert definition.to_json() == EVERY_STEP
    assert parse_definition(definition.raw) == definition
