"""The outbox consumer with the real firebase-admin against a local fake FCM."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from loyalty.platform.sql import execute
from notifications.devices import register_device
from notifications.models import Delivery, Device, Notification, Platform, Status
from notifications.preferences import update_preferences
from notifications.worker import run_once
from tests.api.test_pos import buy
from tests.conftest import settings_for
from tests.fakes.fixtures import fake_fcm, fake_fcm_server, notification_tables, sender

pytestmark = pytest.mark.usefixtures("notification_tables")
__all__ = ["fake_fcm", "fake_fcm_server", "notification_tables", "sender"]

# 23:30 in Paris (winter, UTC+1).
LATE = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)
NOON = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


async def phone(customer_id: int, token: str) -> None:
    await register_device(customer_id, token=token, platform=Platform.IOS)


async def only(customer_id: int) -> Notification:
    rows = await Notification.filter(customer_id=customer_id)
    assert len(rows) == 1
    return rows[0]


async def test_a_purchase_becomes_one_inbox_row_and_one_push_per_active_device(
    gql, shop, alice, bob, sender, fake_fcm
):
    await phone(alice.id, "alice-phone")
    await phone(alice.id, "alice-tablet")
    await phone(bob.id, "bob-phone")
    await buy(gql, shop, alice, 1450_00)
    stats = await run_once(100, now=NOON, sender=sender)
    # the purchase, and alice's and bob's sign-ups (customer.signed_up: no message)
    assert (stats.events, stats.created, stats.pushed) == (3, 1, 1)
    note = await only(alice.id)
    assert note.status == Status.SENT and note.sent_at == NOON and note.attempts == 1
    assert note.title == "+1\u202f450 points"
    assert note.body == "Alice, +1\u202f450 points à Opéra, 1\u202f450 au total"
    pushed = fake_fcm.delivered()
    assert sorted(s.token for s in pushed) == ["alice-phone", "alice-tablet"]
    assert {(s.title, s.body) for s in pushed} == {(note.title, note.body)}
    assert pushed[0].data == {"kind": "points.earned", "notificationId": str(note.id),
                              "link": "loyalty://history"}
    assert await Delivery.filter(notification_id=note.id, status="sent").count() == 2
    assert await Notification.filter(customer_id=bob.id).count() == 0


async def test_running_twice_or_replaying_an_event_never_doubles(gql, shop, alice, sender,
                                                                 fake_fcm):
    await phone(alice.id, "alice-phone")
    await buy(gql, shop, alice, 10_00)
    await run_once(100, now=NOON, sender=sender)
    second = await run_once(100, now=NOON + timedelta(hours=1), sender=sender)
    assert (second.events, second.created, second.pushed) == (0, 0, 0)
    # An event processed again (a worker died before its commit was seen)
    # finds its inbox row already there.
    await execute(connections.get("default"), "UPDATE outbox_event SET processed_at = NULL")
    replay = await run_once(100, now=NOON + timedelta(hours=2), sender=sender)
    assert (replay.events, replay.created) == (2, 0)  # the purchase and the sign-up
    assert await Notification.filter(customer_id=alice.id).count() == 1
    assert len(fake_fcm.delivered()) == 1


async def test_opted_out_customers_get_the_inbox_only(gql, shop, alice, sender, fake_fcm):
    await phone(alice.id, "alice-phone")
    await update_preferences(alice.id, push_opt_in=False)
    await buy(gql, shop, alice, 10_00)
    await run_once(100, now=NOON, sender=sender)
    note = await only(alice.id)
    assert (note.status, note.reason) == (Status.INBOX, "push opt-out")
    assert fake_fcm.sent == []


async def test_without_credentials_messages_reach_the_inbox_only(gql, shop, alice):
    await phone(alice.id, "alice-phone")
    await buy(gql, shop, alice, 10_00)
    stats = await run_once(100, now=NOON)
    note = await only(alice.id)
    assert (note.status, note.reason) == (Status.INBOX, "no push credentials")
    assert stats.inbox_only == 1


async def test_quiet_hours_defer_to_the_end_of_the_window_never_drop(gql, shop, alice, sender,
                                                                     fake_fcm):
    await phone(alice.id, "alice-phone")
    await update_preferences(alice.id, quiet_hours_start="22:00", quiet_hours_end="08:00")
    await buy(gql, shop, alice, 10_00)
    await run_once(100, now=LATE, sender=sender)
    note = await only(alice.id)
    end = datetime(2026, 1, 16, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    assert (note.status, note.next_attempt_at) == (Status.DEFERRED, end)
    assert fake_fcm.sent == []
    await run_once(100, now=end - timedelta(minutes=1), sender=sender)
    assert fake_fcm.sent == []
    await run_once(100, now=end, sender=sender)
    note = await only(alice.id)
    assert note.status == Status.SENT and note.sent_at == end
    assert [s.token for s in fake_fcm.delivered()] == ["alice-phone"]


async def test_unregistered_token_is_disabled_and_not_used_again(gql, shop, alice, sender,
                                                                 fake_fcm):
    await phone(alice.id, "dead-phone")
    await phone(alice.id, "alice-phone")
    fake_fcm.script("dead-phone", "unregistered")
    await buy(gql, shop, alice, 10_00)
    await run_once(100, now=NOON, sender=sender)
    dead = await Device.get(token="dead-phone")
    assert (dead.push_enabled, dead.disabled_reason) == (False, "UNREGISTERED")
    assert (await only(alice.id)).status == Status.SENT
    await buy(gql, shop, alice, 10_00)
    await run_once(100, now=NOON, sender=sender)
    assert [s.token for s in fake_fcm.sent].count("dead-phone") == 1
    # Registering the token again (the app reinstalled) re-enables it.
    await phone(alice.id, "dead-phone")
    assert (await Device.get(token="dead-phone")).push_enabled is True


async def test_a_message_to_a_single_invalid_token_fails_with_its_reason(gql, shop, alice,
                                                                          sender, fake_fcm):
    await phone(alice.id, "bad-token")
    fake_fcm.script("bad-token", "invalid")
    await buy(gql, shop, alice, 10_00)
    await run_once(100, now=NOON, sender=sender)
    note = await only(alice.id)
    assert (note.status, note.reason) == (Status.FAILED, "INVALID_ARGUMENT")
    assert (await Device.get(token="bad-token")).disabled_reason == "INVALID_ARGUMENT"


async def test_unavailable_is_retried_with_backoff_then_delivered(gql, shop, alice, sender,
                                                                  fake_fcm):
    await phone(alice.id, "alice-phone")
    fake_fcm.script("alice-phone", "unavailable")
    await buy(gql, shop, alice, 10_00)
    stats = await run_once(100, now=NOON, sender=sender)
    assert stats.retried == 1
    note = await only(alice.id)
    assert (note.status, note.reason, note.attempts) == (Status.QUEUED, "UNAVAILABLE", 1)
    # First back-off: 30 s with jitter into [15, 30] s.
    assert NOON + timedelta(seconds=15) <= note.next_attempt_at <= NOON + timedelta(seconds=30)
    await run_once(100, now=NOON + timedelta(seconds=31), sender=sender)
    note = await only(alice.id)
    assert (note.status, note.attempts) == (Status.SENT, 2)
    assert [s.answer for s in fake_fcm.sent] == ["unavailable", "ok"]


async def test_429_honours_retry_after(gql, shop, alice, sender, fake_fcm):
    await phone(alice.id, "alice-phone")
    fake_fcm.script("alice-phone", "quota")
    fake_fcm.retry_after = 600
    await buy(gql, shop, alice, 10_00)
    await run_once(100, now=NOON, sender=sender)
    note = await only(alice.id)
    assert note.status == Status.QUEUED and note.reason == "QUOTA_EXCEEDED"
    assert note.next_attempt_at >= NOON + timedelta(seconds=600)
    await run_once(100, now=NOON + timedelta(seconds=300), sender=sender)
    assert len(fake_fcm.sent) == 1
    await run_once(100, now=NOON + timedelta(seconds=601), sender=sender)
    assert (await only(alice.id)).status == Status.SENT


async def test_a_message_that_keeps_failing_ends_failed_with_its_reason(gql, shop, alice, sender,
                                                                         fake_fcm):
    settings = settings_for("unused", push_max_attempts=3)
    await phone(alice.id, "alice-phone")
    fake_fcm.script("alice-phone", "internal", "internal", "internal", "ok")
    await buy(gql, shop, alice, 10_00)
    now = NOON
    for _ in range(3):
        await run_once(100, now=now, sender=sender, settings=settings)
        now += timedelta(hours=2)
    note = await only(alice.id)
    assert (note.status, note.reason, note.attempts) == (Status.FAILED, "INTERNAL", 3)
    await run_once(100, now=now, sender=sender, settings=settings)
    assert len(fake_fcm.sent) == 3


async def test_an_oauth_failure_fails_the_batch_and_is_retried(gql, shop, alice, sender,
                                                               fake_fcm):
    await phone(alice.id, "alice-phone")
    fake_fcm.oauth_fails = 1
    await buy(gql, shop, alice, 10_00)
    await run_once(100, now=NOON, sender=sender)
    note = await only(alice.id)
    assert note.status == Status.QUEUED and note.sent_at is None
    assert "OAuth" in (note.reason or "")
    assert fake_fcm.sent == [] and fake_fcm.token_requests == 1
    assert await Delivery.filter(notification_id=note.id).count() == 0
    await run_once(100, now=NOON + timedelta(minutes=5), sender=sender)
    assert (await only(alice.id)).status == Status.SENT
    assert len(fake_fcm.delivered()) == 1


async def test_concurrent_workers_share_the_work_without_doubling(gql, shop, alice, sender,
                                                                  fake_fcm):
    await phone(alice.id, "alice-phone")
    for _ in range(12):
        await buy(gql, shop, alice, 10_00)
    totals = []
    for _ in range(10):
        runs = await asyncio.gather(*[run_once(3, now=NOON, sender=sender) for _ in range(3)])
        totals.extend(runs)
        if not any(r.busy for r in runs):
            break
    assert sum(r.events for r in totals) == 13  # and alice's sign-up
    assert sum(r.created for r in totals) == 12
    assert sum(r.pushed for r in totals) == 12
    assert await Notification.filter(customer_id=alice.id, status=Status.SENT).count() == 12
    ids = [s.data["notificationId"] for s in fake_fcm.delivered()]
    assert len(ids) == len(set(ids)) == 12
