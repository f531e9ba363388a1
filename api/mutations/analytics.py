"""Scores and analytics (admin token): rfmGrid, engagementMatrix, recomputeScores."""

from __future__ import annotations

import strawberry

from api.permissions import IsAdmin
from api.types.analytics import (
    EngagementQuadrant,
    QuadrantCount,
    RecomputeScoresInput,
    RecomputeScoresPayload,
    RfmCell,
)
from api.types.common import errors_of, given
from audience import jobs, scores
from loyalty.errors import DomainError


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(description="Customers per (recency, frequency) cell of the last "
                      "scoring, all 25 cells (admin token).", permission_classes=[IsAdmin])
    async def rfm_grid(self) -> list[RfmCell]:
        return [RfmCell(recency=r, frequency=f, customers=n)
                for r, f, n in await scores.rfm_grid()]

    @strawberry.field(description="Customers per engagement quadrant; customers never scored "
                      "count as C (admin token).", permission_classes=[IsAdmin])
    async def engagement_matrix(self) -> list[QuadrantCount]:
        counts = await scores.engagement_matrix()
        return [QuadrantCount(quadrant=EngagementQuadrant(q), customers=counts[q])
                for q in "ABCD"]


@strawberry.type
class AnalyticsMutations:
    @strawberry.mutation(description="Admin: recompute RFM and engagement scores now (the "
                         "worker also does, every LOYALTY_SCORES_INTERVAL_SECONDS), then the "
                         "segments that read them.", permission_classes=[IsAdmin])
    async def recompute_scores(self, input: RecomputeScoresInput) -> RecomputeScoresPayload:
        try:
            done, _ = await jobs.recompute_now(rfm_window_days=given(input.rfm_window_days))
        except DomainError as e:
            return RecomputeScoresPayload(computed_at=None, customers=0, errors=errors_of(e))
        return RecomputeScoresPayload(computed_at=done.computed_at, customers=done.scored,
                                      errors=[])
