"""The staff 360 view over HTTP: who may read it, what it shows, that every
read is audited, search, and a bounded number of statements per page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audience import jobs, worker
from audience.audit import reads_of
from notifications.worker import run_once as notify
from tests.api.test_pos import buy
from tests.conftest import (
    CREATE_STAFF,
    PASSWORD,
    STAFF_LOG_IN,
    GraphQLClient,
    Shop,
    sign_up,
)
from tests.fakes.statements import counted

PROFILE = """
query($id: ID!) {
  customer(id: $id) {
    id firstName email cardNumber
    points { available pending lifetimeEarned }
    tier { name nextTier pointsToNextTier }
    channels preferredChannel
    rfm { recency frequency monetary segment computedAt }
    engagement
    segments { id name }
    lifetimeValue { currency historicalMarginMinor acquisitionCostMinor retentionCostMinor
                    predicted12MonthsMinor expectedPurchases12Months probabilityAlive }
    acquisition { source medium campaign }
    history(first: 5) { edges { node { kind points } } }
    events(first: 3) { edges { cursor node { name channel properties } }
                       pageInfo { hasNextPage endCursor } }
    messages(first: 5) { edges { node { channel title body status sentAt openedAt journeyId } } }
    journeys { id }
  }
}"""
EVENTS_AFTER = """
query($id: ID!, $after: String) {
  customer(id: $id) { events(first: 3, after: $after) { edges { node { name } }
                                                        pageInfo { hasNextPage endCursor } } }
}"""
SEARCH = """
query($search: String, $segmentId: ID, $after: String) {
  customers(search: $search, segmentId: $segmentId, first: 2, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id firstName email } }
  }
}"""
LIST_WIDE = """
query {
  customers(first: 20) {
    totalCount
    edges { node { id firstName cardNumber points { available } tier { name } channels
                   preferredChannel rfm { segment } engagement segments { name }
                   lifetimeValue { historicalMarginMinor acquisitionCostMinor } acquisition
                   { source } journeys { id } } }
  }
}"""
TRACK = """
mutation($input: TrackEventsInput!) { trackEvents(input: $input) { accepted errors { field } } }"""
SIGN_UP_FROM = """
mutation($input: SignUpInput!) { signUp(input: $input) { accessToken errors { code } } }"""


async def staff(gql: GraphQLClient, shop: Shop, email: str, role: str,
                store_ids: list[str] | None = None) -> str:
    made = (await gql(CREATE_STAFF, {"input": {"email": email, "password": PASSWORD,
                                               "role": role, "storeIds": store_ids or []}},
                      token=shop.admin_token))["createStaff"]
    assert made["errors"] == [], made
    return (await gql(STAFF_LOG_IN, {"input": {"email": email, "password": PASSWORD}}
                      ))["staffLogIn"]["accessToken"]


def _at(minutes_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


async def test_managers_admins_and_support_read_profiles_and_every_read_is_audited(
        gql: GraphQLClient, shop: Shop, alice):
    support = await staff(gql, shop, "help@shop.test", "SUPPORT")
    manager = await staff(gql, shop, "boss@shop.test", "MANAGER", [shop.store_id])
    for token in (support, manager, shop.admin_token):
        found = (await gql(PROFILE, {"id": str(alice.id)}, token=token))["customer"]
        assert found["email"] == alice.email
    for token in (shop.cashier_token, alice.token):
        refused = await gql.raw(PROFILE, {"id": str(alice.id)}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql(PROFILE, {"id": "999999"}, token=support))["customer"] is None
    reads = await reads_of(alice.id)
    assert [(r[1], r[2]) for r in reads] == [("profile.read", {"query": "customer"})] * 3
    # support staff act in no store
    refused = (await gql(CREATE_STAFF, {"input": {"email": "h2@shop.test", "password": PASSWORD,
                                                  "role": "SUPPORT",
                                                  "storeIds": [shop.store_id]}},
                         token=shop.admin_token))["createStaff"]
    assert [e["field"] for e in refused["errors"]] == ["storeIds"]


async def test_the_profile_shows_the_customer_whole(gql: GraphQLClient, shop: Shop):
    zoe_auth = (await gql(SIGN_UP_FROM, {"input": {
        "email": "zoe@example.test", "password": PASSWORD, "firstName": "Zoé",
        "acquisition": {"source": "instagram", "campaign": "spring"}}}))["signUp"]
    zoe = await sign_up(gql, "Zed")  # another customer, for the rest of the programme
    me = (await gql("query { me { id card { number qrSecret } } }",
                    token=zoe_auth["accessToken"]))["me"]
    from tests.conftest import CustomerHandle

    handle = CustomerHandle(int(me["id"]), zoe_auth["accessToken"], "", "zoe@example.test",
                            me["card"]["number"], me["card"]["qrSecret"])
    assert (await buy(gql, shop, handle, 4200))["errors"] == []
    sent = (await gql(TRACK, {"input": {"events": [
        {"messageId": f"e-{i}", "name": "product_viewed", "channel": "WEB",
         "occurredAt": _at(10 - i), "properties": {"sku": f"S{i}"}} for i in range(4)] + [
        {"messageId": "o-1", "name": "push_opened", "channel": "APP", "occurredAt": _at(1)}]}},
        token=handle.token))["trackEvents"]
    assert sent["accepted"] == 5
    await notify()                       # the purchase's inbox message
    await worker.run_until_idle()        # the purchase into the stream
    await jobs.recompute_now()           # scores
    profile = (await gql(PROFILE, {"id": me["id"]}, token=shop.admin_token))["customer"]
    assert profile["firstName"] == "Zoé" and profile["points"]["available"] == 42
    assert profile["channels"] == ["APP", "STORE", "WEB"]
    assert profile["preferredChannel"] == "PUSH"
    # the only buyer: a quintile of one customer is the first
    assert {k: profile["rfm"][k] for k in ("recency", "frequency", "monetary", "segment")} == {
        "recency": 1, "frequency": 1, "monetary": 1, "segment": "LOST"}
    assert profile["engagement"] == "B"  # opened a push and bought
    assert profile["acquisition"] == {"source": "instagram", "medium": None,
                                      "campaign": "spring"}
    value = profile["lifetimeValue"]
    assert value["currency"] == "EUR" and value["historicalMarginMinor"] == 4200
    assert value["predicted12MonthsMinor"] is None and value["probabilityAlive"] is None
    assert [e["node"]["kind"] for e in profile["history"]["edges"]] == ["EARN"]
    assert [e["node"]["name"] for e in profile["events"]["edges"]] == [
        "purchase", "signed_up", "push_opened"]
    assert profile["messages"]["edges"][0]["node"]["channel"] == "INBOX"
    assert profile["journeys"] == []
    # the timeline pages on, newest first
    after = profile["events"]["pageInfo"]["endCursor"]
    rest = (await gql(EVENTS_AFTER, {"id": me["id"], "after": after},
                      token=shop.admin_token))["customer"]["events"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["product_viewed"] * 3
    assert rest["pageInfo"]["hasNextPage"] is True  # the fourth, the oldest
    bad = await gql.raw(EVENTS_AFTER, {"id": me["id"], "after": "nonsense"},
                        token=shop.admin_token)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert zoe.id != handle.id


async def test_search_by_email_card_and_name_and_by_segment(gql: GraphQLClient, shop: Shop):
    people = [await sign_up(gql, name, f"{name.lower()}@example.test")
              for name in ("Anna", "Annie", "Bob")]
    support = await staff(gql, shop, "help@shop.test", "SUPPORT")

    async def search(**variables: object) -> dict:
        return (await gql(SEARCH, variables, token=support))["customers"]

    assert [e["node"]["firstName"] for e in (await search(search="ann"))["edges"]] == [
        "Anna", "Annie"]
    assert [e["node"]["firstName"] for e in (await search(search="BOB@example"))["edges"]] == [
        "Bob"]
    spaced = " ".join(people[1].card_number[i:i + 4] for i in range(0, 12, 4))
    assert [e["node"]["firstName"] for e in (await search(search=spaced))["edges"]] == [
        "Annie"]
    assert (await search(search="100%_"))["totalCount"] == 0
    everyone = await search()
    assert everyone["totalCount"] == 3 and everyone["pageInfo"]["hasNextPage"]
    second = await search(after=everyone["pageInfo"]["endCursor"])
    assert [e["node"]["firstName"] for e in second["edges"]] == ["Bob"]
    made = (await gql("""mutation($input: CreateSegmentInput!) { createSegment(input: $input)
                         { segment { id } } }""",
                      {"input": {"name": "n", "definition": {"points": {"gte": 0}}}},
                      token=shop.admin_token))["createSegment"]["segment"]
    await worker.run_until_idle()
    assert (await search(segmentId=made["id"]))["totalCount"] == 3
    reads = await reads_of(people[1].id)
    assert {"query": "customers", "search": spaced} in [r[2] for r in reads]


async def test_a_page_of_profiles_costs_the_same_statements_whatever_its_length(
        gql: GraphQLClient, shop: Shop, monkeypatch: pytest.MonkeyPatch):
    counts = []
    for extra in (2, 6):
        for _ in range(extra):
            await sign_up(gql, "P")
        await gql(LIST_WIDE, token=shop.admin_token)  # per-process caches (tiers, principals)
        with counted(monkeypatch) as sent:
            page = (await gql(LIST_WIDE, token=shop.admin_token))["customers"]
        counts.append((page["totalCount"], len(sent)))
    # total, page, profiles, audit, balances (2), tiers, activity (channels
    # and the preferred one), scores, segments, lifetime value (1 without
    # acquisition sources, and the model's newest fit: none yet), journeys:
    # the same for 2 as for 8
    assert counts == [(2, 12), (8, 12)]


PHONE = """
mutation($phone: String!) { updateProfile(input: {phone: $phone}) { errors { code field } } }"""
FIND = """
query($s: String!) { customers(search: $s) { totalCount edges { node { id firstName } } } }"""


async def test_a_customer_gives_a_phone_number_and_staff_find_them_by_it(gql, shop, alice, bob):
    from loyalty.models import Customer

    for bad in ("call me", "+33 6", "+" + "1" * 20):
        out = (await gql(PHONE, {"phone": bad}, token=alice.token))["updateProfile"]
        assert [(e["code"], e["field"]) for e in out["errors"]] == [("INVALID_INPUT", "phone")]
    out = (await gql(PHONE, {"phone": " +33 6.12-34 (56) 78 "}, token=alice.token))
    assert out["updateProfile"]["errors"] == []
    assert (await Customer.get(id=alice.id)).phone == "+33612345678"
    found = (await gql(FIND, {"s": "+33 6 12 34 56 78"}, token=shop.admin_token))["customers"]
    assert [e["node"]["firstName"] for e in found["edges"]] == ["Alice"]
    # An empty string removes it.
    await gql(PHONE, {"phone": ""}, token=alice.token)
    assert (await Customer.get(id=alice.id)).phone is None
    gone = (await gql(FIND, {"s": "+33612345678"}, token=shop.admin_token))["customers"]
    assert gone["totalCount"] == 0
