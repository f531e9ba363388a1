"""A franchise's manager reads the 360 view of its own customers only: those
who bought, spent or visited in one of its stores. Another franchise's
customers, and the programme's own (who belong to no franchise), are out of
reach whichever way they are asked for: by id, by search, by a segment, or
through a segment's members."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from audience import worker
from audience.audit import reads_of
from tests.api.test_pos import PURCHASE
from tests.api.test_segments_api import CREATE as CREATE_SEGMENT
from tests.api.test_store_kinds import CREATE_FRANCHISE, store
from tests.conftest import (
    CREATE_STAFF,
    PASSWORD,
    STAFF_LOG_IN,
    CustomerHandle,
    GraphQLClient,
    Shop,
    sign_up,
)

PROFILE = """
query($id: ID!) {
  customer(id: $id) {
    id email history(first: 5) { edges { node { points } } }
    events(first: 5) { edges { node { name } } }
  }
}"""
SEARCH = """
query($search: String, $segmentId: ID) {
  customers(search: $search, segmentId: $segmentId, first: 50) {
    totalCount edges { node { id email } }
  }
}"""
MEMBERS = """
query($id: ID!) {
  customer(id: $id) {
    segments { id memberCount members(first: 50) { totalCount edges { node { id } } } }
  }
}"""


@dataclass
class Franchises:
    nord_manager: str
    alice: CustomerHandle  # bought in Nord's store
    bob: CustomerHandle  # bought in Sud's store
    carol: CustomerHandle  # bought in the programme's own store: no franchise's


async def _manager(gql: GraphQLClient, shop: Shop, email: str, franchise: str) -> str:
    made = await gql(CREATE_STAFF, {"input": {"email": email, "password": PASSWORD,
                                              "role": "MANAGER", "franchiseId": franchise}},
                     token=shop.admin_token)
    assert made["createStaff"]["errors"] == []
    return (await gql(STAFF_LOG_IN, {"input": {"email": email, "password": PASSWORD}}
                      ))["staffLogIn"]["accessToken"]


async def _buy(gql: GraphQLClient, token: str, customer: CustomerHandle, store_id: str) -> None:
    bought = await gql(PURCHASE, {"input": {
        "idempotencyKey": uuid.uuid4().hex, "card": {"cardNumber": customer.card_number},
        "storeId": store_id, "receiptId": uuid.uuid4().hex[:8],
        "total": {"amountMinor": 10_00, "currency": "EUR"}}}, token=token)
    assert bought["recordPurchase"]["errors"] == []


async def _franchises(gql: GraphQLClient, shop: Shop) -> Franchises:
    ids = []
    for name in ("Nord SARL", "Sud SAS"):
        made = (await gql(CREATE_FRANCHISE, {"input": {"name": name}},
                          token=shop.admin_token))["createFranchise"]
        ids.append(made["franchise"]["id"])
    lille = (await store(gql, shop, name="Lille", latitude=50.63, longitude=3.06,
                         franchiseId=ids[0]))["store"]["id"]
    marseille = (await store(gql, shop, name="Marseille", latitude=43.3, longitude=5.37,
                             franchiseId=ids[1]))["store"]["id"]
    nord = await _manager(gql, shop, "boss@nord.test", ids[0])
    sud = await _manager(gql, shop, "boss@sud.test", ids[1])
    alice, bob, carol = (await sign_up(gql, "Alice"), await sign_up(gql, "Bob"),
                         await sign_up(gql, "Carol"))
    await _buy(gql, nord, alice, lille)
    await _buy(gql, sud, bob, marseille)
    await _buy(gql, shop.cashier_token, carol, shop.store_id)
    return Franchises(nord, alice, bob, carol)


async def test_a_franchise_manager_reads_only_its_own_customers_profiles(
        gql: GraphQLClient, shop: Shop):
    f = await _franchises(gql, shop)
    own = (await gql(PROFILE, {"id": str(f.alice.id)}, token=f.nord_manager))["customer"]
    assert own["email"] == f.alice.email
    for other in (f.bob, f.carol):
        body = await gql.raw(PROFILE, {"id": str(other.id)}, token=f.nord_manager)
        assert body.get("errors") is None
        assert body["data"]["customer"] is None, other.email
    # An admin still reads everyone.
    for anyone in (f.alice, f.bob, f.carol):
        read = (await gql(PROFILE, {"id": str(anyone.id)}, token=shop.admin_token))["customer"]
        assert read["email"] == anyone.email


async def test_a_franchise_manager_searches_only_its_own_customers(
        gql: GraphQLClient, shop: Shop):
    f = await _franchises(gql, shop)
    everyone = (await gql(SEARCH, {}, token=f.nord_manager))["customers"]
    assert [e["node"]["id"] for e in everyone["edges"]] == [str(f.alice.id)]
    assert everyone["totalCount"] == 1
    for other in (f.bob, f.carol):
        for search in (other.email, other.card_number, other.email.split("@")[0]):
            found = (await gql(SEARCH, {"search": search}, token=f.nord_manager))["customers"]
            assert (found["edges"], found["totalCount"]) == ([], 0), search
    # Nobody out of scope was written to the audit log as read by the manager.
    assert await reads_of(f.bob.id) == [] and await reads_of(f.carol.id) == []
    wide = (await gql(SEARCH, {}, token=shop.admin_token))["customers"]
    assert wide["totalCount"] == 3
    # A franchise without stores yet has no customers either.
    est = (await gql(CREATE_FRANCHISE, {"input": {"name": "Est SA"}},
                     token=shop.admin_token))["createFranchise"]["franchise"]["id"]
    empty = await _manager(gql, shop, "boss@est.test", est)
    nobody = (await gql(SEARCH, {}, token=empty))["customers"]
    assert (nobody["edges"], nobody["totalCount"]) == ([], 0)
    assert (await gql(PROFILE, {"id": str(f.alice.id)}, token=empty))["customer"] is None


async def test_a_segment_lists_a_franchise_manager_only_its_own_customers(
        gql: GraphQLClient, shop: Shop):
    f = await _franchises(gql, shop)
    segment = (await gql(CREATE_SEGMENT, {"input": {"name": "Everyone",
                                                    "definition": {"points": {"gte": 0}}}},
                         token=shop.admin_token))["createSegment"]["segment"]
    await worker.run_until_idle()
    listed = (await gql(SEARCH, {"segmentId": segment["id"]}, token=f.nord_manager))["customers"]
    assert [e["node"]["id"] for e in listed["edges"]] == [str(f.alice.id)]
    assert listed["totalCount"] == 1
    # Through the members of a segment of the manager's own customer.
    segments = (await gql(MEMBERS, {"id": str(f.alice.id)}, token=f.nord_manager)
                )["customer"]["segments"]
    assert [s["id"] for s in segments] == [segment["id"]]
    members = segments[0]["members"]
    assert [e["node"]["id"] for e in members["edges"]] == [str(f.alice.id)]
    assert members["totalCount"] == 1
    # Nor does the segment's size count the others.
    assert segments[0]["memberCount"] == 1
    # The admin sees the whole segment.
    assert (await gql(SEARCH, {"segmentId": segment["id"]}, token=shop.admin_token)
            )["customers"]["totalCount"] == 3
    whole = (await gql(MEMBERS, {"id": str(f.alice.id)}, token=shop.admin_token)
             )["customer"]["segments"]
    assert whole[0]["memberCount"] == 3


async def test_a_visit_to_a_franchise_store_brings_a_customer_into_its_scope(
        gql: GraphQLClient, shop: Shop):
    from tests.api.test_checkins import OPT_IN, check_in, fences

    f = await _franchises(gql, shop)
    lille, marseille = (50.63, 3.06), (43.3, 5.37)
    visits = {}
    for name, store_name, at in (("Dana", "Lille", lille), ("Erin", "Marseille", marseille)):
        visitor = await sign_up(gql, name)
        assert (await gql(OPT_IN, token=visitor.token))["updatePreferences"]["errors"] == []
        fence = (await fences(gql, visitor, at))[store_name]
        entered = await check_in(gql, visitor, "ENTER", fence=fence, at=at, minutes_ago=1)
        assert entered["errors"] == [] and entered["visit"]["pointsEarned"] == 0
        visits[name] = visitor
    # Dana only walked into Nord's store: no posting, a visit.
    dana = (await gql(PROFILE, {"id": str(visits["Dana"].id)}, token=f.nord_manager))
    assert dana["customer"]["email"] == visits["Dana"].email
    erin = await gql(PROFILE, {"id": str(visits["Erin"].id)}, token=f.nord_manager)
    assert erin["customer"] is None
    listed = (await gql(SEARCH, {}, token=f.nord_manager))["customers"]
    assert sorted(e["node"]["id"] for e in listed["edges"]) == sorted(
        [str(f.alice.id), str(visits["Dana"].id)])
