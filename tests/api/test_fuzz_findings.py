"""Bugs the fuzzer (tests/api/test_fuzz.py) found, each pinned by the smallest
request that showed it: a clear code, never INTERNAL, and nothing written."""

from __future__ import annotations

import asyncio

import pytest
from tortoise import connections

from tests.api.test_offers_api import CREATE_OFFER
from tests.api.test_pos import PURCHASE, purchase_input
from tests.api.test_tiers_api import CREATE_TIER
from tests.conftest import IS_PG, CustomerHandle, GraphQLClient, Shop, sessions_left_busy


async def _count(table: str) -> int:
    _, rows = await connections.get("default").execute_query(f"SELECT COUNT(*) FROM {table}")
    return int(list(rows)[0][0])


def _codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


# Found as createOffer(startsAt: "0001-01-01T00:00:00+14:00"): OverflowError
# from astimezone(UTC) deep in the use case. Any instant at the calendar's
# edge overflows somewhere (a zone conversion, a day added), so the DateTime
# scalar refuses them all at the edge.
EDGE_INSTANTS = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                 "0001-01-01T00:00:00", "9999-12-31T23:59:59+00:00"]


def _offer_literal(ends_at: str) -> str:
    return CREATE_OFFER.replace("($input: CreateOfferInput!)", "").replace(
        "input: $input", 'input: { title: "Edge", target: ALL, benefitKind: PERCENT_OFF, '
        f'benefitValue: 10, endsAt: "{ends_at}" }}')


async def test_instants_at_the_calendars_edge_are_refused_like_malformed_ones(
        gql: GraphQLClient, shop: Shop, alice: CustomerHandle):
    # A literal is checked with the document (validation), a variable as input.
    malformed = await gql.raw(_offer_literal("not a date"), token=shop.admin_token)
    assert _codes(malformed) == ["GRAPHQL_VALIDATION_FAILED"]
    for instant in EDGE_INSTANTS:
        offer = {"title": "Edge", "target": "ALL", "benefitKind": "PERCENT_OFF",
                 "benefitValue": 10, "startsAt": instant}
        body = await gql.raw(CREATE_OFFER, {"input": offer}, token=shop.admin_token)
        assert body.get("data") is None and _codes(body) == ["INVALID_INPUT"], (instant, body)
        body = await gql.raw(_offer_literal(instant), token=shop.admin_token)
        assert _codes(body) == ["GRAPHQL_VALIDATION_FAILED"], (instant, body)
        args = purchase_input(shop, alice, 10_00, occurredAt=instant)
        body = await gql.raw(PURCHASE, args, token=shop.cashier_token)
        assert _codes(body) == ["INVALID_INPUT"], (instant, body)
    assert await _count("offer") == 0 and await _count("purchase") == 0


LOG_IN = """mutation($input: LogInInput!) {
  logIn(input: $input) { accessToken errors { code field } } }"""


# Found as staffLogIn(email: "x" * 300): the ORM validates a lookup's value
# against the column (254 characters) and raised ValidationError (INTERNAL).
# No account can have such an email: it is a wrong log-in like any other.
async def test_an_email_longer_than_any_account_s_is_a_wrong_log_in(
        gql: GraphQLClient, shop: Shop):
    for mutation in ("logIn", "staffLogIn"):
        document = LOG_IN.replace("logIn", mutation)
        body = await gql.raw(document, {"input": {"email": "x" * 300 + "@example.test",
                                                  "password": "whatever it is"}})
        assert not body.get("errors"), body
        payload = body["data"][mutation]
        assert payload["accessToken"] is None
        assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]


# Seen by the fuzzer as a 300 s stall of the next test's TRUNCATE on
# PostgreSQL: a refused field's sibling, cancelled by graphql-core in the
# middle of a plain query, left its pooled connection "active, ClientRead"
# inside a transaction, holding its locks until the connection was used
# again. The cancellation reached the task after asyncpg's prepare (Parse,
# Describe, Flush) was answered and before the task resumed to send Bind,
# Execute and Sync: asyncpg sent neither a cancel request nor a Sync and
# released the connection as idle. loyalty.platform.db.NoResetConnection settles such
# a connection on release.
REFUSED_BESIDE_A_QUERY = ('{ me { tier { name } points { available } '
                          'history(first: 5, after: "bad") { edges { cursor } } } }')


@pytest.mark.skipif(not IS_PG, reason="the pool's connections are PostgreSQL's")
async def test_a_sibling_cancelled_mid_query_leaves_no_transaction_open(
        gql: GraphQLClient, shop: Shop, alice: CustomerHandle):
    await gql(CREATE_TIER, {"input": {"name": "Silver", "threshold": 100}},
              token=shop.admin_token)
    for _ in range(50):
        body = await asyncio.wait_for(gql.raw(REFUSED_BESIDE_A_QUERY, token=alice.token), 5)
        assert _codes(body) == ["INVALID_INPUT"]
        assert await sessions_left_busy() == []
