"""nearbyGeofences: the fences the phone should monitor, nearest first."""

from __future__ import annotations

from tests.conftest import CREATE_STORE, GraphQLClient

NEARBY = """
query($lat: Float!, $lon: Float!, $limit: Int) {
  nearbyGeofences(latitude: $lat, longitude: $lon, limit: $limit) {
    id storeId storeName latitude longitude radiusMeters
  }
}"""

PLACES = [("Opéra", 48.8708, 2.3319), ("Bastille", 48.8532, 2.3692),
          ("Lyon", 45.7640, 4.8357), ("Fiji", -17.71, 179.99), ("Samoa", -13.76, -172.10)]


async def _stores(gql: GraphQLClient, admin_token: str) -> None:
    for name, lat, lon in PLACES:
        data = await gql(CREATE_STORE, {"input": {"name": name, "latitude": lat,
                                                  "longitude": lon, "timezone": "UTC",
                                                  "radiusMeters": 200}}, token=admin_token)
        assert data["createStore"]["errors"] == []


async def test_nearest_first_with_the_store_and_radius(gql, shop, alice):
    await _stores(gql, shop.admin_token)
    near_opera = (await gql(NEARBY, {"lat": 48.87, "lon": 2.33, "limit": 3},
                            token=alice.token))["nearbyGeofences"]
    # The shop fixture's two stores stand at (48.87, 2.33) too.
    assert len(near_opera) == 3
    names = [f["storeName"] for f in near_opera]
    assert "Lyon" not in names and "Fiji" not in names
    lyon = (await gql(NEARBY, {"lat": 45.7, "lon": 4.8, "limit": 1},
                      token=alice.token))["nearbyGeofences"]
    assert [(f["storeName"], f["radiusMeters"]) for f in lyon] == [("Lyon", 200.0)]


async def test_across_the_antimeridian(gql, shop, alice):
    await _stores(gql, shop.admin_token)
    fences = (await gql(NEARBY, {"lat": -15.0, "lon": -179.9, "limit": 2},
                        token=alice.token))["nearbyGeofences"]
    assert {f["storeName"] for f in fences} == {"Fiji", "Samoa"}


async def test_default_limit_is_twenty_and_bad_limits_are_refused(gql, shop, alice):
    await _stores(gql, shop.admin_token)
    fences = (await gql(NEARBY, {"lat": 0.0, "lon": 0.0}, token=alice.token))["nearbyGeofences"]
    assert len(fences) == 7  # all of them: fewer than 20
    for limit in (0, 101):
        body = await gql.raw(NEARBY, {"lat": 0.0, "lon": 0.0, "limit": limit},
                             token=alice.token)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    body = await gql.raw(NEARBY, {"lat": 91.0, "lon": 0.0}, token=alice.token)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_needs_a_customer_token(gql, shop):
    body = await gql.raw(NEARBY, {"lat": 0.0, "lon": 0.0}, token=shop.cashier_token)
    assert body["data"] is None
