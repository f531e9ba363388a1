"""The persisted home document's fast path (ADR 0009) answers byte for byte
what the normal executor answers, and only for that document."""

from __future__ import annotations

import json
import types
from typing import Any

import httpx
import pytest

import api.fast_home as fast_home
import wallet.qr as qr_module
from tests.api.test_pos import REDEEM, buy
from tests.api.test_tiers_api import _ladder
from tests.conftest import CustomerHandle, GraphQLClient, Shop, sign_up

HOME = fast_home.HOME_DOCUMENT
# The same selection, spelled so that the fast path does not recognise it:
# the normal executor answers it.
HOME_VIA_EXECUTOR = HOME.replace("query {", "query Home {")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the requests the fast path answered."""
    calls: list[int] = []
    real = fast_home.home_data

    async def counting(principal: Any) -> Any:
        data = await real(principal)
        if data is not None:
            calls.append(principal.subject_id)
        return data

    monkeypatch.setattr(fast_home, "home_data", counting)
    return calls


@pytest.fixture
def fixed_qr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Codes drawn with a fixed step and nonce, so two fetches can be compared."""
    monkeypatch.setattr(qr_module, "secrets", types.SimpleNamespace(token_bytes=bytes))
    monkeypatch.setattr(qr_module, "_step_at", lambda now=None: 57856320)


async def _post(gql: GraphQLClient, token: str | None, query: str,
                variables: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    response = await gql.http.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def _same_bytes(gql: GraphQLClient, customer: CustomerHandle,
                      served: list[int]) -> dict[str, Any]:
    before = len(served)
    fast = await _post(gql, customer.token, HOME)
    assert served[before:] == [customer.id]
    normal = await _post(gql, customer.token, HOME_VIA_EXECUTOR)
    assert len(served) == before + 1
    assert fast.content == normal.content
    for header in ("content-type", "content-length"):
        assert fast.headers[header] == normal.headers[header]
    return json.loads(fast.content)["data"]["me"]


async def test_a_new_customer_without_tiers_gets_the_executors_bytes(
        gql: GraphQLClient, shop: Shop, alice: CustomerHandle, served, fixed_qr):
    me = await _same_bytes(gql, alice, served)
    assert me["tier"] is None and me["points"]["nextExpiry"] is None
    assert me["history"] == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


async def test_history_pages_expiry_and_tiers_give_the_executors_bytes(
        gql: GraphQLClient, shop: Shop, alice: CustomerHandle, bob: CustomerHandle, served,
        fixed_qr):
    # given alice with more than a page of history and a redemption, and bob
    # with one entry
    for n in range(22):
        assert (await buy(gql, shop, alice, 10_00 + n))["errors"] == []
    await gql(REDEEM, {"input": {"idempotencyKey": "r1", "card": {"qrPayload": alice.qr()},
                                 "storeId": shop.store_id, "points": 15}},
              token=shop.cashier_token)
    await buy(gql, shop, bob, 3_00)
    # then both fast answers equal the executor's, first without tiers
    me = await _same_bytes(gql, alice, served)
    assert len(me["history"]["edges"]) == 20 and me["history"]["pageInfo"]["hasNextPage"]
    assert me["points"]["nextExpiry"] is not None and me["tier"] is None
    await _same_bytes(gql, bob, served)
    # and with a ladder: alice is Silver, bob in no tier yet
    await _ladder(gql, shop)
    await buy(gql, shop, alice, 1_00)
    me = await _same_bytes(gql, alice, served)
    assert me["tier"] is not None
    bob_me = await _same_bytes(gql, bob, served)
    assert bob_me["tier"]["nextTier"] == "Silver"


async def test_a_customer_who_spent_everything_has_no_expiry_in_either_path(
        gql: GraphQLClient, shop: Shop, served, fixed_qr):
    carol = await sign_up(gql, "Carol")
    await buy(gql, shop, carol, 20_00)
    await gql(REDEEM, {"input": {"idempotencyKey": "r2", "card": {"qrPayload": carol.qr()},
                                 "storeId": shop.store_id, "points": 20}},
              token=shop.cashier_token)
    me = await _same_bytes(gql, carol, served)
    assert me["points"]["nextExpiry"] is None and me["points"]["available"] == 0


async def test_each_fast_fetch_draws_a_fresh_verifiable_code(gql, alice, served):
    first = (await gql(HOME, token=alice.token))["me"]["card"]["qr"]
    second = (await gql(HOME, token=alice.token))["me"]["card"]["qr"]
    assert len(served) == 2
    assert first["payload"] != second["payload"]
    qr_module.verify_qr(qr_module.parse_qr(first["payload"]), alice.qr_secret)


async def test_anything_else_goes_through_the_executor(gql: GraphQLClient, shop: Shop,
                                                       alice: CustomerHandle, served):
    # Without a token, with a bad one, with a staff token: the executor's refusals.
    for token in (None, "nope", shop.cashier_token):
        body = await gql.raw(HOME, token=token)
        assert body["data"] is None or body["data"]["me"] is None
        assert body["errors"]
    # With variables, another document, or the document's whitespace changed
    # inside a token: the executor (the last one is a different document).
    assert (await gql.raw(HOME, {"x": 1}, token=alice.token))["data"]["me"]["firstName"]
    assert (await gql(HOME.replace("first: 20", "first: 2"), token=alice.token))["me"]
    # Other extensions, a streaming Accept header: the executor too.
    assert (await gql.http.post("/graphql", json={"query": HOME, "extensions": {"x": 1}},
                                headers={"authorization": f"Bearer {alice.token}"})).json()
    await gql.http.post("/graphql", json={"query": HOME}, headers={
        "authorization": f"Bearer {alice.token}", "accept": "multipart/mixed"})
    assert served == []
    # Whitespace and line breaks between tokens do not matter.
    spread = HOME.replace(" { ", "\n  {\n    ").replace(" ", "  ")
    assert (await gql(spread, token=alice.token))["me"]["firstName"] == "Alice"
    assert served == [alice.id]


async def test_what_the_executor_refuses_is_refused_the_same_way(
        gql: GraphQLClient, alice: CustomerHandle, served):
    """Requests that look like the home document but are not valid GraphQL
    requests get the executor's answer, never data (review findings)."""
    auth = {"authorization": f"Bearer {alice.token}"}

    async def both(**payload: Any) -> tuple[int, Any]:
        response = await gql.http.post("/graphql", json=payload, headers=auth)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.status_code, response.json()
        return response.status_code, {"text": response.text}

    # a query that is not a string
    status, _ = await both(query=[0] * (len(HOME) + 1))
    assert status == 400
    # variables or extensions that are not objects
    for bad in ([], "", 0, False):
        status, body = await both(query=HOME, variables=bad)
        assert status == 400 and "data" not in (body or {}), bad
    # Unicode spaces, which GraphQL refuses as characters
    status, body = await both(query=HOME.replace(" ", "\u00a0", 1))
    assert body.get("data") is None and "Unexpected character" in body["errors"][0]["message"]
    assert served == []
