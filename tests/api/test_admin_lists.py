"""Admin lists for a back office: everything an admin makes, paginated, for
admins only, each page in a pinned number of statements whatever its size."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from loyalty.identity.accounts import create_admin
from loyalty.points.surveys import submit_survey
from loyalty.programme import admin_reads, offers, rewards
from notifications import campaigns
from tests.api.test_pos import buy
from tests.conftest import CustomerHandle, GraphQLClient, Shop

# field: (statements per page, the node's selection)
LISTS = {
    "adminOffers": (2, "id title target customerIds active"),
    "adminRewards": (1, "id name active"),
    "adminStores": (1, "id name timezone"),
    "adminStaff": (2, "id email role storeIds"),
    "adminCampaigns": (1, "id title tier targeted sentAt"),
    "adminGeofences": (1, "id storeName active vertices { latitude longitude }"),
    "adminBeacons": (1, "id uuid major minor active"),
    "adminSurveyResponses": (1, "id customerId purchaseId rating comment bonusTransactionId"),
}


def document(field: str) -> str:
    return (f"query($first: Int, $after: String) {{ {field}(first: $first, after: $after) {{ "
            f"edges {{ cursor node {{ {LISTS[field][1]} }} }} "
            "pageInfo { hasNextPage endCursor } } }")


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements Tortoise runs meanwhile (this process serves the tests)."""
    seen: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("tortoise.db_client")
    handler, level = Grab(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
async def made(gql: GraphQLClient, shop: Shop, alice: CustomerHandle) -> dict[str, list[str]]:
    """Three of everything (the shop has made two stores, their fences and two
    staff): {field: ids in the order the list gives them}."""
    from geofence import admin as fence_admin
    from loyalty.programme import stores

    store = int(shop.store_id)
    third = await stores.create_store("Nation", 48.85, 2.39, "Europe/Paris")
    await stores.create_staff("second@shop.test", "correct horse battery",
                              "CASHIER", [store, third.id])
    found = [await offers.create_offer(title=f"Offer {i}", benefit_kind="PERCENT_OFF",
                                       benefit_value=5 + i) for i in range(2)]
    found.append(await offers.create_offer(title="Alice's", target="CUSTOMERS",
                                           customer_ids=[alice.id],
                                           benefit_kind="PERCENT_OFF", benefit_value=20))
    await offers.deactivate_offer(found[0].id)
    for i in range(3):
        await rewards.create_reward(name=f"Reward {i}", points_price=100 + i,
                                    benefit_kind="PERCENT_OFF", benefit_value=10,
                                    active=i != 1)
    polygon = await fence_admin.create_polygon_geofence(
        store, [(48.870, 2.330), (48.871, 2.330), (48.871, 2.331)])
    await fence_admin.retire_geofence(polygon.id)
    beacons = [await fence_admin.create_beacon(store, str(uuid.uuid4()), 1, i)
               for i in range(3)]
    await fence_admin.retire_beacon(beacons[2].id)
    for i in range(3):
        await campaigns.send_campaign(title=f"News {i}", body="Hello", idempotency_key=f"c{i}",
                                      target=campaigns.Target(everyone=True))
    for i in range(3):
        receipt = f"survey-{i}"
        await buy(gql, shop, alice, 10_00, receipt=receipt)
        await submit_survey(customer_id=alice.id, store_id=store, receipt_id=receipt,
                            rating=3 + i % 3, comment=None if i else "Quick")
    return {
        "adminOffers": [str(o.id) for o in await admin_reads.offers_page(None, 100)],
        "adminRewards": [str(r.id) for r in await admin_reads.rewards_page(None, 100)],
        "adminStores": [str(s.id) for s in await admin_reads.stores_page(None, 100)],
        "adminStaff": [str(s.id) for s in await admin_reads.staff_page(None, 100)],
        "adminCampaigns": [str(c.id) for c in await campaigns_page()],
        "adminGeofences": [str(f.id) for f in await fences_page()],
        "adminBeacons": [str(b.id) for b in await beacons_page()],
        "adminSurveyResponses": [str(r.id) for r in
                                 await admin_reads.survey_responses_page(None, 100)],
    }


async def campaigns_page():
    from notifications.campaign_reads import campaigns_page

    return await campaigns_page(None, 100)


async def fences_page():
    from geofence.admin_reads import fences_page

    return await fences_page(None, 100)


async def beacons_page():
    from geofence.admin_reads import beacons_page

    return await beacons_page(None, 100)


@pytest.mark.parametrize("field", list(LISTS))
async def test_an_admin_pages_through_everything_in_pinned_statements(
        gql: GraphQLClient, shop: Shop, made: dict[str, list[str]], field: str):
    pinned = LISTS[field][0]
    expected = made[field]
    assert len(expected) >= 3, (field, expected)
    ids: list[str] = []
    after = None
    while True:
        with statements() as seen:
            page = (await gql(document(field), {"first": 2, "after": after},
                              token=shop.admin_token))[field]
        assert len(seen) == pinned, (field, seen)
        ids += [edge["node"]["id"] for edge in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert ids == expected
    # A page of a hundred costs what a page of two does.
    with statements() as seen:
        whole = (await gql(document(field), {"first": 100}, token=shop.admin_token))[field]
    assert len(seen) == pinned and [e["node"]["id"] for e in whole["edges"]] == expected


async def test_lists_show_what_customers_do_not_see(gql: GraphQLClient, shop: Shop,
                                                    made: dict[str, list[str]],
                                                    alice: CustomerHandle):
    data = await gql("{ adminOffers { edges { node { title active customerIds } } } "
                     "adminRewards { edges { node { name active } } } "
                     "adminGeofences { edges { node { active vertices { latitude } } } } "
                     "adminBeacons { edges { node { active } } } "
                     "adminStaff { edges { node { email role storeIds } } } "
                     "adminSurveyResponses { edges { node { rating comment } } } "
                     "adminCampaigns { edges { node { title targeted } } } }",
                     token=shop.admin_token)
    nodes = {field: [e["node"] for e in page["edges"]] for field, page in data.items()}
    assert [o["active"] for o in nodes["adminOffers"]] == [False, True, True]
    assert nodes["adminOffers"][2]["customerIds"] == [str(alice.id)]
    assert [r["active"] for r in nodes["adminRewards"]] == [True, False, True]
    assert [f["active"] for f in nodes["adminGeofences"]][-1] is False
    assert nodes["adminGeofences"][-1]["vertices"] is not None
    assert [b["active"] for b in nodes["adminBeacons"]] == [True, True, False]
    second = next(s for s in nodes["adminStaff"] if s["email"] == "second@shop.test")
    assert second["role"] == "CASHIER" and len(second["storeIds"]) == 2
    assert [s["comment"] for s in nodes["adminSurveyResponses"]] == [None, None, "Quick"]
    assert [c["title"] for c in nodes["adminCampaigns"]] == ["News 2", "News 1", "News 0"]


@pytest.mark.parametrize("field", list(LISTS))
async def test_only_admins_may_read_the_lists(gql: GraphQLClient, shop: Shop,
                                              alice: CustomerHandle, field: str):
    for token, code in ((shop.cashier_token, "FORBIDDEN"), (alice.token, "FORBIDDEN"),
                        (None, "UNAUTHENTICATED")):
        body = await gql.raw(document(field), {"first": 2}, token=token or "")
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], (field, body)


async def test_a_cursor_of_another_list_is_refused(gql: GraphQLClient, shop: Shop):
    await create_admin("second-admin@shop.test", "correct horse battery")
    stores = (await gql(document("adminStores"), {"first": 1},
                        token=shop.admin_token))["adminStores"]
    body = await gql.raw(document("adminStaff"), {"after": stores["pageInfo"]["endCursor"]},
                         token=shop.admin_token)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
