"""Scores and analytics (admin token): rfmGrid, engagementMatrix,
recomputeScores, pointsLiability, lifetimeValueByChannelCount, attribution,
recordAcquisitionCost."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.mutations.base import user_errors
from api.permissions import IsAdmin
from api.types.analytics import (
    AcquisitionCostInput,
    AttributionModel,
    AttributionRow,
    ChannelCountValue,
    EngagementQuadrant,
    PointsLiability,
    QuadrantCount,
    RecomputeScoresInput,
    RecomputeScoresPayload,
    RfmCell,
)
from api.types.common import OkPayload, given
from audience import jobs, scores, touchpoints, value


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
                         "segments that read them, and fit the lifetime-value prediction "
                         "again.", permission_classes=[IsAdmin])
    @user_errors
    async def recompute_scores(self, input: RecomputeScoresInput) -> RecomputeScoresPayload:
        done, _ = await jobs.recompute_now(rfm_window_days=given(input.rfm_window_days))
        return RecomputeScoresPayload(computed_at=done.computed_at, customers=done.scored,
                                      errors=[])


@strawberry.type
class ValueQueries:
    @strawberry.field(description="Points owed and their value (admin token).",
                      permission_classes=[IsAdmin])
    async def points_liability(self) -> PointsLiability:
        found = await value.points_liability()
        return PointsLiability(outstanding_points=found.outstanding_points,
                               pending_points=found.pending_points,
                               value_minor=found.value_minor, currency=found.currency,
                               breakage_rate=found.breakage_rate)

    @strawberry.field(description="Customers by the number of channels they use, with their "
                      "average lifetime value: are customers on three channels worth more than "
                      "those on one? (admin token)", permission_classes=[IsAdmin])
    async def lifetime_value_by_channel_count(self) -> list[ChannelCountValue]:
        return [ChannelCountValue(channel_count=n, customers=c, average_lifetime_value_minor=v)
                for n, c, v in await value.value_by_channel_count()]

    @strawberry.field(description="Credit of each touchpoint (messages, opens and clicks, "
                      "check-ins, UTM sources of page views, acquisition sources) for the "
                      "purchases between `from` and `to` (admin token). Empty until the "
                      "attribution models are installed (audience/attribution.py).",
                      permission_classes=[IsAdmin])
    async def attribution(
        self, model: AttributionModel,
        from_: Annotated[datetime, strawberry.argument(name="from",
                                                       description="Purchases from.")],
        to: Annotated[datetime, strawberry.argument(description="Purchases before.")],
    ) -> list[AttributionRow]:
        return [AttributionRow(touchpoint=c.touchpoint, conversions=c.conversions,
                               revenue_minor=c.revenue_minor)
                for c in await touchpoints.attribution(model.value, from_, to)]


@strawberry.type
class ValueMutations:
    @strawberry.mutation(description="Admin: what an acquisition source (or one of its "
                         "campaigns) cost in a month, shared by the customers it brought then.",
                         permission_classes=[IsAdmin])
    @user_errors
    async def record_acquisition_cost(self, info: Info[Context, Any],
                                      input: AcquisitionCostInput) -> OkPayload:
        assert info.context.principal is not None
        await value.record_acquisition_cost(
            source=input.source, campaign=given(input.campaign), month=input.month,
            amount_minor=input.amount.amount_minor, currency=input.amount.currency,
            staff_id=info.context.principal.subject_id)
        return OkPayload(errors=[])
