"""A confirmed visit becomes a personalised welcome in the inbox (issue 4's
reaction), under marketing consent and the daily marketing cap."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.api.test_checkins import check_in, fences
from tests.api.test_offers_api import create_offer
from tests.api.test_rewards_api import create_reward
from tests.conftest import GraphQLClient
from tests.fakes.fixtures import notification_tables

__all__ = ["notification_tables"]

INBOX = "query { me { notifications(first: 10) { edges { node { title body } } } } }"
CONSENT = """
mutation($m: Boolean!) {
  updatePreferences(input: {locationOptIn: true, marketingOptIn: $m}) { errors { code } }
}"""


async def _inbox(gql: GraphQLClient, customer) -> list[dict[str, str]]:
    data = await gql(INBOX, token=customer.token)
    return [e["node"] for e in data["me"]["notifications"]["edges"]]


async def test_a_rewarded_visit_sends_a_welcome_built_from_the_ledger(gql, shop, alice,
                                                                     notification_tables):
    from notifications.worker import run_once

    await gql(CONSENT, {"m": True}, token=alice.token)
    opera = (await fences(gql, alice))["Opéra"]
    dwell = await check_in(gql, alice, "DWELL", fence=opera)
    assert dwell["errors"] == [] and dwell["visit"]["pointsEarned"] > 0
    await run_once(now=datetime.now(UTC))
    inbox = await _inbox(gql, alice)
    points = dwell["visit"]["pointsEarned"]
    assert {"title": "Bienvenue à Opéra, Alice",
            "body": f"Merci de votre visite : +{points} points, {points} au total"} in inbox


async def test_no_welcome_without_marketing_consent(gql, shop, alice, notification_tables):
    from notifications.worker import run_once

    await gql(CONSENT, {"m": False}, token=alice.token)
    opera = (await fences(gql, alice))["Opéra"]
    assert (await check_in(gql, alice, "DWELL", fence=opera))["errors"] == []
    await run_once(now=datetime.now(UTC))
    assert [n for n in await _inbox(gql, alice) if "Opéra, Alice" in n["title"]] == []


async def test_the_welcome_names_the_next_reward_and_an_offer_of_that_store(
        gql, shop, alice, notification_tables):
    from notifications.worker import run_once

    # given: Alice consented; a reward beyond her reach, an offer in Opéra and
    # one only in Bastille
    await gql(CONSENT, {"m": True}, token=alice.token)
    opera = (await fences(gql, alice))["Opéra"]
    await create_offer(gql, shop, "Bastille days", target="STORE", storeId=shop.other_store_id)
    await create_offer(gql, shop, "Coffee week", target="STORE", storeId=shop.store_id)
    # when: a rewarded visit, then the worker
    dwell = await check_in(gql, alice, "DWELL", fence=opera)
    points = dwell["visit"]["pointsEarned"]
    await create_reward(gql, shop, "Un café", pointsPrice=points + 50)
    await run_once(now=datetime.now(UTC))
    # then: balance, the way to the reward and the store's offer, in French
    assert {"title": "Bienvenue à Opéra, Alice",
            "body": f"Merci de votre visite : +{points} points, {points} au total. "
                    "Encore 50 points pour Un café. En magasin : Coffee week"} in await _inbox(
        gql, alice)
