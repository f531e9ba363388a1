"""Admin changes to geofences and beacons, polygon fences, and the beacon
signal rule, through HTTP GraphQL."""

from __future__ import annotations

import pytest

from tests.api.test_checkins import (
    BEACON,
    CREATE_BEACON,
    RETIRE_BEACON,
    RETIRE_GEOFENCE,
    check_in,
    codes,
    fences,
    rejected,
)
from tests.conftest import CustomerHandle, GraphQLClient, Shop

UPDATE_GEOFENCE = """
mutation($input: UpdateGeofenceInput!) {
  updateGeofence(input: $input) {
    geofence { id storeName latitude longitude radiusMeters }
    errors { code field }
  }
}"""
UPDATE_BEACON = """
mutation($input: UpdateBeaconInput!) {
  updateBeacon(input: $input) { beacon { id uuid major minor active } errors { code field } }
}"""
OPT_IN = """
mutation { updatePreferences(input: {locationOptIn: true}) { errors { code } } }"""
NEARBY = """
query($lat: Float!, $lon: Float!) {
  nearbyGeofences(latitude: $lat, longitude: $lon, limit: 5) { id latitude radiusMeters }
}"""
MOVED = (48.88, 2.33)  # about 1.1 km north of the Opéra fixture


@pytest.fixture
async def opted_in(gql: GraphQLClient, alice: CustomerHandle) -> CustomerHandle:
    assert (await gql(OPT_IN, token=alice.token))["updatePreferences"]["errors"] == []
    return alice


async def update_fence(gql: GraphQLClient, shop: Shop, **fields: object) -> dict:
    return (await gql(UPDATE_GEOFENCE, {"input": fields}, token=shop.admin_token))[
        "updateGeofence"]


async def test_a_moved_geofence_judges_check_ins_at_its_new_centre(gql, shop, opted_in):
    # Given the Opéra fence moved 1.1 km north
    opera = (await fences(gql, opted_in))["Opéra"]
    moved = await update_fence(gql, shop, geofenceId=opera, latitude=MOVED[0],
                               longitude=MOVED[1])
    assert moved["errors"] == []
    assert moved["geofence"] == {"id": opera, "storeName": "Opéra", "latitude": MOVED[0],
                                 "longitude": MOVED[1], "radiusMeters": 150.0}
    # Then the nearby index knows at once, the old spot is outside, the new one inside
    near = (await gql(NEARBY, {"lat": MOVED[0], "lon": MOVED[1]}, token=opted_in.token))
    assert near["nearbyGeofences"][0] == {"id": opera, "latitude": MOVED[0],
                                          "radiusMeters": 150.0}
    rejected(await check_in(gql, opted_in, "ENTER", fence=opera), "outside the geofence")
    entered = await check_in(gql, opted_in, "ENTER", fence=opera, at=MOVED)
    assert entered["errors"] == [] and entered["visit"]["storeName"] == "Opéra"


async def test_a_resized_geofence_keeps_its_centre(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    grown = await update_fence(gql, shop, geofenceId=opera, radiusMeters=2000.0)
    assert grown["geofence"]["radiusMeters"] == 2000.0 and grown["geofence"]["latitude"] == 48.87
    entered = await check_in(gql, opted_in, "ENTER", fence=opera, at=MOVED)
    assert entered["errors"] == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"radiusMeters": 5.0}, ("INVALID_INPUT", "radiusMeters")),
        ({"latitude": 48.9}, ("INVALID_INPUT", "latitude")),
        ({"latitude": 91.0, "longitude": 2.0}, ("INVALID_INPUT", "latitude")),
    ],
)
async def test_bad_geofence_changes_are_invalid_input(gql, shop, opted_in, fields, expected):
    opera = (await fences(gql, opted_in))["Opéra"]
    result = await update_fence(gql, shop, geofenceId=opera, **fields)
    assert [(e["code"], e["field"]) for e in result["errors"]] == [expected]
    assert (await update_fence(gql, shop, geofenceId=opera))["geofence"]["radiusMeters"] == 150


async def test_unknown_and_retired_geofences_cannot_be_changed(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    unknown = await update_fence(gql, shop, geofenceId="999999", radiusMeters=100.0)
    assert codes(unknown) == ["NOT_FOUND"]
    await gql(RETIRE_GEOFENCE, {"input": {"geofenceId": opera}}, token=shop.admin_token)
    retired = await update_fence(gql, shop, geofenceId=opera, radiusMeters=100.0)
    assert [(e["code"], e["field"]) for e in retired["errors"]] == [
        ("INVALID_INPUT", "geofenceId")]


async def test_only_an_admin_changes_geofences_and_beacons(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    for token in (opted_in.token, shop.cashier_token):
        body = await gql.raw(UPDATE_GEOFENCE, {"input": {"geofenceId": opera,
                                                         "radiusMeters": 100.0}}, token=token)
        assert body["data"] is None and body["errors"]
        body = await gql.raw(UPDATE_BEACON, {"input": {"beaconId": "1", "minor": 2}},
                             token=token)
        assert body["data"] is None and body["errors"]


async def make_beacon(gql: GraphQLClient, shop: Shop, **numbers: object) -> str:
    made = (await gql(CREATE_BEACON, {"input": {"storeId": shop.store_id, **BEACON, **numbers}},
                      token=shop.admin_token))["createBeacon"]
    assert made["errors"] == []
    return made["beacon"]["id"]


async def test_a_renumbered_beacon_answers_to_its_new_numbers_only(gql, shop, opted_in):
    beacon = await make_beacon(gql, shop)
    changed = (await gql(UPDATE_BEACON, {"input": {"beaconId": beacon, "minor": 70}},
                         token=shop.admin_token))["updateBeacon"]
    assert changed == {"beacon": {"id": beacon, "uuid": BEACON["uuid"].lower(), "major": 1,
                                  "minor": 70, "active": True}, "errors": []}
    rejected(await check_in(gql, opted_in, "BEACON", at=None, beacon=BEACON), "Unknown beacon")
    seen = await check_in(gql, opted_in, "BEACON", at=None, beacon={**BEACON, "minor": 70})
    assert seen["errors"] == [] and seen["visit"]["confirmed"] is True


async def test_beacon_changes_that_clash_or_touch_a_retired_beacon_are_refused(gql, shop):
    first, second = await make_beacon(gql, shop), await make_beacon(gql, shop, minor=8)
    clash = (await gql(UPDATE_BEACON, {"input": {"beaconId": second, "minor": 7}},
                       token=shop.admin_token))["updateBeacon"]
    assert [(e["code"], e["field"]) for e in clash["errors"]] == [("INVALID_INPUT", "uuid")]
    bad = (await gql(UPDATE_BEACON, {"input": {"beaconId": second, "uuid": "nope"}},
                     token=shop.admin_token))["updateBeacon"]
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID_INPUT", "uuid")]
    await gql(RETIRE_BEACON, {"input": {"beaconId": first}}, token=shop.admin_token)
    retired = (await gql(UPDATE_BEACON, {"input": {"beaconId": first, "minor": 99}},
                         token=shop.admin_token))["updateBeacon"]
    assert [(e["code"], e["field"]) for e in retired["errors"]] == [
        ("INVALID_INPUT", "beaconId")]
    unknown = (await gql(UPDATE_BEACON, {"input": {"beaconId": "999999", "minor": 1}},
                         token=shop.admin_token))["updateBeacon"]
    assert codes(unknown) == ["NOT_FOUND"]


async def test_a_beacon_heard_too_faintly_is_no_proof_of_presence(gql, shop, opted_in):
    await make_beacon(gql, shop)
    rejected(await check_in(gql, opted_in, "BEACON", at=None, beacon={**BEACON, "rssi": -95}),
             "signal is too weak (-95 dBm; at least -90 dBm)")
    unmeasured = await check_in(gql, opted_in, "BEACON", at=None, beacon={**BEACON, "rssi": 0})
    assert unmeasured["errors"] == []
    near = await check_in(gql, opted_in, "BEACON", at=None, beacon={**BEACON, "rssi": -90})
    assert near["errors"] == []


async def test_an_impossible_rssi_is_invalid_input(gql, shop, opted_in):
    await make_beacon(gql, shop)
    for rssi in (5, -200):
        result = await check_in(gql, opted_in, "BEACON", at=None, beacon={**BEACON, "rssi": rssi})
        assert [(e["code"], e["field"]) for e in result["errors"]] == [
            ("INVALID_INPUT", "beacon.rssi")]


CREATE_POLYGON = """
mutation($input: CreatePolygonGeofenceInput!) {
  createPolygonGeofence(input: $input) {
    geofence { id latitude longitude radiusMeters vertices { latitude longitude } }
    errors { code field message }
  }
}"""
NEARBY_OUTLINE = """
query($lat: Float!, $lon: Float!) {
  nearbyGeofences(latitude: $lat, longitude: $lon, limit: 1) {
    id vertices { latitude longitude } }
}"""
# An L around (48.90, 2.30): a bar along the south, one up the west side.
L_SHAPE = [(48.90 + a, 2.30 + o) for a, o in
           ((0, 0), (0, 0.004), (0.001, 0.004), (0.001, 0.001), (0.004, 0.001), (0.004, 0))]


def vertices(points: list[tuple[float, float]]) -> list[dict[str, float]]:
    return [{"latitude": a, "longitude": o} for a, o in points]


async def make_polygon(gql: GraphQLClient, shop: Shop) -> dict:
    made = (await gql(CREATE_POLYGON, {"input": {"storeId": shop.store_id,
                                                 "vertices": vertices(L_SHAPE)}},
                      token=shop.admin_token))["createPolygonGeofence"]
    assert made["errors"] == []
    return made["geofence"]


async def test_a_polygon_fence_accepts_its_outline_and_refuses_its_notch(gql, shop, opted_in):
    # Given an L-shaped fence: the phone is given the circle around it
    fence = await make_polygon(gql, shop)
    assert fence["vertices"] == vertices(L_SHAPE) and 250 < fence["radiusMeters"] < 350
    near = (await gql(NEARBY_OUTLINE, {"lat": 48.9005, "lon": 2.302},
                      token=opted_in.token))["nearbyGeofences"]
    assert near == [{"id": fence["id"], "vertices": vertices(L_SHAPE)}]
    # Then a position in the notch, inside the circle, is refused; one in the L accepted
    rejected(await check_in(gql, opted_in, "ENTER", fence=fence["id"], at=(48.903, 2.303)),
             "146 m outside the geofence")
    entered = await check_in(gql, opted_in, "ENTER", fence=fence["id"], at=(48.9005, 2.302))
    assert entered["errors"] == [] and entered["visit"]["storeName"] == "Opéra"


async def test_a_polygon_fence_changes_through_its_vertices(gql, shop, opted_in):
    fence = await make_polygon(gql, shop)
    resized = await update_fence(gql, shop, geofenceId=fence["id"], radiusMeters=500.0)
    assert [(e["code"], e["field"]) for e in resized["errors"]] == [("INVALID_INPUT", "vertices")]
    square = [(48.90, 2.30), (48.90, 2.304), (48.904, 2.304), (48.904, 2.30)]
    reshaped = await update_fence(gql, shop, geofenceId=fence["id"], vertices=vertices(square))
    assert reshaped["errors"] == [] and reshaped["geofence"]["latitude"] == pytest.approx(48.902)
    entered = await check_in(gql, opted_in, "ENTER", fence=fence["id"], at=(48.903, 2.303))
    assert entered["errors"] == []
    # and a circle becomes a polygon the same way
    opera = (await fences(gql, opted_in))["Opéra"]
    both = await update_fence(gql, shop, geofenceId=opera, radiusMeters=100.0,
                              vertices=vertices(square))
    assert [(e["code"], e["field"]) for e in both["errors"]] == [("INVALID_INPUT", "vertices")]


async def test_a_polygon_whose_edges_cross_is_invalid_input(gql, shop):
    bow_tie = [(48.9, 2.3), (48.9, 2.301), (48.901, 2.3), (48.901, 2.302)]
    made = (await gql(CREATE_POLYGON, {"input": {"storeId": shop.store_id,
                                                 "vertices": vertices(bow_tie)}},
                      token=shop.admin_token))["createPolygonGeofence"]
    assert made["geofence"] is None
    assert [(e["code"], e["field"]) for e in made["errors"]] == [("INVALID_INPUT", "vertices")]
    assert "cross" in made["errors"][0]["message"]
