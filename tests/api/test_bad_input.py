"""Bad input: a clear error with a stable code, and nothing written."""

from __future__ import annotations

from tests.api.test_pos import PURCHASE, REDEEM, available, buy, purchase_input
from tests.conftest import GraphQLClient

HISTORY_COUNT = "query { me { history(first: 100) { edges { cursor } } } }"


async def _history_len(gql: GraphQLClient, customer) -> int:
    return len((await gql(HISTORY_COUNT, token=customer.token))["me"]["history"]["edges"])


async def test_bad_amounts_and_currencies_are_refused_and_nothing_is_written(gql, shop, alice):
    cases = [
        ({"total": {"amountMinor": 0, "currency": "EUR"}}, "total.amountMinor"),
        ({"total": {"amountMinor": -500, "currency": "EUR"}}, "total.amountMinor"),
        ({"total": {"amountMinor": 500, "currency": "XXX"}}, "total.currency"),
        ({"total": {"amountMinor": 500, "currency": "euro"}}, "total.currency"),
        ({"receiptId": ""}, "receiptId"),
        ({"idempotencyKey": ""}, "idempotencyKey"),
        ({"idempotencyKey": "k" * 129}, "idempotencyKey"),
        ({"occurredAt": "2999-01-01T00:00:00+00:00"}, "occurredAt"),
        ({"occurredAt": "2001-01-01T00:00:00+00:00"}, "occurredAt"),
        ({"storeId": "abc"}, "storeId"),
        ({"lines": [{"sku": "A", "quantity": 0,
                     "unitPrice": {"amountMinor": 100, "currency": "EUR"}}]}, "lines.0.quantity"),
    ]
    for override, field in cases:
        args = purchase_input(shop, alice, 10_00)
        args["input"].update(override)  # type: ignore[union-attr]
        result = (await gql(PURCHASE, args, token=shop.cashier_token))["recordPurchase"]
        codes = [(e["code"], e["field"]) for e in result["errors"]]
        assert codes == [("INVALID_INPUT", field)], (override, codes)
        assert result["transaction"] is None
    # Beyond GraphQL's 32-bit Int the request is malformed: a top-level error.
    args = purchase_input(shop, alice, 10**15)
    body = await gql.raw(PURCHASE, args, token=shop.cashier_token)
    assert body["data"] is None and "32-bit" in body["errors"][0]["message"]
    assert await available(gql, alice) == 0
    assert await _history_len(gql, alice) == 0


async def test_bad_redemption_points_are_refused(gql, shop, alice):
    await buy(gql, shop, alice, 10_00)
    for points in (0, -5):
        result = (await gql(REDEEM, {"input": {"idempotencyKey": f"r{points}",
                                               "card": {"qrPayload": alice.qr()},
                                               "storeId": shop.store_id, "points": points}},
                            token=shop.cashier_token))["redeemPoints"]
        assert [(e["code"], e["field"]) for e in result["errors"]] == [
            ("INVALID_INPUT", "points")]
    assert await available(gql, alice) == 10


async def test_malformed_forged_and_expired_qr_payloads(gql, shop, alice):
    from datetime import UTC, datetime, timedelta

    from wallet.qr import make_qr

    good = alice.qr()
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    old = make_qr(alice.card_number, alice.qr_secret,
                  now=datetime.now(UTC) - timedelta(minutes=5)).payload
    cases = {
        "": "CARD_NOT_FOUND", "hello": "CARD_NOT_FOUND", "x" * 5000: "CARD_NOT_FOUND",
        good.replace(".", "-"): "CARD_NOT_FOUND", "💳" * 10: "CARD_NOT_FOUND",
        forged: "CARD_NOT_FOUND", old: "QR_EXPIRED",
    }
    for payload, code in cases.items():
        args = purchase_input(shop, alice, 10_00)
        args["input"]["card"] = {"qrPayload": payload}  # type: ignore[index]
        result = (await gql(PURCHASE, args, token=shop.cashier_token))["recordPurchase"]
        assert [e["code"] for e in result["errors"]] == [code], payload[:40]
    both = purchase_input(shop, alice, 10_00)
    both["input"]["card"] = {"qrPayload": good, "cardNumber": alice.card_number}  # type: ignore
    result = (await gql(PURCHASE, both, token=shop.cashier_token))["recordPurchase"]
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", "card")]
    assert await available(gql, alice) == 0


async def test_a_10_mb_body_is_refused_before_it_is_read(gql, server):
    response = await gql.http.post("/graphql", content=b"{" + b" " * (10 * 1024 * 1024) + b"}",
                                   headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


async def test_deep_queries_are_refused(gql, alice):
    """The schema has no cycles, so the served limit (10) is above any real
    query; a schema built with a lower limit shows the rule at work."""
    from api.schema import build_schema
    from loyalty.platform.config import Settings

    deep = "query { me { history { edges { node { id } } } } }"
    assert not (await gql.raw(deep, token=alice.token)).get("errors")
    strict = build_schema(Settings(env="test", max_query_depth=3))
    result = await strict.execute(deep)
    assert result.errors and "exceeds maximum operation depth" in result.errors[0].message
    assert result.data is None


async def test_huge_queries_and_alias_floods_are_refused(gql, alice):
    huge = "query { " + " ".join(f"f{i}: __typename" for i in range(1500)) + " }"
    body = await gql.raw(huge, token=alice.token)
    assert body["errors"]
    aliases = "query { " + " ".join(f"a{i}: me {{ id }}" for i in range(40)) + " }"
    body = await gql.raw(aliases, token=alice.token)
    assert body["errors"] and "aliases" in body["errors"][0]["message"].lower()
    assert body.get("data") is None
