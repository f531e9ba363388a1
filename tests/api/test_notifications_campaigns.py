"""Campaigns: an admin mutation queues one outbox event per consenting customer;
the worker pushes them under consent, quiet hours and the daily marketing cap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notifications.devices import register_device
from notifications.models import Notification, Platform, Status
from notifications.policy import Policy
from notifications.preferences import update_preferences
from notifications.worker import run_once
from tests.api.test_tiers_api import UPDATE_TIER, _earn, _tier
from tests.conftest import sign_up
from tests.fakes.fixtures import fake_fcm, fake_fcm_server, notification_tables, sender

pytestmark = pytest.mark.usefixtures("notification_tables")
__all__ = ["fake_fcm", "fake_fcm_server", "notification_tables", "sender"]

SEND_CAMPAIGN = """
mutation($input: SendCampaignInput!) {
  sendCampaign(input: $input) { campaign { id targeted } errors { code field message } }
}"""
NOON = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)
# Alice lives in Paris (UTC+1 in winter): 23:30 on the 15th, then 00:30 on the 16th,
# both on the 15th in UTC.
PARIS_LATE = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)
PARIS_NEXT_DAY = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)


def campaign(title: str = "Sale", body: str = "-20% this weekend", key: str | None = None,
             **target: object) -> dict[str, object]:
    return {"input": {"title": title, "body": body, "target": target or {"everyone": True},
                      "idempotencyKey": key or uuid.uuid4().hex}}


async def send(gql, shop, **kw: object) -> dict[str, object]:
    return (await gql(SEND_CAMPAIGN, campaign(**kw), token=shop.admin_token))["sendCampaign"]


async def consenting(customer_id: int, token: str) -> None:
    await update_preferences(customer_id, marketing_opt_in=True)
    await register_device(customer_id, token=token, platform=Platform.IOS)


async def notes(customer_id: int) -> list[Notification]:
    return await Notification.filter(customer_id=customer_id).order_by("id")


async def test_everyone_means_everyone_who_consented_to_marketing(gql, shop, alice, bob, sender,
                                                                  fake_fcm):
    # given: Alice consented to marketing, Bob did not (the default)
    await consenting(alice.id, "alice-phone")
    await register_device(bob.id, token="bob-phone", platform=Platform.ANDROID)
    # when
    sent = await send(gql, shop, title="Sale", body="-20% this weekend")
    stats = await run_once(100, now=NOON, sender=sender)
    # then: one push to Alice; for Bob no push and no inbox row
    assert sent["errors"] == [] and sent["campaign"]["targeted"] == 1
    assert (stats.created, stats.pushed) == (1, 1)
    [note] = await notes(alice.id)
    assert (note.kind, note.marketing, note.status) == ("campaign.message", True, Status.SENT)
    assert [(s.token, s.title, s.body) for s in fake_fcm.delivered()] == [
        ("alice-phone", "Sale", "-20% this weekend")]
    assert await notes(bob.id) == []


async def test_a_retried_campaign_queues_nothing_more_and_a_reused_key_is_refused(
        gql, shop, alice, sender, fake_fcm):
    await consenting(alice.id, "alice-phone")
    first = await send(gql, shop, key="camp-1")
    again = await send(gql, shop, key="camp-1")
    assert again == first
    other = await send(gql, shop, key="camp-1", body="another text")
    assert other["campaign"] is None
    assert [(e["code"], e["field"]) for e in other["errors"]] == [
        ("IDEMPOTENCY_CONFLICT", "idempotencyKey")]
    await run_once(100, now=NOON, sender=sender)
    assert len(await notes(alice.id)) == 1 and len(fake_fcm.delivered()) == 1


async def test_a_list_of_customers_leaves_out_those_without_consent(gql, shop, alice, bob,
                                                                     sender, fake_fcm):
    await consenting(alice.id, "alice-phone")
    await register_device(bob.id, token="bob-phone", platform=Platform.ANDROID)
    sent = await send(gql, shop, customerIds=[str(alice.id), str(bob.id)])
    assert sent["campaign"]["targeted"] == 1
    await run_once(100, now=NOON, sender=sender)
    assert [s.token for s in fake_fcm.delivered()] == ["alice-phone"]
    unknown = await send(gql, shop, customerIds=[str(alice.id), "999999"])
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [
        ("NOT_FOUND", "target.customerIds")]


@pytest.mark.parametrize(("target", "field"), [
    ({"tier": " "}, "target.tier"),
    ({"everyone": True, "tier": "Gold"}, "target"),
    ({"everyone": True, "customerIds": ["1"]}, "target"),
    ({}, "target"),
    ({"everyone": False}, "target"),
])
async def test_a_target_must_be_exactly_one_available_kind(gql, shop, target, field):
    variables = campaign()
    variables["input"]["target"] = target  # type: ignore[index]
    result = (await gql(SEND_CAMPAIGN, variables, token=shop.admin_token))["sendCampaign"]
    assert result["campaign"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", field)]


async def test_only_an_admin_may_send_a_campaign(gql, shop, alice):
    body = await gql.raw(SEND_CAMPAIGN, campaign(), token=shop.cashier_token)
    assert body["data"] is None
    assert "admin" in body["errors"][0]["message"]
    body = await gql.raw(SEND_CAMPAIGN, campaign(), token=alice.token)
    assert body["data"] is None


async def test_push_opt_out_keeps_the_inbox_row_and_withdrawn_consent_removes_it(
        gql, shop, alice, bob, sender, fake_fcm):
    await consenting(alice.id, "alice-phone")
    await consenting(bob.id, "bob-phone")
    await update_preferences(alice.id, push_opt_in=False)
    await update_preferences(bob.id, quiet_hours_start="22:00", quiet_hours_end="08:00")
    await send(gql, shop)
    await run_once(100, now=PARIS_LATE, sender=sender)
    [alice_note] = await notes(alice.id)
    assert (alice_note.status, alice_note.reason) == (Status.INBOX, "push opt-out")
    [bob_note] = await notes(bob.id)
    assert (bob_note.status, bob_note.reason) == (Status.DEFERRED, "quiet hours")
    # when: Bob withdraws marketing consent before his quiet hours end
    await update_preferences(bob.id, marketing_opt_in=False)
    stats = await run_once(100, now=PARIS_LATE + timedelta(hours=9), sender=sender)
    # then: the queued message is gone, never pushed
    assert stats.skipped == 1
    assert await notes(bob.id) == [] and fake_fcm.sent == []


async def test_the_daily_marketing_cap_counts_in_the_customers_own_day(gql, shop, alice, sender,
                                                                      fake_fcm):
    # given: Alice (Paris) consented; the cap is 3 a day
    await consenting(alice.id, "alice-phone")
    policy = Policy(marketing_daily_cap=3)
    # when: 4 campaigns reach her at 23:30 Paris time, over two worker passes
    for _ in range(2):
        await send(gql, shop)
    await run_once(100, now=PARIS_LATE, sender=sender, policy=policy)
    for _ in range(2):
        await send(gql, shop)
    stats = await run_once(100, now=PARIS_LATE, sender=sender, policy=policy)
    # then: 3 pushed, the 4th in the inbox only
    assert stats.capped == 1
    assert [(n.status, n.reason) for n in await notes(alice.id)] == [
        (Status.SENT, None)] * 3 + [(Status.INBOX, "marketing cap")]
    assert len(fake_fcm.delivered()) == 3
    # when: a 5th an hour later, past midnight in Paris though still the 15th in UTC
    await send(gql, shop)
    stats = await run_once(100, now=PARIS_NEXT_DAY, sender=sender, policy=policy)
    # then: a new day for Alice, so it is pushed
    assert (stats.capped, stats.pushed) == (0, 1)
    assert len(fake_fcm.delivered()) == 4


async def test_a_tier_reaches_its_consenting_members_by_name_or_id(gql, shop, alice, bob, sender,
                                                                  fake_fcm):
    # given: a ladder Base (0), Silver (100), Gold (500); Alice reaches Silver,
    # Carol Gold, Bob and Dan stay in Base; all but Dan consented to marketing
    ids = {}
    for name, threshold in (("Base", 0), ("Silver", 100), ("Gold", 500)):
        created = await _tier(gql, shop, name=name, threshold=threshold, multiplier="1")
        ids[name] = created["tier"]["id"]
    carol, dan = await sign_up(gql, "Carol"), await sign_up(gql, "Dan")
    await _earn(gql, shop, alice, 150_00)
    await _earn(gql, shop, carol, 600_00)
    for customer, token in ((alice, "alice-phone"), (bob, "bob-phone"), (carol, "carol-phone")):
        await consenting(customer.id, token)
    await register_device(dan.id, token="dan-phone", platform=Platform.ANDROID)
    # when: a campaign to each tier, by name in any case or by id
    silver = await send(gql, shop, title="Silver sale", tier="silver")
    gold = await send(gql, shop, title="Gold sale", tier=ids["Gold"])
    base = await send(gql, shop, title="Base sale", tier="Base")
    await run_once(100, now=NOON, sender=sender, policy=Policy(marketing_daily_cap=10))
    # then: each reached its members who consented, and only them
    assert [r["campaign"]["targeted"] for r in (silver, gold, base)] == [1, 1, 1]
    sales = sorted((s.token, s.title) for s in fake_fcm.delivered() if s.title.endswith("sale"))
    assert sales == [
        ("alice-phone", "Silver sale"), ("bob-phone", "Base sale"), ("carol-phone", "Gold sale")]
    # when Silver is retired its members count as the tier below
    retired = await gql(UPDATE_TIER, {"input": {"id": ids["Silver"], "active": False}},
                        token=shop.admin_token)
    assert retired["updateTier"]["errors"] == []
    again = await send(gql, shop, tier="Base")
    assert again["campaign"]["targeted"] == 2
    refused = await send(gql, shop, tier="Silver")
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("INVALID_INPUT", "target.tier")]
    unknown = await send(gql, shop, tier="Platinum")
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [("NOT_FOUND", "target.tier")]


async def test_a_retried_tier_campaign_is_the_same_campaign(gql, shop, alice):
    await _tier(gql, shop, name="Base", threshold=0, multiplier="1")
    await consenting(alice.id, "alice-phone")
    first = await send(gql, shop, key="tier-1", tier="Base")
    assert first["campaign"]["targeted"] == 1
    assert await send(gql, shop, key="tier-1", tier="Base") == first
    other = await send(gql, shop, key="tier-1", everyone=True)
    assert [e["code"] for e in other["errors"]] == ["IDEMPOTENCY_CONFLICT"]
