"""API clients (admin): create, revoke, list."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsAdmin
from api.types.common import OkPayload, given
from api.types.integrations import (
    ApiClient,
    ApiClientIdInput,
    CreateApiClientInput,
    CreateApiClientPayload,
)
from loyalty.identity import api_clients


@strawberry.type
class ApiClientQueries:
    @strawberry.field(description="Every API client, revoked ones included (admin token).",
                      permission_classes=[IsAdmin])
    async def api_clients(self) -> list[ApiClient]:
        return [ApiClient.of(c) for c in await api_clients.list_api_clients()]


@strawberry.type
class ApiClientMutations:
    @strawberry.mutation(
        description="Admin: a new API client and its secret, shown once (only its hash is "
        "kept).", permission_classes=[IsAdmin])
    @user_errors
    async def create_api_client(self, info: Info[Context, Any],
                                input: CreateApiClientInput) -> CreateApiClientPayload:
        assert info.context.principal is not None
        stores = [parse_id(s, "storeIds") for s in given(input.store_ids) or []]
        view, secret = await api_clients.create_api_client(
            info.context.principal, input.name, [s.value for s in input.scopes], stores)
        return CreateApiClientPayload(client=ApiClient.of(view), secret=secret, errors=[])

    @strawberry.mutation(
        description="Admin: revoke an API client; its key is refused by every server "
        "process within a second.", permission_classes=[IsAdmin])
    @user_errors
    async def revoke_api_client(self, info: Info[Context, Any],
                                input: ApiClientIdInput) -> OkPayload:
        assert info.context.principal is not None
        await api_clients.revoke_api_client(info.context.principal,
                                            parse_id(input.client_id, "clientId"))
        return OkPayload(errors=[])
