"""Monsieur Durant's journey, end to end through the API (issue 14's "done
when"): a purchase on the web shop -> a thank-you email -> a survey invite two
weeks later -> he answers from the link -> a 10% coupon in `me.coupons`, valid
online and in store -> a reminder three days before it expires -> he redeems it
at a till -> the run is converted.

Everything the people do goes through GraphQL over HTTP (the admin, the web
shop's API key, the customer's app, the cashier); the workers run their passes
with a clock the test moves (journeys wait weeks); emails reach a real SMTP
server on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from audience import worker as audience_worker
from journeys import worker as journeys_worker
from loyalty.platform.config import get_settings, set_settings
from loyalty.points.reminders import write_reminders
from notifications import worker as notifications_worker
from tests.api.test_notifications_personal import inbox
from tests.conftest import DATABASE_URL, GraphQLClient, Shop, settings_for, sign_up
from tests.integration.test_channels import _free_port

PARIS = ZoneInfo("Europe/Paris")

TEMPLATES = "query { journeyTemplates { key name definition } }"
CREATE_JOURNEY = """
mutation($input: CreateJourneyInput!) {
  createJourney(input: $input) { journey { id status } errors { code field message } }
}"""
PUBLISH = """
mutation($id: ID!) {
  publishJourney(input: {journeyId: $id}) { journey { id status liveVersion } errors { code } }
}"""
CREATE_STORE = """
mutation($input: CreateStoreInput!) {
  createStore(input: $input) { store { id } errors { code field } }
}"""
CREATE_CLIENT = """
mutation($input: CreateApiClientInput!) {
  createApiClient(input: $input) { secret errors { code field } }
}"""
OPT_IN = "mutation { updatePreferences(input: {marketingOptIn: true}) { errors { code } } }"
PURCHASE = """
mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id points }
    applied { title discount { amountMinor currency } }
    errors { code field message }
  }
}"""
ANSWER = """
mutation($input: SubmitSurveyFromLinkInput!) {
  submitSurveyFromLink(input: $input) { errors { code field message } }
}"""
COUPONS = "query { me { coupons { code title kind value channels expiresAt redeemedAt } } }"
JOURNEY = """
query($id: ID!) {
  journey(id: $id) { stats { entered active completed converted exited byStep } }
}"""
PROFILE = """
query($id: ID!) {
  customer(id: $id) {
    journeys { journeyName status currentStep }
    messages(first: 20) { edges { node { channel title status journeyId } } }
  }
}"""


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def texts(self) -> list[tuple[str, str]]:
        out = []
        for m in self.messages:
            part = m.get_body(preferencelist=("plain",))
            out.append((str(m["Subject"]), part.get_content() if part is not None else ""))
        return out


@pytest.fixture
def mailbox(database: str) -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def noon_after(moment: datetime) -> datetime:
    """The next noon in Paris: messages go out outside the quiet hours."""
    local = moment.astimezone(PARIS)
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon <= local:
        noon = (local + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    return noon.astimezone(UTC)


async def passes(now: datetime, send_at: datetime | None = None) -> None:
    """The worker's loops, once each, at `now`: the stream, the journeys, and
    the messages (sent at `send_at`, a daytime hour)."""
    await audience_worker.run_until_idle(now=now)
    await journeys_worker.run_until_idle(now)
    await audience_worker.run_until_idle(now=now)
    await notifications_worker.run_once(100, now=send_at or noon_after(now),
                                        settings=get_settings())


async def test_monsieur_durant_buys_online_answers_the_survey_and_redeems_his_coupon_in_store(
        gql: GraphQLClient, server: Any, shop: Shop, mailbox: tuple[Mailbox, int]):
    box, port = mailbox
    before = get_settings()
    set_settings(settings_for(
        DATABASE_URL, smtp_url=f"smtp://127.0.0.1:{port}", email_from="Boutique <hello@shop.test>",
        unsubscribe_url=f"{server.url}/unsubscribe",
        survey_url="https://shop.test/survey?t={token}"))
    try:
        await _durant(gql, shop, box)
    finally:
        set_settings(before)


async def _durant(gql: GraphQLClient, shop: Shop, box: Mailbox) -> None:
    admin = shop.admin_token
    # The marketer publishes the shipped post-purchase journey as it is.
    templates = (await gql(TEMPLATES, token=admin))["journeyTemplates"]
    durant = next(t for t in templates if t["key"] == "durant_post_purchase")
    made = (await gql(CREATE_JOURNEY, {"input": {"name": durant["name"],
                                                 "definition": durant["definition"],
                                                 "templateKey": durant["key"]}},
                      token=admin))["createJourney"]
    assert made["errors"] == []
    journey_id = made["journey"]["id"]
    live = (await gql(PUBLISH, {"id": journey_id}, token=admin))["publishJourney"]
    assert live["journey"]["status"] == "LIVE"

    # The web shop: an online store and its API key.
    web = (await gql(CREATE_STORE, {"input": {"name": "Boutique en ligne", "kind": "ONLINE",
                                              "timezone": "Europe/Paris"}},
                     token=admin))["createStore"]["store"]["id"]
    secret = (await gql(CREATE_CLIENT, {"input": {
        "name": "Web shop", "scopes": ["PURCHASES", "CUSTOMERS_READ"], "storeIds": [web]}},
        token=admin))["createApiClient"]["secret"]

    durant_customer = await sign_up(gql, "Jean", email="jean.durant@example.test")
    assert (await gql(OPT_IN, token=durant_customer.token))["updatePreferences"]["errors"] == []

    # 1. He buys online: the web shop names him by email.
    t0 = datetime.now(UTC)
    bought = (await gql(PURCHASE, {"input": {
        "idempotencyKey": "web-order-1001", "card": {"email": durant_customer.email},
        "storeId": web, "receiptId": "W-1001", "channel": "WEB",
        "total": {"amountMinor": 80_00, "currency": "EUR"}}}, token=secret))["recordPurchase"]
    assert bought["errors"] == [] and bought["transaction"]["points"] > 0

    # 2. The thank-you email.
    await passes(t0)
    assert [s for s, _ in box.texts()] == ["Merci pour votre commande"]
    assert "W-1001" in box.texts()[0][1] and "Jean" in box.texts()[0][1]

    # 3. Two weeks later, the survey invite, with its link.
    t1 = t0 + timedelta(days=14, minutes=1)
    await passes(t1)
    subjects = [s for s, _ in box.texts()]
    assert subjects == ["Merci pour votre commande", "Votre avis compte"]
    invite = box.texts()[1][1]
    token = re.search(r"https://shop\.test/survey\?t=([A-Za-z0-9_.\-]+)", invite)
    assert token is not None, invite

    # 4. He answers from the link (no app, no sign-in).
    answered = (await gql(ANSWER, {"input": {"token": token.group(1), "rating": 5}}))
    assert answered["submitSurveyFromLink"]["errors"] == []

    # 5. The coupon: in his app, valid online and in store, and by email.
    t2 = t1 + timedelta(hours=1)
    await passes(t2)
    [coupon] = (await gql(COUPONS, token=durant_customer.token))["me"]["coupons"]
    assert (coupon["kind"], coupon["value"], coupon["redeemedAt"]) == ("PERCENT_OFF", 10, None)
    assert sorted(coupon["channels"]) == ["STORE", "WEB"]
    expires = datetime.fromisoformat(coupon["expiresAt"])
    assert timedelta(days=29) < expires - t2 <= timedelta(days=30, hours=1)
    assert [s for s, _ in box.texts()][-1] == "Votre bon de 10 %"
    assert coupon["code"] in box.texts()[-1][1]

    # 6. Three days before it expires, a reminder.
    remind_at = expires - timedelta(days=3)
    assert await write_reminders(remind_at - timedelta(hours=1)) == 0
    assert await write_reminders(remind_at + timedelta(minutes=1)) == 1
    await notifications_worker.run_once(100, now=noon_after(remind_at),
                                        settings=get_settings())
    reminders = [b for t, b in await inbox(gql, durant_customer)
                 if t == "Votre bon expire bientôt"]
    assert len(reminders) == 1 and coupon["title"] in reminders[0], reminders
    assert await write_reminders(remind_at + timedelta(hours=2)) == 0  # once

    # 7. He redeems it at a till in a store.
    till = (await gql(PURCHASE, {"input": {
        "idempotencyKey": "till-1", "card": {"qrPayload": durant_customer.qr()},
        "storeId": shop.store_id, "receiptId": "T-77", "couponCode": coupon["code"],
        "total": {"amountMinor": 50_00, "currency": "EUR"}}},
        token=shop.cashier_token))["recordPurchase"]
    assert till["errors"] == []
    assert [(a["discount"]["amountMinor"]) for a in till["applied"]] == [5_00]

    # 8. The run converts on the coupon's redemption.
    await passes(remind_at + timedelta(hours=1))
    stats = (await gql(JOURNEY, {"id": journey_id}, token=admin))["journey"]["stats"]
    assert (stats["entered"], stats["converted"], stats["active"]) == (1, 1, 0)
    profile = (await gql(PROFILE, {"id": str(durant_customer.id)}, token=admin))["customer"]
    assert [(j["journeyName"], j["status"]) for j in profile["journeys"]] == [
        (durant["name"], "converted")]
    emails = [m["node"] for m in profile["messages"]["edges"]
              if m["node"]["journeyId"] == journey_id]
    assert sorted((m["channel"], m["status"]) for m in emails) == [("EMAIL", "sent")] * 3
    # Nothing more is sent afterwards: every step ran once.
    await passes(expires + timedelta(days=2))
    assert len(box.messages) == 3
