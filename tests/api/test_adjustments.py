"""Customer service corrects balances: signed, with a reason, capped per role,
idempotent, audited, and shown in the customer's history."""

from __future__ import annotations

import uuid

from tortoise import connections

from loyalty.ledger.balances import verify_ledger
from tests.api.test_pos import available, buy
from tests.conftest import CREATE_STAFF, PASSWORD, STAFF_LOG_IN, GraphQLClient, Shop

ADJUST = """
mutation($input: AdjustPointsInput!) {
  adjustPoints(input: $input) {
    transaction { id kind points description } errors { code field message }
  }
}"""
HISTORY = "query { me { history(first: 5) { edges { node { kind points description } } } } }"


async def support_token(gql: GraphQLClient, shop: Shop) -> str:
    created = await gql(CREATE_STAFF, {"input": {"email": "help@shop.test", "password": PASSWORD,
                                                 "role": "SUPPORT"}}, token=shop.admin_token)
    assert created["createStaff"]["errors"] == []
    auth = await gql(STAFF_LOG_IN, {"input": {"email": "help@shop.test", "password": PASSWORD}})
    return auth["staffLogIn"]["accessToken"]


def adjustment(customer_id: int, points: int, reason: str = "Lost receipt",
               key: str | None = None) -> dict:
    return {"input": {"idempotencyKey": key or uuid.uuid4().hex,
                      "customerId": str(customer_id), "points": points, "reason": reason}}


async def test_support_adjusts_with_a_reason_the_customer_sees(gql, shop, alice):
    token = await support_token(gql, shop)
    args = adjustment(alice.id, 150, "Goodwill: late delivery", key="case-1")
    first = (await gql(ADJUST, args, token=token))["adjustPoints"]
    assert first["errors"] == []
    assert first["transaction"]["kind"] == "ADJUST" and first["transaction"]["points"] == 150
    again = (await gql(ADJUST, args, token=token))["adjustPoints"]
    assert again["transaction"]["id"] == first["transaction"]["id"]
    conflict = (await gql(ADJUST, adjustment(alice.id, 151, key="case-1"),
                          token=token))["adjustPoints"]
    assert [e["code"] for e in conflict["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    taken = (await gql(ADJUST, adjustment(alice.id, -50, "Duplicate credit"),
                       token=token))["adjustPoints"]
    assert taken["errors"] == []
    assert await available(gql, alice) == 100
    history = (await gql(HISTORY, token=alice.token))["me"]["history"]["edges"]
    assert [(e["node"]["kind"], e["node"]["points"], e["node"]["description"])
            for e in history] == [("ADJUST", -50, "Adjustment: Duplicate credit"),
                                  ("ADJUST", 150, "Adjustment: Goodwill: late delivery")]
    _, rows = await connections.get("default").execute_query(
        "SELECT actor_kind, action, target_id, reason FROM audit_log ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("staff", "points.adjusted", alice.id, "Goodwill: late delivery"),
        ("staff", "points.adjusted", alice.id, "Duplicate credit")]
    assert (await verify_ledger()).ok


async def test_limits_roles_and_bad_input(gql, shop, alice):
    token = await support_token(gql, shop)
    await buy(gql, shop, alice, 30_00)
    over = (await gql(ADJUST, adjustment(alice.id, 1_001), token=token))["adjustPoints"]
    assert [(e["code"], e["field"]) for e in over["errors"]] == [("FORBIDDEN", "points")]
    admin = (await gql(ADJUST, adjustment(alice.id, 1_001), token=shop.admin_token))
    assert admin["adjustPoints"]["errors"] == []
    overdraw = (await gql(ADJUST, adjustment(alice.id, -1_032),
                          token=shop.admin_token))["adjustPoints"]
    assert [e["code"] for e in overdraw["errors"]] == ["INSUFFICIENT_POINTS"]
    for bad, field in ((adjustment(alice.id, 10, "  "), "reason"),
                       (adjustment(alice.id, 0), "points"),
                       (adjustment(999_999, 10), "customerId"),
                       (adjustment(alice.id, 10, key="sys:x"), "idempotencyKey")):
        refused = (await gql(ADJUST, bad, token=token))["adjustPoints"]
        assert [e["field"] for e in refused["errors"]] == [field]
    assert await available(gql, alice) == 1_031
    for other in (shop.cashier_token, alice.token):
        body = await gql.raw(ADJUST, adjustment(alice.id, 1), token=other)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await verify_ledger()).ok


INBOX = "query { me { notifications(first: 10) { edges { node { title body } } } } }"


async def test_the_customer_is_told_of_an_adjustment_and_why(gql, shop, alice):
    from notifications.worker import run_once

    # given: customer service credits Alice, then takes some back
    token = await support_token(gql, shop)
    for points, reason in ((150, "Geste commercial : livraison en retard"),
                           (-50, "Crédit en double")):
        done = (await gql(ADJUST, adjustment(alice.id, points, reason),
                          token=token))["adjustPoints"]
        assert done["errors"] == []
    # when: the notifications worker runs
    await run_once(100)
    # then: each reaches her, in French, by her first name, with its reason
    edges = (await gql(INBOX, token=alice.token))["me"]["notifications"]["edges"]
    assert [(e["node"]["title"], e["node"]["body"]) for e in edges] == [
        ("50 points retirés",
         "Alice, le service client a retiré 50 points : Crédit en double. Il vous en reste 100"),
        ("+150 points ajoutés",
         "Alice, le service client vous a ajouté 150 points : Geste commercial : livraison "
         "en retard. Vous avez 150 points"),
    ]
