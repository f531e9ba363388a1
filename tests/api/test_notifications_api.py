"""Devices, preferences and the inbox, through HTTP GraphQL (customer token)."""

from __future__ import annotations

import pytest

from notifications.models import Device
from notifications.worker import run_once
from tests.api.test_pos import buy
from tests.fakes.fixtures import notification_tables

pytestmark = pytest.mark.usefixtures("notification_tables")
__all__ = ["notification_tables"]

REGISTER = """
mutation($input: RegisterDeviceInput!) {
  registerDevice(input: $input) { device { id platform pushEnabled } errors { code field } }
}"""
UNREGISTER = """
mutation($input: UnregisterDeviceInput!) { unregisterDevice(input: $input) { errors { code } } }
"""
PREFERENCES = """
mutation($input: PreferencesInput!) {
  updatePreferences(input: $input) {
    preferences { pushOptIn locationOptIn marketingOptIn quietHoursStart quietHoursEnd }
    errors { code field }
  }
}"""
READ_PREFERENCES = "query { preferences { pushOptIn quietHoursStart quietHoursEnd } }"
INBOX = """
query($first: Int, $after: String) {
  me { notifications(first: $first, after: $after) {
    edges { cursor node { id title body sentAt readAt } }
    pageInfo { hasNextPage endCursor }
  } }
}"""
MARK_READ = """
mutation($input: MarkNotificationsReadInput!) {
  markNotificationsRead(input: $input) { marked errors { code field } }
}"""


def device(token: str, platform: str = "IOS", **extra: object) -> dict[str, object]:
    return {"input": {"token": token, "platform": platform, **extra}}


async def test_register_device_and_the_token_moves_to_its_last_owner(gql, alice, bob):
    mine = (await gql(REGISTER, device("tok-1", appVersion="4.2.0", locale="fr-FR",
                                       timezone="Europe/Paris"), token=alice.token))
    assert mine["registerDevice"]["errors"] == []
    assert mine["registerDevice"]["device"]["platform"] == "IOS"
    assert mine["registerDevice"]["device"]["pushEnabled"] is True
    again = await gql(REGISTER, device("tok-1", "ANDROID"), token=bob.token)
    assert again["registerDevice"]["device"]["id"] == mine["registerDevice"]["device"]["id"]
    row = await Device.get(token="tok-1")
    assert row.customer_id == bob.id and row.platform == "ANDROID"
    assert await Device.filter(token="tok-1").count() == 1


async def test_register_device_validates_its_input(gql, alice):
    for args, field in ((device(" "), "token"), (device("t", timezone="Mars/Base"), "timezone"),
                        (device("t", locale="not a locale"), "locale")):
        result = (await gql(REGISTER, args, token=alice.token))["registerDevice"]
        assert result["device"] is None
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", field)]


async def test_unregister_stops_the_device_and_ignores_other_customers_tokens(gql, alice, bob):
    await gql(REGISTER, device("tok-a"), token=alice.token)
    other = await gql(UNREGISTER, {"input": {"token": "tok-a"}}, token=bob.token)
    assert other["unregisterDevice"]["errors"] == []
    assert await Device.filter(token="tok-a").count() == 1
    mine = await gql(UNREGISTER, {"input": {"token": "tok-a"}}, token=alice.token)
    assert mine["unregisterDevice"]["errors"] == []
    assert await Device.filter(token="tok-a").count() == 0


async def test_devices_need_a_customer_token(gql, shop):
    body = await gql.raw(REGISTER, device("tok"), token=shop.cashier_token)
    assert body["data"] is None and body["errors"]


async def test_update_preferences_changes_only_what_is_given(gql, alice):
    first = (await gql(PREFERENCES, {"input": {"marketingOptIn": True,
                                               "quietHoursStart": "22:00",
                                               "quietHoursEnd": "08:00"}},
                       token=alice.token))["updatePreferences"]
    assert first["errors"] == []
    assert first["preferences"] == {"pushOptIn": True, "locationOptIn": False,
                                    "marketingOptIn": True, "quietHoursStart": "22:00",
                                    "quietHoursEnd": "08:00"}
    second = (await gql(PREFERENCES, {"input": {"pushOptIn": False}},
                        token=alice.token))["updatePreferences"]
    assert second["preferences"]["pushOptIn"] is False
    assert second["preferences"]["quietHoursStart"] == "22:00"
    cleared = (await gql(PREFERENCES, {"input": {"quietHoursStart": None,
                                                 "quietHoursEnd": None}},
                         token=alice.token))["updatePreferences"]
    assert cleared["preferences"]["quietHoursStart"] is None
    read = (await gql(READ_PREFERENCES, token=alice.token))["preferences"]
    assert read == {"pushOptIn": False, "quietHoursStart": None, "quietHoursEnd": None}


@pytest.mark.parametrize("start,end,field", [
    ("25:00", "08:00", "quietHoursStart"),
    ("22:00", "8h", "quietHoursEnd"),
    ("22:00", None, "quietHoursEnd"),
    ("07:00", "07:00", "quietHoursEnd"),
])
async def test_quiet_hours_are_validated(gql, alice, start, end, field):
    result = (await gql(PREFERENCES, {"input": {"quietHoursStart": start,
                                                "quietHoursEnd": end}},
                        token=alice.token))["updatePreferences"]
    assert result["preferences"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", field)]


async def test_inbox_lists_newest_first_in_pages_and_marks_read(gql, shop, alice, bob):
    for amount in (10_00, 20_00, 30_00):
        await buy(gql, shop, alice, amount)
    await buy(gql, shop, bob, 5_00)
    await run_once(100)
    page = (await gql(INBOX, {"first": 2}, token=alice.token))["me"]["notifications"]
    assert [e["node"]["title"] for e in page["edges"]] == ["+30 points", "+20 points"]
    assert page["edges"][0]["node"]["body"] == "Alice, +30 points à Opéra, 60 au total"
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (await gql(INBOX, {"first": 2, "after": page["pageInfo"]["endCursor"]},
                      token=alice.token))["me"]["notifications"]
    assert [e["node"]["title"] for e in rest["edges"]] == ["+10 points"]
    assert rest["pageInfo"]["hasNextPage"] is False
    ids = [e["node"]["id"] for e in page["edges"]]
    bobs = (await gql(INBOX, token=bob.token))["me"]["notifications"]["edges"]
    marked = (await gql(MARK_READ, {"input": {"ids": [*ids, bobs[0]["node"]["id"]]}},
                        token=alice.token))["markNotificationsRead"]
    assert marked == {"marked": 2, "errors": []}
    again = (await gql(MARK_READ, {"input": {"ids": ids}},
                       token=alice.token))["markNotificationsRead"]
    assert again["marked"] == 0
    after = (await gql(INBOX, token=alice.token))["me"]["notifications"]["edges"]
    assert [e["node"]["readAt"] is not None for e in after] == [True, True, False]
    bob_after = (await gql(INBOX, token=bob.token))["me"]["notifications"]["edges"]
    assert bob_after[0]["node"]["readAt"] is None


async def test_mark_read_refuses_too_many_or_malformed_ids(gql, alice):
    many = (await gql(MARK_READ, {"input": {"ids": [str(i) for i in range(101)]}},
                      token=alice.token))["markNotificationsRead"]
    assert [e["code"] for e in many["errors"]] == ["INVALID_INPUT"]
    bad = (await gql(MARK_READ, {"input": {"ids": ["abc"]}},
                     token=alice.token))["markNotificationsRead"]
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID_INPUT", "ids")]
