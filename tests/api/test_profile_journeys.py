"""CustomerProfile.journeys: the customer's runs, newest entry first, with
their journey's name and status in lower case, read in one statement for a
page of profiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from journeys.models import Journey, JourneyRun, JourneyStatus, JourneyVersion
from journeys.run import Status
from tests.conftest import GraphQLClient, Shop, sign_up
from tests.fakes.statements import counted

PROFILE = """
query($id: ID!) {
  customer(id: $id) {
    journeys { id journeyId journeyName status currentStep arm enteredAt }
  }
}"""
PAGE = "query { customers(first: 20) { edges { node { id journeys { journeyName } } } } }"
NOW = datetime.now(UTC).replace(microsecond=0)


async def journey(name: str) -> Journey:
    made = await Journey.create(name=name, status=JourneyStatus.LIVE, live_version=1)
    await JourneyVersion.create(journey=made, version=1, definition={"steps": []},
                                published_at=NOW - timedelta(days=30))
    return made


async def run(made: Journey, customer_id: int, status: Status, step: str, days_ago: float,
              arm: str | None = None, entry: int = 1) -> JourneyRun:
    return await JourneyRun.create(
        journey=made, version=1, customer_id=customer_id, entry=entry, step=step,
        status=status, arm=arm, trigger={"name": "purchase"},
        entered_at=NOW - timedelta(days=days_ago))


async def test_a_customers_runs_newest_first(gql: GraphQLClient, shop: Shop, alice, bob):
    # given: Alice entered the welcome journey, then the win-back one (in its
    # holdout), then the welcome one again; Bob is in a journey of his own
    welcome, win_back = await journey("Bienvenue"), await journey("Reconquête")
    first = await run(welcome, alice.id, Status.COMPLETED, "exit", days_ago=20)
    held = await run(win_back, alice.id, Status.WAITING, "wait-7d", days_ago=5, arm="holdout")
    again = await run(welcome, alice.id, Status.ACTIVE, "send-push", days_ago=1, entry=2)
    await run(win_back, bob.id, Status.CONVERTED, "goal", days_ago=2, arm="B")
    # when: staff read her profile
    found = (await gql(PROFILE, {"id": str(alice.id)}, token=shop.admin_token))["customer"]
    # then: her three runs, newest entry first, as the contract spells them
    assert found["journeys"] == [
        {"id": str(again.id), "journeyId": str(welcome.id), "journeyName": "Bienvenue",
         "status": "active", "currentStep": "send-push", "arm": None,
         "enteredAt": (NOW - timedelta(days=1)).isoformat()},
        {"id": str(held.id), "journeyId": str(win_back.id), "journeyName": "Reconquête",
         "status": "waiting", "currentStep": "wait-7d", "arm": "holdout",
         "enteredAt": (NOW - timedelta(days=5)).isoformat()},
        {"id": str(first.id), "journeyId": str(welcome.id), "journeyName": "Bienvenue",
         "status": "completed", "currentStep": "exit", "arm": None,
         "enteredAt": (NOW - timedelta(days=20)).isoformat()},
    ]
    nobody = await sign_up(gql, "Chloé")
    empty = (await gql(PROFILE, {"id": str(nobody.id)}, token=shop.admin_token))["customer"]
    assert empty["journeys"] == []


async def test_a_page_of_profiles_reads_their_runs_in_one_statement(
        gql: GraphQLClient, shop: Shop, monkeypatch: pytest.MonkeyPatch):
    welcome = await journey("Bienvenue")
    counts = []
    for extra in (1, 5):
        for _ in range(extra):
            customer = await sign_up(gql, "P")
            await run(welcome, customer.id, Status.WAITING, "wait", days_ago=1)
        await gql(PAGE, token=shop.admin_token)  # per-process caches
        with counted(monkeypatch) as sent:
            page = (await gql(PAGE, token=shop.admin_token))["customers"]["edges"]
        assert all(e["node"]["journeys"] == [{"journeyName": "Bienvenue"}] for e in page)
        runs = [s for s in sent if "journey_run" in s]
        counts.append((len(page), len(runs)))
    assert counts == [(1, 1), (6, 1)]
