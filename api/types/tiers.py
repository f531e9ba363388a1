"""The tier ladder and the programme settings, as the app and admins see them."""

from __future__ import annotations

import strawberry

from api.types.common import UserError
from loyalty.programme.settings import ProgrammeSettingsView
from loyalty.programme.tier_admin import TierRecord
from loyalty.programme.tier_periods import TierBasis as DomainTierBasis
from loyalty.programme.tier_periods import TierPeriod as DomainTierPeriod

strawberry.enum(
    DomainTierBasis,
    name="TierBasis",
    description="What qualifies for a tier: POINTS earned (net of refunds) or SPEND "
    "(purchase totals less refunds, in minor units).",
)
TierBasis = DomainTierBasis  # the same class, now a GraphQL enum too
strawberry.enum(
    DomainTierPeriod,
    name="TierPeriod",
    description="The qualification period: CALENDAR_YEAR in the programme's timezone, or "
    "ROLLING over the last `tierWindowDays` days.",
)
TierPeriod = DomainTierPeriod  # the same class, now a GraphQL enum too


@strawberry.type(description="A tier of the ladder.")
class TierInfo:
    id: strawberry.ID = strawberry.field(description="The tier's id.")
    name: str = strawberry.field(description="Name shown to customers, e.g. Gold.")
    threshold: int = strawberry.field(
        description="Points (or minor units of spend) to reach in one qualification period."
    )
    multiplier: str = strawberry.field(
        description="Applied to base points, as a decimal string (\"1.5\")."
    )
    active: bool = strawberry.field(description="Whether it is part of the ladder.")

    @staticmethod
    def of(record: TierRecord) -> TierInfo:
        return TierInfo(
            id=strawberry.ID(str(record.info.id)),
            name=record.info.name,
            threshold=record.info.threshold,
            multiplier=format(record.info.multiplier, "f"),
            active=record.active,
        )


@strawberry.type(description="How tiers qualify and when reminders go out.")
class ProgrammeSettings:
    tier_basis: TierBasis = strawberry.field(description="What counts towards a tier.")
    tier_period: TierPeriod = strawberry.field(description="Over which period.")
    tier_window_days: int = strawberry.field(description="The rolling window, in days.")
    timezone: str = strawberry.field(
        description="IANA timezone in which calendar years start and end."
    )
    reminder_days: int = strawberry.field(
        description="Days before points or a coupon expire that a reminder is written."
    )

    @staticmethod
    def of(view: ProgrammeSettingsView) -> ProgrammeSettings:
        return ProgrammeSettings(
            tier_basis=TierBasis(view.tier_basis.value),
            tier_period=TierPeriod(view.tier_period.value),
            tier_window_days=view.tier_window_days,
            timezone=view.timezone,
            reminder_days=view.reminder_days,
        )


@strawberry.input(description="A new tier.")
class CreateTierInput:
    name: str = strawberry.field(description="1 to 60 characters, unique.")
    threshold: int = strawberry.field(
        description="0 or more; unique among active tiers. A tier at 0 is everyone's base."
    )
    multiplier: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Decimal string from 1 to 100, at most 4 decimals, e.g. \"1.5\"; 1 when "
        "omitted.",
    )


@strawberry.input(description="Changes to a tier; omitted fields stay as they are.")
class UpdateTierInput:
    id: strawberry.ID = strawberry.field(description="The tier.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    threshold: int | None = strawberry.field(
        default=strawberry.UNSET, description="New threshold."
    )
    multiplier: str | None = strawberry.field(
        default=strawberry.UNSET, description="New multiplier."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="false takes it off the ladder: its members count as the tier below "
        "until their next review.",
    )


@strawberry.input(description="Changes to the programme settings; omitted fields stay.")
class UpdateProgrammeSettingsInput:
    tier_basis: TierBasis | None = strawberry.field(
        default=strawberry.UNSET, description="POINTS or SPEND."
    )
    tier_period: TierPeriod | None = strawberry.field(
        default=strawberry.UNSET, description="CALENDAR_YEAR or ROLLING."
    )
    tier_window_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 3660."
    )
    timezone: str | None = strawberry.field(
        default=strawberry.UNSET, description="An IANA timezone, e.g. America/Los_Angeles."
    )
    reminder_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="0 to 365."
    )


@strawberry.type(description="The result of createTier.")
class CreateTierPayload:
    tier: TierInfo | None = strawberry.field(description="The new tier.")
    errors: list[UserError] = strawberry.field(description="Why it was not created.")


@strawberry.type(description="The result of updateTier.")
class UpdateTierPayload:
    tier: TierInfo | None = strawberry.field(description="The tier after the change.")
    errors: list[UserError] = strawberry.field(description="Why it was not changed.")


@strawberry.type(description="The result of updateProgrammeSettings.")
class UpdateProgrammeSettingsPayload:
    settings: ProgrammeSettings | None = strawberry.field(description="The settings now.")
    errors: list[UserError] = strawberry.field(description="Why they were not changed.")
