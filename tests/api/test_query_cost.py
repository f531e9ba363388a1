"""The query cost cap: a document priced over LOYALTY_MAX_QUERY_COST is refused
with TOO_EXPENSIVE before any of it runs; ordinary documents pass."""

from __future__ import annotations

import pytest

import api.types.customer
from api.fast_home import HOME_DOCUMENT
from tests.api.test_pos import available, purchase_input
from tests.conftest import CustomerHandle, GraphQLClient, Shop

# 29 aliases fit under the alias limit (30); each draws an SVG (~6 ms of CPU).
SVG_FLOOD = "query { me { card { " + " ".join(
    f"q{i}: qr {{ svg }}" for i in range(29)) + " } } }"
ONE_SVG = "query { me { card { qr { payload svg } } } }"
# Priced at the largest page (100) whatever $n turns out to be: validation
# runs before the variables are known, and its verdict is cached per text.
HISTORY_NODE = ("edges { cursor node { id occurredAt kind points balanceAfter channel "
                "storeName description } }")
FIVE_PAGES = "query($n: Int) { me { " + " ".join(
    f"h{i}: history(first: $n) {{ {HISTORY_NODE} }}" for i in range(12)) + " } }"
FIVE_SMALL_PAGES = "query { me { " + " ".join(
    f"h{i}: history(first: 1) {{ {HISTORY_NODE} }}" for i in range(12)) + " } }"
# 29 purchases with the same key, each selecting lists: over the cap together.
PURCHASE_FLOOD = "mutation($input: RecordPurchaseInput!) { " + " ".join(
    f"p{i}: recordPurchase(input: $input) {{ transaction {{ id }} "
    "customer { offers { id title description activated expiresAt } } "
    "applied { title kind source bonusPoints } errors { code field message } }"
    for i in range(29)) + " }"


def _codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


@pytest.fixture
def svg_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every QR drawn as SVG by the (in-process) server."""
    calls: list[str] = []
    draw = api.types.customer.qr_svg

    def counting(payload: str) -> str:
        calls.append(payload)
        return draw(payload)

    monkeypatch.setattr(api.types.customer, "qr_svg", counting)
    return calls


async def test_29_aliased_svgs_are_refused_before_any_is_drawn(
        gql: GraphQLClient, alice: CustomerHandle, svg_calls: list[str]):
    body = await gql.raw(SVG_FLOOD, token=alice.token)
    assert body.get("data") is None
    assert _codes(body) == ["TOO_EXPENSIVE"]
    extensions = body["errors"][0]["extensions"]
    assert extensions["cost"] > extensions["maxCost"] == 10_000
    assert svg_calls == []


async def test_a_normal_query_and_one_svg_pass(
        gql: GraphQLClient, alice: CustomerHandle, svg_calls: list[str]):
    assert (await gql(HOME_DOCUMENT, token=alice.token))["me"]["firstName"] == "Alice"
    card = (await gql(ONE_SVG, token=alice.token))["me"]["card"]
    assert card["qr"]["svg"].startswith("<svg")
    assert len(svg_calls) == 1


async def test_a_variable_page_size_is_priced_at_the_largest_page(
        gql: GraphQLClient, alice: CustomerHandle):
    body = await gql.raw(FIVE_PAGES, {"n": 1}, token=alice.token)
    assert body.get("data") is None and _codes(body) == ["TOO_EXPENSIVE"]
    data = await gql(FIVE_SMALL_PAGES, token=alice.token)
    assert all(data["me"][f"h{i}"]["edges"] == [] for i in range(12))


async def test_a_refused_mutation_document_posts_nothing(
        gql: GraphQLClient, shop: Shop, alice: CustomerHandle):
    body = await gql.raw(PURCHASE_FLOOD, purchase_input(shop, alice, 10_00),
                         token=shop.cashier_token)
    assert body.get("data") is None and _codes(body) == ["TOO_EXPENSIVE"]
    assert await available(gql, alice) == 0
