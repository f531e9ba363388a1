"""API clients, franchises and the payloads they share."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.types.common import UserError
from loyalty.identity.api_clients import ApiClientView
from loyalty.models import ApiScope as DomainApiScope
from loyalty.models import StoreKind as DomainStoreKind

strawberry.enum(DomainApiScope, name="ApiScope",
                description="What an API client may do: PURCHASES (recordPurchase, "
                "recordPurchases, refundPurchase, cardLookup in its stores), CUSTOMERS_READ "
                "(name customers by id or email), EVENTS, CUSTOMERS_WRITE, WEBHOOKS, IMPORT.")
ApiScope = DomainApiScope  # the same class, now a GraphQL enum too
strawberry.enum(DomainStoreKind, name="StoreKind",
                description="A store with a position (PHYSICAL, with a geofence), the web "
                "shop (ONLINE) or the phone (CALL_CENTRE), both without position or geofence.")
StoreKind = DomainStoreKind


@strawberry.type(description="A server that calls the API with its own key.")
class ApiClient:
    id: strawberry.ID = strawberry.field(description="The client's id.")
    name: str = strawberry.field(description="Its name.")
    scopes: list[ApiScope] = strawberry.field(description="What it may do.")
    store_ids: list[strawberry.ID] = strawberry.field(description="Stores it may act in.")
    created_at: datetime = strawberry.field(description="When it was created.")
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked; its key is refused from then on.")
    last_used_at: datetime | None = strawberry.field(
        default=None, description="When its key was last used (to the minute).")

    @staticmethod
    def of(view: ApiClientView) -> ApiClient:
        return ApiClient(
            id=strawberry.ID(str(view.id)),
            name=view.name,
            scopes=[ApiScope(s) for s in view.scopes],
            store_ids=[strawberry.ID(str(s)) for s in view.store_ids],
            created_at=view.created_at,
            revoked_at=view.revoked_at,
            last_used_at=view.last_used_at,
        )


@strawberry.input(description="A new API client.")
class CreateApiClientInput:
    name: str = strawberry.field(description="Who it is, e.g. 'Web shop'.")
    scopes: list[ApiScope] = strawberry.field(description="What it may do.")
    store_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Stores it may act in; required with scope PURCHASES.")


@strawberry.type(description="The result of createApiClient.")
class CreateApiClientPayload:
    client: ApiClient | None = strawberry.field(description="The new client.")
    secret: str | None = strawberry.field(
        description="Shown once. Send it as `Authorization: Bearer <secret>`.")
    errors: list[UserError] = strawberry.field(description="Why it was not created.")


@strawberry.input(description="An API client.")
class ApiClientIdInput:
    client_id: strawberry.ID = strawberry.field(description="The client's id.")


