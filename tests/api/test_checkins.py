"""checkIn: every acceptance and rejection rule, through HTTP GraphQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loyalty.ledger.balances import verify_ledger
from loyalty.platform.config import set_settings
from tests.conftest import (
    CREATE_STORE,
    DATABASE_URL,
    CustomerHandle,
    GraphQLClient,
    Shop,
    settings_for,
)

CHECK_IN = """
mutation($input: CheckInInput!) {
  checkIn(input: $input) {
    visit { id storeId storeName pointsEarned confirmed closedAt }
    errors { code field message }
  }
}"""
NEARBY = """
query($lat: Float!, $lon: Float!) {
  nearbyGeofences(latitude: $lat, longitude: $lon, limit: 100) { id storeName }
}"""
OPT_IN = """
mutation { updatePreferences(input: {locationOptIn: true}) { errors { code } } }"""
CREATE_BEACON = """
mutation($input: CreateBeaconInput!) {
  createBeacon(input: $input) { beacon { id uuid active } errors { code field } }
}"""
RETIRE_BEACON = """
mutation($input: RetireBeaconInput!) {
  retireBeacon(input: $input) { beacon { id active } errors { code } }
}"""
RETIRE_GEOFENCE = """
mutation($input: RetireGeofenceInput!) {
  retireGeofence(input: $input) { geofence { id } errors { code } }
}"""
HISTORY = """
query { me { points { available } history { edges { node { kind channel points description
  storeName } } } } }"""

OPERA = (48.87, 2.33)
BEACON = {"uuid": "F7826DA6-4FA2-4E98-8024-BC5B71E0893E", "major": 1, "minor": 7}


def ago(minutes: float = 0.0) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


async def fences(gql: GraphQLClient, customer: CustomerHandle,
                 at: tuple[float, float] = OPERA) -> dict[str, str]:
    found = (await gql(NEARBY, {"lat": at[0], "lon": at[1]},
                       token=customer.token))["nearbyGeofences"]
    return {f["storeName"]: f["id"] for f in found}


async def check_in(gql: GraphQLClient, customer: CustomerHandle, kind: str, *,
                   fence: str | None = None, at: tuple[float, float] | None = OPERA,
                   accuracy: float = 20.0, minutes_ago: float = 0.0, key: str | None = None,
                   **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"idempotencyKey": key or uuid.uuid4().hex, "kind": kind,
                            "occurredAt": extra.pop("occurredAt", ago(minutes_ago))}
    if fence is not None:
        body["geofenceId"] = fence
    if at is not None:
        body.update(latitude=at[0], longitude=at[1], accuracyMeters=accuracy)
    body.update(extra)
    return (await gql(CHECK_IN, {"input": body}, token=customer.token))["checkIn"]


def codes(result: dict[str, Any]) -> list[str]:
    return [e["code"] for e in result["errors"]]


def rejected(result: dict[str, Any], words: str) -> None:
    assert codes(result) == ["CHECKIN_REJECTED"], result
    assert words in result["errors"][0]["message"]
    assert result["visit"] is None


async def points(gql: GraphQLClient, customer: CustomerHandle) -> int:
    return (await gql(HISTORY, token=customer.token))["me"]["points"]["available"]


@pytest.fixture
async def opted_in(gql: GraphQLClient, alice: CustomerHandle) -> CustomerHandle:
    assert (await gql(OPT_IN, token=alice.token))["updatePreferences"]["errors"] == []
    return alice


async def test_enter_opens_a_visit_and_dwell_confirms_and_rewards_it(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    entered = await check_in(gql, opted_in, "ENTER", fence=opera, minutes_ago=3)
    assert entered["errors"] == []
    assert entered["visit"]["storeName"] == "Opéra"
    assert (entered["visit"]["pointsEarned"], entered["visit"]["confirmed"]) == (0, False)
    dwelt = await check_in(gql, opted_in, "DWELL", fence=opera, minutes_ago=1)
    assert dwelt["visit"]["id"] == entered["visit"]["id"]
    assert (dwelt["visit"]["pointsEarned"], dwelt["visit"]["confirmed"]) == (10, True)
    left = await check_in(gql, opted_in, "EXIT", fence=opera, at=None)
    assert left["visit"]["id"] == entered["visit"]["id"] and left["visit"]["closedAt"]
    me = (await gql(HISTORY, token=opted_in.token))["me"]
    assert me["points"]["available"] == 10
    assert me["history"]["edges"][0]["node"] == {
        "kind": "BONUS", "channel": "CHECKIN", "points": 10, "description": "Visit to Opéra",
        "storeName": "Opéra"}


async def test_a_visit_is_rewarded_once_a_day_however_many_check_ins(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    for kind in ("ENTER", "DWELL", "DWELL", "EXIT", "ENTER", "DWELL", "EXIT", "DWELL"):
        result = await check_in(gql, opted_in, kind, fence=opera)
        assert result["errors"] == [], result
    assert await points(gql, opted_in) == 10
    assert (await verify_ledger()).problems == []


async def test_outbox_gets_visit_accepted_in_the_same_transaction(gql, shop, opted_in):
    from tortoise import connections

    from loyalty.platform.sql import fetch

    opera = (await fences(gql, opted_in))["Opéra"]
    await check_in(gql, opted_in, "DWELL", fence=opera)
    rows = await fetch(connections.get("default"),
                       "SELECT kind, customer_id FROM outbox_event WHERE kind = $1",
                       "visit.accepted")
    assert [tuple(r) for r in rows] == [("visit.accepted", opted_in.id)]


async def test_not_opted_in_to_location_is_rejected(gql, shop, alice):
    opera = (await fences(gql, alice))["Opéra"]
    rejected(await check_in(gql, alice, "DWELL", fence=opera), "Location sharing is off")
    assert await points(gql, alice) == 0


async def test_unknown_and_retired_geofences_are_rejected(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    rejected(await check_in(gql, opted_in, "ENTER", fence="999999"), "Unknown geofence")
    retired = (await gql(RETIRE_GEOFENCE, {"input": {"geofenceId": opera}},
                         token=shop.admin_token))["retireGeofence"]
    assert retired["errors"] == []
    assert "Opéra" not in await fences(gql, opted_in)  # the nearby index forgot it
    rejected(await check_in(gql, opted_in, "DWELL", fence=opera), "retired")


async def test_position_outside_the_fence_by_more_than_its_accuracy(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    # 0.003 degrees of latitude is about 334 m: 184 m outside a 150 m fence.
    outside = (OPERA[0] + 0.003, OPERA[1])
    rejected(await check_in(gql, opted_in, "ENTER", fence=opera, at=outside, accuracy=100),
             "outside the geofence")
    accepted = await check_in(gql, opted_in, "ENTER", fence=opera, at=outside, accuracy=190)
    assert accepted["errors"] == []


async def test_too_imprecise_a_position_is_rejected(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    rejected(await check_in(gql, opted_in, "DWELL", fence=opera, accuracy=250), "imprecise")


async def test_occurred_at_in_the_future_or_too_old_is_rejected(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    rejected(await check_in(gql, opted_in, "DWELL", fence=opera, minutes_ago=-3), "future")
    rejected(await check_in(gql, opted_in, "DWELL", fence=opera, minutes_ago=11), "minutes old")
    skewed = await check_in(gql, opted_in, "DWELL", fence=opera, minutes_ago=-1)
    assert skewed["errors"] == []


async def test_spoofed_jump_from_paris_to_new_york_in_ten_minutes(gql, shop, opted_in):
    await gql(CREATE_STORE, {"input": {"name": "Fifth Avenue", "latitude": 40.7536,
                                       "longitude": -73.9832, "timezone": "America/New_York"}},
              token=shop.admin_token)
    nyc = (await fences(gql, opted_in, (40.7536, -73.9832)))["Fifth Avenue"]
    opera = (await fences(gql, opted_in))["Opéra"]
    paris = await check_in(gql, opted_in, "DWELL", fence=opera, minutes_ago=9.5)
    assert paris["errors"] == []
    jump = await check_in(gql, opted_in, "DWELL", fence=nyc, at=(40.7536, -73.9832))
    rejected(jump, "Impossible travel")
    assert await points(gql, opted_in) == 10


async def test_a_replayed_check_in_returns_the_original_result(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    occurred = ago(1)
    first = await check_in(gql, opted_in, "DWELL", fence=opera, key="phone-1",
                           occurredAt=occurred)
    again = await check_in(gql, opted_in, "DWELL", fence=opera, key="phone-1",
                           occurredAt=occurred)
    assert again == first and first["visit"]["pointsEarned"] == 10
    assert await points(gql, opted_in) == 10
    other = await check_in(gql, opted_in, "ENTER", fence=opera, key="phone-1",
                           occurredAt=occurred)
    assert codes(other) == ["IDEMPOTENCY_CONFLICT"]


async def test_a_replayed_rejection_stays_rejected(gql, shop, alice):
    opera = (await fences(gql, alice))["Opéra"]
    occurred = ago(1)
    rejected(await check_in(gql, alice, "DWELL", fence=opera, key="k", occurredAt=occurred),
             "Location sharing is off")
    await gql(OPT_IN, token=alice.token)
    rejected(await check_in(gql, alice, "DWELL", fence=opera, key="k", occurredAt=occurred),
             "Location sharing is off")


async def test_beacon_confirms_a_visit_until_it_or_its_store_is_retired(gql, shop, opted_in):
    made = (await gql(CREATE_BEACON, {"input": {"storeId": shop.store_id, **BEACON}},
                      token=shop.admin_token))["createBeacon"]
    assert made["errors"] == [] and made["beacon"]["uuid"] == BEACON["uuid"].lower()
    seen = await check_in(gql, opted_in, "BEACON", at=None, beacon={**BEACON, "rssi": -60})
    assert seen["visit"]["storeName"] == "Opéra" and seen["visit"]["pointsEarned"] == 10
    rejected(await check_in(gql, opted_in, "BEACON", at=None,
                            beacon={**BEACON, "minor": 8}), "Unknown beacon")
    await gql(RETIRE_BEACON, {"input": {"beaconId": made["beacon"]["id"]}},
              token=shop.admin_token)
    rejected(await check_in(gql, opted_in, "BEACON", at=None, beacon=BEACON), "retired")


async def test_a_beacon_of_a_store_whose_fences_are_all_retired(gql, shop, opted_in):
    other = {**BEACON, "minor": 9}
    await gql(CREATE_BEACON, {"input": {"storeId": shop.other_store_id, **other}},
              token=shop.admin_token)
    bastille = (await fences(gql, opted_in))["Bastille"]
    await gql(RETIRE_GEOFENCE, {"input": {"geofenceId": bastille}}, token=shop.admin_token)
    rejected(await check_in(gql, opted_in, "BEACON", at=None, beacon=other), "retired")


async def test_more_than_ten_check_ins_a_minute_is_rate_limited(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    for _ in range(10):
        assert (await check_in(gql, opted_in, "EXIT", fence=opera))["errors"] == []
    limited = await check_in(gql, opted_in, "EXIT", fence=opera)
    assert codes(limited) == ["RATE_LIMITED"]


async def test_cool_down_between_rewarded_visits_to_different_stores(gql, shop, opted_in):
    found = await fences(gql, opted_in)
    first = await check_in(gql, opted_in, "DWELL", fence=found["Opéra"])
    second = await check_in(gql, opted_in, "DWELL", fence=found["Bastille"])
    assert first["visit"]["pointsEarned"] == 10
    assert second["errors"] == [] and second["visit"]["pointsEarned"] == 0
    set_settings(settings_for(DATABASE_URL, visit_cooldown_minutes=0))
    await check_in(gql, opted_in, "EXIT", fence=found["Bastille"], at=None)
    third = await check_in(gql, opted_in, "DWELL", fence=found["Bastille"])
    assert third["visit"]["pointsEarned"] == 10
    assert await points(gql, opted_in) == 20


async def test_the_day_is_the_customer_s_local_day(gql, shop, opted_in):
    from zoneinfo import ZoneInfo

    set_settings(settings_for(DATABASE_URL, visit_cooldown_minutes=0,
                              checkin_max_age_minutes=4 * 24 * 60))
    opera = (await fences(gql, opted_in))["Opéra"]
    day = (datetime.now(UTC) - timedelta(days=2)).date()
    paris = ZoneInfo("Europe/Paris")

    def at(hour: int, minute: int, next_day: bool = False) -> str:
        local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=paris)
        return (local + timedelta(days=1 if next_day else 0)).astimezone(UTC).isoformat()

    earned = []
    for start, end in ((at(23, 10), at(23, 20)), (at(0, 30, True), at(0, 40, True)),
                       (at(21, 0), at(21, 10))):
        dwelt = await check_in(gql, opted_in, "DWELL", fence=opera, occurredAt=start)
        await check_in(gql, opted_in, "EXIT", fence=opera, at=None, occurredAt=end)
        earned.append(dwelt["visit"]["pointsEarned"])
    # 23:10 and 00:30 Paris are two days; 21:00 is the first one again.
    assert earned == [10, 10, 0]


async def test_malformed_check_ins_are_invalid_input(gql, shop, opted_in):
    opera = (await fences(gql, opted_in))["Opéra"]
    cases = [
        ({"kind": "ENTER"}, "geofenceId"),
        ({"kind": "ENTER", "fence": opera, "at": None}, "latitude"),
        ({"kind": "BEACON", "at": None}, "beacon"),
        ({"kind": "BEACON", "at": None, "beacon": {**BEACON, "uuid": "nope"}}, "beacon.uuid"),
        ({"kind": "DWELL", "fence": opera, "beacon": BEACON}, "beacon"),
        ({"kind": "DWELL", "fence": "x"}, "geofenceId"),
        ({"kind": "DWELL", "fence": opera, "occurredAt": "2026-01-01T10:00:00"}, "occurredAt"),
    ]
    for args, field in cases:
        args = dict(args)
        result = await check_in(gql, opted_in, args.pop("kind"), **args)
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", field)]


async def test_check_in_needs_a_customer_token(gql, shop: Shop):
    body = await gql.raw(CHECK_IN, {"input": {"idempotencyKey": "k", "kind": "EXIT",
                                              "geofenceId": "1", "occurredAt": ago()}},
                         token=shop.cashier_token)
    assert body["data"] is None
