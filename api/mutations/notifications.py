"""Devices, preferences and the inbox (customer token); campaigns (admin token)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UnsetType

from api.context import Context
from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsAdmin, IsCustomer
from api.types.common import given
from api.types.notifications import (
    Campaign,
    CampaignTargetInput,
    Device,
    MarkNotificationsReadInput,
    MarkNotificationsReadPayload,
    Preferences,
    PreferencesInput,
    PreferencesPayload,
    RegisterDeviceInput,
    RegisterDevicePayload,
    SendCampaignInput,
    SendCampaignPayload,
    UnregisterDeviceInput,
    UnregisterDevicePayload,
)
from notifications import campaigns, devices, inbox, preferences
from notifications.models import Platform


def _customer_id(info: Info[Context, Any]) -> int:
    assert info.context.principal is not None
    return info.context.principal.subject_id


def _ids(values: list[strawberry.ID]) -> list[int]:
    return [parse_id(v, "ids") for v in values]


def _target(value: CampaignTargetInput) -> campaigns.Target:
    ids = given(value.customer_ids)
    customer_ids = None if ids is None else [parse_id(v, "target.customerIds") for v in ids]
    segment = given(value.segment_id)
    return campaigns.Target(
        everyone=bool(given(value.everyone)), tier=given(value.tier), customer_ids=customer_ids,
        segment_id=None if segment is None else parse_id(segment, "target.segmentId"),
    )


def _kept(value: Any) -> Any:
    """An omitted quiet-hours field is left unchanged; an explicit null clears it."""
    return preferences.UNCHANGED if isinstance(value, UnsetType) else value


@strawberry.type
class NotificationQueries:
    @strawberry.field(
        description="The signed-in customer's consent and quiet hours (customer token).",
        permission_classes=[IsCustomer],
    )
    async def preferences(self, info: Info[Context, Any]) -> Preferences:
        return Preferences.of(await preferences.get_preferences(_customer_id(info)))


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        description="App: receive pushes on this device; the token moves to this customer "
        "if someone else registered it before (customer token).",
        permission_classes=[IsCustomer],
    )
    @user_errors
    async def register_device(
        self, info: Info[Context, Any], input: RegisterDeviceInput
    ) -> RegisterDevicePayload:
        device = await devices.register_device(
            _customer_id(info),
            token=input.token,
            platform=Platform(input.platform.value),
            app_version=given(input.app_version),
            locale=given(input.locale),
            timezone=given(input.timezone),
        )
        return RegisterDevicePayload(device=Device.of(device), errors=[])

    @strawberry.mutation(
        description="App: log-out of a device; its pushes stop (customer token).",
        permission_classes=[IsCustomer],
    )
    @user_errors
    async def unregister_device(
        self, info: Info[Context, Any], input: UnregisterDeviceInput
    ) -> UnregisterDevicePayload:
        await devices.unregister_device(_customer_id(info), token=input.token)
        return UnregisterDevicePayload(errors=[])

    @strawberry.mutation(
        description="App: consent and quiet hours (customer token).",
        permission_classes=[IsCustomer],
    )
    @user_errors
    async def update_preferences(
        self, info: Info[Context, Any], input: PreferencesInput
    ) -> PreferencesPayload:
        prefs = await preferences.update_preferences(
            _customer_id(info),
            push_opt_in=given(input.push_opt_in),
            location_opt_in=given(input.location_opt_in),
            marketing_opt_in=given(input.marketing_opt_in),
            quiet_hours_start=_kept(input.quiet_hours_start),
            quiet_hours_end=_kept(input.quiet_hours_end),
            email_opt_in=given(input.email_opt_in),
            sms_opt_in=given(input.sms_opt_in),
        )
        return PreferencesPayload(preferences=Preferences.of(prefs), errors=[])

    @strawberry.mutation(
        description="App: mark inbox messages read (customer token).",
        permission_classes=[IsCustomer],
    )
    @user_errors
    async def mark_notifications_read(
        self, info: Info[Context, Any], input: MarkNotificationsReadInput
    ) -> MarkNotificationsReadPayload:
        marked = await inbox.mark_read(_customer_id(info), _ids(input.ids))
        return MarkNotificationsReadPayload(marked=marked, errors=[])

    @strawberry.mutation(
        description="Admin: push a marketing message to every customer who consented to "
        "marketing, a tier, a segment, or a list of customers (admin token).",
        permission_classes=[IsAdmin],
    )
    @user_errors
    async def send_campaign(self, input: SendCampaignInput) -> SendCampaignPayload:
        result = await campaigns.send_campaign(
            title=input.title,
            body=input.body,
            target=_target(input.target),
            idempotency_key=input.idempotency_key,
        )
        return SendCampaignPayload(
            campaign=Campaign(id=strawberry.ID(str(result.id)), targeted=result.targeted),
            errors=[],
        )
