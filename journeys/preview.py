"""A message step rendered for a chosen customer, as the worker would send it
now: the channel it would go on, the language, the title and the body, filled
with the customer's values read from the ledger (journeys.values), so that a
marketer sees the real text before publishing.

Nothing is written. A coupon the run has not issued yet is shown with a sample
code and an expiry `validFor` from now, since a preview issues no coupon."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import connections

from audience.timeline import activity_of
from journeys import service
from journeys import steps as s
from journeys.content import RenderError, render
from journeys.effects import channels_for
from journeys.run import SendMessage
from journeys.steps import Channel, freeze
from journeys.timing import after
from journeys.values import Wanted, values_for_many
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.platform.sql import fetchrow

SAMPLE_CODE = "SAMPLE2345"
SAMPLE_VALIDITY = timedelta(days=30)
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class Preview:
    channel: str | None  # None: no channel can carry it for this customer
    channels: tuple[str, ...]  # the order the sender would try
    language: str | None
    title: str | None
    body: str | None
    problem: str | None  # why it would not be sent (a value missing, no channel)


async def preview_step(journey_id: int, step_id: str, customer_id: int,
                       trigger: Any = None, version: int | None = None,
                       now: datetime | None = None) -> Preview:
    now = now or datetime.now(UTC)
    view = await service.get_journey(journey_id)
    if view is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such journey.", "journeyId")
    chosen = version if version is not None else view.version
    try:
        definition = await service.live_definition(journey_id, chosen)
    except DomainError:
        raise invalid(f"The journey has no version {chosen}.", "version") from None
    step = definition.steps.get(step_id)
    if not isinstance(step, s.Message):
        raise invalid("stepId must name a message step of that version.", "stepId")
    if trigger is not None and not isinstance(trigger, dict):
        raise invalid("trigger must be a JSON object of event properties.", "trigger")
    conn = connections.get("default")
    customer = await fetchrow(conn, "SELECT locale FROM customer WHERE id = $1 "
                              "AND erased_at IS NULL", customer_id)
    if customer is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such customer.", "customerId")
    properties = trigger or {}
    action = SendMessage("preview", step.id, step.channel, step.fallback, step.content,
                         properties.get("storeId"), None)
    preferred = None
    if step.channel == Channel.PREFERRED:
        preferred = (await activity_of([customer_id]))[customer_id].preferred
    channels = channels_for(action, preferred)
    [values] = await values_for_many(conn, [Wanted(customer_id, freeze(properties),
                                                   properties.get("storeId"), None)], now)
    if values.coupon_code is None:
        validity = next((x.valid_for for x in definition.steps.values()
                         if isinstance(x, s.IssueCoupon)), None)
        values = replace(values, coupon_code=SAMPLE_CODE, coupon_expires_at=(
            now + SAMPLE_VALIDITY if validity is None else after(now, validity, UTC_ZONE)))
    if not channels:
        return Preview(None, (), None, None, None, "no channel: the customer has no preferred "
                       "channel yet and the step has no fallback")
    try:
        rendered = render(step.content, Channel(channels[0]), customer[0], values)
    except RenderError as exc:
        return Preview(channels[0], tuple(channels), None, None, None, f"not rendered: {exc}")
    return Preview(channels[0], tuple(channels), rendered.language, rendered.title,
                   rendered.body, None)
