"""Messages filled from the ledger at send time, end to end: what a purchase,
a till redemption and a reward bought in the app tell the customer."""

from __future__ import annotations

import uuid

from notifications.worker import run_once
from tests.api.test_pos import REDEEM, buy
from tests.api.test_rewards_api import create_reward, redeem
from tests.api.test_tiers_api import _tier
from tests.conftest import CustomerHandle, GraphQLClient

INBOX = "query { me { notifications(first: 10) { edges { node { title body } } } } }"


async def inbox(gql: GraphQLClient, customer: CustomerHandle) -> list[tuple[str, str]]:
    data = await gql(INBOX, token=customer.token)
    return [(e["node"]["title"], e["node"]["body"]) for e in data["me"]["notifications"]["edges"]]


async def test_a_purchase_tells_the_points_still_needed_for_the_next_reward(gql, shop, alice):
    # given: rewards at 30 and 100 points, none on sale below
    await create_reward(gql, shop, "Un café", pointsPrice=30)
    await create_reward(gql, shop, "Un déjeuner", pointsPrice=100)
    # when: 40 points, then 1,200 more
    await buy(gql, shop, alice, 40_00)
    await run_once(100)
    await buy(gql, shop, alice, 1200_00)
    await run_once(100)
    # then: the nearest reward out of reach, then none left to aim for
    assert await inbox(gql, alice) == [
        ("+1\u202f200 points", "Alice, +1\u202f200 points à Opéra, 1\u202f240 au total"),
        ("+40 points", "Alice, +40 points à Opéra, 40 au total. Encore 60 points pour Un déjeuner"),
    ]


async def test_the_next_tier_is_told_when_it_is_nearer_than_a_reward(gql, shop, alice):
    assert (await _tier(gql, shop, name="Argent", threshold=100, multiplier="1"))["errors"] == []
    await create_reward(gql, shop, "Un déjeuner", pointsPrice=500)
    await buy(gql, shop, alice, 40_00)
    await run_once(100)
    assert await inbox(gql, alice) == [
        ("+40 points", "Alice, +40 points à Opéra, 40 au total. "
                       "Encore 60 points pour atteindre le niveau Argent")]


async def test_points_spent_at_a_till_and_on_a_reward_read_well(gql, shop, alice):
    # given: 100 points
    await buy(gql, shop, alice, 100_00)
    coffee = await create_reward(gql, shop, "Un café", pointsPrice=30)
    # when: 20 spent at the till, then a reward bought in the app (no store)
    spent = (await gql(REDEEM, {"input": {"idempotencyKey": uuid.uuid4().hex,
                                          "card": {"qrPayload": alice.qr()},
                                          "storeId": shop.store_id, "points": 20}},
                       token=shop.cashier_token))["redeemPoints"]
    assert spent["errors"] == []
    assert (await redeem(gql, alice, coffee["id"]))["errors"] == []
    await run_once(100)
    # then: the till names its store; the reward names what was got, no store
    got, till, _ = await inbox(gql, alice)
    assert till == ("20 points utilisés",
                    "Alice, vous avez utilisé 20 points à Opéra. Il vous en reste 80")
    assert got == ("Vous avez obtenu Un café",
                   "Alice, votre bon est prêt : 30 points utilisés, il vous en reste 50")
