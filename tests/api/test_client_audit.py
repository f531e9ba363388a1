"""Every call made with an API client's key leaves one audit line: the client,
the operation's root field (never the query's text or its variables), when,
how it ended, the HTTP status and the request id of its log lines; the
server writes a process's lines together, within FLUSH_SECONDS."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from api import client_audit
from tests.api.test_api_clients import PURCHASE, create_client, web_purchase
from tests.conftest import GraphQLClient, Shop
from tests.integration.test_expiry import rows

LOOKUP_NAMED = """
query Till($card: CardInput!, $storeId: ID!) {
  cardLookup(card: $card, storeId: $storeId) { customer { firstName } errors { code } }
}"""


async def post(gql: GraphQLClient, query: str, variables: dict, token: str,
               request_id: str) -> tuple[int, dict]:
    response = await gql.http.post(
        "/graphql", json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}", "x-request-id": request_id})
    return response.status_code, response.json()


async def audit_lines(flush: bool = True) -> list[tuple]:
    if flush:  # what the server writes within FLUSH_SECONDS, now
        await client_audit.flush()
    found = await rows("SELECT actor_kind, actor_id, action, target_kind, target_id, reason, "
                       "detail, at FROM audit_log WHERE action = 'api.call' ORDER BY id")
    return [(*r[:6], r[6] if isinstance(r[6], dict) else json.loads(r[6]), r[7])
            for r in found]


async def test_each_call_with_a_key_is_audited_without_its_text(
        gql: GraphQLClient, shop: Shop, alice):
    created = await create_client(gql, shop, ["PURCHASES", "CUSTOMERS_READ"])
    secret, client_id = created["secret"], int(created["client"]["id"])
    before = datetime.now(UTC) - timedelta(seconds=1)
    # when: a purchase, a purchase in a store out of the key's scope, a
    # named lookup, a malformed document, and staff's own calls
    status, bought = await post(gql, PURCHASE, web_purchase(
        shop, {"email": alice.email}, 12_00, "SECRET-RECEIPT-1"), secret, "req-1")
    assert status == 200 and bought["data"]["recordPurchase"]["errors"] == []
    _, elsewhere = await post(gql, PURCHASE, web_purchase(
        shop, {"email": alice.email}, 1_00, store=shop.other_store_id), secret, "req-2")
    assert elsewhere["data"]["recordPurchase"]["errors"][0]["code"] == "STORE_NOT_ALLOWED"
    _, looked = await post(gql, LOOKUP_NAMED, {"card": {"customerId": str(alice.id)},
                                               "storeId": shop.store_id}, secret, "req-3")
    assert looked["data"]["cardLookup"]["errors"] == []
    status, broken = await post(gql, "query { nothing }", {}, secret, "req-4")
    assert status in (200, 400) and broken["errors"]
    await gql("query { apiClients { id } }", token=shop.admin_token)
    await gql("query { me { id } }", token=alice.token)
    # then: one line per call of the key, in order, none for the others
    lines = await audit_lines()
    assert [(kind, actor, target) for kind, actor, _, target, *_ in lines] == [
        ("client", client_id, None)] * 4
    assert [line[6] for line in lines] == [
        {"operation": "recordPurchase", "outcome": "ok", "status": 200, "request_id": "req-1"},
        # A refusal in the payload is the operation's answer, not a failed call.
        {"operation": "recordPurchase", "outcome": "ok", "status": 200, "request_id": "req-2"},
        {"operation": "cardLookup", "outcome": "ok", "status": 200, "request_id": "req-3"},
        {"operation": "(invalid)", "outcome": "error", "status": status,
         "request_id": "req-4"},
    ]
    now = datetime.now(UTC)
    assert all(before <= _aware(line[7]) <= now for line in lines)
    # nothing of what the client sent is kept: no receipt, no email, no text
    kept = json.dumps([line[:7] for line in lines])
    assert "SECRET-RECEIPT-1" not in kept and alice.email not in kept
    assert "cardLookup(" not in kept and "Till" not in kept


async def test_a_refused_call_is_audited_with_its_outcome_unprompted(
        gql: GraphQLClient, shop: Shop, alice):
    events_only = await create_client(gql, shop, ["EVENTS"], stores=[])
    status, refused = await post(gql, PURCHASE, web_purchase(
        shop, {"cardNumber": alice.card_number}, 10_00), events_only["secret"], "req-9")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # written by the server on its own, a moment after the answer
    for _ in range(50):
        if await audit_lines(flush=False):
            break
        await asyncio.sleep(client_audit.FLUSH_SECONDS / 2)
    [line] = await audit_lines(flush=False)
    assert line[1] == int(events_only["client"]["id"])
    assert line[6] == {"operation": "recordPurchase", "outcome": "error", "status": status,
                       "request_id": "req-9"}


def _aware(value: object) -> datetime:
    from loyalty.platform.sql import as_datetime

    return as_datetime(value)
