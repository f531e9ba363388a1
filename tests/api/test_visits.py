"""me.visits and the geofence / beacon administration."""

from __future__ import annotations

from tests.api.test_checkins import NEARBY, OPERA, OPT_IN, check_in, fences
from tests.conftest import GraphQLClient

VISITS = """
query($first: Int, $after: String) {
  me { visits(first: $first, after: $after) {
    edges { cursor node { id storeName pointsEarned confirmed } }
    pageInfo { hasNextPage endCursor }
  } }
}"""
CREATE_GEOFENCE = """
mutation($input: CreateGeofenceInput!) {
  createGeofence(input: $input) {
    geofence { id storeId storeName radiusMeters } errors { code field }
  }
}"""


async def test_visits_are_paginated_newest_first(gql: GraphQLClient, shop, alice):
    await gql(OPT_IN, token=alice.token)
    found = await fences(gql, alice)
    for name in ("Opéra", "Bastille", "Opéra"):
        await check_in(gql, alice, "ENTER", fence=found[name])
        await check_in(gql, alice, "EXIT", fence=found[name], at=None)
    page = (await gql(VISITS, {"first": 2}, token=alice.token))["me"]["visits"]
    assert [e["node"]["storeName"] for e in page["edges"]] == ["Opéra", "Bastille"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (await gql(VISITS, {"first": 2, "after": page["pageInfo"]["endCursor"]},
                      token=alice.token))["me"]["visits"]
    assert [e["node"]["storeName"] for e in rest["edges"]] == ["Opéra"]
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["edges"][0]["cursor"]}
    ids = [int(e["node"]["id"]) for e in page["edges"] + rest["edges"]]
    assert ids == sorted(ids, reverse=True)


async def test_bad_visit_cursor_is_a_visible_error(gql, alice):
    body = await gql.raw(VISITS, {"after": "bm90LWEtY3Vyc29y"}, token=alice.token)
    assert body["errors"][0]["message"] == "Invalid cursor."


async def test_admin_creates_a_geofence_the_phone_sees_at_once(gql, shop, alice):
    made = (await gql(CREATE_GEOFENCE, {"input": {"storeId": shop.store_id, "latitude": 10.0,
                                                  "longitude": 10.0, "radiusMeters": 80}},
                      token=shop.admin_token))["createGeofence"]
    assert made["errors"] == []
    assert (made["geofence"]["storeName"], made["geofence"]["radiusMeters"]) == ("Opéra", 80.0)
    nearest = (await gql(NEARBY, {"lat": 10.0, "lon": 10.0}, token=alice.token))
    assert nearest["nearbyGeofences"][0]["id"] == made["geofence"]["id"]
    bad = (await gql(CREATE_GEOFENCE, {"input": {"storeId": "424242", "latitude": 0.0,
                                                 "longitude": 0.0, "radiusMeters": 80}},
                     token=shop.admin_token))["createGeofence"]
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("NOT_FOUND", "storeId")]


async def test_geofence_administration_needs_an_admin_token(gql, shop):
    body = await gql.raw(CREATE_GEOFENCE, {"input": {"storeId": shop.store_id,
                                                     "latitude": OPERA[0], "longitude": OPERA[1],
                                                     "radiusMeters": 80}},
                         token=shop.cashier_token)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "An admin access token is required."


async def test_visit_points_that_cross_a_tier_threshold_upgrade_at_once(gql, shop, alice):
    # given tiers where one rewarded visit (10 points) is enough for Silver
    from loyalty.programme import tier_admin

    await tier_admin.create_tier(None, name="Member", threshold=0, multiplier="1")
    await tier_admin.create_tier(None, name="Silver", threshold=10, multiplier="1.5")
    await gql(OPT_IN, token=alice.token)
    found = await fences(gql, alice)
    # when she enters and dwells: the visit is confirmed and rewarded
    await check_in(gql, alice, "ENTER", fence=found["Opéra"])
    await check_in(gql, alice, "DWELL", fence=found["Opéra"])
    # then she is Silver now, not at her next purchase
    me = await gql("query { me { points { available } tier { name } } }", token=alice.token)
    assert me["me"]["points"]["available"] == 10
    assert me["me"]["tier"]["name"] == "Silver"
