"""The staff 360 view of a customer (CustomerProfile) and its connections."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context
from api.types.analytics import EngagementQuadrant, RfmSegment
from api.types.common import (
    BadArgument,
    Channel,
    PageInfo,
    clamp_first,
    decode_cursor,
    encode_cursor,
    given,
)
from api.types.customer import LedgerEntryConnection, PointsBalance, TierStatus, history_connection
from audience.audit import record_reads
from audience.profiles import ProfileRow, profile_rows
from audience.timeline import events_of, messages_of

if TYPE_CHECKING:
    from api.types.segments import Segment

# Segments list their members as profiles, and a profile its segments.
_Segment = Annotated["Segment", strawberry.lazy("api.types.segments")]


@strawberry.enum(description="A channel messages reach customers on.")
class MessageChannel(Enum):
    PUSH = "PUSH"
    INBOX = "INBOX"
    EMAIL = "EMAIL"
    SMS = "SMS"


@strawberry.type(description="RFM scores by quintile over the buying customers of the window "
                 "(LOYALTY_RFM_WINDOW_DAYS), as of the last scoring.")
class RfmScore:
    recency: int = strawberry.field(description="1..5, 5 = most recent.")
    frequency: int = strawberry.field(description="1..5, 5 = most purchases.")
    monetary: int = strawberry.field(description="1..5, 5 = most spent.")
    segment: RfmSegment = strawberry.field(description="The segment (recency, frequency) names.")
    computed_at: datetime = strawberry.field(description="When the scores were computed.")


@strawberry.enum(description="Whether lifetimeValue carries a 12-month prediction, and why "
                 "not.")
class PredictionStatus(Enum):
    PREDICTED = "PREDICTED"
    NOT_FITTED = "NOT_FITTED"
    NOT_ENOUGH_HISTORY = "NOT_ENOUGH_HISTORY"
    NO_PURCHASES = "NO_PURCHASES"


@strawberry.type(description="What a customer is worth, in minor units of the programme's "
                 "currency.")
class LifetimeValue:
    currency: str = strawberry.field(description="ISO 4217 (LOYALTY_CURRENCY).")
    historical_margin_minor: int = strawberry.field(
        description="Net spend (less refunds) times LOYALTY_MARGIN_RATE, less discounts and "
        "reward coupons given.")
    acquisition_cost_minor: int = strawberry.field(
        description="The customer's share of their source's (and campaign's) cost for their "
        "sign-up month (recordAcquisitionCost).")
    retention_cost_minor: int = strawberry.field(
        description="Points issued at LOYALTY_POINT_COST_MINOR, plus messages sent at "
        "LOYALTY_MESSAGE_COSTS.")
    predicted_12_months_minor: int | None = strawberry.field(
        name="predicted12MonthsMinor",
        description="BG/NBD + Gamma-Gamma: the margin (at LOYALTY_MARGIN_RATE) expected over the "
        "next 12 months, discounted 1% a month; null until enough history (predictionStatus).")
    expected_purchases_12_months: float | None = strawberry.field(
        name="expectedPurchases12Months", description="BG/NBD; null until enough history.")
    probability_alive: float | None = strawberry.field(
        description="BG/NBD; null until enough history.")
    prediction_status: PredictionStatus = strawberry.field(
        description="PREDICTED; NOT_FITTED before the model's first fit (with the scores: the "
        "worker every LOYALTY_SCORES_INTERVAL_SECONDS, or recomputeScores); NOT_ENOUGH_HISTORY "
        "when the programme had too few buyers (500) or repeat buyers (100) at the last fit; "
        "NO_PURCHASES for a customer who bought nothing.")


@strawberry.type(description="Where a customer came from.")
class Acquisition:
    source: str = strawberry.field(description="The source.")
    medium: str | None = strawberry.field(description="The medium.")
    campaign: str | None = strawberry.field(description="The campaign.")


@strawberry.type(description="One event of a customer's timeline.")
class CustomerEvent:
    id: strawberry.ID = strawberry.field(description="The event's id.")
    name: str = strawberry.field(description="What happened.")
    channel: Channel = strawberry.field(description="Where.")
    occurred_at: datetime = strawberry.field(description="When.")
    properties: JSON | None = strawberry.field(description="Its properties.")


@strawberry.type(description="An edge of a timeline.")
class CustomerEventEdge:
    cursor: str = strawberry.field(description="Opaque position.")
    node: CustomerEvent = strawberry.field(description="The event.")


@strawberry.type(description="A page of a timeline, newest first.")
class CustomerEventConnection:
    edges: list[CustomerEventEdge] = strawberry.field(description="The events.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


@strawberry.type(description="Every message sent to a customer on any channel, and what became "
                 "of it.")
class Message:
    id: strawberry.ID = strawberry.field(description="The message's id.")
    channel: MessageChannel = strawberry.field(
        description="The channel that carried it (or was tried, or will be first): PUSH, "
                    "INBOX, EMAIL or SMS.")
    title: str | None = strawberry.field(description="Its title.")
    body: str = strawberry.field(description="Its text.")
    status: str = strawberry.field(
        description="queued, deferred (quiet hours), sent, inbox (in the app's inbox only), "
                    "failed, suppressed (no channel could carry it: see why in the worker's "
                    "record).")
    journey_id: strawberry.ID | None = strawberry.field(
        description="The journey that sent it; null for ledger and campaign messages.")
    sent_at: datetime | None = strawberry.field(description="When it was sent.")
    opened_at: datetime | None = strawberry.field(description="When it was opened (read).")


@strawberry.type(description="An edge of the messages.")
class MessageEdge:
    cursor: str = strawberry.field(description="Opaque position.")
    node: Message = strawberry.field(description="The message.")


@strawberry.type(description="A page of messages, newest first.")
class MessageConnection:
    edges: list[MessageEdge] = strawberry.field(description="The messages.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


@strawberry.type(description="A customer's run through a journey.")
class JourneyRun:
    id: strawberry.ID = strawberry.field(description="The run's id.")
    journey_id: strawberry.ID = strawberry.field(description="The journey.")
    journey_name: str = strawberry.field(description="Its name.")
    status: str = strawberry.field(
        description="active, waiting, completed, converted, exited, failed.")
    current_step: str | None = strawberry.field(description="The step it is at.")
    arm: str | None = strawberry.field(description="Experiment arm, or \"holdout\".")
    entered_at: datetime = strawberry.field(description="When it entered.")


def _event_cursor(moment: datetime, event_id: int) -> str:
    micros = int(moment.timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"event:{micros}:{event_id}".encode()).decode()


def _decode_event_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if cursor is None:
        return None
    try:
        kind, micros, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        if kind != "event" or not (micros.isdigit() and event_id.isdigit()):
            raise ValueError(cursor)
        moment = datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
        if int(event_id) > 2**63 - 1:
            raise ValueError(cursor)
    except (ValueError, UnicodeError, OverflowError, OSError) as exc:
        raise BadArgument("Invalid cursor.") from exc
    return moment, int(event_id)


_PAGE = Annotated[int | None, strawberry.argument(description="Page size, 1-100.")]
_AFTER = Annotated[str | None, strawberry.argument(description="A cursor.")]


@strawberry.type(description="A customer as staff see them: the 360 view (MANAGER, ADMIN, "
                             "SUPPORT; every read is written to the audit log).")
class CustomerProfile:
    id: strawberry.ID = strawberry.field(description="The customer's id.")
    first_name: str = strawberry.field(description="First name.")
    email: str = strawberry.field(description="Email, normalised to lower case.")
    card_number: str = strawberry.field(description="The printed card number (12 digits).")
    row: strawberry.Private[ProfileRow]

    @strawberry.field(description="The points balance.")
    async def points(self, info: Info[Context, Any]) -> PointsBalance:
        return PointsBalance.of(await info.context.balances.load(self.row.id))

    @strawberry.field(description="Tier status; null while the programme has no tiers.")
    async def tier(self, info: Info[Context, Any]) -> TierStatus | None:
        status = await info.context.audience.tiers.load(self.row.id)
        if status is None:
            return None
        return TierStatus(name=status.name, points_to_next_tier=status.points_to_next_tier,
                          next_tier=None if status.next_tier is None else status.next_tier.name)

    @strawberry.field(description="Every channel the customer bought or engaged on.")
    async def channels(self, info: Info[Context, Any]) -> list[Channel]:
        activity = await info.context.audience.activity.load(self.row.id)
        return [Channel(c) for c in activity.channels]

    @strawberry.field(description="The channel this customer responds to best: the one whose "
                      "messages they open or click most (inbox reads count for INBOX); null "
                      "before any response.")
    async def preferred_channel(self, info: Info[Context, Any]) -> MessageChannel | None:
        found = (await info.context.audience.activity.load(self.row.id)).preferred
        return None if found is None else MessageChannel(found)

    @strawberry.field(description="RFM scores; null when the customer did not buy in the "
                      "window of the last scoring.")
    async def rfm(self, info: Info[Context, Any]) -> RfmScore | None:
        score = await info.context.audience.scores.load(self.row.id)
        if score is None or score.recency is None or score.segment is None:
            return None
        return RfmScore(recency=score.recency, frequency=score.frequency or 0,
                        monetary=score.monetary or 0, segment=RfmSegment(score.segment),
                        computed_at=score.computed_at)

    @strawberry.field(description="The engagement quadrant of the last scoring; C (barely "
                      "active) for a customer it did not find clicking or buying.")
    async def engagement(self, info: Info[Context, Any]) -> EngagementQuadrant | None:
        score = await info.context.audience.scores.load(self.row.id)
        return EngagementQuadrant(score.engagement if score and score.engagement else "C")

    @strawberry.field(description="The segments the customer is a member of.")
    async def segments(self, info: Info[Context, Any]) -> list[_Segment]:
        from api.types.segments import Segment

        return [Segment.of(v) for v in await info.context.audience.segments.load(self.row.id)]

    @strawberry.field(description="What the customer is worth.")
    async def lifetime_value(self, info: Info[Context, Any]) -> LifetimeValue:
        view = await info.context.audience.values.load(self.row)
        p = view.prediction
        return LifetimeValue(
            currency=view.currency, historical_margin_minor=view.historical_margin_minor,
            acquisition_cost_minor=view.acquisition_cost_minor,
            retention_cost_minor=view.retention_cost_minor,
            predicted_12_months_minor=p.predicted_12_months_minor,
            expected_purchases_12_months=p.expected_purchases_12_months,
            probability_alive=p.probability_alive,
            prediction_status=PredictionStatus(p.status.value))

    @strawberry.field(description="Where the customer came from (signUp's acquisition).")
    def acquisition(self) -> Acquisition | None:
        if self.row.acquisition_source is None:
            return None
        return Acquisition(source=self.row.acquisition_source,
                           medium=self.row.acquisition_medium,
                           campaign=self.row.acquisition_campaign)

    @strawberry.field(description="Points history, newest first (as the app's me.history).")
    async def history(self, first: _PAGE = 20, after: _AFTER = strawberry.UNSET
                      ) -> LedgerEntryConnection:
        return await history_connection(self.row.id, first, given(after))

    @strawberry.field(description="The customer's events, newest first: theirs and the "
                      "server's (purchase, refund, checkin, segment_entered...).")
    async def events(self, first: _PAGE = 20, after: _AFTER = strawberry.UNSET
                     ) -> CustomerEventConnection:
        size = clamp_first(first)
        items = await events_of(self.row.id, size + 1, _decode_event_cursor(given(after)))
        edges = [CustomerEventEdge(
            cursor=_event_cursor(e.occurred_at, e.id),
            node=CustomerEvent(id=strawberry.ID(str(e.id)), name=e.name,
                               channel=Channel(e.channel), occurred_at=e.occurred_at,
                               properties=e.properties))
            for e in items[:size]]
        return CustomerEventConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(items) > size, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="Messages sent to the customer on every channel, newest "
                      "first.")
    async def messages(self, first: _PAGE = 20, after: _AFTER = strawberry.UNSET
                       ) -> MessageConnection:
        size = clamp_first(first)
        items = await messages_of(self.row.id, size + 1, decode_cursor("message", given(after)))
        edges = [MessageEdge(
            cursor=encode_cursor("message", m.id),
            node=Message(id=strawberry.ID(str(m.id)), channel=MessageChannel(m.channel),
                         title=m.title, body=m.body, status=m.status,
                         journey_id=None if m.journey_id is None
                         else strawberry.ID(str(m.journey_id)),
                         sent_at=m.sent_at, opened_at=m.opened_at))
            for m in items[:size]]
        return MessageConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(items) > size, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="The customer's journey runs, newest entry first (at most "
                      "100).")
    async def journeys(self, info: Info[Context, Any]) -> list[JourneyRun]:
        runs = await info.context.audience.journey_runs.load(self.row.id)
        return [JourneyRun(id=strawberry.ID(str(r.id)), journey_id=strawberry.ID(str(r.journey_id)),
                           journey_name=r.journey_name, status=r.status,
                           current_step=r.current_step, arm=r.arm, entered_at=r.entered_at)
                for r in runs]

    @staticmethod
    def of(row: ProfileRow) -> CustomerProfile:
        return CustomerProfile(id=strawberry.ID(str(row.id)), first_name=row.first_name,
                               email=row.email, card_number=row.card_number or "", row=row)


@strawberry.type(description="An edge of a list of customers.")
class CustomerProfileEdge:
    cursor: str = strawberry.field(description="Opaque position.")
    node: CustomerProfile = strawberry.field(description="The customer.")


@strawberry.type(description="A page of customers, by id.")
class CustomerProfileConnection:
    edges: list[CustomerProfileEdge] = strawberry.field(description="The customers.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")
    total_count: int = strawberry.field(description="How many customers match, in all pages.")


async def profile_connection(info: Info[Context, Any], ids: list[int], size: int, total: int,
                             how: dict[str, Any]) -> CustomerProfileConnection:
    """`ids`: a page of `size` plus one when another page follows. The reads
    are written to the audit log (`how`: what listed them) first."""
    page = ids[:size]
    rows = await profile_rows(page, scope=await info.context.customer_scope())
    principal = info.context.principal
    assert principal is not None
    await record_reads(principal.subject_id, [i for i in page if i in rows], how)
    edges = [CustomerProfileEdge(cursor=encode_cursor("customer", i),
                                 node=CustomerProfile.of(rows[i])) for i in page if i in rows]
    return CustomerProfileConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=len(ids) > size,
                           end_cursor=edges[-1].cursor if edges else None),
        total_count=total,
    )
