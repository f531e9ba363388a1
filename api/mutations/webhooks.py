"""Webhooks (admin): create, list, the delivery log, redelivery."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.convert import parse_id
from api.errors import from_domain
from api.mutations.base import user_errors
from api.permissions import IsAdmin
from api.types.common import UserError
from loyalty.errors import DomainError
from notifications.webhooks import admin


@strawberry.type(description="An endpoint that receives domain events, signed.")
class Webhook:
    id: strawberry.ID = strawberry.field(description="The webhook's id.")
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    events: list[str] = strawberry.field(
        description="Event kinds it receives (points.earned, points.redeemed, points.refunded, "
        "points.adjusted, points.expired, points.expiring, tier.changed, visit.accepted, "
        "coupon.expiring, survey.submitted, customer.erased, ...) or \"*\" for all.")
    active: bool = strawberry.field(
        description="False once its attempts failed too often in a row "
        "(LOYALTY_WEBHOOK_DISABLE_AFTER_FAILURES); redelivering enables it again.")

    @staticmethod
    def of(view: admin.WebhookView) -> Webhook:
        return Webhook(id=strawberry.ID(str(view.id)), url=view.url, events=list(view.events),
                       active=view.active)


@strawberry.type(description="One event sent to one webhook, and what became of it.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="The delivery's id (Loyalty-Delivery).")
    event: str = strawberry.field(description="The event's kind.")
    status: str = strawberry.field(description="pending, delivered or failed.")
    attempts: int = strawberry.field(description="POSTs made so far.")
    last_response_code: int | None = strawberry.field(
        description="The HTTP status of the last attempt; null if none answered.")
    created_at: datetime = strawberry.field(description="When the event was fanned out.")

    @staticmethod
    def of(view: admin.DeliveryView) -> WebhookDelivery:
        return WebhookDelivery(id=strawberry.ID(str(view.id)), event=view.event,
                               status=view.status, attempts=view.attempts,
                               last_response_code=view.last_response_code,
                               created_at=view.created_at)


@strawberry.input(description="A new webhook.")
class CreateWebhookInput:
    url: str = strawberry.field(description="An https:// URL.")
    events: list[str] = strawberry.field(description="Event kinds, or [\"*\"] for all.")


@strawberry.type(description="The result of createWebhook.")
class CreateWebhookPayload:
    webhook: Webhook | None = strawberry.field(description="The new webhook.")
    secret: str | None = strawberry.field(
        description="Shown once: verifies the Loyalty-Signature header of each delivery.")
    errors: list[UserError] = strawberry.field(description="Why it was not created.")


@strawberry.input(description="A delivery to send again.")
class RedeliverWebhookInput:
    delivery_id: strawberry.ID = strawberry.field(description="The delivery.")


@strawberry.type(description="The result of redeliverWebhook.")
class RedeliverWebhookPayload:
    delivery: WebhookDelivery | None = strawberry.field(description="The delivery, pending.")
    errors: list[UserError] = strawberry.field(description="Why it was not requeued.")


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="Every webhook (admin token).", permission_classes=[IsAdmin])
    async def webhooks(self) -> list[Webhook]:
        return [Webhook.of(w) for w in await admin.list_webhooks()]

    @strawberry.field(description="A webhook's deliveries, newest first (admin token).",
                      permission_classes=[IsAdmin])
    async def webhook_deliveries(
        self, webhook_id: strawberry.ID,
        first: Annotated[int | None, strawberry.argument(description="1 to 500.")] = 50,
    ) -> list[WebhookDelivery]:
        try:
            found = await admin.deliveries(parse_id(webhook_id, "webhookId"),
                                           50 if first is None else first)
        except DomainError as e:
            raise from_domain(e) from None
        return [WebhookDelivery.of(d) for d in found]


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        description="Admin: a webhook and its signing secret, shown once. Deliveries are "
        "POSTed as JSON {id, type, createdAt, customerId, data} with `Loyalty-Signature: "
        "t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`, retried with back-off until a "
        "2xx, in order per customer.", permission_classes=[IsAdmin])
    @user_errors
    async def create_webhook(self, info: Info[Context, Any],
                             input: CreateWebhookInput) -> CreateWebhookPayload:
        assert info.context.principal is not None
        view, secret = await admin.create_webhook(info.context.principal, input.url,
                                                  input.events)
        return CreateWebhookPayload(webhook=Webhook.of(view), secret=secret, errors=[])

    @strawberry.mutation(
        description="Admin: send a delivery again from its first attempt (enables its "
        "webhook again if it was disabled).", permission_classes=[IsAdmin])
    @user_errors
    async def redeliver_webhook(self, info: Info[Context, Any],
                                input: RedeliverWebhookInput) -> RedeliverWebhookPayload:
        assert info.context.principal is not None
        view = await admin.redeliver(info.context.principal,
                                     parse_id(input.delivery_id, "deliveryId"))
        return RedeliverWebhookPayload(delivery=WebhookDelivery.of(view), errors=[])
