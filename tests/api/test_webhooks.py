"""Webhooks against a real receiver on 127.0.0.1 that fails, times out and
recovers: signed as the contract says, retried with back-off, in order per
customer, disabled after a run of failures, redelivered on demand."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tortoise import connections

from loyalty.events import CampaignMessage, PointsEarned, PointsRedeemed
from loyalty.platform.config import set_settings
from loyalty.platform.sql import execute, fetch
from notifications.webhooks.delivery import Sender, deliver_due, fan_out, new_client
from tests.api.test_api_clients import create_client, web_purchase
from tests.conftest import DATABASE_URL, GraphQLClient, Shop, settings_for
from tests.fakes.webhook_receiver import Receiver, receiving

CREATE = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) { webhook { id url events active } secret errors { code field } }
}"""
HOOKS = "query { webhooks { id active events } }"
LOG = """
query($id: ID!) { webhookDeliveries(webhookId: $id) { id event status attempts lastResponseCode } }
"""
REDELIVER = """
mutation($input: RedeliverWebhookInput!) {
  redeliverWebhook(input: $input) { delivery { id status attempts } errors { code } }
}"""
PURCHASE = """
mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { errors { code } } }"""
REFUND = """
mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) { errors { code } } }"""
ERASE = """
mutation($input: EraseCustomerInput!) { eraseCustomer(input: $input) { errors { code field } } }
"""


def readme_verify():
    """The verification code the README gives integrators, run as they would."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"<!-- webhook-verify -->\s*```python\n(.*?)```", text, re.S)
    assert block is not None
    namespace: dict = {}
    exec(compile("\n".join(line[3:] for line in block.group(1).splitlines()), "README",
                 "exec"), namespace)
    return namespace["verify"]


@pytest.fixture
async def receiver(database) -> AsyncIterator[Receiver]:
    set_settings(settings_for(DATABASE_URL, webhook_allow_http=True,
                              webhook_backoff_seconds=0.05, webhook_backoff_max_seconds=0.2,
                              webhook_timeout_seconds=0.5, webhook_max_attempts=20,
                              webhook_disable_after_failures=6))
    async with receiving() as running:
        yield running


async def pump(client: Sender, passes: int = 1) -> None:
    for i in range(passes):
        await fan_out()
        await deliver_due(client)
        if i < passes - 1:
            await asyncio.sleep(0.25)  # past the longest back-off


async def webhook(gql: GraphQLClient, shop: Shop, url: str, events: list[str]) -> dict:
    data = (await gql(CREATE, {"input": {"url": url, "events": events}},
                      token=shop.admin_token))["createWebhook"]
    assert data["errors"] == []
    return data


async def test_a_shop_receives_signed_events_for_its_purchase_and_refund(
        gql, shop, alice, receiver):
    hook = await webhook(gql, shop, receiver.url, ["points.earned", "points.refunded"])
    secret = hook["secret"]
    client_secret = (await create_client(gql, shop, ["PURCHASES", "CUSTOMERS_READ"]))["secret"]
    await gql(PURCHASE, web_purchase(shop, {"email": alice.email}, 42_00, "W-7"),
              token=client_secret)
    await gql(REFUND, {"input": {"idempotencyKey": uuid.uuid4().hex, "storeId": shop.store_id,
                                 "receiptId": "W-7"}}, token=client_secret)
    async with new_client() as http:
        await pump(http)  # her refund waits for her purchase to be delivered
        assert len(receiver.received) == 1
        await pump(http)
    verify = readme_verify()
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["points.earned",
                                                                        "points.refunded"]
    for r in receiver.received:
        assert verify(secret, r.body, r.headers["loyalty-signature"])
        assert not verify(secret, r.body + b" ", r.headers["loyalty-signature"])
        assert not verify("whsec_wrong", r.body, r.headers["loyalty-signature"])
    earned = json.loads(receiver.received[0].body)
    assert earned["customerId"] == str(alice.id) and earned["data"]["points"] == 42
    assert receiver.received[0].headers["loyalty-event"] == "points.earned"
    log = (await gql(LOG, {"id": hook["webhook"]["id"]}, token=shop.admin_token))
    assert [(d["event"], d["status"], d["attempts"], d["lastResponseCode"])
            for d in log["webhookDeliveries"]] == [("points.refunded", "delivered", 1, 200),
                                                   ("points.earned", "delivered", 1, 200)]


async def test_failures_and_timeouts_are_retried_in_order_per_customer(
        gql, shop, alice, bob, receiver):
    await webhook(gql, shop, receiver.url, ["*"])
    from tests.api.test_pos import buy

    receiver.mode = 503
    await buy(gql, shop, alice, 10_00)
    async with new_client() as http:
        await pump(http)
        assert receiver.attempts == 1 and receiver.received == []
        # A second purchase of hers waits behind the first; Bob's goes on.
        await buy(gql, shop, alice, 20_00)
        receiver.mode = "hang"
        await asyncio.sleep(0.25)  # past the back-off
        await pump(http)
        assert receiver.attempts == 2  # only the first, again, timed out
        receiver.mode = 200
        await buy(gql, shop, bob, 5_00)
        await pump(http, passes=4)
    points = [(json.loads(r.body)["customerId"], json.loads(r.body)["data"]["points"])
              for r in receiver.received]
    assert [p for p in points if p[0] == str(alice.id)] == [(str(alice.id), 10),
                                                            (str(alice.id), 20)]
    assert (str(bob.id), 5) in points


async def test_a_failing_endpoint_is_disabled_and_a_redelivery_revives_it(
        gql, shop, alice, receiver):
    hook = await webhook(gql, shop, receiver.url, ["points.earned"])
    from tests.api.test_pos import buy

    receiver.mode = 500
    await buy(gql, shop, alice, 10_00)
    async with new_client() as http:
        await pump(http, passes=8)
        assert receiver.attempts == 6
        hooks = (await gql(HOOKS, token=shop.admin_token))["webhooks"]
        assert hooks[0]["active"] is False
        log = (await gql(LOG, {"id": hook["webhook"]["id"]},
                         token=shop.admin_token))["webhookDeliveries"]
        assert [(d["status"], d["attempts"], d["lastResponseCode"]) for d in log] == [
            ("pending", 6, 500)]
        receiver.mode = 200
        again = (await gql(REDELIVER, {"input": {"deliveryId": log[0]["id"]}},
                           token=shop.admin_token))["redeliverWebhook"]
        assert again["errors"] == [] and again["delivery"]["status"] == "pending"
        await pump(http)
    assert len(receiver.received) == 1
    assert (await gql(HOOKS, token=shop.admin_token))["webhooks"][0]["active"] is True


async def test_a_delivery_fails_after_its_last_attempt_and_bad_input(gql, shop, alice,
                                                                       receiver):
    set_settings(settings_for(DATABASE_URL, webhook_allow_http=True,
                              webhook_backoff_seconds=0.05, webhook_backoff_max_seconds=0.2,
                              webhook_timeout_seconds=0.5, webhook_max_attempts=2))
    hook = await webhook(gql, shop, receiver.url, ["points.earned"])
    from tests.api.test_pos import buy

    receiver.mode = 500
    await buy(gql, shop, alice, 10_00)
    async with new_client() as http:
        await pump(http, passes=3)
        receiver.mode = 200
        await buy(gql, shop, alice, 11_00)  # not held back by the failed one
        await pump(http)
    log = (await gql(LOG, {"id": hook["webhook"]["id"]}, token=shop.admin_token))
    assert [(d["status"], d["attempts"]) for d in log["webhookDeliveries"]] == [
        ("delivered", 1), ("failed", 2)]

    for url, events, field in (("ftp://x.test/h", ["*"], "url"), (receiver.url, [], "events")):
        bad = (await gql(CREATE, {"input": {"url": url, "events": events}},
                         token=shop.admin_token))["createWebhook"]
        assert bad["errors"] == [{"code": "INVALID_INPUT", "field": field}]
    set_settings(settings_for(DATABASE_URL))  # https only, as in production
    plain = (await gql(CREATE, {"input": {"url": receiver.url, "events": ["*"]}},
                       token=shop.admin_token))["createWebhook"]
    assert plain["errors"] == [{"code": "INVALID_INPUT", "field": "url"}]
    for token in (shop.cashier_token, alice.token):
        body = await gql.raw(HOOKS, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    missing = (await gql(REDELIVER, {"input": {"deliveryId": "424242"}},
                         token=shop.admin_token))["redeliverWebhook"]
    assert missing["errors"] == [{"code": "NOT_FOUND"}]


async def outbox(kind: str, customer_id: int, payload: str) -> None:
    """An outbox row written by hand: an older producer's, or none's."""
    await execute(connections.get("default"),
                  "INSERT INTO outbox_event (kind, customer_id, payload, created_at, attempts) "
                  "VALUES ($1, $2, $3, $4, 0)", kind, customer_id, payload, datetime.now(UTC))


async def fanned_out() -> list[tuple[str, str]]:
    """(event, body) of each delivery written, in event order."""
    return [(r[0], r[1]) for r in await fetch(
        connections.get("default"), "SELECT event, body FROM webhook_delivery ORDER BY event_id")]


async def test_data_is_the_payload_the_outbox_holds_whatever_its_class_makes_of_it(
        gql, shop, alice, receiver, caplog):
    # given rows a typed event would write otherwise, or not at all
    await webhook(gql, shop, receiver.url, ["*"])
    legacy_bonus = {"transaction_id": 20, "points": 50, "balance": 80, "store_id": None,
                    "store_name": None, "signed_points": 50}  # no channel: a journey's bonus
    not_its_kind = {"transaction_id": "seven", "points": 5}
    await outbox(PointsEarned.kind, alice.id, json.dumps(legacy_bonus))
    await outbox(PointsRedeemed.kind, alice.id, json.dumps(not_its_kind))
    await outbox(PointsRedeemed.kind, alice.id, "[1, 2]")
    await outbox("journey.started", alice.id, json.dumps({"journey_id": 1}))
    await outbox(CampaignMessage.kind, alice.id,
                 json.dumps({"campaign_id": 1, "title": "Sale", "body": "-20%"}))
    # when the events are fanned out
    assert await fan_out() == 4
    # then each goes as the outbox holds it, in the envelope, byte for byte as before
    sent = await fanned_out()
    assert [event for event, _ in sent] == [PointsEarned.kind, PointsRedeemed.kind,
                                            PointsRedeemed.kind, "journey.started"]
    for (event, body), data in zip(sent, [legacy_bonus, not_its_kind, {}, {"journey_id": 1}],
                                   strict=True):
        envelope = json.loads(body)
        assert body == json.dumps({
            "id": envelope["id"], "type": event, "createdAt": envelope["createdAt"],
            "customerId": str(alice.id), "data": data,
        }, sort_keys=True, separators=(",", ":"))
    # and the rows that do not read as their kind are logged
    refused = [r.getMessage() for r in caplog.records
               if r.name == "notifications.webhooks.events"]
    assert len(refused) == 2 and "points.redeemed" in refused[0]


async def test_rows_erasure_emptied_before_the_fan_out_are_not_sent(gql, shop, alice,
                                                                    receiver):
    # given a purchase, then the customer erased before the fan-out read it
    await webhook(gql, shop, receiver.url, ["*"])
    from tests.api.test_pos import buy

    await buy(gql, shop, alice, 10_00)
    erased = await gql(ERASE, {"input": {"customerId": str(alice.id)}}, token=shop.admin_token)
    assert erased["eraseCustomer"]["errors"] == []
    # when the events are fanned out
    await fan_out()
    # then only her erasure goes out (not her purchase or closing, which say
    # nothing now), and every row is read
    sent = await fanned_out()
    assert [(event, json.loads(body)["data"]) for event, body in sent] == [
        ("customer.erased", {"customer_id": alice.id})]
    assert await fan_out() == 0
    unread = await fetch(connections.get("default"),
                         "SELECT count(*) FROM outbox_event WHERE webhooked_at IS NULL")
    assert unread[0][0] == 0
