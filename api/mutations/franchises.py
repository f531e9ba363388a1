"""Franchises (admin creates; admins and a franchise's managers list)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from api.client_permissions import IsAdminOrManager
from api.context import Context
from api.mutations.base import user_errors
from api.permissions import IsAdmin
from api.types.common import UserError
from loyalty.identity import franchises


@strawberry.type(description="A franchisee; its managers act only in its stores.")
class Franchise:
    id: strawberry.ID = strawberry.field(description="The franchise's id.")
    name: str = strawberry.field(description="Its name.")
    store_ids: list[strawberry.ID] = strawberry.field(description="The stores it owns.")

    @staticmethod
    def of(view: franchises.FranchiseView) -> Franchise:
        return Franchise(id=strawberry.ID(str(view.id)), name=view.name,
                         store_ids=[strawberry.ID(str(s)) for s in view.store_ids])


@strawberry.input(description="A new franchise.")
class CreateFranchiseInput:
    name: str = strawberry.field(description="Its name; unique.")


@strawberry.type(description="The result of createFranchise.")
class FranchisePayload:
    franchise: Franchise | None = strawberry.field(description="The new franchise.")
    errors: list[UserError] = strawberry.field(description="Why it was not created.")


@strawberry.type
class FranchiseQueries:
    @strawberry.field(description="Franchises: all of them for an admin, their own for a "
                      "franchise's manager.", permission_classes=[IsAdminOrManager])
    async def franchises(self, info: Info[Context, Any]) -> list[Franchise]:
        assert info.context.principal is not None
        return [Franchise.of(f) for f in await franchises.list_franchises(
            info.context.principal)]


@strawberry.type
class FranchiseMutations:
    @strawberry.mutation(description="Admin: a new franchise; stores join it at creation "
                         "(createStore's franchiseId).", permission_classes=[IsAdmin])
    @user_errors
    async def create_franchise(self, info: Info[Context, Any],
                               input: CreateFranchiseInput) -> FranchisePayload:
        assert info.context.principal is not None
        view = await franchises.create_franchise(info.context.principal, input.name)
        return FranchisePayload(franchise=Franchise.of(view), errors=[])
