"""A bounded fuzz run over the real app: generated queries and mutations with
generated arguments (tests/api/fuzz_support.py), sent over HTTP to the test
server as a customer, a cashier, an admin, nobody, a customer whose row is
gone, and (as an admin) with documents that each break the schema once. It
passes when every request is answered within ANSWER_SECONDS, no answer is a
5xx, every error carries a known code that is not INTERNAL, and the ledger
still verifies (loyalty ledger verify, in-process).

Reproducible: Hypothesis runs derandomized, so CI sends the same documents on
every run (only the fresh QR codes and near-now times differ). Each role's
run prints how many requests it sent and how long they took; a failure lists
one request per kind of problem, with the exception the server logged.
Bounded: 2,100 requests, under a minute per database on two idle cores;
LOYALTY_FUZZ_SCALE=10 sends ten times as many (a longer campaign, by hand).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode

from api.schema import build_schema
from loyalty.identity.tokens import Principal, issue_access_token
from loyalty.ledger.balances import verify_ledger
from tests.api.fuzz_support import Seeds, operations, problems_of
from tests.api.test_pos import buy
from tests.conftest import (
    DATABASE_URL,
    IS_PG,
    PASSWORD,
    CustomerHandle,
    GraphQLClient,
    Server,
    Shop,
    sessions_left_busy,
    settings_for,
    sign_up,
)

SCHEMA = build_schema(settings_for(DATABASE_URL))._schema


@dataclass(frozen=True)
class Role:
    # Root fields whose permission class is one of these, and the public
    # ones; None: every field (a caller without a token tries them all).
    permissions: frozenset[str] | None
    examples: int
    token: str
    # Mode.NEGATIVE: documents that break the schema once each.
    mode: Mode = Mode.POSITIVE
    # Several root fields in every document (see fuzz_support.operations).
    together: bool = False


ROLES = {
    "customer": Role(frozenset({"IsCustomer"}), 600, "customer"),
    "cashier": Role(frozenset({"IsStaff"}), 400, "cashier"),
    "admin": Role(frozenset({"IsAdmin", "IsStaff"}), 700, "admin"),
    # Refused at once beside public fields that are mid-transaction.
    "anonymous": Role(None, 100, "none", together=True),
    # A well-signed token whose customer no longer exists.
    "ghost": Role(frozenset({"IsCustomer"}), 150, "ghost"),
    "malformed": Role(None, 150, "admin", Mode.NEGATIVE),
}


def fields_for(role: Role) -> list[str]:
    names = []
    for root in (SCHEMA.query_type, SCHEMA.mutation_type):
        assert root is not None
        for name, field in root.fields.items():
            definition = field.extensions["strawberry-definition"]
            classes = {c.__name__ for c in definition.permission_classes}
            if role.permissions is None or not classes or classes & role.permissions:
                names.append(name)
    return names


async def _create(gql: GraphQLClient, token: str, mutation: str, values: dict[str, Any],
                  result: str) -> str:
    assert SCHEMA.mutation_type is not None
    input_type = SCHEMA.mutation_type.fields[mutation].args["input"].type
    document = (f"mutation($input: {input_type}) {{ {mutation}(input: $input) "
                f"{{ {result} {{ id }} errors {{ code field }} }} }}")
    payload = (await gql(document, {"input": values}, token=token))[mutation]
    assert payload["errors"] == [], (mutation, payload)
    return str(payload[result]["id"])


async def seed(gql: GraphQLClient, shop: Shop, alice: CustomerHandle) -> Seeds:
    """A small programme for the generated ids and strings to hit: a store's
    geofence, a tier, a reward, an offer, an earn rule and a purchase."""
    admin = shop.admin_token
    ids = [shop.store_id, shop.other_store_id, str(alice.id)]
    ids.append(await _create(gql, admin, "createGeofence", {
        "storeId": shop.store_id, "latitude": 48.87, "longitude": 2.33,
        "radiusMeters": 150}, "geofence"))
    ids.append(await _create(gql, admin, "createTier", {"name": "Silver", "threshold": 100},
                             "tier"))
    ids.append(await _create(gql, admin, "createReward", {
        "name": "Coffee", "pointsPrice": 5, "benefitKind": "AMOUNT_OFF",
        "benefitValue": 100}, "reward"))
    ids.append(await _create(gql, admin, "createOffer", {
        "title": "Ten off", "target": "ALL", "benefitKind": "PERCENT_OFF",
        "benefitValue": 10}, "offer"))
    ids.append(await _create(gql, admin, "createEarnRule", {
        "name": "double", "label": "Double points", "kind": "MULTIPLIER", "rate": "2"}, "rule"))
    purchase = await buy(gql, shop, alice, 25_00, receipt="R-1")
    ids.append(str(purchase["transaction"]["id"]))
    history = await gql("{ me { history { edges { cursor } } } }", token=alice.token)
    cursors = [edge["cursor"] for edge in history["me"]["history"]["edges"]]
    return Seeds(ids=ids,
                 strings=[alice.card_number, alice.email, PASSWORD, "R-1", "Silver", "Coffee",
                          "Europe/Paris", "UTC", "fr-FR", "EUR"],
                 fresh_strings=[alice.qr],
                 named={"after": cursors, "email": [alice.email], "password": [PASSWORD],
                        "cardNumber": [alice.card_number], "timezone": ["Europe/Paris"]},
                 fresh_named={"qrPayload": alice.qr})


@dataclass
class Failure:
    problem: str
    document: str
    variables: dict[str, Any]
    request_id: str


# A request still unanswered after this is a failure (a lock never released,
# a loop that never ends); the run stops there rather than queue behind it.
ANSWER_SECONDS = 10


def _fuzz(url: str, token: str | None, strategy: st.SearchStrategy[tuple[str, dict]],
          examples: int) -> tuple[int, list[Failure]]:
    """Runs in a thread: the server answers on the test's event loop meanwhile."""
    sent = 0
    failures: list[Failure] = []
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, timeout=ANSWER_SECONDS, headers=headers) as http:

        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], print_blob=False,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def send(operation: tuple[str, dict[str, Any]]) -> None:
            nonlocal sent
            document, variables = operation
            if any(f.problem.startswith("no answer") for f in failures):
                return
            sent += 1
            try:
                response = http.post("/graphql",
                                     json={"query": document, "variables": variables})
            except httpx.TimeoutException:
                failures.append(Failure(f"no answer within {ANSWER_SECONDS} s", document,
                                        variables, ""))
                return
            try:
                body = response.json()
            except ValueError:
                body = None
            # Collected, not raised: one run reports every kind of failure.
            for problem in problems_of(response.status_code, body):
                failures.append(Failure(problem, document, variables,
                                        response.headers.get("x-request-id", "")))

        send()
    return sent, failures


_LOGGED = re.compile(r"request_id=(\S+) .* type=(\S+)")


def _report(failures: list[Failure], records: list[logging.LogRecord]) -> str:
    """One example per kind of failure, with the exception the server logged."""
    kinds = dict(m.groups() for m in (_LOGGED.search(r.getMessage()) for r in records
                                      if r.name == "api.graphql") if m)
    seen: dict[str, Failure] = {}
    for failure in failures:
        seen.setdefault(re.sub(r"\d+", "N", failure.problem)[:100], failure)
    lines = [f"{len(failures)} failing answers, {len(seen)} kinds:"]
    for failure in seen.values():
        lines.append(f"- {failure.problem} [{kinds.get(failure.request_id, '?')}]\n"
                     f"    {failure.document[:400]}\n    variables={str(failure.variables)[:300]}")
    return "\n".join(lines)


@pytest.mark.parametrize("role_name", list(ROLES))
async def test_fuzzed_requests_find_no_bug(role_name: str, gql: GraphQLClient, server: Server,
                                           shop: Shop, alice: CustomerHandle,
                                           caplog: pytest.LogCaptureFixture,
                                           request: pytest.FixtureRequest):
    role = ROLES[role_name]
    seeds = await seed(gql, shop, alice)
    tokens = {"customer": alice.token, "cashier": shop.cashier_token,
              "admin": shop.admin_token, "none": None,
              "ghost": issue_access_token(Principal("customer", 2**31 - 7))[0]}
    await sign_up(gql, "Bob")  # someone for the generated ids and logins to find
    strategy = operations(SCHEMA, fields_for(role), seeds, mode=role.mode,
                          together=role.together)
    started = time.perf_counter()
    examples = role.examples * int(os.environ.get("LOYALTY_FUZZ_SCALE", "1"))
    sent, failures = await asyncio.to_thread(_fuzz, server.url, tokens[role.token], strategy,
                                             examples)
    elapsed = time.perf_counter() - started
    left_open = await sessions_left_busy()
    line = (f"fuzz {role_name} on {'PostgreSQL' if IS_PG else 'SQLite'}: "
            f"{sent} requests in {elapsed:.1f} s, {len(failures)} failing answers, "
            f"{len(left_open)} sessions left busy")
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
    request.node.user_properties.append(("fuzz_requests", sent))
    ledger = await verify_ledger()
    assert not failures, _report(failures, caplog.records)
    assert ledger.ok, ledger.problems
    assert left_open == []
    assert sent >= examples // 2, line
