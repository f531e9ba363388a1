"""Scores and analytics (admin): RFM, the ABCD engagement matrix."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from api.types.common import UserError


@strawberry.enum(description="The RFM segment a (recency, frequency) pair names: champions "
                 "5[4-5], loyal [3-4][4-5], potential loyalists [4-5][2-3], new 51, promising "
                 "41, need attention 33, about to sleep 3[1-2], at risk [1-2][3-4], can't lose "
                 "[1-2]5, hibernating [1-2][1-2], lost 11.")
class RfmSegment(Enum):
    CHAMPIONS = "CHAMPIONS"
    LOYAL = "LOYAL"
    POTENTIAL_LOYALISTS = "POTENTIAL_LOYALISTS"
    NEW = "NEW"
    PROMISING = "PROMISING"
    NEED_ATTENTION = "NEED_ATTENTION"
    ABOUT_TO_SLEEP = "ABOUT_TO_SLEEP"
    AT_RISK = "AT_RISK"
    CANT_LOSE = "CANT_LOSE"
    HIBERNATING = "HIBERNATING"
    LOST = "LOST"


@strawberry.enum(description="Engagement matrix (click vs purchase over the last 90 days): A "
                 "clicks but buys little, B clicks and buys, C barely active, D buys without "
                 "clicking.")
class EngagementQuadrant(Enum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


@strawberry.type(description="One cell of the RFM grid.")
class RfmCell:
    recency: int = strawberry.field(description="1..5, 5 the most recent.")
    frequency: int = strawberry.field(description="1..5, 5 the most frequent.")
    customers: int = strawberry.field(description="Customers scored so.")


@strawberry.type(description="Customers in one quadrant of the engagement matrix.")
class QuadrantCount:
    quadrant: EngagementQuadrant = strawberry.field(description="The quadrant.")
    customers: int = strawberry.field(description="How many customers are in it.")


@strawberry.input(description="Options of a recomputation.")
class RecomputeScoresInput:
    rfm_window_days: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Score the buyers of this many last days (1 to 3660) instead of "
        "LOYALTY_RFM_WINDOW_DAYS (365).")


@strawberry.type(description="The result of recomputeScores.")
class RecomputeScoresPayload:
    computed_at: datetime | None = strawberry.field(description="The scores' computedAt.")
    customers: int = strawberry.field(description="Customers with a score row now.")
    errors: list[UserError] = strawberry.field(description="Why nothing was computed.")
