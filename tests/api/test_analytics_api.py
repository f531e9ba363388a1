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
    refused = await gql.raw(GRID, token=shop.cashier_token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
