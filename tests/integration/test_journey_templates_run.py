"""Every shipped journey template (journeys/templates.py), published
unchanged through the service, run end to end by the real workers on the
real database: the server's own events made the way production makes them
(purchases, surveys and coupons at the till, check-ins through the geofence,
sign-ups), behavioural ones (cart_updated, checkout_started, product_viewed)
through the stream's writer, the audience worker turning the outbox into
the stream, and the journeys worker on a clock the tests move through every
wait. Each step's message is asserted as the customer receives it (channels,
text in their language), each coupon and posting once, and each run's end."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tortoise import connections

from audience import scores
from audience import worker as audience_worker
from audience.events import StreamRow, write_events
from geofence.checkins import check_in
from geofence.models import CheckInKind, Geofence
from journeys import runner, service
from journeys import worker as journeys_worker
from journeys.experiments import HOLDOUT, assign_arm, in_holdout
from journeys.models import JourneyRun
from journeys.run import Status
from journeys.steps import Arm
from journeys.templates import template
from loyalty.identity import accounts as identity
from loyalty.ledger import Channel
from loyalty.ledger.balances import history
from loyalty.models import Coupon, Customer, StoreKind
from loyalty.money import Money
from loyalty.platform.config import get_settings, set_settings
from loyalty.platform.sql import execute, fetch
from loyalty.points import purchases, surveys
from loyalty.programme import stores
from notifications.models import Notification
from notifications.templates import format_date
from notifications.worker import run_once as notify
from tests.conftest import PASSWORD, settings_for
from tests.integration.test_channels import Mailbox, mailbox, sms, sms_server
from wallet.cards import CardHolder, issue_card, resolve_card

pytestmark = pytest.mark.usefixtures("database")
__all__ = ["mailbox", "sms", "sms_server"]  # the fixtures, used here too

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def fresh_definitions() -> Iterator[None]:
    runner.forget_definitions()  # journey ids restart with each test's empty tables
    yield
    runner.forget_definitions()


@pytest.fixture
def channels(mailbox: tuple[Mailbox, int], sms) -> Iterator[tuple[Mailbox, Any]]:
    """Survey links, and email and SMS delivered to the local SMTP server and
    the fake SMS provider on 127.0.0.1."""
    before = get_settings()
    set_settings(settings_for(
        before.database_url, survey_url="https://shop.test/survey?t={token}",
        smtp_url=f"smtp://127.0.0.1:{mailbox[1]}", sms_url=sms.url,
        email_from="Dupont <offers@shop.test>", unsubscribe_url="https://shop.test/unsubscribe"))
    yield mailbox[0], sms
    set_settings(before)


def noon_after(moment: datetime) -> datetime:
    """The next noon in Paris: out of quiet hours, for the notification worker."""
    local = moment.astimezone(PARIS)
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    return (noon if noon > local else noon + timedelta(days=1)).astimezone(UTC)


# ---- the programme, the customers, the clock --------------------------------


async def publish(key: str, at: datetime) -> int:
    """The template as shipped, created and published through the service."""
    shipped = template(key)
    assert shipped is not None
    view = await service.create_journey(name=shipped.name, definition=shipped.definition,
                                        template_key=key, now=at)
    published = await service.publish_journey(view.id, now=at)
    assert published.live_version == 1
    return view.id


async def tick(now: datetime) -> None:
    """What `loyalty worker` does within a poll interval, at `now`: the
    outbox into the stream, then the journeys (events, then due timers)."""
    await audience_worker.run_until_idle(now)
    await journeys_worker.run_until_idle(now)


async def member(first_name: str, locale: str = "fr-FR", *, opt_in: bool = True,
                 timezone: str = "Europe/Paris", phone: str | None = None) -> CardHolder:
    email = f"{first_name.lower()}-{uuid.uuid4().hex[:6]}@example.test"
    await identity.sign_up(email=email, password=PASSWORD, first_name=first_name,
                           locale=locale, timezone=timezone, marketing_opt_in=opt_in,
                           issue_card=issue_card)
    from wallet.models import Card

    card = await Card.get(customer__email=email)
    # A phone for SMS, and consent to location for the check-ins.
    await execute(connections.get("default"),
                  "UPDATE customer SET phone = $1, location_opt_in = $2 WHERE email = $3",
                  phone, True, email)
    return await resolve_card(None, card.number)


async def buy(holder: CardHolder, store_id: int, euros: int, receipt: str, *,
              channel: Channel = Channel.STORE, coupon: str | None = None) -> None:
    await purchases.record_purchase(purchases.RecordPurchase(
        idempotency_key=f"buy-{receipt}", customer_id=holder.customer_id,
        account_id=holder.account_id, store_id=store_id, receipt_id=receipt,
        total=Money(euros * 100, "EUR"), channel=channel, coupon_code=coupon))


async def behaviour(holder: CardHolder, name: str, at: datetime, **properties: Any) -> None:
    """A behavioural event as trackEvents stores it (audience.events.write_events)."""
    await write_events([StreamRow(f"app:{uuid.uuid4().hex}", name, "APP", at,
                                  holder.customer_id, None, json.dumps(properties))], at)


@dataclass(frozen=True)
class Received:
    channels: str
    title: str | None
    body: str


async def received(holder: CardHolder) -> list[Received]:
    """The journey messages queued for the customer, oldest first."""
    return [Received(n.channels, n.title, n.body) for n in await Notification.filter(
        customer_id=holder.customer_id, journey_id__not_isnull=True).order_by("id")]


async def run_of(journey_id: int, holder: CardHolder) -> list[tuple[Status, str]]:
    return [(r.status, r.step) for r in await JourneyRun.filter(
        journey_id=journey_id, customer_id=holder.customer_id).order_by("entry")]


async def coupons_of(holder: CardHolder) -> list[Coupon]:
    return await Coupon.filter(customer_id=holder.customer_id).order_by("id")


def day(moment: datetime, locale: str = "fr") -> str:
    return format_date(moment.astimezone(PARIS).date(), locale)


def days(moment: datetime, count: int) -> datetime:
    """`count` days after `moment` on the customers' (Paris) wall clock, as a
    journey's day-long waits count them across a daylight-saving change."""
    return (moment.astimezone(PARIS) + timedelta(days=count)).astimezone(UTC)


def same_instant(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1


# ---- durant_post_purchase ----------------------------------------------------


async def test_durant_thanks_surveys_rewards_and_converts_on_the_coupon(channels):
    t0 = datetime.now(UTC)
    journey = await publish("durant_post_purchase", t0 - timedelta(hours=1))
    web = await stores.create_store("Boutique en ligne", None, None, "Europe/Paris",
                                    kind=StoreKind.ONLINE)
    shop = await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")
    durant = await member("Durant")
    martin = await member("Martin", "en-GB")

    await buy(durant, web.id, 80, "W-1001", channel=Channel.WEB)
    await buy(martin, shop.id, 80, "S-2001")  # in a store: not this journey
    await tick(t0)
    [thanks] = await received(durant)
    assert thanks == Received(
        "EMAIL,PUSH,INBOX", "Merci pour votre commande",
        "Bonjour Durant, merci pour votre commande W-1001. Vous avez maintenant 80 points.")
    assert await received(martin) == []
    assert await run_of(journey, durant) == [(Status.WAITING, "later")]
    # The notification worker emails it (the local SMTP server receives it).
    box, _ = channels
    stats = await notify(100, now=noon_after(t0), settings=get_settings())
    assert stats.emailed == 1
    [mail] = box.messages
    email = (await Customer.get(id=durant.customer_id)).email
    assert (mail["To"], mail["Subject"]) == (email, "Merci pour votre commande")
    assert "merci pour votre commande W-1001" in mail.get_body(("plain",)).get_content()

    # Two weeks later, the survey invitation for that receipt.
    await tick(days(t0, 14) - timedelta(minutes=1))
    assert len(await received(durant)) == 1
    await tick(days(t0, 14))
    survey = (await received(durant))[1]
    assert (survey.channels, survey.title) == ("EMAIL,PUSH,INBOX", "Votre avis compte")
    assert survey.body.startswith("Durant, que pensez-vous de votre commande ? Répondez en "
                                  "une minute et recevez un bon de 10 % : "
                                  "https://shop.test/survey?t=")

    # The link answered (no sign-in): survey_submitted ends the wait.
    token = survey.body.rsplit("?t=", 1)[1]
    answered = await surveys.submit_survey_from_link(token=token, rating=5)
    assert answered.points_awarded == 0
    at = days(t0, 15)
    await tick(at)
    [coupon] = await coupons_of(durant)
    assert (coupon.title, coupon.benefit_kind, coupon.benefit_value, coupon.channels) == (
        "-10 % merci pour votre avis", "PERCENT_OFF", 10, "WEB,STORE")
    assert same_instant(coupon.expires_at, days(at, 30))
    # its expiry reminder is due three days before (the reminders job sends it)
    assert same_instant(coupon.remind_at, days(coupon.expires_at, -3))
    sent = (await received(durant))[2]
    assert sent == Received(
        "EMAIL,PUSH,INBOX", "Votre bon de 10 %",
        f"Merci Durant ! Votre code {coupon.code} vous donne 10 % en ligne ou en magasin "
        f"jusqu'au {day(coupon.expires_at)}.")
    assert await run_of(journey, durant) == [(Status.WAITING, "redeem")]

    # Spent at the store's till: coupon_redeemed is the goal.
    await buy(durant, shop.id, 40, "S-3001", coupon=coupon.code)
    await tick(days(at, 3))
    assert await run_of(journey, durant) == [(Status.CONVERTED, "redeem")]
    await tick(days(at, 40))
    assert len(await received(durant)) == 3
    assert len(await coupons_of(durant)) == 1


async def test_durant_without_an_answer_times_out_with_no_coupon(channels):
    t0 = datetime.now(UTC)
    journey = await publish("durant_post_purchase", t0 - timedelta(hours=1))
    web = await stores.create_store("Web", None, None, "Europe/Paris", kind=StoreKind.ONLINE)
    ann = await member("Ann", "en-GB")
    await buy(ann, web.id, 25, "W-7", channel=Channel.WEB)
    await tick(t0)
    await tick(days(t0, 14))
    await tick(days(t0, 21) - timedelta(minutes=1))
    assert await run_of(journey, ann) == [(Status.WAITING, "answered")]
    await tick(days(t0, 21))
    assert await run_of(journey, ann) == [(Status.COMPLETED, "end")]
    got = await received(ann)
    assert [(r.channels, r.title) for r in got] == [
        ("EMAIL,PUSH,INBOX", "Thank you for your order"),
        ("EMAIL,PUSH,INBOX", "Tell us what you think")]
    assert got[0].body == "Hello Ann, thank you for your order W-7. You now have 25 points."
    assert await coupons_of(ann) == []


# ---- cart_abandonment --------------------------------------------------------


async def _dwell(holder: CardHolder, fence: int, key: str) -> None:
    done = await check_in(holder.customer_id, idempotency_key=key, kind=CheckInKind.DWELL,
                          occurred_at=datetime.now(UTC) - timedelta(seconds=5),
                          geofence_id=fence, latitude=48.87, longitude=2.33,
                          accuracy_meters=15.0)
    assert done.visit is not None and done.visit.confirmed


async def test_cart_abandonment_email_push_then_an_sms_offer_near_a_store(channels):
    t0 = datetime.now(UTC)
    journey = await publish("cart_abandonment", t0 - timedelta(hours=1))
    opera = await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")
    fence = (await Geofence.get(store_id=opera.id)).id
    ann = await member("Ann")  # checks out within the hour
    bob = await member("Bob", phone="+33612345678")  # comes near a store
    cat = await member("Cat", "en-GB")  # neither
    for holder, cart in ((ann, "C-1"), (bob, "C-2"), (cat, "C-3")):
        await behaviour(holder, "cart_updated", t0, cartId=cart)
    await tick(t0)
    await behaviour(ann, "checkout_started", t0 + timedelta(minutes=20), cartId="C-1")
    await tick(t0 + timedelta(minutes=20))
    assert await run_of(journey, ann) == [(Status.COMPLETED, "end")]

    await tick(t0 + timedelta(hours=1))
    assert await received(ann) == []
    assert await received(bob) == [Received(
        "EMAIL,PUSH,INBOX", "Votre panier vous attend",
        "Bob, vos articles sont toujours dans votre panier.")]
    assert await received(cat) == [Received(
        "EMAIL,PUSH,INBOX", "Your basket is waiting", "Cat, your items are still in your basket.")]

    await tick(days(t0 + timedelta(hours=1), 1))
    assert (await received(bob))[1] == Received(
        "PUSH,INBOX", "Toujours tenté ?", "Votre panier est gardé au chaud, Bob.")
    assert (await received(cat))[1] == Received(
        "PUSH,INBOX", "Still thinking?", "We kept your basket, Cat.")
    assert await run_of(journey, bob) == [(Status.WAITING, "nearby")]

    # Bob's phone reports him dwelling at the Opéra store: an accepted visit.
    await _dwell(bob, fence, "dwell-1")
    at = days(t0, 2)
    await tick(at)
    [offer] = await coupons_of(bob)
    assert (offer.title, offer.benefit_value, offer.channels) == ("-10 % en magasin", 10, "STORE")
    assert same_instant(offer.expires_at, days(at, 2))
    texted = (await received(bob))[2]
    assert texted == Received(
        "SMS", "", f"Bob, vous êtes près de Opéra : -10 % sur votre panier avec le code "
                     f"{offer.code} jusqu'au {day(offer.expires_at)}.")
    assert await run_of(journey, bob) == [(Status.COMPLETED, "end")]
    # The notification worker texts it to Bob's phone (the fake provider).
    _, provider = channels
    await notify(100, now=noon_after(at), settings=get_settings())
    assert [(r.to, r.body) for r in provider.delivered()] == [("+33612345678", texted.body)]

    await tick(days(t0 + timedelta(hours=1), 8))
    assert await run_of(journey, cat) == [(Status.COMPLETED, "end")]
    assert len(await received(cat)) == 2 and await coupons_of(cat) == []
    assert len(await received(bob)) == 3 and len(await coupons_of(bob)) == 1


async def test_cart_abandonment_converts_on_a_purchase_after_the_email():
    t0 = datetime.now(UTC)
    journey = await publish("cart_abandonment", t0 - timedelta(hours=1))
    shop = await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")
    dan = await member("Dan")
    await behaviour(dan, "cart_updated", t0, cartId="C-9")
    await tick(t0)
    await tick(t0 + timedelta(hours=1))
    await buy(dan, shop.id, 30, "S-9")
    await tick(t0 + timedelta(hours=2))
    assert await run_of(journey, dan) == [(Status.CONVERTED, "day")]
    await tick(days(t0, 3))
    assert [r.title for r in await received(dan)] == ["Votre panier vous attend"]


# ---- second_product_view -----------------------------------------------------


async def test_the_second_view_of_a_product_earns_one_coupon_the_first_and_third_none():
    t0 = datetime.now(UTC)
    journey = await publish("second_product_view", t0 - timedelta(hours=1))
    eve = await member("Eve")
    await behaviour(eve, "product_viewed", t0, sku="SKU-1")
    await tick(t0)
    assert await run_of(journey, eve) == [(Status.COMPLETED, "end")]
    await behaviour(eve, "product_viewed", t0 + timedelta(hours=1), sku="SKU-2")  # another
    await tick(t0 + timedelta(hours=1))
    assert await received(eve) == [] and await coupons_of(eve) == []

    second = t0 + timedelta(hours=2)
    await behaviour(eve, "product_viewed", second, sku="SKU-1")
    await tick(second)
    [coupon] = await coupons_of(eve)
    assert (coupon.title, coupon.benefit_value, coupon.channels) == (
        "-15 % sur votre coup de cœur", 15, "WEB")
    assert same_instant(coupon.expires_at, days(second, 3))
    assert await received(eve) == [Received(
        "PUSH,INBOX,EMAIL", "Un petit coup de pouce",
        f"Eve, -15 % sur ce produit avec {coupon.code} jusqu'au {day(coupon.expires_at)}.")]
    runs = await run_of(journey, eve)
    assert runs[-1] == (Status.WAITING, "window")

    await tick(days(second, 3))
    assert (await run_of(journey, eve))[-1] == (Status.COMPLETED, "end")
    third = days(second, 3) + timedelta(hours=1)  # within the week of the first two
    await behaviour(eve, "product_viewed", third, sku="SKU-1")
    await tick(third)
    assert [s for s, _ in await run_of(journey, eve)] == [Status.COMPLETED] * 4
    assert len(await received(eve)) == 1 and len(await coupons_of(eve)) == 1


# ---- welcome_series ----------------------------------------------------------


async def test_welcome_series_welcome_how_at_ten_then_five_euros_without_a_purchase():
    t0 = datetime.now(UTC)
    journey = await publish("welcome_series", t0 - timedelta(hours=1))
    shop = await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")
    fay = await member("Fay")  # buys nothing
    gus = await member("Gus", "en-GB")  # buys within the week
    await tick(t0)
    assert await received(fay) == [Received(
        "EMAIL,PUSH,INBOX", "Bienvenue Fay",
        "Votre carte est prête : chaque achat, en ligne ou en magasin, vous rapporte des "
        "points.")]
    assert await received(gus) == [Received(
        "EMAIL,PUSH,INBOX", "Welcome Gus",
        "Your card is ready: every purchase, online or in store, earns you points.")]

    # Two days later, then the next 10:00 on the customer's (Paris) clock.
    two_days = days(t0, 2)
    await tick(two_days)
    local = two_days.astimezone(PARIS)
    ten = local.replace(hour=10, minute=0, second=0, microsecond=0)
    if ten <= local:
        ten += timedelta(days=1)
    ten_utc = ten.astimezone(UTC)
    await tick(ten_utc - timedelta(seconds=1))
    assert len(await received(fay)) == 1
    await tick(ten_utc)
    assert (await received(fay))[1] == Received(
        "PUSH,INBOX", "Comment gagner plus", "Vous avez 0 points.")

    await buy(gus, shop.id, 20, "S-77")
    await tick(ten_utc + timedelta(hours=1))
    assert await run_of(journey, gus) == [(Status.CONVERTED, "week")]

    gift_at = days(ten_utc, 5)
    await tick(gift_at)
    [gift] = await coupons_of(fay)
    assert (gift.title, gift.benefit_kind, gift.benefit_value, gift.channels) == (
        "5 € de bienvenue", "AMOUNT_OFF", 500, "STORE,WEB")
    assert same_instant(gift.expires_at, days(gift_at, 14))
    assert (await received(fay))[2] == Received(
        "EMAIL,PUSH,INBOX", "5 € pour votre premier achat",
        f"Fay, le code {gift.code} vous offre 5 € jusqu'au {day(gift.expires_at)}.")
    await tick(days(gift_at, 14))
    assert await run_of(journey, fay) == [(Status.COMPLETED, "end")]
    assert await coupons_of(gus) == []
    assert len(await received(gus)) == 2


# ---- win_back_at_risk --------------------------------------------------------


# (purchases of 10 EUR, days since the last) -> the RFM segment the real
# scoring job gives ten buyers: quintiles of two, R by recency, F by count.
SHAPES = [((5, 100), "AT_RISK"), ((5, 95), "AT_RISK"), ((6, 90), "AT_RISK"),
          ((6, 85), "AT_RISK"), ((1, 10), "PROMISING"), ((2, 12), "PROMISING"),
          ((3, 14), "ABOUT_TO_SLEEP"), ((4, 16), "ABOUT_TO_SLEEP"), ((7, 3), "CHAMPIONS"),
          ((8, 2), "CHAMPIONS")]
NAMES = ["Olga", "Omar", "Otto", "Oona", "Pia", "Paul", "Rita", "Rob", "Cleo", "Carl"]
ARMS = [Arm("coupon", 50, "coupon"), Arm("points", 50, "points")]


@dataclass(frozen=True)
class Buyer:
    holder: CardHolder
    name: str
    purchases: int
    segment: str
    arm: str  # the A/B arm (or the holdout) the journey's hash gives them


async def _rfm_population(shop: int, now: datetime, journey: int) -> list[Buyer]:
    """Ten buyers scored by the real RFM job, four of them AT_RISK: among
    those, one the journey's hash puts in each arm, so both arms run."""
    holders = [(await member(name), name) for name in NAMES]

    def arm(holder: CardHolder) -> str:
        if in_holdout(journey, holder.customer_id, 10):
            return HOLDOUT
        return assign_arm(journey, holder.customer_id, "ab", ARMS).name

    first = [next(h for h in holders if arm(h[0]) == name) for name in ("coupon", "points")]
    ordered = first + [h for h in holders if h not in first]
    buyers = []
    for (holder, name), ((count, ago), segment) in zip(ordered, SHAPES, strict=True):
        for n in range(count):
            await buy(holder, shop, 10, f"{name}-{n}")
        await execute(connections.get("default"),
                      "UPDATE purchase SET occurred_at = $1 WHERE customer_id = $2",
                      now - timedelta(days=ago), holder.customer_id)
        buyers.append(Buyer(holder, name, count, segment, arm(holder)))
    await scores.recompute(now)
    segments = {r[0]: r[1] for r in await fetch(
        connections.get("default"), "SELECT customer_id, rfm_segment FROM customer_score")}
    assert [segments[b.holder.customer_id] for b in buyers] == [b.segment for b in buyers]
    return buyers


async def test_win_back_enters_at_risk_customers_on_tuesday_at_ten_with_an_arm_each():
    t0 = datetime.now(UTC)
    shop = (await stores.create_store("Opéra", 48.87, 2.33, "Europe/Paris")).id
    journey = await publish("win_back_at_risk", t0)
    buyers = await _rfm_population(shop, t0, journey)
    local = t0.astimezone(PARIS)
    tuesday = (local + timedelta(days=(1 - local.weekday()) % 7 or 7)).replace(
        hour=10, minute=0, second=0, microsecond=0).astimezone(UTC)
    await tick(tuesday - timedelta(minutes=1))
    assert await JourneyRun.filter(journey_id=journey).count() == 0
    await tick(tuesday)

    at_risk = [b for b in buyers if b.segment == "AT_RISK"]
    for b in buyers:
        if b.segment != "AT_RISK":
            assert await run_of(journey, b.holder) == [] and await received(b.holder) == []
    for b in at_risk:
        run = (await JourneyRun.filter(journey_id=journey, customer_id=b.holder.customer_id))[0]
        got = await received(b.holder)
        assert run.arm == b.arm and run.status == Status.WAITING
        if b.arm == HOLDOUT:
            assert got == [] and await coupons_of(b.holder) == []
        elif b.arm == "coupon":
            [coupon] = await coupons_of(b.holder)
            assert (coupon.title, coupon.benefit_value, coupon.channels) == (
                "-20 % pour votre retour", 20, "STORE,WEB")
            assert same_instant(coupon.expires_at, days(tuesday, 14))
            assert got == [Received(
                "EMAIL,PUSH,INBOX", "Vous nous manquez",
                f"{b.name}, -20 % avec {coupon.code} jusqu'au {day(coupon.expires_at)}.")]
        else:
            assert got == [Received(
                "EMAIL,PUSH,INBOX", "200 points pour vous",
                f"{b.name}, 200 points offerts : vous en avez {10 * b.purchases + 200}.")]
            items = await history(b.holder.customer_id, 50, None)
            assert [(i.points, i.description) for i in items
                    if i.description == "Vous nous manquez"] == [(200, "Vous nous manquez")]
            assert await coupons_of(b.holder) == []
    assert {"coupon", "points"} <= {b.arm for b in at_risk}

    # Two weeks on, the runs are done; the next Tuesday enters nobody again
    # (re-entry after 90 days), however AT_RISK they still are.
    await tick(days(tuesday, 14))
    assert [(await run_of(journey, b.holder))[0][0] for b in at_risk] == \
        [Status.COMPLETED] * len(at_risk)
    before = [len(await received(b.holder)) for b in buyers]
    await tick(days(tuesday, 21))
    assert [len(await received(b.holder)) for b in buyers] == before
    assert await JourneyRun.filter(journey_id=journey).count() == len(at_risk)
    points = [b for b in at_risk if b.arm == "points"]
    for b in points:  # awarded once, however many passes ran
        items = await history(b.holder.customer_id, 50, None)
        assert sum(i.points for i in items if i.description == "Vous nous manquez") == 200

