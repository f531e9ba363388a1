"""The push pipeline under faults: a poison outbox event, a batch that fails
half-way, a worker slower than its lease, a sender that loses outcomes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import connections

from loyalty import ledger
from loyalty.events import CampaignMessage, PointsEarned
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, is_pg
from notifications import delivery
from notifications.devices import register_device
from notifications.models import Delivery, Notification, Platform, Status
from notifications.outcomes import NO_OUTCOME
from notifications.policy import Policy
from notifications.preferences import update_preferences
from notifications.push import FirebaseSender, PushMessage, PushOutcome
from notifications.stats import RunStats
from notifications.worker import run_once
from tests.fakes.fixtures import fake_fcm, fake_fcm_server, notification_tables, sender

pytestmark = pytest.mark.usefixtures("notification_tables")
__all__ = ["fake_fcm", "fake_fcm_server", "notification_tables", "sender"]

NOON = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)
LATE = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 23:30 in Paris

INBOX = "query { me { notifications(first: 10) { edges { node { status statusReason } } } } }"


async def phone(customer_id: int, token: str) -> None:
    await register_device(customer_id, token=token, platform=Platform.IOS)


async def campaign(customer_id: int, title: str, body: str) -> None:
    async with transaction() as conn:
        await ledger.emit(conn, customer_id, CampaignMessage(campaign_id=1, title=title,
                                                             body=body))


async def bad_event(kind: str, customer_id: int, payload: str) -> None:
    """A row no producer writes any more: a payload that is not its kind's."""
    await execute(connections.get("default"),
                  "INSERT INTO outbox_event (kind, customer_id, payload, created_at, attempts) "
                  "VALUES ($1, $2, $3, $4, 0)", kind, customer_id, payload, NOON)


async def earned(customer_id: int, points: int) -> None:
    async with transaction() as conn:
        await ledger.emit(conn, customer_id, PointsEarned(
            points=points, balance=points, store_name="Opéra", channel="STORE"))


async def outbox() -> list[tuple[Any, ...]]:
    rows = await fetch(
        connections.get("default"),
        "SELECT kind, attempts, processed_at IS NOT NULL, last_error FROM outbox_event ORDER BY id",
    )
    return [tuple(r) for r in rows]


async def only(customer_id: int) -> Notification:
    rows = await Notification.filter(customer_id=customer_id)
    assert len(rows) == 1
    return rows[0]


# -- (a) a poison event -------------------------------------------------------


async def test_nested_in_transaction_is_a_savepoint_on_this_database(database):
    """What the claim relies on: a failed statement in a nested in_transaction
    rolls back to its savepoint, and the outer transaction goes on and commits
    (on PostgreSQL a failed statement would otherwise abort the transaction)."""
    conn = connections.get("default")
    async with transaction() as outer:
        await execute(outer, "CREATE TABLE IF NOT EXISTS sp_probe (id INTEGER PRIMARY KEY)")
        await execute(outer, "DELETE FROM sp_probe")
        await execute(outer, "INSERT INTO sp_probe (id) VALUES (1)")
        with pytest.raises(Exception):  # noqa: B017 (each driver raises its own kind)
            async with transaction() as inner:
                await execute(inner, "INSERT INTO sp_probe (id) VALUES (2)")
                await execute(inner, "INSERT INTO sp_probe (id) VALUES (1)")  # duplicate key
        await execute(outer, "INSERT INTO sp_probe (id) VALUES (3)")
    rows = await fetch(conn, "SELECT id FROM sp_probe ORDER BY id")
    await execute(conn, "DROP TABLE sp_probe")
    assert [r[0] for r in rows] == [1, 3]


async def test_an_event_that_fails_its_claim_does_not_block_the_others(alice, caplog):
    await update_preferences(alice.id, marketing_opt_in=True)
    await earned(alice.id, 10)
    await bad_event("campaign.message", alice.id,
                    '{"campaign_id": 1, "body": "no title: a bad payload"}')
    await earned(alice.id, 20)
    policy = Policy(outbox_max_attempts=3)
    stats = await run_once(100, now=NOON, policy=policy)
    # alice's sign-up first (customer.signed_up: no message)
    assert (stats.events, stats.created, stats.event_errors) == (4, 2, 1)
    assert await Notification.filter(customer_id=alice.id).count() == 2
    kind, attempts, processed, error = (await outbox())[2]
    assert (kind, attempts, processed) == ("campaign.message", 1, False)
    assert error == "BadEvent: campaign.message: title is missing"
    # Retried on the next passes, then set aside as dead with its error, logged.
    for _ in range(2):
        await run_once(100, now=NOON, policy=policy)
    assert (await outbox())[2] == ("campaign.message", 3, True,
                                   "BadEvent: campaign.message: title is missing")
    assert "is dead after 3 attempts" in caplog.text
    after = await run_once(100, now=NOON, policy=policy)
    assert (after.events, after.event_errors) == (0, 0)
    assert [row[1:3] for row in await outbox()] == [(1, True), (1, True), (3, True),
                                                    (1, True)]


async def test_a_payload_that_is_not_an_object_fails_only_its_event(alice):
    # given a points event whose payload is a JSON list, between two good ones
    await earned(alice.id, 10)
    async with transaction() as conn:
        await execute(conn, "INSERT INTO outbox_event (kind, customer_id, payload, created_at, "
                      "attempts) VALUES ($1, $2, $3, $4, 0)",
                      "points.earned", alice.id, "[1, 2]", NOON)
    await earned(alice.id, 20)
    # when the worker claims them, then only that one fails
    stats = await run_once(100, now=NOON)
    assert (stats.events, stats.created, stats.event_errors) == (4, 2, 1)  # and the sign-up
    assert (await outbox())[2][3].startswith("BadEvent: an event payload must be an object")


def test_five_claim_attempts_by_default():
    assert Policy().outbox_max_attempts == 5


async def _refuse_title(title: str) -> str:
    """A trigger that makes the database itself refuse one inbox row: the
    failure then happens inside the transaction, not in Python."""
    conn = connections.get("default")
    if is_pg(conn):
        await conn.execute_script(
            "CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.title = '{title}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql; "
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON notification "
            "FOR EACH ROW EXECUTE FUNCTION refuse_poison();"
        )
        return "DROP TRIGGER refuse_poison ON notification; DROP FUNCTION refuse_poison();"
    await conn.execute_script(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON notification "
        f"WHEN NEW.title = '{title}' BEGIN SELECT RAISE(ABORT, 'refused'); END;"
    )
    return "DROP TRIGGER refuse_poison;"


async def test_an_insert_the_database_refuses_fails_only_its_own_event(alice, bob):
    await update_preferences(alice.id, marketing_opt_in=True)
    await update_preferences(bob.id, marketing_opt_in=True)
    await campaign(alice.id, "Sale", "-20%")
    await campaign(bob.id, "Poison", "refused by the database")
    await campaign(bob.id, "Sale", "-20%")
    drop = await _refuse_title("Poison")
    try:
        stats = await run_once(100, now=NOON, policy=Policy(marketing_daily_cap=10))
    finally:
        await connections.get("default").execute_script(drop)
    # and alice's and bob's sign-ups (customer.signed_up: no message)
    assert (stats.events, stats.created, stats.event_errors) == (5, 2, 1)
    assert await Notification.filter(customer_id=alice.id).count() == 1
    assert await Notification.filter(customer_id=bob.id, title="Sale").count() == 1
    rows = await outbox()
    assert [r[2] for r in rows] == [True, True, True, False, True]
    assert "refused" in rows[3][3]


# -- (b) a batch that fails after its first chunk ----------------------------------


async def test_chunks_sent_before_a_failing_one_are_recorded_not_sent_again(
    alice, bob, sender: FirebaseSender, fake_fcm, monkeypatch
):
    await phone(bob.id, "bob-phone")
    await phone(alice.id, "alice-phone")
    await earned(bob.id, 10)
    await earned(alice.id, 20)
    # One message per chunk; the OAuth token expires after the first one and
    # the token endpoint is down when it is fetched again.
    monkeypatch.setattr(delivery, "SEND_CHUNK", 1, raising=False)
    monkeypatch.setattr("notifications.push.SEND_CHUNK", 1)
    ensure = sender._ensure_token
    checks = 0

    async def expiring() -> None:
        nonlocal checks
        checks += 1
        if checks == 2:
            sender._credential.expiry = datetime(2000, 1, 1)
            fake_fcm.oauth_fails = 1
        await ensure()

    monkeypatch.setattr(sender, "_ensure_token", expiring)
    stats = await run_once(100, now=NOON, sender=sender)
    assert (stats.pushed, stats.retried) == (1, 1)
    assert (await only(bob.id)).status == Status.SENT
    late = await only(alice.id)
    assert late.status == Status.QUEUED and "OAuth" in (late.reason or "")
    await run_once(100, now=NOON + timedelta(hours=1), sender=sender)
    assert (await only(alice.id)).status == Status.SENT
    assert fake_fcm.per_token() == {"bob-phone": 1, "alice-phone": 1}


# -- (c) a worker slower than its lease --------------------------------------------


class Gated:
    """The real sender, whose answer reaches the worker only when released:
    a send slower than the lease."""

    def __init__(self, real: FirebaseSender) -> None:
        self.real = real
        self.sent = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, messages: list[PushMessage]) -> list[PushOutcome]:
        outcomes = await self.real.send(messages)
        self.sent.set()
        await self.release.wait()
        return outcomes

    async def close(self) -> None:
        pass


async def taken_over(sender: FirebaseSender) -> RunStats:
    """A first worker sends and waits for FCM's answer past its 60 s lease; a
    second takes its messages over and pushes them (one); then the first gets
    its answer. The first worker's stats."""
    slow = Gated(sender)
    lease = Policy(lease_seconds=60)
    first = asyncio.create_task(run_once(100, now=NOON, sender=slow, policy=lease))
    await asyncio.wait_for(slow.sent.wait(), 10)
    second = await run_once(100, now=NOON + timedelta(seconds=120), sender=sender, policy=lease)
    assert second.pushed == 1
    slow.release.set()
    return await first


async def test_a_worker_that_lost_its_lease_does_not_overwrite_the_outcome(
    alice, sender: FirebaseSender, fake_fcm
):
    await phone(alice.id, "alice-phone")
    fake_fcm.script("alice-phone", "unavailable", "ok")
    await earned(alice.id, 10)
    # The lease ran out while the first worker waits for FCM: a second one
    # takes the message over, sends it and records its outcome.
    stale = await taken_over(sender)
    assert (stale.pushed, stale.retried, stale.failed) == (0, 0, 0)
    note = await only(alice.id)
    assert (note.status, note.attempts, note.next_attempt_at) == (Status.SENT, 1, None)
    row = await Delivery.get(notification_id=note.id)
    assert (row.status, row.error) == ("sent", None)
    assert [s.answer for s in fake_fcm.sent] == ["unavailable", "ok"]
    assert row.message_id and row.message_id.endswith("/2")


async def test_a_worker_that_lost_its_lease_sends_none_of_the_rest_of_that_message(
    alice, sender: FirebaseSender, fake_fcm, monkeypatch
):
    # given one message for two phones, sent one phone per chunk
    monkeypatch.setattr(delivery, "SEND_CHUNK", 1)
    await phone(alice.id, "alice-phone")
    await phone(alice.id, "alice-tablet")
    await earned(alice.id, 10)
    # when another worker takes it over while the first waits on its first chunk
    await taken_over(sender)
    # then the first sends nothing more of it: only its in-flight copy doubled
    assert fake_fcm.per_token() == {"alice-phone": 2, "alice-tablet": 1}
    note = await only(alice.id)
    assert note.status == Status.SENT
    assert sorted(d.status for d in await Delivery.filter(notification_id=note.id)) == [
        "sent", "sent"]


class Slow:
    """The real sender, each call `delay` seconds late; `calls` counts them."""

    def __init__(self, real: FirebaseSender, delay: float) -> None:
        self.real, self.delay = real, delay
        self.calls = 0
        self.third = asyncio.Event()

    async def send(self, messages: list[PushMessage]) -> list[PushOutcome]:
        self.calls += 1
        if self.calls == 3:
            self.third.set()
        await asyncio.sleep(self.delay)
        return await self.real.send(messages)

    async def close(self) -> None:
        pass


async def test_a_long_send_renews_its_lease_chunk_by_chunk(
    alice, sender: FirebaseSender, fake_fcm, monkeypatch
):
    # given three messages sent one per chunk, each chunk 0.45 s, a 1.5 s lease
    monkeypatch.setattr(delivery, "SEND_CHUNK", 1)
    await phone(alice.id, "alice-phone")
    for points in (10, 20, 30):
        await earned(alice.id, points)
    lease = Policy(lease_seconds=1.5)
    slow = Slow(sender, 0.45)
    first = asyncio.create_task(run_once(100, now=NOON, sender=slow, policy=lease))
    await asyncio.wait_for(slow.third.wait(), 10)
    # when another worker looks past the first deadline (NOON + 1.5 s) while
    # the third chunk is still on its way
    second = await run_once(
        100, now=NOON + timedelta(seconds=1.8), sender=sender, policy=lease
    )
    # then the lease was renewed past half of it: nothing is due for the other
    assert (second.pushed, second.retried) == (0, 0)
    stats = await first
    assert stats.pushed == 3
    assert fake_fcm.per_token() == {"alice-phone": 3}
    notes = await Notification.filter(customer_id=alice.id)
    assert sorted(n.status for n in notes) == [Status.SENT] * 3


async def test_a_send_that_outlives_its_lease_stops_before_the_next_chunk(
    alice, sender: FirebaseSender, fake_fcm, monkeypatch
):
    # given two messages, one per chunk, and a first chunk slower than the lease
    monkeypatch.setattr(delivery, "SEND_CHUNK", 1)
    await phone(alice.id, "alice-phone")
    await earned(alice.id, 10)
    await earned(alice.id, 20)
    lease = Policy(lease_seconds=0.4)
    stalled = await run_once(100, now=NOON, sender=Slow(sender, 0.6), policy=lease)
    # then the first is recorded (no one took it over), the second not sent:
    # by then it may be another worker's
    assert stalled.pushed == 1
    assert fake_fcm.per_token() == {"alice-phone": 1}
    statuses = sorted(n.status for n in await Notification.filter(customer_id=alice.id))
    assert statuses == [Status.QUEUED, Status.SENT]
    # and the next worker sends it, once
    later = await run_once(100, now=NOON + timedelta(seconds=5), sender=sender, policy=lease)
    assert later.pushed == 1
    assert fake_fcm.per_token() == {"alice-phone": 2}


# -- (d) a sender that returns fewer outcomes than messages ----------------------


class Forgetful:
    """The real sender, but the last outcome of each call is lost (a bug)."""

    def __init__(self, real: FirebaseSender) -> None:
        self.real = real

    async def send(self, messages: list[PushMessage]) -> list[PushOutcome]:
        return (await self.real.send(messages))[:-1]

    async def close(self) -> None:
        pass


async def test_messages_without_an_outcome_are_retried_not_failed(
    alice, bob, sender: FirebaseSender, fake_fcm, caplog
):
    await phone(alice.id, "alice-phone")
    await phone(bob.id, "bob-phone")
    await earned(alice.id, 10)
    await earned(bob.id, 20)
    stats = await run_once(100, now=NOON, sender=Forgetful(sender))
    assert (stats.pushed, stats.retried, stats.failed) == (1, 1, 0)
    assert "returned 1 outcomes for 2 messages" in caplog.text
    assert (await only(alice.id)).status == Status.SENT
    lost = await only(bob.id)
    assert (lost.status, lost.reason) == (Status.QUEUED, NO_OUTCOME)
    await run_once(100, now=NOON + timedelta(hours=1), sender=sender)
    assert (await only(bob.id)).status == Status.SENT
    # FCM got bob's message twice (the first copy's fate was unknown); the
    # phone shows it once, the second copy replacing the first.
    assert fake_fcm.per_token() == {"alice-phone": 1, "bob-phone": 2}
    assert len([key for key in fake_fcm.shown() if key[0] == "bob-phone"]) == 1


# -- (e) the inbox row's status in GraphQL ----------------------------------------


async def test_the_inbox_shows_each_message_status(gql, alice, sender, fake_fcm):
    await phone(alice.id, "alice-phone")
    fake_fcm.script("alice-phone", "ok", "invalid")
    await earned(alice.id, 10)
    await run_once(100, now=NOON, sender=sender)  # sent
    await earned(alice.id, 20)
    await run_once(100, now=NOON, sender=sender)  # failed: the token is dead
    await earned(alice.id, 30)
    await run_once(100, now=NOON, sender=sender)  # inbox only: no device left
    await phone(alice.id, "alice-tablet")
    await update_preferences(alice.id, quiet_hours_start="22:00", quiet_hours_end="08:00")
    await earned(alice.id, 40)
    await run_once(100, now=LATE, sender=sender)  # pending: quiet hours
    edges = (await gql(INBOX, token=alice.token))["me"]["notifications"]["edges"]
    assert [(e["node"]["status"], e["node"]["statusReason"]) for e in edges] == [
        ("PENDING", "quiet hours"),
        ("INBOX_ONLY", "no device"),
        ("FAILED", "INVALID_ARGUMENT"),
        ("SENT", None),
    ]


# -- (f) a device in another language than its customer --------------------------


async def test_a_device_gets_the_push_in_its_own_locale(alice, sender, fake_fcm):
    # Alice signed up in French; her tablet is set to English, her phone to nothing.
    await register_device(alice.id, token="alice-tablet", platform=Platform.IOS, locale="en-GB")
    await phone(alice.id, "alice-phone")
    await earned(alice.id, 1450)
    await run_once(100, now=NOON, sender=sender)
    texts = {s.token: (s.title, s.body) for s in fake_fcm.delivered()}
    assert texts == {
        "alice-tablet": ("+1,450 points", "Alice, +1,450 points at Opéra, 1,450 in all"),
        "alice-phone": ("+1\u202f450 points",
                        "Alice, +1\u202f450 points à Opéra, 1\u202f450 au total"),
    }
    note = await only(alice.id)  # the inbox is in the customer's language
    assert (note.status, note.title) == (Status.SENT, "+1\u202f450 points")
