"""The journeys worker on the real database, with a clock the tests move:
events enter customers and wake their runs, due runs are advanced, and each
step's effect (a message, a coupon, points) happens once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from journeys import runner
from journeys.experiments import HOLDOUT, assign_arm, in_holdout
from journeys.models import Journey, JourneyRun, JourneyStatus
from journeys.publish import publish_version
from journeys.run import Status
from journeys.steps import Arm
from journeys.worker import run_until_idle
from loyalty.ledger.balances import history
from loyalty.models import Customer
from tests.integration.journey_support import (
    EXIT,
    NOW,
    PUBLISHED,
    customer,
    event,
    live,
    logged,
    message,
    notes,
    runs,
)

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture(autouse=True)
def fresh_definitions():
    runner.forget_definitions()  # journey ids restart with each test's empty tables
    yield
    runner.forget_definitions()


def later(**kwargs: float) -> datetime:
    return NOW + timedelta(**kwargs)


WAIT_THEN_HELLO = {
    "trigger": {"event": "cart_updated", "where": {"channel": "WEB"}},
    "audience": {"marketingOptIn": True},
    "start": "pause",
    "steps": {
        "pause": {"type": "wait", "duration": "PT1H", "next": "hello"},
        "hello": message("Hello {{ customer.first_name }}, cart {{ trigger.cartId }}: "
                         "{{ points.available }} points.", "end", title="Your cart"),
        "end": EXIT,
    },
}


async def test_an_event_enters_the_customers_its_filter_and_audience_admit():
    journey = await live(WAIT_THEN_HELLO)
    ann = await customer("Ann", opt_in=True)
    bob = await customer("Bob", opt_in=False)
    await event(ann, "cart_updated", channel="APP", cartId="a0")  # the filter says WEB
    await event(ann, "cart_updated", channel="WEB", cartId="a1")
    await event(bob, "cart_updated", channel="WEB", cartId="b1")  # not opted in

    stats = await run_until_idle(NOW)

    rows = await runs(journey)
    assert [(r.customer_id, r.status, r.step) for r in rows] == [(ann, Status.WAITING, "pause")]
    assert rows[0].trigger["cartId"] == "a1"
    assert rows[0].wake_at == later(hours=1)
    assert (stats.events_read, stats.entered) == (3, 1)


async def test_a_wait_then_a_message_queues_one_rendered_notification():
    journey = await live(WAIT_THEN_HELLO)
    ann = await customer("Ann", opt_in=True)
    await event(ann, "cart_updated", channel="WEB", cartId="a1")
    await run_until_idle(NOW)

    await run_until_idle(later(minutes=59))
    assert await notes(ann) == []

    await run_until_idle(later(hours=1))
    await run_until_idle(later(hours=2))  # nothing more to do, nothing sent twice
    sent = await notes(ann)
    assert [(n.title, n.body, n.channels, n.journey_id, n.marketing) for n in sent] == [
        ("Your cart", "Hello Ann, cart a1: 0 points.", "INBOX", journey, True)]
    run = (await runs(journey))[0]
    assert run.status == Status.COMPLETED
    assert sent[0].dedupe_key == f"{run.id}:hello:2"
    assert [(m.dedupe_key, m.status, m.channel) for m in await logged(ann)] == [
        (f"{run.id}:hello:2", "queued", "INBOX")]


CART = {
    "trigger": {"event": "cart_updated"},
    "reentry": "afterExit",
    "start": "checkout",
    "steps": {
        "checkout": {"type": "waitFor", "event": "checkout_started",
                     "match": {"cartId": "{{ trigger.cartId }}"},
                     "timeout": "PT1H", "next": "thanks", "timeoutNext": "nudge"},
        "thanks": message("Thanks for checking out {{ trigger.cartId }}", "end"),
        "nudge": message("Your basket {{ trigger.cartId }} is waiting", "end"),
        "end": EXIT,
    },
}


async def test_wait_for_is_matched_by_the_triggers_property_or_times_out():
    journey = await live(CART)
    ann, bob = await customer("Ann"), await customer("Bob")
    await event(ann, "cart_updated", cartId="c1")
    await event(bob, "cart_updated", cartId="c9")
    await run_until_idle(NOW)

    await event(ann, "checkout_started", later(minutes=10), cartId="c2")  # another cart
    await run_until_idle(later(minutes=10))
    assert [r.status for r in await runs(journey)] == [Status.WAITING, Status.WAITING]

    await event(ann, "checkout_started", later(minutes=20), cartId="c1")
    await run_until_idle(later(minutes=20))
    assert [n.body for n in await notes(ann)] == ["Thanks for checking out c1"]
    assert await notes(bob) == []

    await run_until_idle(later(hours=1))
    assert [n.body for n in await notes(bob)] == ["Your basket c9 is waiting"]
    assert [n.body for n in await notes(ann)] == ["Thanks for checking out c1"]
    assert [(r.status, r.last_event) for r in await runs(journey)] == [
        (Status.COMPLETED, {"cartId": "c1"}), (Status.COMPLETED, None)]


BRANCH = {
    "trigger": {"event": "signed_up"},
    "start": "ask",
    "steps": {
        "ask": {"type": "branch", "if": {"marketingOptIn": True}, "then": "yes", "else": "no"},
        "yes": message("Offers for you", "end"),
        "no": message("Welcome", "end"),
        "end": EXIT,
    },
}


async def test_a_branch_follows_the_customers_segment_condition():
    await live(BRANCH)
    ann, bob = await customer("Ann", opt_in=True), await customer("Bob")
    await event(ann, "signed_up")
    await event(bob, "signed_up")
    await run_until_idle(NOW)
    assert [n.body for n in await notes(ann)] == ["Offers for you"]
    assert [n.body for n in await notes(bob)] == ["Welcome"]


def split(body_a: str = "A", body_b: str = "B") -> dict:
    return {
        "trigger": {"event": "visit"},
        "reentry": "afterExit",
        "start": "ab",
        "steps": {
            "ab": {"type": "split", "arms": [{"name": "a", "percent": 50, "next": "ma"},
                                             {"name": "b", "percent": 50, "next": "mb"}]},
            "ma": message(body_a, "end"),
            "mb": message(body_b, "end"),
            "end": EXIT,
        },
    }


async def test_split_arms_are_sticky_across_entries_and_versions():
    journey = await live(split())
    people = [await customer(f"C{i}") for i in range(8)]
    for c in people:
        await event(c, "visit")
    await run_until_idle(NOW)
    await publish_version(journey, split("A2", "B2"), later(minutes=1))
    for c in people:
        await event(c, "visit", later(minutes=5))
    await run_until_idle(later(minutes=5))

    arms = [Arm("a", 50, "ma"), Arm("b", 50, "mb")]
    for c in people:
        expected = assign_arm(journey, c, "ab", arms).name
        rows = await JourneyRun.filter(journey_id=journey, customer_id=c).order_by("entry")
        assert [(r.entry, r.version, r.arm) for r in rows] == [(1, 1, expected),
                                                               (2, 2, expected)]
        bodies = [n.body for n in await notes(c)]
        assert bodies == ([expected.upper(), expected.upper() + "2"])
    assert len({r.arm for r in await runs(journey)}) == 2  # both arms are used


HELD = {
    "trigger": {"event": "visit"},
    "holdoutPercent": 50,
    "goal": {"event": "purchase"},
    "start": "hi",
    "steps": {
        "hi": message("Come back soon", "wait"),
        "wait": {"type": "wait", "duration": "P7D", "next": "end"},
        "end": EXIT,
    },
}


async def test_the_holdout_gets_no_message_but_reaches_its_goal():
    journey = await live(HELD)
    people = [await customer(f"H{i}") for i in range(10)]
    held = [c for c in people if in_holdout(journey, c, 50)]
    told = [c for c in people if c not in held]
    assert held and told
    for c in people:
        await event(c, "visit")
    await run_until_idle(NOW)
    for c in held:
        assert await notes(c) == []
        assert [(m.status, m.reason) for m in await logged(c)] == [("suppressed", HOLDOUT)]
    for c in told:
        assert [n.body for n in await notes(c)] == ["Come back soon"]

    await event(held[0], "purchase", later(days=1))
    await run_until_idle(later(days=1))
    run = (await JourneyRun.filter(journey_id=journey, customer_id=held[0]))[0]
    assert (run.status, run.arm) == (Status.CONVERTED, HOLDOUT)


REWARD = {
    "trigger": {"event": "survey_submitted"},
    "start": "coupon",
    "steps": {
        "coupon": {"type": "issueCoupon", "percentOff": 10, "validFor": "P30D",
                   "channels": ["WEB", "STORE"], "title": "-10%", "next": "points"},
        "points": {"type": "awardPoints", "points": 50, "reason": "Thanks for your answer",
                   "next": "tell"},
        "tell": message("Code {{ coupon.code }}, {{ points.available }} points", "end"),
        "end": EXIT,
    },
}


async def _effects(customer_id: int) -> tuple[int, int, int, int]:
    from tortoise import connections

    from loyalty.platform.sql import fetchrow

    conn = connections.get("default")
    coupons = await fetchrow(conn, "SELECT COUNT(*) FROM coupon WHERE customer_id = $1",
                             customer_id)
    postings = await fetchrow(conn, "SELECT COUNT(*) FROM ledger_transaction "
                                    "WHERE customer_id = $1 AND kind = 'BONUS'", customer_id)
    account = await fetchrow(conn, "SELECT available FROM account WHERE customer_id = $1",
                             customer_id)
    return int(coupons[0]), int(postings[0]), len(await notes(customer_id)), int(account[0])


async def test_a_coupon_and_points_are_given_once_when_a_step_runs_twice():
    journey = await live(REWARD)
    ann = await customer("Ann")
    await event(ann, "survey_submitted", receiptId="R1")
    await run_until_idle(NOW)
    assert await _effects(ann) == (1, 1, 1, 50)
    code = (await _coupon(ann))
    assert [n.body for n in await notes(ann)] == [f"Code {code}, 50 points"]
    items = await history(ann, 10, None)
    assert [(i.points, i.description) for i in items][:1] == [(50, "Thanks for your answer")]

    # A worker that died after its effects but before storing the run would
    # leave the run as it was: run the same stored state again.
    run = (await runs(journey))[0]
    await JourneyRun.filter(id=run.id).update(status=Status.ACTIVE, step="coupon", seq=0,
                                              coupon_key=None, ended_at=None,
                                              wake_at=NOW)
    await run_until_idle(NOW)
    assert await _effects(ann) == (1, 1, 1, 50)
    assert (await runs(journey))[0].status == Status.COMPLETED


async def _coupon(customer_id: int) -> str:
    from loyalty.models import Coupon

    found = await Coupon.filter(customer_id=customer_id)
    return found[0].code


async def test_a_paused_journey_sends_and_enters_nobody_until_resumed():
    journey = await live(WAIT_THEN_HELLO)
    ann, bob = await customer("Ann", opt_in=True), await customer("Bob", opt_in=True)
    await event(ann, "cart_updated", channel="WEB", cartId="a1")
    await run_until_idle(NOW)
    await Journey.filter(id=journey).update(status=JourneyStatus.PAUSED)

    await event(bob, "cart_updated", later(minutes=30), channel="WEB", cartId="b1")
    await run_until_idle(later(hours=2))
    assert await notes(ann) == []
    assert [r.customer_id for r in await runs(journey)] == [ann]

    await Journey.filter(id=journey).update(status=JourneyStatus.LIVE)
    await run_until_idle(later(hours=3))
    assert [n.body for n in await notes(ann)] == ["Hello Ann, cart a1: 0 points."]
    assert [r.customer_id for r in await runs(journey)] == [ann]


def reentry(rule: object) -> dict:
    return {"trigger": {"event": "visit"}, "reentry": rule, "start": "hi",
            "steps": {"hi": message("Hi", "w"),
                      "w": {"type": "wait", "duration": "PT1H", "next": "end"},
                      "end": EXIT}}


@pytest.mark.parametrize(("rule", "entries"), [
    ("never", 1),
    ("afterExit", 2),  # the visit during the first run is refused, the one after enters
    ({"after": "PT3H"}, 1),  # ended, but not 3 hours after the first entry
])
async def test_reentry_rules(rule, entries):
    journey = await live(reentry(rule))
    ann = await customer("Ann")
    for minutes in (0, 30, 90):
        await run_until_idle(later(minutes=minutes))  # the first run ends at 60
        await event(ann, "visit", later(minutes=minutes))
        await run_until_idle(later(minutes=minutes))
    assert len(await runs(journey)) == entries


async def test_a_run_finishes_on_its_version_after_a_new_one_is_published():
    journey = await live(WAIT_THEN_HELLO)
    ann = await customer("Ann", opt_in=True)
    await event(ann, "cart_updated", channel="WEB", cartId="a1")
    await run_until_idle(NOW)
    changed = {**WAIT_THEN_HELLO, "steps": {**WAIT_THEN_HELLO["steps"],
                                            "hello": message("Version two", "end")}}
    assert await publish_version(journey, changed, later(minutes=5)) == 2

    await run_until_idle(later(hours=1))
    assert [n.body for n in await notes(ann)] == ["Hello Ann, cart a1: 0 points."]
    assert [(r.version, r.status) for r in await runs(journey)] == [(1, Status.COMPLETED)]


async def test_a_day_long_wait_keeps_the_paris_wall_clock_across_the_dst_change():
    await live(reentry("never") | {"steps": {
        "hi": {"type": "wait", "duration": "P1D", "next": "bye"},
        "bye": message("Bonjour", "end"), "end": EXIT}}, at=datetime(2030, 3, 29, tzinfo=UTC))
    paris = await customer("Jean", timezone="Europe/Paris")
    # Saturday 30 March 2030, 10:00 in Paris (UTC+1); clocks go forward that night.
    saturday = datetime(2030, 3, 30, 9, 0, tzinfo=UTC)
    await event(paris, "visit", saturday)
    await run_until_idle(saturday)
    run = (await JourneyRun.filter(customer_id=paris))[0]
    sunday_ten = datetime(2030, 3, 31, 8, 0, tzinfo=UTC)  # 10:00 in Paris (UTC+2): 23 h
    assert run.wake_at == sunday_ten

    await run_until_idle(sunday_ten - timedelta(seconds=1))
    assert await notes(paris) == []
    await run_until_idle(sunday_ten)
    assert [n.body for n in await notes(paris)] == ["Bonjour"]


async def test_an_archived_journeys_runs_leave_and_nobody_enters():
    journey = await live(WAIT_THEN_HELLO)
    ann = await customer("Ann", opt_in=True)
    await event(ann, "cart_updated", channel="WEB", cartId="a1")
    await run_until_idle(NOW)
    await Journey.filter(id=journey).update(status=JourneyStatus.ARCHIVED)
    await run_until_idle(later(minutes=1))
    assert [(r.status, r.reason) for r in await runs(journey)] == [
        (Status.EXITED, "journey archived")]
    await run_until_idle(later(hours=2))
    assert await notes(ann) == []


async def test_entering_a_segment_triggers_its_journeys():
    from audience.segments import create_segment
    other, club = [await create_segment(name=n, description=None, staff_id=None,
                                        definition={"points": {"gte": 10**9}})
                   for n in ("other", "club")]
    journey = await live({"trigger": {"segmentEntered": str(club.id)}, "start": "hi",
                          "steps": {"hi": message("Welcome to the club", "end"),
                                    "end": EXIT}})
    ann = await customer("Ann")
    await event(ann, "segment_entered", segmentId=str(other.id))
    await event(ann, "segment_entered", segmentId=str(club.id))
    await run_until_idle(NOW)
    assert [n.body for n in await notes(ann)] == ["Welcome to the club"]
    assert len(await runs(journey)) == 1


async def test_a_message_that_cannot_be_rendered_is_suppressed_with_the_reason():
    await live({"trigger": {"event": "visit"}, "start": "hi",
                "steps": {"hi": message("Your code {{ coupon.code }}", "end"), "end": EXIT}})
    ann = await customer("Ann")
    await event(ann, "visit")
    await run_until_idle(NOW)
    assert await notes(ann) == []
    [log] = await logged(ann)
    assert log.status == "suppressed" and "coupon.code" in (log.reason or "")


async def test_preferred_uses_the_customers_channel_then_the_fallbacks():
    await live({"trigger": {"event": "visit"}, "start": "hi",
                "steps": {"hi": message("Hi", "end", channel="PREFERRED",
                                        fallback=["PUSH", "INBOX"]), "end": EXIT}})
    ann, bob = await customer("Ann"), await customer("Bob")
    await event(ann, "email_opened", NOW - timedelta(days=1))
    for c in (ann, bob):
        await event(c, "visit")
    await run_until_idle(NOW)
    assert [n.channels for n in await notes(ann)] == ["EMAIL,PUSH,INBOX"]
    assert [n.channels for n in await notes(bob)] == ["PUSH,INBOX"]


async def test_events_older_than_the_journey_enter_nobody():
    ann = await customer("Ann")
    await event(ann, "visit", PUBLISHED - timedelta(minutes=5))
    await live(reentry("never"))
    await run_until_idle(NOW)
    assert await notes(ann) == []
    erased = await Customer.get(id=ann)
    assert erased.first_name == "Ann"


_ = UTC


WEEKLY = {
    "trigger": {"schedule": "RRULE:FREQ=WEEKLY;BYDAY=TU;BYHOUR=10;BYMINUTE=0"},
    "audience": {"marketingOptIn": True},
    "reentry": "afterExit",
    "start": "hi",
    "steps": {"hi": message("Tuesday news", "end"), "end": EXIT},
}


async def test_a_schedule_enters_its_audience_at_ten_on_each_customers_clock():
    # Published on Monday 6 May 2030; Tuesday 7 May, 10:00 in Paris is 08:00 UTC
    # and 10:00 in New York 14:00 UTC.
    journey = await live(WEEKLY)
    paris = await customer("Jean", timezone="Europe/Paris", opt_in=True)
    york = await customer("Joe", timezone="America/New_York", opt_in=True)
    await customer("Nope", timezone="Europe/Paris", opt_in=False)
    tuesday = datetime(2030, 5, 7, tzinfo=UTC)

    await run_until_idle(tuesday + timedelta(hours=7, minutes=59))
    assert await runs(journey) == []
    await run_until_idle(tuesday + timedelta(hours=8))
    await run_until_idle(tuesday + timedelta(hours=9))  # the same occurrence: no one again
    assert [(r.customer_id, r.status) for r in await runs(journey)] == [
        (paris, Status.COMPLETED)]
    assert [n.body for n in await notes(paris)] == ["Tuesday news"]

    await run_until_idle(tuesday + timedelta(hours=14))
    assert [n.body for n in await notes(york)] == ["Tuesday news"]
    await run_until_idle(tuesday + timedelta(days=7, hours=8))  # next week, again
    assert len(await notes(paris)) == 2
    assert len(await notes(york)) == 1


async def _without_account(customer_id: int) -> None:
    from tortoise import connections

    from loyalty.platform.sql import execute

    await execute(connections.get("default"), "DELETE FROM account WHERE customer_id = $1",
                  customer_id)


TWO_PHASES = {
    "trigger": {"event": "visit"},
    "start": "wait",
    "steps": {
        "wait": {"type": "waitFor", "event": "survey_submitted", "timeout": "PT1H",
                 "next": "points", "timeoutNext": "points"},
        "points": {"type": "awardPoints", "points": 5, "reason": "Thanks", "next": "hi"},
        "hi": message("Thanks", "end"),
        "end": EXIT,
    },
}


async def test_a_run_whose_step_raises_fails_alone_and_the_others_go_on():
    journey = await live(TWO_PHASES)
    ann, bob, cat = await customer("Ann"), await customer("Bob"), await customer("Cat")
    for c in (ann, bob, cat):
        await event(c, "visit")
    await run_until_idle(NOW)
    await _without_account(bob)  # a posting for Bob raises NOT_FOUND
    await _without_account(cat)

    # Woken by an event (the stream) and by its timeout (a due batch).
    await event(cat, "survey_submitted", later(minutes=5))
    await event(ann, "survey_submitted", later(minutes=5))
    await run_until_idle(later(minutes=5))
    await run_until_idle(later(hours=1))

    found = {r.customer_id: (r.status, r.reason or "") for r in await runs(journey)}
    assert found[ann] == (Status.COMPLETED, "")
    for broken in (bob, cat):
        status, reason = found[broken]
        assert status == Status.FAILED and "No such customer" in reason
        assert await notes(broken) == []
    assert [n.body for n in await notes(ann)] == ["Thanks"]


async def test_a_survey_link_for_the_triggering_purchase_is_rendered():
    from loyalty.platform.config import get_settings, set_settings
    from loyalty.points import survey_links
    from tests.conftest import settings_for

    await live({"trigger": {"event": "purchase"}, "start": "ask",
                "steps": {"ask": message("Tell us: {{ survey_url }}", "end"), "end": EXIT}})
    ann, bob = await customer("Ann"), await customer("Bob")
    before = get_settings()
    set_settings(settings_for(before.database_url,
                              survey_url="https://shop.example/survey?t={token}"))
    try:
        await event(ann, "purchase", receiptId="W-7", storeId="3")
        await run_until_idle(NOW)
    finally:
        set_settings(before)
    [body] = [n.body for n in await notes(ann)]
    assert body.startswith("Tell us: https://shop.example/survey?t=")
    link = survey_links.read(body.split("?t=", 1)[1], NOW)
    assert (link.customer_id, link.store_id, link.receipt_id) == (ann, 3, "W-7")
    # Without LOYALTY_SURVEY_URL there is no link: the message is suppressed, not blank.
    await event(bob, "purchase", receiptId="W-8", storeId="3")
    await run_until_idle(NOW)
    assert await notes(bob) == []
    [log] = await logged(bob)
    assert log.status == "suppressed" and "survey_url" in (log.reason or "")


async def test_an_unsubscribe_link_names_the_customer_it_was_rendered_for():
    from notifications.unsubscribe import customer_of

    await live({"trigger": {"event": "visit"}, "start": "hi",
                "steps": {"hi": message("Leave: {{ unsubscribe_url }}", "end"), "end": EXIT}})
    ann = await customer("Ann")
    await event(ann, "visit")
    await run_until_idle(NOW)
    [body] = [n.body for n in await notes(ann)]
    assert "/unsubscribe?token=" in body
    assert customer_of(body.split("?token=", 1)[1]) == ann


async def test_pausing_holds_the_journeys_unsent_messages_and_archiving_drops_them():
    from journeys import service
    from loyalty.platform.config import get_settings
    from notifications.worker import run_once as send

    hello = {"trigger": {"event": "visit"}, "start": "hi",
             "steps": {"hi": message("Hello", "end"), "end": EXIT}}
    paused, archived = await live(hello, "paused"), await live(hello, "archived")
    ann = await customer("Ann", opt_in=True)
    await event(ann, "visit")
    await run_until_idle(NOW)
    queued = {n.journey_id: n for n in await notes(ann)}
    assert set(queued) == {paused, archived}
    assert {n.status for n in queued.values()} == {"queued"}

    await service.pause_journey(paused, now=later(minutes=1))
    await service.archive_journey(archived, now=later(minutes=1))
    await send(100, now=later(minutes=2), settings=get_settings())
    after = {n.journey_id: n for n in await notes(ann)}
    assert (after[paused].status, after[paused].reason) == ("queued", "journey paused")
    assert (after[archived].status, after[archived].reason) == ("suppressed", "journey archived")

    await service.publish_journey(paused, now=later(minutes=3))  # resumed
    await send(100, now=later(minutes=4), settings=get_settings())
    resumed = {n.journey_id: n for n in await notes(ann)}
    assert resumed[paused].status not in ("queued", "deferred")
    assert resumed[paused].channel == "INBOX"
    assert resumed[archived].status == "suppressed"
