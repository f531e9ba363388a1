"""The scheduled jobs' events become inbox rows and pushes, in the customer's
language and calendar (transactional: no marketing consent needed)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from loyalty import ledger
from loyalty.events import TierChanged
from loyalty.models import Coupon
from loyalty.platform.config import set_settings
from loyalty.platform.db import transaction
from loyalty.points.expiry import expire_due
from loyalty.points.reminders import write_reminders
from notifications.devices import register_device
from notifications.loop import run_forever
from notifications.models import Notification, Platform, Status
from notifications.worker import run_once
from tests.conftest import DATABASE_URL, settings_for
from tests.fakes.fixtures import fake_fcm, fake_fcm_server, notification_tables, sender
from tests.integration.test_expiry import buy, customer, rows, store

pytestmark = pytest.mark.usefixtures("notification_tables")
__all__ = ["fake_fcm", "fake_fcm_server", "notification_tables", "sender"]

NOON = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # noon in Paris


async def phone(customer_id: int) -> None:
    await register_device(customer_id, token=f"phone-{customer_id}", platform=Platform.IOS)


async def messages(customer_id: int) -> list[tuple[str, str, str]]:
    """The customer's messages but those of the purchases that set the test up."""
    found = await Notification.filter(customer_id=customer_id).exclude(
        kind="points.earned").order_by("id")
    return [(n.kind, n.title, n.body) for n in found]


def pushed(fake_fcm) -> list[str]:
    return [s.body for s in fake_fcm.delivered() if s.data.get("kind") != "points.earned"]


async def tier_changed(customer_id: int, before: str | None, after: str | None,
                       direction: str) -> None:
    async with transaction() as conn:
        await ledger.emit(conn, customer_id,
                          TierChanged(from_tier=before, to_tier=after, direction=direction))


async def test_tier_changes_become_pushed_messages(sender, fake_fcm):
    # given a French and an English customer, each with a phone
    marie = await customer("marie@example.test", first_name="Marie")
    john = await customer("john@example.test", first_name="John", locale="en-GB",
                          timezone="Europe/London")
    await phone(marie.customer_id)
    await phone(john.customer_id)
    # when tiers move up, down and away
    await tier_changed(marie.customer_id, "Silver", "Gold", "up")
    await tier_changed(john.customer_id, "Gold", "Silver", "down")
    await tier_changed(john.customer_id, "Silver", None, "down")
    stats = await run_once(100, now=NOON, sender=sender)
    # then each is an inbox row, pushed
    assert stats.created == 3
    assert await messages(marie.customer_id) == [
        ("tier.changed", "Bienvenue au niveau Gold",
         "Félicitations Marie, vous êtes désormais Gold.")]
    assert await messages(john.customer_id) == [
        ("tier.changed", "Your tier is now Silver", "John, your tier is now Silver."),
        ("tier.changed", "Your Silver status has ended",
         "John, earn points to reach a tier again.")]
    assert await Notification.filter(status=Status.SENT).count() == 3
    assert {s.title for s in fake_fcm.delivered()} == {
        "Bienvenue au niveau Gold", "Your tier is now Silver", "Your Silver status has ended"}


async def test_an_expiry_reminder_names_the_customers_own_day(sender, fake_fcm):
    # given 150 points expiring at 23:30 UTC on 1 December: 2 December in Paris
    marie = await customer("marie@example.test", first_name="Marie")
    await phone(marie.customer_id)
    shop = await store()
    await buy(marie, shop, 100, key="a")
    await buy(marie, shop, 50, key="b")
    await rows("UPDATE lot SET expires_at = $1", datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    # when the reminder job runs, then the worker
    assert await write_reminders(NOON - timedelta(hours=2)) == 1
    await run_once(100, now=NOON, sender=sender)
    # then one message, in French, with the Paris date
    assert await messages(marie.customer_id) == [
        ("points.expiring", "Vos points expirent bientôt",
         "Marie, 150 points expirent le 2 décembre : utilisez-les d'ici là")]
    assert pushed(fake_fcm) == [
        "Marie, 150 points expirent le 2 décembre : utilisez-les d'ici là"]


async def test_expired_points_and_an_expiring_coupon_are_messages_too(sender, fake_fcm):
    john = await customer("john@example.test", first_name="John", locale="en",
                          timezone="Europe/London")
    await phone(john.customer_id)
    shop = await store()
    await buy(john, shop, 1200, key="a")
    await buy(john, shop, 300, key="b")
    first_lot = (await rows("SELECT MIN(id) FROM lot"))[0][0]
    await rows("UPDATE lot SET expires_at = $1 WHERE id = $2", NOON - timedelta(days=1),
               first_lot)
    await Coupon.create(code="SOON", customer_id=john.customer_id, title="A free coffee",
                        benefit_kind="AMOUNT_OFF", benefit_value=250,
                        expires_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    assert await expire_due(NOON) == 1200
    assert await write_reminders(NOON) == 1
    await run_once(100, now=NOON, sender=sender)
    assert await messages(john.customer_id) == [
        ("points.expired", "1,200 points expired",
         "John, 1,200 points reached their expiry date. You have 300 points."),
        ("coupon.expiring", "Your coupon expires soon",
         "John, A free coffee expires on 30 November: use it before then")]
    assert len(pushed(fake_fcm)) == 2


async def test_the_worker_runs_the_jobs_on_its_interval_and_delivers_their_events(sender,
                                                                                  fake_fcm):
    # given points that expired an hour ago, and a worker running the jobs often
    set_settings(settings_for(DATABASE_URL, jobs_interval_seconds=0.05,
                              worker_poll_seconds=0.05))
    marie = await customer("marie@example.test", first_name="Marie")
    await phone(marie.customer_id)
    shop = await store()
    await buy(marie, shop, 80, key="a")
    await rows("UPDATE lot SET expires_at = $1", datetime.now(UTC) - timedelta(hours=1))
    stop = asyncio.Event()
    worker = asyncio.create_task(run_forever(stop, sender=sender))
    try:
        # when it has had time for a pass or two
        for _ in range(200):
            if await messages(marie.customer_id):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    # then the points expired and the customer was told, once
    assert await messages(marie.customer_id) == [
        ("points.expired", "80 points expirés",
         "Marie, 80 points ont atteint leur date d'expiration. Il vous en reste 0.")]


async def test_passes_side_by_side_deliver_each_message_once(sender, fake_fcm):
    # given 12 customers with a phone, each told about a purchase, and FCM slow
    # enough that passes overlap
    set_settings(settings_for(DATABASE_URL, worker_poll_seconds=0.05))
    fake_fcm.delay = 0.02
    shop = await store()
    people = [await customer(f"c{i}@example.test", first_name=f"C{i}") for i in range(12)]
    for i, person in enumerate(people):
        await phone(person.customer_id)
        await buy(person, shop, 10 + i, key=f"k{i}")
    stop = asyncio.Event()
    # when one worker runs three passes at once, in batches of 2
    worker = asyncio.create_task(run_forever(stop, batch_size=2, sender=sender, concurrency=3))
    try:
        for _ in range(400):
            if len(fake_fcm.delivered()) >= 12:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # time for a duplicate to show, were there one
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    # then every purchase was pushed to its phone once, with one inbox row
    tokens = sorted(s.token for s in fake_fcm.delivered())
    assert tokens == sorted(f"phone-{p.customer_id}" for p in people)
    assert await Notification.filter(kind="points.earned").count() == 12
    assert await Notification.filter(status=Status.SENT).count() == 12
