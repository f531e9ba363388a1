"""The shipped journeys validate, and each walks end to end through the step
machine on a clock the test controls."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from journeys.content import Values, render
from journeys.definition import ScheduleTrigger, parse_definition, validate
from journeys.entry import triggered_by
from journeys.experiments import HOLDOUT, in_holdout
from journeys.run import (
    AwaitEvent,
    AwardPoints,
    Event,
    Finish,
    IssueCoupon,
    ScheduleWake,
    SendMessage,
    Status,
    Suppressed,
)
from journeys.steps import Channel, Money
from journeys.templates import journey_templates, template
from journeys.timing import next_occurrence
from tests.unit.journey_walk import PARIS, Walk, kinds, utc

PURCHASE = {"channel": "WEB", "storeId": "9", "totalMinor": 8_990, "receiptId": "W-1001"}
T0 = utc(2026, 3, 2, 9, 30)  # Monday 10:30 in Paris


def raw(key: str) -> dict[str, Any]:
    found = template(key)
    assert found is not None
    return found.definition


@pytest.mark.parametrize("shipped", journey_templates(), ids=lambda t: t.key)
def test_every_template_validates_and_renders_in_both_languages(shipped):
    assert validate(shipped.definition) == []
    definition = parse_definition(shipped.definition)
    values = Values("Jean", 1500, 500, "Free coffee", "Gold", "K7QX2", utc(2026, 4, 1),
                    "Lyon", {"receiptId": "W-1", "cartId": "C-1", "sku": "S"},
                    "https://survey/x", "https://unsubscribe/x", "Europe/Paris")
    for step in definition.steps.values():
        for lang in getattr(step, "content", {}):
            rendered = render(step.content, Channel.EMAIL, lang, values)
            assert rendered.body and "{{" not in rendered.body


def test_templates_are_copies_a_marketer_may_edit():
    mine = raw("durant_post_purchase")
    mine["steps"]["later"]["duration"] = "PT5S"
    assert raw("durant_post_purchase")["steps"]["later"]["duration"] == "P14D"
    assert [t.key for t in journey_templates()] == [
        "durant_post_purchase", "cart_abandonment", "second_product_view", "welcome_series",
        "win_back_at_risk"]


def test_durant_thanks_surveys_rewards_reminds_and_converts():
    walk, bought = Walk.start(raw("durant_post_purchase"), T0, PURCHASE)
    thanks = bought.actions[0]
    assert isinstance(thanks, SendMessage) and thanks.channel == Channel.EMAIL
    assert thanks.fallback == (Channel.PUSH, Channel.INBOX) and thanks.store_id == "9"
    assert bought.actions[1] == ScheduleWake(utc(2026, 3, 16, 9, 30))  # 14 days, 10:30 CET

    invited = walk.at(utc(2026, 3, 16, 9, 30))
    assert invited.path == ("survey", "answered")
    assert invited.actions[1] == AwaitEvent("survey_submitted", {"receiptId": "W-1001"},
                                            utc(2026, 3, 23, 9, 30))
    assert not walk.event(utc(2026, 3, 17), "survey_submitted", receiptId="W-999").changed

    answered = walk.event(utc(2026, 3, 18, 19), "survey_submitted", receiptId="W-1001",
                          rating=5)
    assert kinds(answered.actions) == ["IssueCoupon", "SendMessage", "ScheduleWake"]
    coupon = answered.actions[0]
    assert coupon == IssueCoupon("r1:coupon:5", "coupon", 10, None,
                                 "-10 % merci pour votre avis", ("WEB", "STORE"),
                                 utc(2026, 4, 17, 18), utc(2026, 4, 14, 18))  # 20:00 CEST
    sent = answered.actions[1]
    assert isinstance(sent, SendMessage) and sent.coupon_key == "r1:coupon:5"

    redeemed = walk.event(utc(2026, 4, 16, 12), "coupon_redeemed", code="K7QX2")
    assert redeemed.actions == (Finish(Status.CONVERTED),)
    assert walk.run.status == Status.CONVERTED


def test_durant_without_an_answer_ends_after_a_week():
    walk, _ = Walk.start(raw("durant_post_purchase"), T0, PURCHASE)
    walk.at(utc(2026, 3, 16, 9, 30))
    ended = walk.at(utc(2026, 3, 23, 9, 30))
    assert ended.path == ("end",) and walk.run.status == Status.COMPLETED
    assert not any(isinstance(a, IssueCoupon) for step in walk.log for a in step.actions)


def test_durant_only_starts_from_a_web_purchase():
    definition = parse_definition(raw("durant_post_purchase"))
    assert triggered_by(definition, Event("purchase", PURCHASE, T0))
    assert not triggered_by(definition, Event("purchase", {**PURCHASE, "channel": "STORE"}, T0))


def test_a_basket_checked_out_within_the_hour_hears_nothing():
    walk, first = Walk.start(raw("cart_abandonment"), T0, {"cartId": "C-5"})
    assert first.actions == (AwaitEvent("checkout_started", {"cartId": "C-5"},
                                        T0 + timedelta(hours=1)),)
    done = walk.event(T0 + timedelta(minutes=20), "checkout_started", cartId="C-5")
    assert done.path == ("end",) and kinds(done.actions) == ["Finish"]


def test_an_abandoned_basket_gets_email_push_then_an_sms_offer_near_a_store():
    walk, _ = Walk.start(raw("cart_abandonment"), T0, {"cartId": "C-5"})
    email = walk.at(T0 + timedelta(hours=1))
    assert [a.channel for a in email.actions if isinstance(a, SendMessage)] == [Channel.EMAIL]
    push = walk.at(T0 + timedelta(hours=25))
    assert [a.channel for a in push.actions if isinstance(a, SendMessage)] == [Channel.PUSH]
    assert isinstance(push.actions[-1], AwaitEvent)
    # The server's checkin is an accepted visit (geofence: visit.accepted).
    assert push.actions[-1].match == {"kind": "VISIT"}
    assert not walk.event(T0 + timedelta(days=2), "checkin", storeId=3, kind="ENTER").changed
    near = walk.event(T0 + timedelta(days=3), "checkin", storeId=3, kind="VISIT")
    assert kinds(near.actions) == ["IssueCoupon", "SendMessage", "Finish"]
    sms = near.actions[1]
    assert isinstance(sms, SendMessage) and (sms.channel, sms.store_id) == (Channel.SMS, 3)
    assert sms.coupon_key == near.actions[0].key
    assert walk.run.status == Status.COMPLETED


def test_an_abandoned_basket_bought_after_the_email_converts():
    walk, _ = Walk.start(raw("cart_abandonment"), T0, {"cartId": "C-5"})
    walk.at(T0 + timedelta(hours=1))
    assert walk.event(T0 + timedelta(hours=5), "purchase", channel="WEB").actions \
        == (Finish(Status.CONVERTED),)


def test_the_second_view_of_a_product_earns_a_coupon_and_the_first_does_not():
    views: dict[str, int] = {"SHOE-9": 1}

    def viewed(condition: Any) -> bool:
        # The audience evaluator's job; here: the count of views of that sku.
        def holds(c: Any) -> bool:
            if "all" in c:
                return all(holds(x) for x in c["all"])
            if "not" in c:
                return not holds(c["not"])
            return views.get(c["where"]["sku"], 0) >= c["gte"]
        return holds(condition)

    first, once = Walk.start(raw("second_product_view"), T0, {"sku": "SHOE-9"},
                             condition=viewed)
    assert once.path == ("second", "end") and kinds(once.actions) == ["Finish"]
    views["SHOE-9"] = 2
    second, twice = Walk.start(raw("second_product_view"), T0, {"sku": "SHOE-9"},
                               condition=viewed, run_id="r2")
    assert kinds(twice.actions) == ["IssueCoupon", "SendMessage", "ScheduleWake"]
    assert twice.actions[0].percent_off == 15  # type: ignore[union-attr]
    assert second.at(T0 + timedelta(days=3)).path == ("end",)
    views["SHOE-9"] = 3
    _, thrice = Walk.start(raw("second_product_view"), T0, {"sku": "SHOE-9"},
                           condition=viewed, run_id="r3")
    assert kinds(thrice.actions) == ["Finish"]


def test_the_welcome_series_waits_for_ten_oclock_and_gifts_the_hesitant():
    signed_up = utc(2026, 3, 27, 15)  # Friday 16:00 CET
    walk, welcome = Walk.start(raw("welcome_series"), signed_up, {})
    assert welcome.actions[0].channel == Channel.PREFERRED  # type: ignore[union-attr]
    assert welcome.actions[1] == ScheduleWake(utc(2026, 3, 29, 14))  # Sunday 16:00 CEST
    ten = walk.at(utc(2026, 3, 29, 14))
    assert ten.actions == (ScheduleWake(utc(2026, 3, 30, 8)),)  # Monday 10:00 CEST
    how = walk.at(utc(2026, 3, 30, 8))
    assert kinds(how.actions) == ["SendMessage", "ScheduleWake"]
    gift = walk.at(utc(2026, 4, 4, 8))
    assert gift.path == ("bought", "gift", "gift_sent", "window")
    coupon = gift.actions[0]
    assert isinstance(coupon, IssueCoupon) and coupon.amount_off == Money(500, "EUR")
    assert walk.at(utc(2026, 4, 18, 8)).path == ("end",)


def test_the_welcome_series_ends_quietly_for_a_customer_who_bought():
    walk, _ = Walk.start(raw("welcome_series"), utc(2026, 3, 27, 15), {},
                         condition=lambda c: "purchases" in c)
    walk.at(utc(2026, 3, 29, 14))
    walk.at(utc(2026, 3, 30, 8))
    assert walk.at(utc(2026, 4, 4, 8)).path == ("bought", "end")


def test_win_back_runs_weekly_splits_arms_and_holds_out_a_tenth():
    definition = parse_definition(raw("win_back_at_risk"))
    assert definition.audience == {"rfm": ("AT_RISK",)}
    assert isinstance(definition.trigger, ScheduleTrigger)
    tuesday = next_occurrence(definition.trigger.rule, T0, PARIS)
    assert tuesday == utc(2026, 3, 3, 9)  # Tuesday 10:00 CET

    arms: dict[str, list[str]] = {}
    for customer in range(200):
        walk, entered = Walk.start(raw("win_back_at_risk"), tuesday, {}, customer_id=customer,
                                   run_id=f"r{customer}")
        arms.setdefault(walk.run.arm or "", []).append(kinds(entered.actions)[0])
        assert walk.at(tuesday + timedelta(days=14)).path == ("end",)
    assert set(arms) == {"coupon", "points", HOLDOUT}
    assert set(arms["coupon"]) == {"IssueCoupon"} and set(arms["points"]) == {"AwardPoints"}
    assert set(arms[HOLDOUT]) == {"Suppressed"}
    assert 8 <= len(arms[HOLDOUT]) <= 35  # 10% of 200, give or take chance


def test_a_held_out_customer_gets_nothing_but_still_converts():
    held = next(c for c in range(1000) if in_holdout(7, c, 10))
    walk, entered = Walk.start(raw("win_back_at_risk"), utc(2026, 3, 3, 9), {},
                               customer_id=held)
    assert all(isinstance(a, Suppressed | ScheduleWake) for a in entered.actions)
    assert not any(isinstance(a, AwardPoints | SendMessage | IssueCoupon)
                   for a in entered.actions)
    assert walk.event(utc(2026, 3, 10), "purchase", channel="STORE").actions \
        == (Finish(Status.CONVERTED),)
