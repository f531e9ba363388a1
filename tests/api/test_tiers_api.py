"""Tiers over HTTP: the admin shapes the ladder, the app shows the customer's
place on it, the till shows the tier's name."""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty.platform.db import transaction
from loyalty.platform.sql import fetchrow
from loyalty.programme.tiers import after_earning
from tests.api.test_pos import LOOKUP, buy
from tests.conftest import CustomerHandle, GraphQLClient, Shop

CREATE_TIER = """
mutation($input: CreateTierInput!) {
  createTier(input: $input) {
    tier { id name threshold multiplier active }
    errors { code field message }
  }
}"""
UPDATE_TIER = """
mutation($input: UpdateTierInput!) {
  updateTier(input: $input) {
    tier { id name threshold multiplier active }
    errors { code field message }
  }
}"""
UPDATE_SETTINGS = """
mutation($input: UpdateProgrammeSettingsInput!) {
  updateProgrammeSettings(input: $input) {
    settings { tierBasis tierPeriod tierWindowDays timezone reminderDays }
    errors { code field message }
  }
}"""
TIERS = "query($all: Boolean) { tiers(includeInactive: $all) { name threshold multiplier } }"
SETTINGS = "query { programmeSettings { tierBasis tierPeriod timezone reminderDays } }"
ME_TIER = "query { me { tier { name pointsToNextTier nextTier } } }"


async def _tier(gql: GraphQLClient, shop: Shop, **fields: object) -> dict:
    data = await gql(CREATE_TIER, {"input": fields}, token=shop.admin_token)
    return data["createTier"]


async def _ladder(gql: GraphQLClient, shop: Shop) -> None:
    assert (await _tier(gql, shop, name="Gold", threshold=500, multiplier="1.5"))["errors"] == []
    assert (await _tier(gql, shop, name="Silver", threshold=100, multiplier="1.25"))[
        "errors"] == []


async def _earn(gql: GraphQLClient, shop: Shop, customer: CustomerHandle, amount: int) -> None:
    """A purchase at the till, then the tier check the posting makes (a no-op
    when recordPurchase already made it)."""
    assert (await buy(gql, shop, customer, amount))["errors"] == []
    async with transaction() as conn:
        await fetchrow(conn, "SELECT id FROM account WHERE customer_id = $1 FOR UPDATE",
                       customer.id)
        await after_earning(conn, customer.id, datetime.now(UTC))


async def test_admin_builds_the_ladder_and_customers_read_it(gql, shop, alice):
    # given
    gold = await _tier(gql, shop, name="Gold", threshold=500, multiplier="1.50")
    silver = await _tier(gql, shop, name="Silver", threshold=100)
    # then
    assert gold["errors"] == [] and silver["errors"] == []
    assert gold["tier"] == {"id": gold["tier"]["id"], "name": "Gold", "threshold": 500,
                            "multiplier": "1.5", "active": True}
    assert silver["tier"]["multiplier"] == "1"
    ladder = (await gql(TIERS, token=alice.token))["tiers"]
    assert [t["name"] for t in ladder] == ["Silver", "Gold"]
    # when the admin renames Gold and deactivates Silver
    changed = (await gql(UPDATE_TIER, {"input": {"id": gold["tier"]["id"], "name": "Or",
                                                  "multiplier": "2"}},
                         token=shop.admin_token))["updateTier"]
    off = (await gql(UPDATE_TIER, {"input": {"id": silver["tier"]["id"], "active": False}},
                     token=shop.admin_token))["updateTier"]
    # then
    assert changed["errors"] == [] and changed["tier"]["multiplier"] == "2"
    assert off["tier"]["active"] is False
    assert [t["name"] for t in (await gql(TIERS))["tiers"]] == ["Or"]
    every = (await gql(TIERS, {"all": True}, token=shop.admin_token))["tiers"]
    assert [t["name"] for t in every] == ["Silver", "Or"]


async def test_admin_changes_the_programme_settings(gql, shop):
    assert (await gql(SETTINGS, token=shop.admin_token))["programmeSettings"] == {
        "tierBasis": "POINTS", "tierPeriod": "CALENDAR_YEAR", "timezone": "UTC",
        "reminderDays": 14}
    result = (await gql(UPDATE_SETTINGS, {"input": {
        "tierBasis": "SPEND", "tierPeriod": "ROLLING", "tierWindowDays": 90,
        "timezone": "America/Los_Angeles"}}, token=shop.admin_token))["updateProgrammeSettings"]
    assert result == {"settings": {"tierBasis": "SPEND", "tierPeriod": "ROLLING",
                                   "tierWindowDays": 90, "timezone": "America/Los_Angeles",
                                   "reminderDays": 14}, "errors": []}
    assert (await gql(SETTINGS, token=shop.admin_token))["programmeSettings"]["timezone"] == (
        "America/Los_Angeles")


async def test_bad_tier_and_settings_input_is_refused_with_its_field(gql, shop):
    await _ladder(gql, shop)
    cases = [
        ({"name": "Bronze", "threshold": 10, "multiplier": "abc"}, "multiplier"),
        ({"name": "Bronze", "threshold": 10, "multiplier": "0.5"}, "multiplier"),
        ({"name": "Bronze", "threshold": 10, "multiplier": "1.00001"}, "multiplier"),
        ({"name": "Bronze", "threshold": -1}, "threshold"),
        ({"name": "  ", "threshold": 10}, "name"),
        ({"name": "gold", "threshold": 10}, "name"),
        ({"name": "Bronze", "threshold": 100}, "threshold"),
    ]
    for fields, field in cases:
        result = await _tier(gql, shop, **fields)
        assert result["tier"] is None
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", field)]
    missing = (await gql(UPDATE_TIER, {"input": {"id": "999999", "name": "X"}},
                         token=shop.admin_token))["updateTier"]
    assert [e["code"] for e in missing["errors"]] == ["NOT_FOUND"]
    for fields, field in [({"timezone": "Mars/Olympus"}, "timezone"),
                          ({"tierWindowDays": 0}, "tierWindowDays"),
                          ({"tierWindowDays": 3661}, "tierWindowDays"),
                          ({"reminderDays": 366}, "reminderDays")]:
        result = (await gql(UPDATE_SETTINGS, {"input": fields},
                            token=shop.admin_token))["updateProgrammeSettings"]
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", field)]
    assert len((await gql(TIERS))["tiers"]) == 2


async def test_only_admins_shape_the_programme(gql, shop, alice):
    for token in (shop.cashier_token, alice.token, None):
        for document, variables in [
            (CREATE_TIER, {"input": {"name": "Bronze", "threshold": 10}}),
            (UPDATE_SETTINGS, {"input": {"reminderDays": 3}}),
            (SETTINGS, None),
        ]:
            body = await gql.raw(document, variables, token=token or "")
            assert body.get("errors"), body
    refused = await gql.raw(TIERS, {"all": True}, token=alice.token)
    assert "admin" in refused["errors"][0]["message"]
    assert (await gql(TIERS))["tiers"] == []
    assert (await gql.raw(TIERS, token="not-a-token")).get("errors")


async def test_me_tier_shows_the_way_to_the_next_tier(gql, shop, alice):
    # without a ladder there is no tier status
    assert (await gql(ME_TIER, token=alice.token))["me"]["tier"] is None
    await _ladder(gql, shop)
    await _earn(gql, shop, alice, 40_00)
    # below the first tier: no name yet, the first tier is next
    assert (await gql(ME_TIER, token=alice.token))["me"]["tier"] == {
        "name": "", "pointsToNextTier": 60, "nextTier": "Silver"}
    await _earn(gql, shop, alice, 70_00)
    assert (await gql(ME_TIER, token=alice.token))["me"]["tier"] == {
        "name": "Silver", "pointsToNextTier": 390, "nextTier": "Gold"}
    await _earn(gql, shop, alice, 400_00)
    assert (await gql(ME_TIER, token=alice.token))["me"]["tier"] == {
        "name": "Gold", "pointsToNextTier": None, "nextTier": None}


async def test_card_lookup_shows_the_tier_name(gql, shop, alice):
    async def looked_up() -> str | None:
        data = await gql(LOOKUP, {"card": {"qrPayload": alice.qr()}, "storeId": shop.store_id},
                         token=shop.cashier_token)
        return data["cardLookup"]["customer"]["tier"]

    assert await looked_up() is None
    await _ladder(gql, shop)
    await _earn(gql, shop, alice, 150_00)
    assert await looked_up() == "Silver"
