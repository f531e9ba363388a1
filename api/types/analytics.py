"""Scores and analytics (admin): RFM, the ABCD engagement matrix."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from api.types.common import MoneyInput, UserError


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
    # 0, not null, when refused: the field is non-null (api/mutations/base.py: refused).
    customers: int = strawberry.field(default=0,
                                      description="Customers with a score row now.")
    errors: list[UserError] = strawberry.field(description="Why nothing was computed.")


@strawberry.type(description="Points owed to customers and what they are worth.")
class PointsLiability:
    outstanding_points: int = strawberry.field(
        description="Available points on positive balances (a negative balance owes nothing).")
    pending_points: int = strawberry.field(description="Earned, not yet usable.")
    value_minor: int = strawberry.field(
        description="Outstanding and pending points at the programme's cost per point "
        "(LOYALTY_POINT_COST_MINOR).")
    currency: str = strawberry.field(description="ISO 4217 (LOYALTY_CURRENCY).")
    breakage_rate: float = strawberry.field(
        description="Share of points issued that expired unspent (expired / issued).")


@strawberry.type(description="Customers using so many channels, and what they are worth.")
class ChannelCountValue:
    channel_count: int = strawberry.field(description="Channels bought or engaged on.")
    customers: int = strawberry.field(description="Customers using that many.")
    average_lifetime_value_minor: int = strawberry.field(
        description="Their average lifetime value: historical margin less acquisition and "
        "retention costs.")


@strawberry.enum(description="How a conversion's credit is shared among its touchpoints.")
class AttributionModel(Enum):
    FIRST_TOUCH = "FIRST_TOUCH"
    LAST_TOUCH = "LAST_TOUCH"
    LINEAR = "LINEAR"
    TIME_DECAY = "TIME_DECAY"
    POSITION_BASED = "POSITION_BASED"
    MARKOV = "MARKOV"


@strawberry.type(description="The credit one touchpoint earned.")
class AttributionRow:
    touchpoint: str = strawberry.field(description="The touchpoint (a channel, a campaign...).")
    conversions: float = strawberry.field(description="Conversions credited to it.")
    revenue_minor: int = strawberry.field(description="Revenue credited to it.")


@strawberry.input(description="What a source (and campaign) cost in a month.")
class AcquisitionCostInput:
    source: str = strawberry.field(description="The source, as signUp's acquisition names it.")
    campaign: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="One of its campaigns; omitted: the source as a whole.")
    month: str = strawberry.field(description="YYYY-MM (UTC).")
    amount: MoneyInput = strawberry.field(
        description="The cost, in the programme's currency; replaces any recorded before.")


