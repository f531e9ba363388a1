"""trackEvents with an API client's key (scope EVENTS): a web shop or an
integration names the customer (customerId) or the browser (anonymousId);
the events are kept with the client that sent them, on the executor's path
and on the persisted document's fast path alike; a key without the scope and
a manager's token are refused on both."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api import client_audit
from api.fast_track import TRACK_DOCUMENT
from tests.api.test_api_clients import create_client
from tests.api.test_profile_api import staff
from tests.conftest import GraphQLClient, Shop
from tests.integration.test_expiry import rows

# The same selection, named: the fast path leaves it to the executor.
EXECUTOR_DOCUMENT = TRACK_DOCUMENT.replace("mutation(", "mutation Named(", 1)


def web_event(customer_id: int | None = None, anonymous_id: str | None = None,
              name: str = "page_viewed") -> dict:
    event: dict = {"messageId": f"w-{uuid.uuid4().hex}", "name": name, "channel": "WEB",
                   "occurredAt": (datetime.now(UTC) - timedelta(seconds=3)).isoformat(),
                   "properties": {"url": "/shoes", "utm_source": "newsletter"}}
    if customer_id is not None:
        event["customerId"] = str(customer_id)
    if anonymous_id is not None:
        event["anonymousId"] = anonymous_id
    return event


@pytest.mark.parametrize("document", [TRACK_DOCUMENT, EXECUTOR_DOCUMENT],
                         ids=["fast path", "executor"])
async def test_a_web_shop_sends_events_attributed_to_its_key(
        gql: GraphQLClient, shop: Shop, alice, monkeypatch: pytest.MonkeyPatch, document: str):
    import api.fast_track

    answered = []
    original = api.fast_track.data_of
    monkeypatch.setattr(api.fast_track, "data_of",
                        lambda tracked: answered.append(1) or original(tracked))
    created = await create_client(gql, shop, ["EVENTS"], stores=[])
    secret, client_id = created["secret"], int(created["client"]["id"])
    # given: a page seen by Alice, one by a browser before any log-in, and
    # one naming nobody and one naming an unknown customer
    batch = [web_event(alice.id), web_event(anonymous_id="browser-1"), web_event(),
             web_event(999_999_999)]
    sent = await gql.raw(document, {"input": {"events": batch}}, token=secret)
    assert sent == {"data": {"trackEvents": {"accepted": 2, "duplicates": 0, "errors": [
        {"code": "INVALID_INPUT", "field": "events.2",
         "message": "Name the customer: customerId or anonymousId."},
        {"code": "NOT_FOUND", "field": "events.3.customerId", "message": "No such customer."},
    ]}}}
    assert len(answered) == (1 if document == TRACK_DOCUMENT else 0)
    # then: both are kept with the client that sent them
    assert await rows("SELECT customer_id, anonymous_id, api_client_id FROM customer_event "
                      "ORDER BY id") == [(alice.id, None, client_id),
                                         (None, "browser-1", client_id)]
    again = await gql.raw(document, {"input": {"events": batch[:2]}}, token=secret)
    assert again["data"]["trackEvents"]["duplicates"] == 2
    # and each call is in the audit log under the client, with its operation
    await client_audit.flush()
    audit = await rows("SELECT actor_kind, actor_id, action, detail FROM audit_log "
                       "WHERE action = 'api.call' ORDER BY id")
    assert [(r[0], r[1], r[2]) for r in audit] == [("client", client_id, "api.call")] * 2
    details = [r[3] if isinstance(r[3], dict) else json.loads(r[3]) for r in audit]
    assert {(d["operation"], d["outcome"], d["status"]) for d in details} == {
        ("trackEvents", "ok", 200)}


@pytest.mark.parametrize("document", [TRACK_DOCUMENT, EXECUTOR_DOCUMENT],
                         ids=["fast path", "executor"])
async def test_without_scope_events_or_as_a_manager_it_is_refused(
        gql: GraphQLClient, shop: Shop, alice, document: str):
    purchases_only = (await create_client(gql, shop, ["PURCHASES", "CUSTOMERS_READ"]))["secret"]
    manager = await staff(gql, shop, "boss@shop.test", "MANAGER", [shop.store_id])
    batch = {"input": {"events": [web_event(alice.id)]}}
    for token in (purchases_only, manager, shop.cashier_token):
        refused = await gql.raw(document, batch, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", token
        assert refused["data"] is None
    revoked = await create_client(gql, shop, ["EVENTS"], stores=[], name="Old shop")
    await gql("mutation($input: ApiClientIdInput!) { revokeApiClient(input: $input) "
              "{ errors { code } } }", {"input": {"clientId": revoked["client"]["id"]}},
              token=shop.admin_token)
    gone = await gql.raw(document, batch, token=revoked["secret"])
    assert gone["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # an admin (a back-office tool) still may
    admin = await gql.raw(document, batch, token=shop.admin_token)
    assert admin["data"]["trackEvents"]["accepted"] == 1
    assert await rows("SELECT api_client_id FROM customer_event") == [(None,)]
