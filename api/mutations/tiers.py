"""The tier ladder (readable by anyone) and its administration (admin token)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info
from tortoise import connections

from api.context import Context
from api.convert import parse_id
from api.errors import forbidden
from api.mutations.base import user_errors
from api.permissions import IsAdmin, require_principal
from api.types.common import given
from api.types.tiers import (
    CreateTierInput,
    CreateTierPayload,
    ProgrammeSettings,
    TierInfo,
    UpdateProgrammeSettingsInput,
    UpdateProgrammeSettingsPayload,
    UpdateTierInput,
    UpdateTierPayload,
)
from loyalty.programme import tier_admin
from loyalty.programme.settings import programme_settings, update_programme_settings


def _staff_id(info: Info[Context, Any]) -> int | None:
    principal = info.context.principal
    return None if principal is None else principal.subject_id


@strawberry.type
class TierQueries:
    @strawberry.field(
        description="The tier ladder, lowest threshold first (anyone may read it; "
        "`includeInactive` needs an admin token)."
    )
    async def tiers(
        self,
        info: Info[Context, Any],
        include_inactive: Annotated[
            bool | None,
            strawberry.argument(description="Also list deactivated tiers (admin)."),
        ] = False,
    ) -> list[TierInfo]:
        if info.context.auth_error is not None:
            # A bad token is its own error, never a silent anonymous request.
            raise info.context.auth_error.as_error()
        if include_inactive and not require_principal(info.context).is_admin:
            raise forbidden("An admin access token is required.")
        records = await tier_admin.list_tiers(include_inactive=bool(include_inactive))
        return [TierInfo.of(r) for r in records]

    @strawberry.field(
        description="Admin: how tiers qualify and when reminders go out.",
        permission_classes=[IsAdmin],
    )
    async def programme_settings(self) -> ProgrammeSettings:
        return ProgrammeSettings.of(await programme_settings(connections.get("default")))


@strawberry.type
class TierMutations:
    @strawberry.mutation(description="Admin: add a tier to the ladder.",
                         permission_classes=[IsAdmin])
    @user_errors
    async def create_tier(self, info: Info[Context, Any],
                          input: CreateTierInput) -> CreateTierPayload:
        record = await tier_admin.create_tier(
            _staff_id(info),
            name=input.name,
            threshold=input.threshold,
            multiplier=given(input.multiplier) or "1",
        )
        return CreateTierPayload(tier=TierInfo.of(record), errors=[])

    @strawberry.mutation(
        description="Admin: rename, re-price or (de)activate a tier. Customers keep their "
        "tier until a posting lifts them or their period ends.",
        permission_classes=[IsAdmin],
    )
    @user_errors
    async def update_tier(self, info: Info[Context, Any],
                          input: UpdateTierInput) -> UpdateTierPayload:
        record = await tier_admin.update_tier(
            _staff_id(info),
            parse_id(input.id, "id"),
            name=given(input.name),
            threshold=given(input.threshold),
            multiplier=given(input.multiplier),
            active=given(input.active),
        )
        return UpdateTierPayload(tier=TierInfo.of(record), errors=[])

    @strawberry.mutation(
        description="Admin: change how tiers qualify or when reminders go out. Review dates "
        "already set stay; the next review measures with the new rules.",
        permission_classes=[IsAdmin],
    )
    @user_errors
    async def update_programme_settings(
        self, info: Info[Context, Any], input: UpdateProgrammeSettingsInput
    ) -> UpdateProgrammeSettingsPayload:
        basis, period = given(input.tier_basis), given(input.tier_period)
        view = await update_programme_settings(
            _staff_id(info),
            tier_basis=None if basis is None else basis.value,
            tier_period=None if period is None else period.value,
            tier_window_days=given(input.tier_window_days),
            timezone=given(input.timezone),
            reminder_days=given(input.reminder_days),
        )
        return UpdateProgrammeSettingsPayload(settings=ProgrammeSettings.of(view), errors=[])
