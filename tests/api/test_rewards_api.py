"""The rewards catalogue through HTTP GraphQL: the admin stocks it, the
customer buys with points and receives a single-use coupon."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from loyalty.ledger.balances import verify_ledger
from tests.api.test_pos import available, buy
from tests.conftest import CustomerHandle, GraphQLClient, Shop

CREATE_REWARD = """
mutation($input: CreateRewardInput!) {
  createReward(input: $input) {
    reward { id name description pointsPrice stock startsAt endsAt active benefitKind
             benefitValue couponValidDays }
    errors { code field message }
  }
}"""
UPDATE_REWARD = """
mutation($input: UpdateRewardInput!) {
  updateReward(input: $input) {
    reward { id name pointsPrice stock endsAt active }
    errors { code field message }
  }
}"""
REWARDS = "query { rewards { id name pointsPrice stock benefitKind benefitValue } }"
REDEEM_REWARD = """
mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) {
    coupon { code title kind value expiresAt redeemedAt }
    transaction { id kind points description }
    errors { code field message }
  }
}"""
MY_COUPONS = "query { me { coupons { code title kind value expiresAt redeemedAt } } }"
HISTORY = "query { me { history(first: 1) { edges { node { channel description } } } } }"


async def create_reward(gql: GraphQLClient, shop: Shop, name: str = "Free coffee",
                        **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(name=name, pointsPrice=30, benefitKind="AMOUNT_OFF",
                                  benefitValue=250)
    values.update(fields)
    result = (await gql(CREATE_REWARD, {"input": values}, token=shop.admin_token))
    assert result["createReward"]["errors"] == [], result
    return result["createReward"]["reward"]


async def redeem(gql: GraphQLClient, customer: CustomerHandle, reward_id: str,
                 key: str | None = None) -> dict[str, Any]:
    return (await gql(REDEEM_REWARD, {"input": {"idempotencyKey": key or uuid.uuid4().hex,
                                                 "rewardId": reward_id}},
                      token=customer.token))["redeemReward"]


def codes(result: dict[str, Any]) -> list[str]:
    return [e["code"] for e in result["errors"]]


async def test_a_customer_buys_a_reward_and_receives_a_coupon(gql, shop, alice):
    reward = await create_reward(gql, shop, description="A coffee of your choice",
                                 couponValidDays=7)
    assert (reward["stock"], reward["active"], reward["couponValidDays"]) == (None, True, 7)
    await buy(gql, shop, alice, 100_00)
    listed = (await gql(REWARDS, token=alice.token))["rewards"]
    assert listed == [{"id": reward["id"], "name": "Free coffee", "pointsPrice": 30,
                       "stock": None, "benefitKind": "AMOUNT_OFF", "benefitValue": 250}]

    bought = await redeem(gql, alice, reward["id"])
    assert bought["errors"] == []
    assert (bought["transaction"]["kind"], bought["transaction"]["points"]) == ("REDEEM", -30)
    assert bought["transaction"]["description"] == "Reward: Free coffee"
    coupon = bought["coupon"]
    assert (coupon["title"], coupon["kind"], coupon["value"], coupon["redeemedAt"]) == (
        "Free coffee", "AMOUNT_OFF", 250, None)
    assert 10 <= len(coupon["code"]) <= 12
    assert await available(gql, alice) == 70
    assert (await gql(MY_COUPONS, token=alice.token))["me"]["coupons"] == [coupon]
    [entry] = (await gql(HISTORY, token=alice.token))["me"]["history"]["edges"]
    assert entry["node"] == {"channel": "APP", "description": "Reward: Free coffee"}


async def test_a_retried_redemption_returns_the_same_coupon_and_posts_nothing(
        gql, shop, alice):
    coffee = await create_reward(gql, shop, stock=5)
    cake = await create_reward(gql, shop, "Cake")
    await buy(gql, shop, alice, 100_00)
    first = await redeem(gql, alice, coffee["id"], key="buy-1")
    again = await redeem(gql, alice, coffee["id"], key="buy-1")
    assert again == first
    assert await available(gql, alice) == 70
    stocks = {r["name"]: r["stock"] for r in (await gql(REWARDS, token=alice.token))["rewards"]}
    assert stocks == {"Free coffee": 4, "Cake": None}
    other = await redeem(gql, alice, cake["id"], key="buy-1")
    assert codes(other) == ["IDEMPOTENCY_CONFLICT"] and other["coupon"] is None


async def test_concurrent_retries_of_one_redemption_post_once(gql, shop, alice):
    coffee = await create_reward(gql, shop)
    await buy(gql, shop, alice, 100_00)
    results = await asyncio.gather(*[redeem(gql, alice, coffee["id"], key="same")
                                     for _ in range(5)])
    assert {r["coupon"]["code"] for r in results} == {results[0]["coupon"]["code"]}
    assert await available(gql, alice) == 70


async def test_without_enough_points_nothing_is_bought(gql, shop, alice):
    coffee = await create_reward(gql, shop, stock=3)
    await buy(gql, shop, alice, 29_00)
    refused = await redeem(gql, alice, coffee["id"])
    assert codes(refused) == ["INSUFFICIENT_POINTS"] and refused["coupon"] is None
    assert await available(gql, alice) == 29
    assert (await gql(REWARDS, token=alice.token))["rewards"][0]["stock"] == 3
    assert (await gql(MY_COUPONS, token=alice.token))["me"]["coupons"] == []


async def test_the_last_item_goes_to_one_of_two_customers_buying_at_once(
        gql, shop, alice, bob):
    coffee = await create_reward(gql, shop, stock=1)
    await buy(gql, shop, alice, 100_00)
    await buy(gql, shop, bob, 100_00)
    results = await asyncio.gather(redeem(gql, alice, coffee["id"]),
                                   redeem(gql, bob, coffee["id"]))
    assert sorted(tuple(codes(r)) for r in results) == [(), ("OUT_OF_STOCK",)]
    assert sorted([await available(gql, alice), await available(gql, bob)]) == [70, 100]
    assert (await gql(REWARDS, token=alice.token))["rewards"] == []
    assert (await verify_ledger()).problems == []


async def test_a_reward_outside_its_dates_or_inactive_is_not_available(gql, shop, alice):
    later = await create_reward(gql, shop, "Later", startsAt="2099-01-01T00:00:00Z")
    coffee = await create_reward(gql, shop)
    await buy(gql, shop, alice, 100_00)
    assert codes(await redeem(gql, alice, later["id"])) == ["REWARD_NOT_AVAILABLE"]
    stopped = (await gql(UPDATE_REWARD, {"input": {"rewardId": coffee["id"], "active": False}},
                         token=shop.admin_token))["updateReward"]
    assert stopped["errors"] == [] and stopped["reward"]["active"] is False
    assert codes(await redeem(gql, alice, coffee["id"])) == ["REWARD_NOT_AVAILABLE"]
    assert codes(await redeem(gql, alice, "424242")) == ["NOT_FOUND"]
    assert (await gql(REWARDS, token=alice.token))["rewards"] == []
    assert await available(gql, alice) == 100


async def test_an_update_changes_only_the_fields_given(gql, shop, alice):
    coffee = await create_reward(gql, shop, stock=2, endsAt="2099-01-01T00:00:00Z")
    updated = (await gql(UPDATE_REWARD, {"input": {"rewardId": coffee["id"], "pointsPrice": 45,
                                                   "endsAt": None}},
                         token=shop.admin_token))["updateReward"]
    assert updated["errors"] == []
    assert updated["reward"] == {"id": coffee["id"], "name": "Free coffee", "pointsPrice": 45,
                                 "stock": 2, "endsAt": None, "active": True}
    unknown = (await gql(UPDATE_REWARD, {"input": {"rewardId": "424242", "stock": 1}},
                         token=shop.admin_token))["updateReward"]
    assert codes(unknown) == ["NOT_FOUND"]
    cleared = (await gql(UPDATE_REWARD, {"input": {"rewardId": coffee["id"], "name": None}},
                         token=shop.admin_token))["updateReward"]
    assert [(e["code"], e["field"]) for e in cleared["errors"]] == [("INVALID_INPUT", "name")]


@pytest.mark.parametrize(("fields", "field"), [
    (dict(name=" "), "name"),
    (dict(pointsPrice=0), "pointsPrice"),
    (dict(stock=-1), "stock"),
    (dict(benefitKind="PERCENT_OFF", benefitValue=120), "benefitValue"),
    (dict(benefitValue=0), "benefitValue"),
    (dict(couponValidDays=0), "couponValidDays"),
    (dict(startsAt="2030-01-02T00:00:00Z", endsAt="2030-01-01T00:00:00Z"), "endsAt"),
])
async def test_bad_rewards_are_refused_with_the_field_at_fault(gql, shop, fields, field):
    values: dict[str, Any] = dict(name="x", pointsPrice=10, benefitKind="AMOUNT_OFF",
                                  benefitValue=100)
    values.update(fields)
    result = (await gql(CREATE_REWARD, {"input": values}, token=shop.admin_token))
    assert result["createReward"]["reward"] is None
    assert [(e["code"], e["field"]) for e in result["createReward"]["errors"]] == [
        ("INVALID_INPUT", field)]


async def test_only_admins_stock_the_catalogue_and_only_customers_buy(gql, shop, alice):
    coffee = await create_reward(gql, shop)
    values = {"name": "x", "pointsPrice": 10, "benefitKind": "AMOUNT_OFF", "benefitValue": 1}
    for token in (alice.token, shop.cashier_token, None):
        assert (await gql.raw(CREATE_REWARD, {"input": values}, token=token))["data"] is None
        body = await gql.raw(UPDATE_REWARD, {"input": {"rewardId": coffee["id"]}}, token=token)
        assert body["data"] is None and body["errors"]
    body = await gql.raw(REDEEM_REWARD, {"input": {"idempotencyKey": "k",
                                                   "rewardId": coffee["id"]}},
                         token=shop.cashier_token)
    assert body["data"] is None and body["errors"]
    assert (await gql.raw(REWARDS, token=shop.cashier_token))["data"] is None
