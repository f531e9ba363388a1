"""How a push shows on the phone, as FCM receives it (the real firebase-admin
against the local fake): iOS sound and badge (the unread inbox), the Android
channel, and a deep link per kind of notification."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.events import CampaignMessage
from loyalty.platform.config import get_settings
from notifications import campaigns
from notifications.devices import register_device
from notifications.models import Notification, Platform
from notifications.preferences import update_preferences
from notifications.presentation import SCREENS
from notifications.templates import TEMPLATES
from notifications.worker import run_once
from tests.api.test_pos import buy
from tests.fakes.fixtures import fake_fcm, fake_fcm_server, notification_tables, sender

pytestmark = pytest.mark.usefixtures("notification_tables")
__all__ = ["fake_fcm", "fake_fcm_server", "notification_tables", "sender"]

NOON = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


def shown(message: dict) -> tuple[dict, dict]:
    """(aps, android notification) of an FCM v1 message."""
    return message["apns"]["payload"]["aps"], message["android"]["notification"]


async def test_a_push_rings_badges_the_unread_count_and_opens_its_screen(
        gql, shop, alice, sender, fake_fcm):
    await register_device(alice.id, token="alice-phone", platform=Platform.IOS)
    # given: a first purchase, pushed and left unread
    await buy(gql, shop, alice, 10_00)
    await run_once(100, now=NOON, sender=sender)
    # when: a second one is pushed
    await buy(gql, shop, alice, 20_00)
    await run_once(100, now=NOON + timedelta(minutes=1), sender=sender)
    first, second = fake_fcm.delivered("alice-phone")
    # then: each rings, on the account channel, and badges the unread messages
    for push, unread in ((first, 1), (second, 2)):
        aps, android = shown(push.message)
        assert aps == {"sound": "default", "badge": unread}
        assert android["channel_id"] == "loyalty-account"
        assert android["sound"] == "default" and android["notification_count"] == unread
        assert push.data["link"] == "loyalty://history"
    # when: the customer reads them, the next push badges only itself
    await Notification.filter(customer_id=alice.id).update(read_at=NOON)
    await buy(gql, shop, alice, 5_00)
    await run_once(100, now=NOON + timedelta(minutes=2), sender=sender)
    assert shown(fake_fcm.delivered("alice-phone")[-1].message)[0]["badge"] == 1


async def test_a_campaign_goes_to_the_offers_channel_and_opens_its_message(
        alice, sender, fake_fcm):
    settings = dataclasses.replace(get_settings(), deep_link_base="https://app.test/")
    await update_preferences(alice.id, marketing_opt_in=True)
    await register_device(alice.id, token="alice-phone", platform=Platform.ANDROID)
    await campaigns.send_campaign(title="Sale", body="-20% today", idempotency_key="k1",
                                  target=campaigns.Target(everyone=True))
    await run_once(100, now=NOON, sender=sender, settings=settings)
    (push,) = fake_fcm.delivered("alice-phone")
    note = await Notification.get(customer_id=alice.id)
    assert note.kind == CampaignMessage.kind
    assert shown(push.message)[1]["channel_id"] == "loyalty-offers"
    assert push.data["link"] == f"https://app.test/inbox/{note.id}"


def test_every_kind_with_a_message_opens_a_screen():
    kinds = {k for k in TEMPLATES if not k.startswith("tier.")} | {"tier.changed"}
    # variants of visit.accepted's and points.adjusted's messages, not kinds
    kinds -= {"visit.welcome", "points.adjusted.down"}
    assert kinds <= set(SCREENS), sorted(kinds - set(SCREENS))
