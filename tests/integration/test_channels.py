"""Journeys' messages on every channel: the worker sends each on the first of
its channels that can carry it, through a real SMTP server (aiosmtpd), a
fake SMS provider and the fake FCM, all on 127.0.0.1; consent, quiet hours
and the marketing cap apply on every channel."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from tortoise import connections

from loyalty.platform.config import Settings, set_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch
from notifications.devices import register_device
from notifications.models import Notification, Platform, Status
from notifications.outgoing import enqueue
from notifications.policy import Policy
from notifications.preferences import get_preferences, update_preferences
from notifications.sms import HttpSmsSender
from notifications.worker import run_once
from tests.conftest import DATABASE_URL, IS_PG, settings_for
from tests.fakes.fixtures import fake_fcm, fake_fcm_server, notification_tables, sender
from tests.fakes.sms_provider import FakeSmsProvider, SmsServer

pytestmark = pytest.mark.usefixtures("notification_tables")
__all__ = ["fake_fcm", "fake_fcm_server", "notification_tables", "sender"]

NOON = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)  # noon in Paris
LATE = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 23:30 in Paris
HTML = "<p>Bonjour <b>Alice</b>,</p><p>10&nbsp;% chez Dupont &amp; Fils.</p>"
PROFILE = """
query($id: ID!) {
  customer(id: $id) { messages(first: 10) { edges { node { channel status journeyId } } } }
}"""


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        # Recipients answered with an error reply instead of "250 OK".
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content,  # type: ignore[arg-type]
                                                 policy=policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mailbox(database) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="session")
def sms_server() -> Iterator[FakeSmsProvider]:
    with SmsServer() as provider:
        yield provider


@pytest.fixture
def sms(sms_server: FakeSmsProvider) -> FakeSmsProvider:
    sms_server.reset()
    return sms_server


def configured(server: Any, smtp_port: int | None = None, sms_url: str | None = None,
               ) -> Settings:
    settings = settings_for(
        DATABASE_URL, smtp_url=f"smtp://127.0.0.1:{smtp_port}" if smtp_port else None,
        sms_url=sms_url, email_from="Dupont <offers@shop.test>",
        unsubscribe_url=f"{server.url}/unsubscribe", push_max_attempts=3)
    set_settings(settings)
    return settings


async def queue(customer_id: int, channels: list[str], key: str, *, now: datetime = NOON,
                marketing: bool = True) -> int:
    async with transaction() as conn:
        note = await enqueue(conn, customer_id=customer_id, channels=channels,
                             title="Une offre pour vous", body=HTML, dedupe_key=key,
                             journey_id=7, now=now, marketing=marketing)
    assert note is not None
    return note


async def consenting(customer_id: int, phone: str | None = "+33612345678") -> None:
    await update_preferences(customer_id, marketing_opt_in=True)
    await execute(connections.get("default"), "UPDATE customer SET phone = $1 WHERE id = $2",
                  phone, customer_id)


async def test_an_email_first_message_is_emailed_and_its_link_unsubscribes(
        gql, server, shop, alice, mailbox, sender, fake_fcm):
    box, port = mailbox
    settings = configured(server, smtp_port=port)
    await consenting(alice.id)
    await register_device(alice.id, token="alice-phone", platform=Platform.IOS)
    # when: a journey's message for EMAIL, then PUSH
    first = await queue(alice.id, ["EMAIL", "PUSH"], "run1:s1")
    stats = await run_once(100, now=NOON, sender=sender, settings=settings)
    # then: it went by email, nothing was pushed
    assert stats.emailed == 1 and fake_fcm.sent == []
    note = await Notification.get(id=first)
    assert (note.status, note.channel, note.reason, note.sent_at) == (
        Status.SENT, "EMAIL", None, NOON)
    [mail] = box.messages
    assert mail["To"] == alice.email and mail["Subject"] == "Une offre pour vous"
    assert mail["From"] == "Dupont <offers@shop.test>"
    assert mail["Message-ID"] == f"<notification-{first}@shop.test>"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    page = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Bonjour Alice,\n\n10\xa0% chez Dupont & Fils.")
    assert HTML in page and "<b>" not in text
    link = mail["List-Unsubscribe"].strip().strip("<>")
    assert link.startswith(f"{server.url}/unsubscribe?token={alice.id}.")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f'href="{link}"' in page and link in text
    async with httpx.AsyncClient() as http:
        # a visit (a mail scanner, or the customer) asks, and changes nothing
        shown = await http.get(link)
        assert shown.status_code == 200 and "<form" in shown.text
        assert (await get_preferences(alice.id)).email_opt_in is True
        forged = await http.post(link[:-3] + "AAA", data={"List-Unsubscribe": "One-Click"})
        assert forged.status_code == 400
        # the mail client's one-click POST unsubscribes
        done = await http.post(link, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "unsubscribed" in done.text
    prefs = await get_preferences(alice.id)
    assert (prefs.email_opt_in, prefs.marketing_opt_in, prefs.push_opt_in) == (False, True, True)
    consent = await fetch(connections.get("default"), "SELECT consent, granted, source FROM "
                          "consent_change WHERE customer_id = $1 AND consent = $2",
                          alice.id, "email")
    assert [tuple(r) for r in consent] == [("email", False, "unsubscribe-link")]
    # when: the journey's next message for EMAIL, then PUSH
    second = await queue(alice.id, ["EMAIL", "PUSH"], "run1:s2")
    await run_once(100, now=NOON + timedelta(hours=1), sender=sender, settings=settings)
    # then: pushed, not emailed
    [pushed] = fake_fcm.delivered()
    assert len(box.messages) == 1 and pushed.token == "alice-phone"
    assert pushed.body == "Bonjour Alice,\n\n10\xa0% chez Dupont & Fils."
    assert pushed.message["android"]["notification"]["channel_id"] == "loyalty-offers"
    note = await Notification.get(id=second)
    assert (note.status, note.channel, note.reason) == (
        Status.SENT, "PUSH", "EMAIL: no email consent")
    # and the 360 view's message log says which channel and journey
    profile = await gql(PROFILE, {"id": str(alice.id)}, token=shop.admin_token)
    assert [e["node"] for e in profile["customer"]["messages"]["edges"]] == [
        {"channel": "PUSH", "status": "sent", "journeyId": "7"},
        {"channel": "EMAIL", "status": "sent", "journeyId": "7"}]


async def test_an_email_the_server_defers_is_retried_and_one_it_refuses_fails(
        server, alice, bob, mailbox):
    box, port = mailbox
    settings = configured(server, smtp_port=port)
    await consenting(alice.id)
    await consenting(bob.id)
    box.refuse[alice.email] = "451 4.3.0 try again later"
    box.refuse[bob.email] = "550 5.1.1 no such mailbox"
    later = await queue(alice.id, ["EMAIL"], "run11:s1")
    never = await queue(bob.id, ["EMAIL", "INBOX"], "run11:s2")
    await run_once(100, now=NOON, settings=settings)
    note = await Notification.get(id=later)
    assert (note.status, note.channel, note.attempts) == (Status.QUEUED, "EMAIL", 1)
    assert "451" in (note.reason or "")
    bad = await Notification.get(id=never)
    assert (bad.status, bad.channel) == (Status.FAILED, "EMAIL")
    assert (bad.reason or "").startswith("EMAIL: refused: 550")
    # the server takes it on the retry
    del box.refuse[alice.email]
    await run_once(100, now=NOON + timedelta(hours=1), settings=settings)
    assert (await Notification.get(id=later)).status == Status.SENT
    assert [m["To"] for m in box.messages] == [alice.email]


async def test_an_sms_goes_to_the_provider_with_the_message_id_as_reference(
        server, alice, sms):
    settings = configured(server, sms_url=sms.url)
    await consenting(alice.id)
    note_id = await queue(alice.id, ["SMS", "INBOX"], "run2:s1")
    stats = await run_once(100, now=NOON, settings=settings)
    assert stats.texted == 1
    [received] = sms.requests
    assert (received.to, received.reference, received.user) == (
        "+33612345678", str(note_id), "shop")
    assert received.body == "Bonjour Alice,\n\n10\xa0% chez Dupont & Fils."
    note = await Notification.get(id=note_id)
    assert (note.status, note.channel, note.attempts) == (Status.SENT, "SMS", 1)


async def test_a_provider_error_is_retried_then_sent_once_and_a_refusal_fails(
        server, alice, bob, sms):
    settings = configured(server, sms_url=sms.url)
    await consenting(alice.id)
    await consenting(bob.id, "+33700000000")
    # given: the provider fails Alice's first attempt (500) and refuses Bob's number (400)
    flaky = await queue(alice.id, ["SMS"], "run3:s1")
    sms.scripts["+33612345678"] = [500]
    await run_once(100, now=NOON, settings=settings)
    note = await Notification.get(id=flaky)
    assert (note.status, note.channel, note.attempts) == (Status.QUEUED, "SMS", 1)
    assert note.reason is not None and note.reason.startswith("SMS: HTTP 500")
    assert note.next_attempt_at is not None and note.next_attempt_at > NOON
    # not due yet: nothing is sent
    await run_once(100, now=NOON + timedelta(seconds=1), settings=settings)
    assert len(sms.requests) == 1
    refused = await queue(bob.id, ["SMS"], "run3:s2", now=NOON + timedelta(hours=1))
    sms.scripts["+33700000000"] = [400]
    await run_once(100, now=NOON + timedelta(hours=1), settings=settings)
    # then: Alice's retry went through, once; Bob's is failed with the provider's answer
    note = await Notification.get(id=flaky)
    assert (note.status, note.reason, note.attempts) == (Status.SENT, None, 2)
    assert [r.reference for r in sms.delivered()] == [str(flaky)]
    bad = await Notification.get(id=refused)
    assert (bad.status, bad.attempts) == (Status.FAILED, 1)
    assert bad.reason is not None and bad.reason.startswith("SMS: HTTP 400")
    assert "invalid number" in bad.reason


async def test_a_timed_out_sms_is_sent_again_and_the_provider_drops_the_copy(
        server, alice, sms):
    settings = configured(server, sms_url=sms.url)
    await consenting(alice.id)
    note_id = await queue(alice.id, ["SMS"], "run4:s1")
    sms.scripts["+33612345678"] = [0]
    sms.hang_seconds = 1.0
    sender = HttpSmsSender(sms.url, timeout=0.2)
    try:
        await run_once(100, now=NOON, settings=settings, sms_sender=sender)
        note = await Notification.get(id=note_id)
        assert (note.status, note.reason) == (Status.QUEUED, "SMS: timeout")
        await run_once(100, now=NOON + timedelta(hours=1), settings=settings, sms_sender=sender)
    finally:
        await sender.close()
    assert (await Notification.get(id=note_id)).status == Status.SENT
    assert [r.reference for r in sms.requests] == [str(note_id)] * 2
    assert len(sms.delivered()) == 1


async def test_a_message_no_channel_can_carry_is_suppressed_with_the_reasons(
        gql, server, shop, alice, bob, sms):
    await consenting(alice.id, phone=None)
    await update_preferences(bob.id, marketing_opt_in=False)
    # nothing configured
    settings = configured(server)
    nothing = await queue(alice.id, ["EMAIL", "SMS"], "run5:s1")
    await run_once(100, now=NOON, settings=settings)
    note = await Notification.get(id=nothing)
    assert (note.status, note.channel, note.reason) == (
        Status.SUPPRESSED, None, "EMAIL: LOYALTY_SMTP_URL not set; SMS: LOYALTY_SMS_URL not set")
    # SMS configured, but Alice has no phone number
    settings = configured(server, sms_url=sms.url)
    no_phone = await queue(alice.id, ["EMAIL", "SMS"], "run5:s2")
    stats = await run_once(100, now=NOON, settings=settings)
    assert stats.suppressed == 1 and sms.requests == []
    assert (await Notification.get(id=no_phone)).reason == (
        "EMAIL: LOYALTY_SMTP_URL not set; SMS: no phone number")
    # Bob did not consent to marketing: his marketing message is suppressed,
    # and stays in his message log
    unwanted = await queue(bob.id, ["SMS", "INBOX"], "run5:s3")
    await run_once(100, now=NOON, settings=settings)
    note = await Notification.get(id=unwanted)
    assert (note.status, note.reason) == (Status.SUPPRESSED, "no marketing consent")
    profile = await gql(PROFILE, {"id": str(alice.id)}, token=shop.admin_token)
    assert [e["node"]["status"] for e in profile["customer"]["messages"]["edges"]] == [
        "suppressed", "suppressed"]


async def test_quiet_hours_defer_an_sms_to_their_end(server, alice, sms):
    settings = configured(server, sms_url=sms.url)
    await consenting(alice.id)
    await update_preferences(alice.id, quiet_hours_start="22:00", quiet_hours_end="08:00")
    note_id = await queue(alice.id, ["SMS"], "run6:s1", now=LATE)
    await run_once(100, now=LATE, settings=settings)
    note = await Notification.get(id=note_id)
    morning = datetime(2026, 1, 16, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    assert (note.status, note.reason, note.next_attempt_at) == (
        Status.DEFERRED, "quiet hours", morning)
    assert sms.requests == []
    await run_once(100, now=morning, settings=settings)
    assert (await Notification.get(id=note_id)).status == Status.SENT
    assert len(sms.delivered()) == 1


async def test_the_marketing_cap_counts_messages_on_every_channel(
        server, alice, mailbox, sms, sender, fake_fcm):
    box, port = mailbox
    settings = configured(server, smtp_port=port, sms_url=sms.url)
    await consenting(alice.id)
    await register_device(alice.id, token="alice-phone", platform=Platform.IOS)
    capped = Policy(marketing_daily_cap=2)
    # given: an email and an SMS sent today
    await queue(alice.id, ["EMAIL"], "run7:s1")
    await queue(alice.id, ["SMS"], "run7:s2")
    await run_once(100, now=NOON, sender=sender, settings=settings, policy=capped)
    # when: a push, then a push-or-inbox, then a transactional SMS
    push = await queue(alice.id, ["PUSH"], "run7:s3")
    inbox = await queue(alice.id, ["PUSH", "INBOX"], "run7:s4")
    receipt = await queue(alice.id, ["SMS"], "run7:s5", marketing=False)
    stats = await run_once(100, now=NOON, sender=sender, settings=settings, policy=capped)
    # then: the cap is reached: no push; the transactional SMS still goes
    assert stats.capped == 2
    assert (len(box.messages), len(sms.delivered()), fake_fcm.sent) == (1, 2, [])
    rows = {n.id: n for n in await Notification.filter(customer_id=alice.id)}
    assert (rows[push].status, rows[push].reason) == (Status.SUPPRESSED, "marketing cap")
    assert (rows[inbox].status, rows[inbox].reason, rows[inbox].channel) == (
        Status.INBOX, "marketing cap", "INBOX")
    assert (rows[receipt].status, rows[receipt].channel) == (Status.SENT, "SMS")
    # the next local day, a push goes again
    tomorrow = await queue(alice.id, ["PUSH"], "run7:s6", now=NOON + timedelta(days=1))
    await run_once(100, now=NOON + timedelta(days=1), sender=sender, settings=settings,
                   policy=capped)
    assert (await Notification.get(id=tomorrow)).status == Status.SENT


async def test_an_email_interrupted_mid_send_is_not_sent_again_an_sms_is_deduplicated(
        server, alice, mailbox, sms):
    box, port = mailbox
    settings = configured(server, smtp_port=port, sms_url=sms.url)
    await consenting(alice.id)
    email = await queue(alice.id, ["EMAIL"], "run8:s1")
    text = await queue(alice.id, ["SMS"], "run8:s2")
    # given: a worker died while handing both over (its marks are left, the
    # SMS had reached the provider), and its lease ran out
    sms.accepted[str(text)] = "m-first"
    await execute(connections.get("default"), "UPDATE notification SET reason = 'sending', "
                  "channel = CASE WHEN id = $1 THEN 'EMAIL' ELSE 'SMS' END", email)
    await run_once(100, now=NOON, settings=settings)
    mail = await Notification.get(id=email)
    assert mail.status == Status.FAILED and "interrupted" in (mail.reason or "")
    assert box.messages == []
    assert (await Notification.get(id=text)).status == Status.SENT
    # sent again with the same reference, which the provider had already
    assert [r.reference for r in sms.requests] == [str(text)]
    assert sms.accepted == {str(text): "m-first"}


@pytest.mark.skipif(not IS_PG, reason="several workers share rows through PostgreSQL's locks")
async def test_two_workers_send_each_message_once(server, gql, sms):
    from tests.conftest import sign_up

    settings = configured(server, sms_url=sms.url)
    customers = [await sign_up(gql, f"C{i}") for i in range(6)]
    ids = []
    for c in customers:
        await consenting(c.id)
        for step in range(5):
            ids.append(await queue(c.id, ["SMS"], f"run9:{c.id}:{step}"))
    capped = Policy(marketing_daily_cap=100)

    async def worker() -> int:
        sender = HttpSmsSender(sms.url)
        texted = 0
        try:
            for _ in range(10):
                stats = await run_once(4, now=NOON, settings=settings, policy=capped,
                                       sms_sender=sender)
                texted += stats.texted
        finally:
            await sender.close()
        return texted

    shares = await asyncio.gather(worker(), worker())
    # both took part, and each message went to the provider once
    assert sum(shares) == len(ids) and min(shares) > 0
    assert sorted(int(r.reference) for r in sms.requests) == sorted(ids)
    assert await Notification.filter(status=Status.SENT, channel="SMS").count() == len(ids)


UPDATE_PREFERENCES = """
mutation($input: PreferencesInput!) {
  updatePreferences(input: $input) { preferences { marketingOptIn emailOptIn smsOptIn }
                                     errors { code } } }"""


async def test_a_customer_turns_sms_off_in_the_app_and_gets_the_next_channel(
        gql, server, alice, sms):
    settings = configured(server, sms_url=sms.url)
    await consenting(alice.id)
    # when: Alice turns marketing SMS off in the app
    result = (await gql(UPDATE_PREFERENCES, {"input": {"smsOptIn": False}},
                        token=alice.token))["updatePreferences"]
    assert result == {"preferences": {"marketingOptIn": True, "emailOptIn": True,
                                      "smsOptIn": False}, "errors": []}
    offer = await queue(alice.id, ["SMS", "INBOX"], "run10:s1")
    receipt = await queue(alice.id, ["SMS", "INBOX"], "run10:s2", marketing=False)
    await run_once(100, now=NOON, settings=settings)
    # then: the offer is in her inbox, the transactional message still texted
    note = await Notification.get(id=offer)
    assert (note.status, note.channel, note.reason) == (
        Status.INBOX, "INBOX", "SMS: no SMS consent")
    assert (await Notification.get(id=receipt)).channel == "SMS"
    assert [r.reference for r in sms.requests] == [str(receipt)]
