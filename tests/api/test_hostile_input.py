"""Hostile values get a clear error with a stable code, never "Unexpected
error.", and nothing is written."""

from __future__ import annotations

import json

import httpx
from tortoise import connections

from tests.api.test_pos import PURCHASE, purchase_input
from tests.conftest import CREATE_STORE, PASSWORD, SIGN_UP, STAFF_LOG_IN, GraphQLClient

REGISTER = """mutation($input: RegisterDeviceInput!) {
  registerDevice(input: $input) { device { id } errors { code field } } }"""
ACTIVATE = """mutation($input: ActivateOfferInput!) {
  activateOffer(input: $input) { errors { code field } } }"""
SETTINGS = """mutation($input: UpdateProgrammeSettingsInput!) {
  updateProgrammeSettings(input: $input) { errors { code field } } }"""
HISTORY = "query($after: String) { me { history(first: 5, after: $after) { edges { cursor } } } }"


async def _count(table: str) -> int:
    _, rows = await connections.get("default").execute_query(f"SELECT COUNT(*) FROM {table}")
    return int(list(rows)[0][0])


def _code(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


async def test_nul_and_lone_surrogates_are_refused_before_anything_runs(server, gql, shop,
                                                                        alice):
    before = {t: await _count(t) for t in ("customer", "store", "purchase", "ledger_entry")}
    nul, surrogate = "a\u0000b", "a\ud800b"
    for bad in (nul, surrogate):
        # In variables, at any depth.
        cases = [
            (SIGN_UP, {"input": {"email": f"x{bad}@example.test", "password": PASSWORD,
                                 "firstName": "X"}}, None),
            (SIGN_UP, {"input": {"email": "y@example.test", "password": PASSWORD,
                                 "firstName": bad}}, None),
            (STAFF_LOG_IN, {"input": {"email": "admin@shop.test", "password": bad}}, None),
            (PURCHASE, purchase_input(shop, alice, 10_00, receipt=f"r{bad}"),
             shop.cashier_token),
            (CREATE_STORE, {"input": {"name": bad, "latitude": 1, "longitude": 2,
                                      "timezone": "UTC"}}, shop.admin_token),
        ]
        for query, variables, token in cases:
            # A lone surrogate cannot even be encoded as UTF-8: sent as JSON
            # text with its escape, as a client library would.
            content = json.dumps({"query": query, "variables": variables})
            response = await gql.http.post(
                "/graphql", content=content,
                headers={"content-type": "application/json",
                         **({"authorization": f"Bearer {token}"} if token else {})})
            body = response.json()
            assert body.get("data") is None, body
            assert _code(body) == "INVALID_INPUT", body
            assert body["errors"][0]["extensions"]["field"].startswith("$input")
    # In the document's literals.
    literal = ('mutation { signUp(input: {email: "z\\u0000@example.test", password: "'
               + PASSWORD + '", firstName: "Z"}) { accessToken } }')
    body = await gql.raw(literal)
    assert body.get("data") is None and _code(body) == "INVALID_INPUT"
    after = {t: await _count(t) for t in before}
    assert after == before


async def test_bad_timezones_are_invalid_input_not_a_crash(gql, shop, alice):
    for zone in ("Europe", "A" * 300, "../../../etc/passwd", "Europe/", "utc\n"):
        signed = (await gql(SIGN_UP, {"input": {"email": "tz@example.test", "password": PASSWORD,
                                                "firstName": "T", "timezone": zone}}))["signUp"]
        assert [(e["code"], e["field"]) for e in signed["errors"]] == [
            ("INVALID_INPUT", "timezone")], zone
        store = (await gql(CREATE_STORE, {"input": {"name": "S", "latitude": 1, "longitude": 2,
                                                    "timezone": zone}},
                           token=shop.admin_token))["createStore"]
        assert [(e["code"], e["field"]) for e in store["errors"]] == [
            ("INVALID_INPUT", "timezone")], zone
        device = (await gql(REGISTER, {"input": {"token": "t", "platform": "IOS",
                                                 "timezone": zone}},
                            token=alice.token))["registerDevice"]
        assert [(e["code"], e["field"]) for e in device["errors"]] == [
            ("INVALID_INPUT", "timezone")], zone
        settings = (await gql(SETTINGS, {"input": {"timezone": zone}},
                              token=shop.admin_token))["updateProgrammeSettings"]
        assert [(e["code"], e["field"]) for e in settings["errors"]] == [
            ("INVALID_INPUT", "timezone")], zone


async def test_an_oversized_cursor_is_invalid_input(gql, alice):
    import base64

    for value in ("99999999999999999999999", "-3", "1.5"):
        cursor = base64.urlsafe_b64encode(f"entry:{value}".encode()).decode()
        body = await gql.raw(HISTORY, {"after": cursor}, token=alice.token)
        assert _code(body) == "INVALID_INPUT", body


async def test_a_body_that_is_not_a_request_object_is_a_bad_request(server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        for raw in (b'"abc"', b"123", b"null", b"true", b"[]", b"{", b"\xff"):
            response = await http.post("/graphql", content=raw,
                                       headers={"content-type": "application/json"})
            assert response.status_code == 400, raw
            assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST", raw


async def test_a_token_for_an_account_that_no_longer_exists(gql: GraphQLClient, shop, alice):
    from api.permissions import forget_principal

    conn = connections.get("default")
    for table in ("card", "device", "outbox_event"):  # the sign-up's customer.signed_up
        await conn.execute_query(f"DELETE FROM {table} WHERE customer_id = {alice.id}")
    await conn.execute_query("DELETE FROM refresh_token WHERE subject_kind = 'customer' "
                             f"AND subject_id = {alice.id}")
    await conn.execute_query(f"DELETE FROM account WHERE customer_id = {alice.id}")
    await conn.execute_query(f"DELETE FROM customer WHERE id = {alice.id}")
    # What erasing an account does in the process that erased it; another
    # process refuses the token once its confirmation (30 s) runs out.
    forget_principal("customer", alice.id)
    for query, variables in ((REGISTER, {"input": {"token": "t", "platform": "IOS"}}),
                             (ACTIVATE, {"input": {"offerId": "1"}}),
                             ("{ me { id } }", None)):
        body = await gql.raw(query, variables, token=alice.token)
        assert _code(body) == "UNAUTHENTICATED", body
        assert "no longer exists" in body["errors"][0]["message"]
    assert await _count("device") == 0


async def test_subscriptions_are_refused_over_http(gql, alice):
    """Live updates are served over graphql-transport-ws only: over HTTP (with
    or without a streaming Accept) a subscription is refused with a code,
    never an INTERNAL error."""
    for accept in ("multipart/mixed;subscriptionSpec=1.0, application/json",
                   "text/event-stream", "application/json"):
        response = await gql.http.post(
            "/graphql", json={"query": "subscription { pointsChanged { available } }"},
            headers={"authorization": f"Bearer {alice.token}", "accept": accept})
        body = response.json()
        assert response.status_code in (200, 400), (accept, response.text)
        assert body.get("data") is None, (accept, body)
        assert _code(body) in ("BAD_REQUEST", "GRAPHQL_VALIDATION_FAILED"), (accept, body)
