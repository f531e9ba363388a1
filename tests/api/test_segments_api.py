"""Segments through GraphQL (admin): save, validate, list with member counts,
page through members, and send a campaign to a segment."""

from __future__ import annotations

import pytest

from audience import worker
from tests.conftest import GraphQLClient, Shop, sign_up
from tests.fakes.statements import counted
from tests.integration.test_expiry import rows

CREATE = """
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) {
    segment { id name description definition memberCount updatedAt }
    errors { code field message }
  }
}"""
UPDATE = """
mutation($input: UpdateSegmentInput!) {
  updateSegment(input: $input) { segment { id name definition } errors { code field } }
}"""
LIST = "query { segments { id name memberCount } }"
ONE = """
query($id: ID!, $after: String) {
  segment(id: $id) {
    name memberCount
    members(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { node { id firstName email cardNumber points { available } } }
    }
  }
}"""
CAMPAIGN = """
mutation($input: SendCampaignInput!) {
  sendCampaign(input: $input) { campaign { id targeted } errors { code field } }
}"""
OPT_IN = """
mutation { updatePreferences(input: {marketingOptIn: true}) { errors { code } } }"""


async def test_an_admin_saves_and_lists_segments(gql: GraphQLClient, shop: Shop, alice, bob):
    await gql(OPT_IN, token=alice.token)
    made = (await gql(CREATE, {"input": {"name": "Opted in", "description": "for news",
                                         "definition": {"marketingOptIn": True}}},
                      token=shop.admin_token))["createSegment"]
    assert made["errors"] == [] and made["segment"]["memberCount"] == 0
    await worker.run_until_idle()
    listed = (await gql(LIST, token=shop.admin_token))["segments"]
    assert [(s["name"], s["memberCount"]) for s in listed] == [("Opted in", 1)]
    renamed = (await gql(UPDATE, {"input": {"segmentId": made["segment"]["id"],
                                            "name": "News"}},
                         token=shop.admin_token))["updateSegment"]
    assert renamed["segment"]["name"] == "News"
    assert renamed["segment"]["definition"] == {"marketingOptIn": True}


async def test_a_bad_definition_is_refused_with_its_path(gql: GraphQLClient, shop: Shop):
    bad = (await gql(CREATE, {"input": {"name": "x", "definition": {"all": [
        {"marketingOptIn": True}, {"purchases": {"gte": 2, "within": "90 days"}}]}}},
        token=shop.admin_token))["createSegment"]
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [
        ("INVALID_DEFINITION", "definition.all.1.purchases.within")]
    unknown = (await gql(UPDATE, {"input": {"segmentId": "999", "name": "y"}},
                         token=shop.admin_token))["updateSegment"]
    assert [e["code"] for e in unknown["errors"]] == ["NOT_FOUND"]


async def test_only_admins_see_segments(gql: GraphQLClient, shop: Shop, alice):
    for token in (shop.cashier_token, alice.token):
        body = await gql.raw(LIST, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_members_are_paged_in_a_bounded_number_of_statements(
        gql: GraphQLClient, shop: Shop, monkeypatch: pytest.MonkeyPatch):
    people = [await sign_up(gql, name) for name in ("Ann", "Ben", "Cat", "Dan", "Eve")]
    made = (await gql(CREATE, {"input": {"name": "All", "definition": {"points": {"gte": 0}}}},
                      token=shop.admin_token))["createSegment"]["segment"]
    await worker.run_until_idle()
    seen, after, statements = [], None, []
    while True:
        with counted(monkeypatch) as sent:
            page = (await gql(ONE, {"id": made["id"], "after": after},
                              token=shop.admin_token))["segment"]
        statements.append(len(sent))
        members = page["members"]
        assert page["memberCount"] == members["totalCount"] == 5
        seen += [e["node"]["firstName"] for e in members["edges"]]
        if not members["pageInfo"]["hasNextPage"]:
            break
        after = members["pageInfo"]["endCursor"]
    assert seen == ["Ann", "Ben", "Cat", "Dan", "Eve"]
    # segment, member count, total, page of ids, profiles, the audit of the
    # reads, two for balances: the same for full pages as for the last, short one.
    assert statements == [8, 8, 8]
    assert all(len(e["node"]["cardNumber"]) == 12 for e in members["edges"])
    assert len(people) == 5


async def test_a_campaign_reaches_the_consenting_members_of_a_segment(
        gql: GraphQLClient, shop: Shop, alice, bob):
    for who in (alice, bob):
        await gql(OPT_IN, token=who.token)
    made = (await gql(CREATE, {"input": {"name": "Alice", "definition": {
        "event": "page_viewed"}}}, token=shop.admin_token))["createSegment"]["segment"]
    track = """mutation($input: TrackEventsInput!) { trackEvents(input: $input) { accepted } }"""
    await gql(track, {"input": {"events": [{"messageId": "p-1", "name": "page_viewed",
                                            "channel": "WEB",
                                            "occurredAt": "2999-01-01T00:00:00Z"}]}},
              token=alice.token)  # refused: too far ahead
    await gql(track, {"input": {"events": [{"messageId": "p-2", "name": "page_viewed",
                                            "channel": "WEB",
                                            "occurredAt": _now()}]}}, token=alice.token)
    await worker.run_until_idle()
    sent = (await gql(CAMPAIGN, {"input": {"title": "Hi", "body": "Back in stock",
                                           "idempotencyKey": "c-1",
                                           "target": {"segmentId": made["id"]}}},
                      token=shop.admin_token))["sendCampaign"]
    assert sent["errors"] == [] and sent["campaign"]["targeted"] == 1
    assert await rows("SELECT customer_id FROM outbox_event WHERE kind = 'campaign.message'"
                      ) == [(alice.id,)]
    missing = (await gql(CAMPAIGN, {"input": {"title": "Hi", "body": "x",
                                              "idempotencyKey": "c-2",
                                              "target": {"segmentId": "999"}}},
                         token=shop.admin_token))["sendCampaign"]
    assert [(e["code"], e["field"]) for e in missing["errors"]] == [
        ("NOT_FOUND", "target.segmentId")]


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()
