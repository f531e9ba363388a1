"""Behavioural events: trackEvents (the app, the web shop, integrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context
from api.fast_track import track_as
from api.permissions import MayTrackEvents
from api.types.common import Channel, UserError, given
from audience.events import EventIn


@strawberry.input(description="One behavioural event.")
class TrackEventInput:
    message_id: str = strawberry.field(
        description="Client-generated and unique (1 to 128 printable characters, no spaces; "
        "`srv:` is the server's): a resend is counted in `duplicates` and changes nothing."
    )
    name: str = strawberry.field(
        description="1 to 64 characters, a letter then letters, digits, `_ . : -`. Well-known: "
        "product_viewed, cart_updated, checkout_started, page_viewed, push_opened, "
        "email_opened, email_clicked, sms_clicked. The server's own names (purchase, refund, "
        "redemption, checkin, survey_submitted, coupon_redeemed, tier_changed, "
        "segment_entered, segment_exited) are refused."
    )
    occurred_at: datetime = strawberry.field(
        description="When it happened: at most LOYALTY_EVENTS_MAX_FUTURE_SECONDS (300) ahead "
        "of the server's clock and LOYALTY_EVENTS_MAX_AGE_DAYS (30) old."
    )
    channel: Channel = strawberry.field(description="Where it happened.")
    customer_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="API keys and admins: the customer. A customer token implies its own; "
        "another customer's id is FORBIDDEN.",
    )
    anonymous_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The app's or browser's id before log-in; signUp and logIn with it merge "
        "these events into the customer.",
    )
    properties: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="A JSON object, at most LOYALTY_EVENTS_MAX_PROPERTIES_BYTES (8192) as JSON.",
    )


@strawberry.input(description="A batch of events, up to LOYALTY_EVENTS_MAX_BATCH (500).")
class TrackEventsInput:
    events: list[TrackEventInput] = strawberry.field(description="The events, in any order.")


@strawberry.type(description="What trackEvents kept.")
class TrackEventsPayload:
    accepted: int = strawberry.field(description="Events stored now.")
    duplicates: int = strawberry.field(
        description="Events whose messageId was seen before (or twice in this batch)."
    )
    errors: list[UserError] = strawberry.field(
        description="One per refused event, `field` naming it (`events.3.occurredAt`); the "
        "others of the batch are stored."
    )


@strawberry.type
class EventMutations:
    @strawberry.mutation(
        description="Record behavioural events: a customer token sends the customer's own; an "
        "API key with scope EVENTS (a web shop, an integration), or an admin's staff token, "
        "names customerId or anonymousId on each (the key's client is kept on each event).",
        permission_classes=[MayTrackEvents],
    )
    async def track_events(self, info: Info[Context, Any],
                           input: TrackEventsInput) -> TrackEventsPayload:
        principal = info.context.principal
        assert principal is not None
        events = [
            EventIn(
                message_id=e.message_id,
                name=e.name,
                occurred_at=e.occurred_at,
                channel=e.channel.value,
                customer_id=given(e.customer_id),
                anonymous_id=given(e.anonymous_id),
                properties=given(e.properties),
            )
            for e in input.events
        ]
        tracked = await track_as(principal, events)
        return TrackEventsPayload(accepted=tracked.accepted, duplicates=tracked.duplicates,
                                  errors=[UserError.of(e) for e in tracked.errors])
