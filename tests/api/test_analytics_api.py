"""Scores through GraphQL (admin): recomputeScores, rfmGrid, engagementMatrix."""

from __future__ import annotations

from tests.conftest import GraphQLClient, Shop
from tests.integration.test_scores import _buyers

RECOMPUTE = """
mutation($input: RecomputeScoresInput!) {
  recomputeScores(input: $input) { computedAt customers errors { code field } }
}"""
GRID = "query { rfmGrid { recency frequency customers } }"
MATRIX = "query { engagementMatrix { quadrant customers } }"


async def test_an_admin_recomputes_and_reads_the_grid_and_matrix(gql: GraphQLClient, shop: Shop):
    await _buyers(5)
    done = (await gql(RECOMPUTE, {"input": {}}, token=shop.admin_token))["recomputeScores"]
    assert done["errors"] == [] and done["customers"] == 5 and done["computedAt"]
    grid = (await gql(GRID, token=shop.admin_token))["rfmGrid"]
    assert len(grid) == 25 and sum(c["customers"] for c in grid) == 5
    assert grid[0] == {"recency": 5, "frequency": 1, "customers": 0}
    assert {(c["recency"], c["frequency"]): c["customers"] for c in grid}[(5, 5)] == 1
    matrix = (await gql(MATRIX, token=shop.admin_token))["engagementMatrix"]
    assert matrix == [{"quadrant": "A", "customers": 0}, {"quadrant": "B", "customers": 0},
                      {"quadrant": "C", "customers": 0}, {"quadrant": "D", "customers": 5}]
    bad = (await gql(RECOMPUTE, {"input": {"rfmWindowDays": 0}},
                     token=shop.admin_token))["recomputeScores"]
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID_INPUT",
                                                                  "rfmWindowDays")]
    # the refusal keeps the non-null count at 0 (its declared default), never null
    assert (bad["computedAt"], bad["customers"]) == (None, 0)
    refused = await gql.raw(GRID, token=shop.cashier_token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


VALUE = """
query($from: DateTime!, $to: DateTime!) {
  pointsLiability { outstandingPoints pendingPoints valueMinor currency breakageRate }
  lifetimeValueByChannelCount { channelCount customers averageLifetimeValueMinor }
  attribution(model: LINEAR, from: $from, to: $to) { touchpoint conversions revenueMinor }
}"""
COST = """
mutation($input: AcquisitionCostInput!) { recordAcquisitionCost(input: $input) {
  errors { code field } } }"""


async def test_liability_value_by_channels_and_acquisition_costs(gql: GraphQLClient,
                                                                 shop: Shop):
    await _buyers(3)
    window = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
    found = await gql(VALUE, window, token=shop.admin_token)
    assert found["pointsLiability"] == {"outstandingPoints": 10 * 1 + 20 * 2 + 30 * 3,
                                        "pendingPoints": 0, "valueMinor": 140,
                                        "currency": "EUR", "breakageRate": 0.0}
    # spend 1000, 4000 and 9000, less 10, 40 and 90 points at 1 each: (990 + 3960 + 8910) / 3
    assert found["lifetimeValueByChannelCount"] == [
        {"channelCount": 1, "customers": 3, "averageLifetimeValueMinor": 4620}]
    # No touchpoint before any purchase: every conversion is direct, every cent counted.
    assert found["attribution"] == [{"touchpoint": "(direct)", "conversions": 1.0 + 2 + 3,
                                     "revenueMinor": 1000 + 4000 + 9000}]
    ok = (await gql(COST, {"input": {"source": "news", "month": "2026-11",
                                     "amount": {"amountMinor": 5000, "currency": "EUR"}}},
                    token=shop.admin_token))["recordAcquisitionCost"]
    assert ok["errors"] == []
    bad = (await gql(COST, {"input": {"source": "news", "month": "November",
                                      "amount": {"amountMinor": 5000, "currency": "EUR"}}},
                     token=shop.admin_token))["recordAcquisitionCost"]
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID_INPUT", "month")]
