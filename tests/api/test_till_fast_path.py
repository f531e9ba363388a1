"""The till's recordPurchase fast path (ADR 0021) answers byte for byte what
the executor answers, and leaves everything else to it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

import api.fast_till as fast_till
from tests.api.test_coupon_channels import issue
from tests.api.test_metrics import scrape, value
from tests.api.test_pos import available
from tests.conftest import CustomerHandle, GraphQLClient, Shop

# What the till in bench/pos_bench.py sends.
TILL = """mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    transaction { id points }
    customer { availablePoints }
    errors { code field message } } }"""
# Every plain field of the payload, with aliases, __typename and a name.
EVERYTHING = """mutation Till($purchase: RecordPurchaseInput!) {
  recordPurchase(input: $purchase) {
    __typename
    errors { code field message retryAfterSeconds }
    posted: transaction { __typename id kind points description createdAt }
    customer { firstName cardNumber availablePoints }
    applied { title kind source discount { amountMinor currency } }
    discount { amountMinor currency }
  } }"""
SELECTIONS = [TILL, EVERYTHING]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The idempotency keys of the purchases the fast path answered."""
    calls: list[str] = []
    real = fast_till.record

    async def counting(plan: Any, principal: Any, given: Any) -> Any:
        data = await real(plan, principal, given)
        calls.append(given.idempotency_key)
        return data

    monkeypatch.setattr(fast_till, "record", counting)
    return calls


@pytest.fixture
def executor_only(monkeypatch: pytest.MonkeyPatch):
    """Call with True to send the next requests through the executor."""
    real = fast_till.may_post

    def switch(on: bool) -> None:
        monkeypatch.setattr(fast_till, "may_post", (lambda p: False) if on else real)

    return switch


async def post(gql: GraphQLClient, token: str, query: str, variables: dict[str, Any],
               operation: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"query": query, "variables": variables}
    if operation is not None:
        body["operationName"] = operation
    return await gql.http.post("/graphql", json=body,
                               headers={"authorization": f"Bearer {token}"})


def purchase(shop: Shop, customer: CustomerHandle, amount: int, name: str = "input",
             **extra: Any) -> dict[str, Any]:
    return {name: {
        "idempotencyKey": uuid.uuid4().hex,
        "card": {"cardNumber": customer.card_number},
        "storeId": shop.store_id,
        "receiptId": uuid.uuid4().hex[:12],
        "total": {"amountMinor": amount, "currency": "EUR"},
        **extra,
    }}


async def same_bytes(gql: GraphQLClient, token: str, query: str, variables: dict[str, Any],
                     served: list[str], executor_only, *, fast_first: bool,
                     operation: str | None = None) -> dict[str, Any]:
    """The request answered by the fast path and by the executor (a replay,
    for a purchase that posted): the same status, headers and bytes."""
    answers = []
    for fast in ((True, False) if fast_first else (False, True)):
        executor_only(not fast)
        before = len(served)
        answers.append(await post(gql, token, query, variables, operation))
        assert len(served) == before + (1 if fast else 0)
    executor_only(False)
    first, second = answers
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    for header in ("content-type", "content-length"):
        assert first.headers[header] == second.headers[header]
    return first.json()["data"]["recordPurchase"]


@pytest.mark.parametrize("fast_first", [True, False])
@pytest.mark.parametrize("query", SELECTIONS, ids=["till", "everything"])
async def test_a_purchase_and_its_replay_give_the_executors_bytes(
        gql, shop, alice, served, executor_only, query, fast_first):
    name = "purchase" if query is EVERYTHING else "input"
    operation = "Till" if query is EVERYTHING else None
    variables = purchase(shop, alice, 12_34, name)
    paid = await same_bytes(gql, shop.cashier_token, query, variables, served, executor_only,
                            fast_first=fast_first, operation=operation)
    assert paid["errors"] == []
    assert await available(gql, alice) == 12  # posted once, replayed once


async def test_a_purchase_with_lines_a_coupon_a_channel_and_a_date(
        gql, shop, alice, served, executor_only):
    code = await issue(alice, channels=["STORE"], title="Dix pour cent")
    variables = purchase(
        shop, alice, 50_00, "purchase", couponCode=f" {code.lower()} ", channel="STORE",
        occurredAt="2026-11-29T10:15:00+01:00",
        lines=[{"sku": "A-1", "category": "shoes", "quantity": 2,
                "unitPrice": {"amountMinor": 20_00, "currency": "EUR"}},
               {"sku": "B-2", "quantity": 1, "unitPrice": {"amountMinor": 10_00,
                                                            "currency": "EUR"}}])
    paid = await same_bytes(gql, shop.cashier_token, EVERYTHING, variables, served,
                            executor_only, fast_first=True)
    assert paid["applied"] == [{"title": "Dix pour cent", "kind": "PERCENT_OFF",
                                "source": "COUPON",
                                "discount": {"amountMinor": 5_00, "currency": "EUR"}}]
    assert paid["discount"] == {"amountMinor": 5_00, "currency": "EUR"}
    assert paid["posted"]["points"] == 45


async def test_refusals_give_the_executors_bytes_and_post_nothing(
        gql, shop, alice, served, executor_only):
    refusals = [
        ({"storeId": shop.other_store_id}, "STORE_NOT_ALLOWED"),
        ({"storeId": "not-a-number"}, "INVALID_INPUT"),
        ({"card": {"cardNumber": "123"}}, "CARD_NOT_FOUND"),
        ({"total": {"amountMinor": -5, "currency": "EUR"}}, "INVALID_INPUT"),
        ({"total": {"amountMinor": 5_00, "currency": "XYZ"}}, "INVALID_INPUT"),
        ({"couponCode": "NO-SUCH-CODE"}, "COUPON_NOT_FOUND"),
        ({"channel": "SYSTEM"}, "INVALID_INPUT"),
    ]
    for change, code in refusals:
        variables = purchase(shop, alice, 10_00, "purchase")
        variables["purchase"].update(change)
        for fast_first in (True, False):
            refused = await same_bytes(gql, shop.cashier_token, EVERYTHING, variables, served,
                                       executor_only, fast_first=fast_first)
            assert refused["posted"] is None and refused["discount"] is None, change
            assert [e["code"] for e in refused["errors"]] == [code], (change, refused)
    assert await available(gql, alice) == 0


async def test_a_key_reused_for_another_purchase_is_the_same_conflict(
        gql, shop, alice, served, executor_only):
    first = purchase(shop, alice, 10_00)
    assert (await post(gql, shop.cashier_token, TILL, first)).json()["data"][
        "recordPurchase"]["errors"] == []
    other = purchase(shop, alice, 99_00)
    other["input"]["idempotencyKey"] = first["input"]["idempotencyKey"]
    refused = await same_bytes(gql, shop.cashier_token, TILL, other, served, executor_only,
                               fast_first=True)
    assert refused["errors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    assert await available(gql, alice) == 10


def _bad_variables(shop: Shop, alice: CustomerHandle) -> dict[str, tuple[str, Any, str | None]]:
    """Requests the fast path leaves to the executor: (query, variables, operationName)."""
    good = purchase(shop, alice, 10_00)
    with_input = lambda **change: {"input": {**good["input"], **change}}  # noqa: E731
    return {
        "amount as a string": (TILL, with_input(total={"amountMinor": "1000",
                                                       "currency": "EUR"}), None),
        "amount past Int": (TILL, with_input(total={"amountMinor": 2**31,
                                                    "currency": "EUR"}), None),
        "amount as a float": (TILL, with_input(total={"amountMinor": 1000.5,
                                                      "currency": "EUR"}), None),
        "unknown input field": (TILL, with_input(tip=5), None),
        "missing input field": (TILL, {"input": {k: v for k, v in good["input"].items()
                                                 if k != "receiptId"}}, None),
        "null input": (TILL, {"input": None}, None),
        "a NUL in a string": (TILL, with_input(receiptId="r\u0000"), None),
        "an unknown channel": (TILL, with_input(channel="MOON"), None),
        "a date out of range": (TILL, with_input(occurredAt="0001-01-01T00:00:00Z"), None),
        "an extra variable": (TILL, {**with_input(), "more": 1}, None),
        "another operation name": (TILL, with_input(), "Other"),
        "a field with a resolver": (TILL.replace("availablePoints", "availablePoints tier"),
                                    with_input(), None),
        "a fragment": (TILL.replace("customer { availablePoints }",
                                    "customer { ...C }") + " fragment C on CashierCustomerView"
                       " { availablePoints }", with_input(), None),
        "a directive": (TILL.replace("transaction {", "transaction @include(if: true) {"),
                        with_input(), None),
        "a second root field": (TILL.replace("errors { code field message } }",
                                             "errors { code field message } } "
                                             "again: recordPurchase(input: $input) "
                                             "{ errors { code } }"), with_input(), None),
        "an unknown field": (TILL.replace("points }", "points pointz }"), with_input(), None),
    }


async def test_what_it_does_not_serve_the_executor_answers_alike(
        gql, shop, alice, served, executor_only):
    for label, (query, variables, operation) in _bad_variables(shop, alice).items():
        answers = []
        for only in (False, True):
            executor_only(only)
            answers.append(await post(gql, shop.cashier_token, query, variables, operation))
        executor_only(False)
        assert served == [], label
        assert answers[0].status_code == answers[1].status_code, label
        assert answers[0].json() == answers[1].json(), label
    # The requests the executor accepts all carry the same purchase: it
    # posted once, then replayed.
    assert await available(gql, alice) == 10


async def test_tokens_it_does_not_admit_go_to_the_executor(gql, shop, alice, served):
    variables = purchase(shop, alice, 10_00)
    for token in (alice.token, "not-a-token"):
        body = (await post(gql, token, TILL, variables)).json()
        assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED")
    admin = (await post(gql, shop.admin_token, TILL, variables)).json()
    assert admin["data"]["recordPurchase"]["errors"] == []  # staff may post in any store
    assert served == [variables["input"]["idempotencyKey"]]


async def test_it_is_counted_as_the_executor_counts_it(server, gql, shop, alice, served):
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = await scrape(http)
        answer = await post(gql, shop.cashier_token, TILL, purchase(shop, alice, 10_00))
        assert answer.json()["data"]["recordPurchase"]["errors"] == []
        after = await scrape(http)
    assert len(served) == 1

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("loyalty_graphql_operations_total", operation="recordPurchase",
                 outcome="ok") == 1
    assert delta("loyalty_graphql_operation_duration_seconds_count",
                 operation="recordPurchase") == 1


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_failing_use_case_is_the_executors_failure_not_a_silent_retry(
        gql, shop, alice, served, executor_only, monkeypatch, when):
    """The use case fails unexpectedly (a connection lost, a deadlock, a bug),
    before or after its commit: the executor answers that failure (INTERNAL,
    logged, counted), and so must the fast path, without running the use
    case a second time through the executor to turn it into a success."""
    from loyalty.points import purchases

    real = purchases.record_purchase
    armed: list[bool] = []
    calls: list[str] = []

    async def flaky(command: Any) -> Any:
        calls.append(command.idempotency_key)
        if not armed:
            return await real(command)
        armed.pop()
        if when == "after":
            await real(command)
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(purchases, "record_purchase", flaky)
    answers = []
    for fast in (True, False):
        executor_only(not fast)
        armed.append(True)
        answers.append(await post(gql, shop.cashier_token, TILL, purchase(shop, alice, 10_00)))
    executor_only(False)
    by_fast, by_executor = answers
    assert by_executor.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
    assert by_fast.status_code == by_executor.status_code
    assert by_fast.content == by_executor.content
    assert len(calls) == 2  # once per request
    assert served == []
    assert await available(gql, alice) == (20 if when == "after" else 0)


async def test_a_payload_it_cannot_complete_is_completed_by_the_executor_from_the_same_run(
        gql, shop, alice, served, executor_only, monkeypatch):
    """A value the schema cannot serialise (a balance past Int): the
    executor's partial answer and its error, made from the one run."""
    import dataclasses

    from loyalty.points import purchases

    real = purchases.record_purchase
    calls: list[str] = []

    async def too_rich(command: Any) -> Any:
        calls.append(command.idempotency_key)
        return dataclasses.replace(await real(command), available=2**31)

    monkeypatch.setattr(purchases, "record_purchase", too_rich)
    answers = []
    for fast in (True, False):
        executor_only(not fast)
        answers.append(await post(gql, shop.cashier_token, TILL.replace("id points", "points"),
                                   purchase(shop, alice, 10_00)))
    executor_only(False)
    by_fast, by_executor = answers
    body = by_executor.json()
    assert body["data"]["recordPurchase"]["customer"] is None
    assert body["errors"][0]["path"] == ["recordPurchase", "customer", "availablePoints"]
    assert by_fast.status_code == by_executor.status_code
    assert by_fast.content == by_executor.content
    assert len(calls) == 2 and served == []


def test_the_path_serves_only_while_the_field_has_the_permission_it_checks(
        monkeypatch: pytest.MonkeyPatch):
    from api.schema import build_schema
    from loyalty.platform.config import get_settings

    schema = build_schema(get_settings())
    assert fast_till.TillPath(schema, schema.guard_caches).plan_for(TILL) is not None
    # as if recordPurchase's permission were changed and this path not
    monkeypatch.setattr(fast_till, "StaffOrPurchasesClient", type("Other", (), {}))
    changed = fast_till.TillPath(schema, schema.guard_caches)
    assert not changed.enabled and changed.plan_for(TILL) is None
