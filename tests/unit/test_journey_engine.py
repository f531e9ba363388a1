"""The step machine, rule by rule: what each step asks of the worker, when a
run waits and wakes, keys that make a retried step harmless, the holdout."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from journeys.definition import parse_definition
from journeys.engine import advance, enter, leave
from journeys.entry import PastRun, may_enter, triggered_by
from journeys.experiments import HOLDOUT, in_holdout
from journeys.run import (
    AwaitEvent,
    AwardPoints,
    Event,
    Facts,
    Finish,
    IssueCoupon,
    ScheduleWake,
    SendMessage,
    Status,
    Suppressed,
    match_key,
)
from journeys.steps import Channel, freeze
from tests.unit.journey_walk import PARIS, Walk, kinds, never, utc

T0 = utc(2026, 3, 2, 9)  # Monday 10:00 in Paris


def message(nxt: str, body: str = "Hi {{ customer.first_name }}") -> dict[str, Any]:
    return {"type": "message", "channel": "PUSH", "fallback": ["INBOX"],
            "content": {"en": {"title": "t", "body": body}}, "next": nxt}


REMINDERS = {  # a loop through a wait: remind every day while the condition holds
    "trigger": {"event": "cart_updated"},
    "goal": {"event": "purchase", "where": {"cartId": "{{ trigger.cartId }}"}},
    "start": "remind",
    "steps": {
        "remind": message("pause"),
        "pause": {"type": "wait", "duration": "P1D", "next": "still"},
        "still": {"type": "branch", "if": {"points": {"gte": 1}}, "then": "remind",
                  "else": "gift"},
        "gift": {"type": "awardPoints", "points": 10, "reason": "sorry", "next": "ab"},
        "ab": {"type": "split", "arms": [{"name": "A", "percent": 50, "next": "end"},
                                         {"name": "B", "percent": 50, "next": "end"}]},
        "end": {"type": "exit"},
    },
}


def test_a_run_does_its_instant_steps_then_waits_and_says_until_when():
    walk, first = Walk.start(REMINDERS, T0, {"cartId": "C1"})
    assert kinds(first.actions) == ["SendMessage", "ScheduleWake"]
    sent = first.actions[0]
    assert isinstance(sent, SendMessage)
    assert (sent.key, sent.step_id, sent.channel, sent.fallback) \
        == ("r1:remind:1", "remind", Channel.PUSH, (Channel.INBOX,))
    assert first.actions[1] == ScheduleWake(utc(2026, 3, 3, 9))
    assert first.path == ("remind", "pause")
    assert (walk.run.status, walk.run.step, walk.run.wake_at) \
        == (Status.WAITING, "pause", utc(2026, 3, 3, 9))


def test_nothing_happens_before_the_wake_time():
    walk, _ = Walk.start(REMINDERS, T0, {"cartId": "C1"})
    stored = walk.run
    early = walk.at(utc(2026, 3, 3, 8, 59, 59))
    assert (early.actions, early.path, early.changed, walk.run) == ((), (), False, stored)
    # An event that is neither awaited nor the goal changes nothing either.
    assert not walk.event(utc(2026, 3, 3, 8), "purchase", cartId="OTHER").changed


def test_a_step_visited_again_through_a_loop_gets_new_keys():
    walk, first = Walk.start(REMINDERS, T0, {"cartId": "C1"}, condition=lambda c: True)
    second = walk.at(utc(2026, 3, 3, 9))
    assert second.path == ("still", "remind", "pause")
    keys = [a.key for a in (*first.actions, *second.actions) if isinstance(a, SendMessage)]
    assert keys == ["r1:remind:1", "r1:remind:4"]


def test_a_retried_advance_repeats_the_same_keys_whatever_the_time():
    walk, _ = Walk.start(REMINDERS, T0, {"cartId": "C1"})
    stored = walk.run
    definition = walk.definition
    once = advance(stored, definition, utc(2026, 3, 3, 9), Facts(PARIS, never))
    again = advance(stored, definition, utc(2026, 3, 3, 9, 7), Facts(PARIS, never))
    key_of = [a.key for a in once.actions if isinstance(a, AwardPoints)]
    assert key_of == [a.key for a in again.actions if isinstance(a, AwardPoints)]
    assert key_of == ["r1:gift:4"]
    assert once.state.seq == again.state.seq == 6


def test_the_goal_ends_the_run_as_converted_with_its_references_resolved():
    walk, _ = Walk.start(REMINDERS, T0, {"cartId": "C1"})
    assert not walk.event(utc(2026, 3, 2, 12), "purchase", cartId="C2").changed
    converted = walk.event(utc(2026, 3, 2, 13), "purchase", cartId="C1")
    assert converted.actions == (Finish(Status.CONVERTED),)
    assert (walk.run.status, walk.run.ended_at, walk.run.wake_at) \
        == (Status.CONVERTED, utc(2026, 3, 2, 13), None)
    assert not walk.at(utc(2026, 3, 9)).changed  # an ended run stays ended


def test_branch_conditions_reach_the_predicate_with_trigger_references_resolved():
    seen: list[Any] = []
    raw = {"trigger": {"event": "product_viewed"}, "start": "b", "steps": {
        "b": {"type": "branch", "if": {"event": "product_viewed",
                                       "where": {"sku": "{{ trigger.sku }}"}, "gte": 2},
              "then": "end", "else": "end"},
        "end": {"type": "exit"}}}
    Walk.start(raw, T0, {"sku": "SHOE-9"}, condition=lambda c: seen.append(c) or False)
    assert seen == [{"event": "product_viewed", "where": {"sku": "SHOE-9"}, "gte": 2}]


def test_a_split_records_the_arm_and_the_holdout_keeps_its_name():
    walk, _ = Walk.start(REMINDERS, T0, {"cartId": "C1"})
    walk.at(utc(2026, 3, 3, 9))
    assert walk.run.arm in ("A", "B") and walk.run.status == Status.COMPLETED
    held_out = next(c for c in range(1000) if in_holdout(7, c, 50))
    raw = {**REMINDERS, "holdoutPercent": 50}
    held, first = Walk.start(raw, T0, {"cartId": "C1"}, customer_id=held_out)
    assert held.run.arm == HOLDOUT
    assert first.actions[0] == Suppressed("r1:remind:1", "remind", HOLDOUT)
    last = held.at(utc(2026, 3, 3, 9))
    assert kinds(last.actions) == ["Suppressed", "Finish"]  # no points for the holdout
    assert held.run.arm == HOLDOUT and held.run.status == Status.COMPLETED


def test_a_wait_for_matches_the_trigger_property_or_times_out():
    raw = {"trigger": {"event": "cart_updated"}, "start": "w", "steps": {
        "w": {"type": "waitFor", "event": "checkout_started",
              "match": {"cartId": "{{ trigger.cartId }}"}, "timeout": "PT1H",
              "next": "done", "timeoutNext": "nudge"},
        "nudge": message("end"),
        "done": {"type": "exit"},
        "end": {"type": "exit"}}}
    walk, first = Walk.start(raw, T0, {"cartId": 17})
    hour = T0 + timedelta(hours=1)
    assert first.actions == (AwaitEvent("checkout_started", {"cartId": 17}, hour),)
    assert walk.run.wake_at == T0 + timedelta(hours=1)
    assert not walk.event(T0 + timedelta(minutes=5), "checkout_started", cartId="18").changed
    matched = walk.event(T0 + timedelta(minutes=6), "checkout_started", cartId="17")
    assert matched.path == ("done",) and walk.run.status == Status.COMPLETED
    assert walk.run.last_event == {"cartId": "17"}

    late, _ = Walk.start(raw, T0, {"cartId": 17})
    assert not late.at(T0 + timedelta(minutes=59)).changed
    timed_out = late.at(T0 + timedelta(hours=1))
    assert timed_out.path == ("nudge", "end")


def test_an_event_from_before_the_timeout_counts_even_if_processed_after():
    raw = {"trigger": {"event": "cart_updated"}, "start": "w", "steps": {
        "w": {"type": "waitFor", "event": "checkout_started", "timeout": "PT1H",
              "next": "done", "timeoutNext": "end"},
        "done": {"type": "exit"}, "end": {"type": "exit"}}}
    walk, _ = Walk.start(raw, T0)
    on_time = Event("checkout_started", {}, T0 + timedelta(minutes=59))
    assert walk.at(T0 + timedelta(hours=2), on_time).path == ("done",)
    walk, _ = Walk.start(raw, T0)
    too_late = Event("checkout_started", {}, T0 + timedelta(minutes=61))
    assert walk.at(T0 + timedelta(hours=2), too_late).path == ("end",)


def test_a_reference_the_trigger_lacks_only_times_out():
    raw = {"trigger": {"event": "cart_updated"}, "start": "w", "steps": {
        "w": {"type": "waitFor", "event": "checkout_started",
              "match": {"cartId": "{{ trigger.cartId }}"}, "timeout": "PT1H",
              "next": "done", "timeoutNext": "end"},
        "done": {"type": "exit"}, "end": {"type": "exit"}}}
    walk, _ = Walk.start(raw, T0, {})
    assert not walk.event(T0, "checkout_started", cartId=None).changed


def test_coupons_expire_and_remind_on_the_customers_calendar():
    raw = {"trigger": {"event": "purchase"}, "start": "c", "steps": {
        "c": {"type": "issueCoupon", "percentOff": 10, "validFor": "P30D",
              "channels": ["WEB", "STORE"], "remindBefore": "P3D", "next": "m"},
        "m": message("end", "{{ coupon.code }}"),
        "end": {"type": "exit"}}}
    _, first = Walk.start(raw, utc(2026, 3, 10, 9))  # 10:00 CET
    coupon, sent = first.actions[0], first.actions[1]
    assert coupon == IssueCoupon("r1:c:1", "c", 10, None, None, ("WEB", "STORE"),
                                 utc(2026, 4, 9, 8), utc(2026, 4, 6, 8))  # 10:00 CEST
    assert isinstance(sent, SendMessage) and sent.coupon_key == "r1:c:1"


def test_wait_until_a_local_time_uses_the_customers_zone():
    raw = {"trigger": {"event": "signed_up"}, "start": "ten", "steps": {
        "ten": {"type": "wait", "until": {"localTime": "10:00"}, "next": "end"},
        "end": {"type": "exit"}}}
    _, paris = Walk.start(raw, utc(2026, 3, 28, 12))
    assert paris.actions == (ScheduleWake(utc(2026, 3, 29, 8)),)
    _, new_york = Walk.start(raw, utc(2026, 3, 28, 12), zone=ZoneInfo("America/New_York"))
    assert new_york.actions == (ScheduleWake(utc(2026, 3, 28, 14)),)


def test_a_message_names_the_store_of_the_check_in_that_woke_it():
    raw = {"trigger": {"event": "purchase"}, "start": "w", "steps": {
        "w": {"type": "waitFor", "event": "checkin", "timeout": "P7D", "next": "m",
              "timeoutNext": "end"},
        "m": message("end", "{{ store.name }}"),
        "end": {"type": "exit"}}}
    walk, _ = Walk.start(raw, T0, {"storeId": "1"})
    woke = walk.event(T0 + timedelta(days=1), "checkin", storeId=3, kind="ENTER")
    sent = woke.actions[0]
    assert isinstance(sent, SendMessage) and sent.store_id == 3


def test_a_run_stored_at_a_step_its_version_lacks_fails_and_can_be_taken_out():
    definition = parse_definition(REMINDERS)
    run = enter(run_id=5, journey_id=7, version=3, customer_id=1, entry=1,
                definition=definition, trigger={}, now=T0)
    broken = advance(replace(run, step="gone"), definition, T0, Facts(PARIS, never))
    assert broken.state.status == Status.FAILED
    assert broken.actions[-1] == Finish(Status.FAILED, "version 3 has no step 'gone'")
    out = leave(run, T0, "journey archived")
    assert out.actions == (Finish(Status.EXITED, "journey archived"),)
    assert out.state.status == Status.EXITED
    assert leave(out.state, T0, "again").actions == ()


def test_who_enters_by_trigger_and_reentry_rule():
    purchase = parse_definition({"trigger": {"event": "purchase", "where": {"storeId": "3"}},
                                 "reentry": {"after": "P30D"}, "start": "end",
                                 "steps": {"end": {"type": "exit"}}})
    assert triggered_by(purchase, Event("purchase", {"storeId": 3}, T0))
    assert not triggered_by(purchase, Event("purchase", {"storeId": 4}, T0))
    assert not triggered_by(purchase, Event("refund", {"storeId": 3}, T0))
    segment = parse_definition({"trigger": {"segmentEntered": "12"}, "start": "end",
                                "steps": {"end": {"type": "exit"}}})
    assert triggered_by(segment, Event("segment_entered", {"segmentId": 12}, T0))
    assert not triggered_by(segment, Event("segment_entered", {"segmentId": 13}, T0))

    assert may_enter(purchase, [], T0, PARIS)
    running = [PastRun(T0 - timedelta(days=60), None)]
    assert not may_enter(purchase, running, T0, PARIS)  # never two runs at once
    ended = [PastRun(T0 - timedelta(days=29), T0 - timedelta(days=28))]
    assert not may_enter(purchase, ended, T0, PARIS)
    assert may_enter(purchase, ended, T0 + timedelta(days=1), PARIS)
    assert not may_enter(segment, ended, T0, PARIS)  # reentry "never" by default
    after_exit = parse_definition({**segment.to_json(), "reentry": "afterExit"})
    assert may_enter(after_exit, ended, T0, PARIS)


def test_an_awaited_match_is_stored_as_one_canonical_string():
    assert match_key({"b": 1, "a": ("x", "é")}) == '{"a":["x","é"],"b":1}'
    assert match_key(freeze({"a": [1], "b": 1})) == match_key({"b": 1, "a": (1,)})
