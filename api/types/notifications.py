"""Devices, preferences and the inbox's inputs and payloads."""

from __future__ import annotations

from enum import Enum

import strawberry

from api.types.common import UserError
from notifications.devices import DeviceResult
from notifications.models import Platform as DomainPlatform
from notifications.models import Status as DomainStatus
from notifications.preferences import Preferences as DomainPreferences

strawberry.enum(
    DomainPlatform, name="Platform", description="The operating system a device runs."
)
Platform = DomainPlatform  # the same class, now a GraphQL enum too


@strawberry.enum(description="Where an inbox message's push stands.")
class NotificationStatus(Enum):
    PENDING = strawberry.enum_value(
        "PENDING",
        description="Not pushed yet: queued, retrying after a failure, or held by quiet hours.",
    )
    SENT = strawberry.enum_value("SENT", description="Pushed to at least one device.")
    INBOX_ONLY = strawberry.enum_value(
        "INBOX_ONLY",
        description="In the inbox without a push (push opt-out, no device, marketing cap).",
    )
    FAILED = strawberry.enum_value(
        "FAILED", description="The push reached no device after its last attempt."
    )

    @classmethod
    def of(cls, status: str) -> NotificationStatus:
        return _STATUSES[DomainStatus(status)]


_STATUSES = {
    DomainStatus.QUEUED: NotificationStatus.PENDING,
    DomainStatus.DEFERRED: NotificationStatus.PENDING,
    DomainStatus.SENT: NotificationStatus.SENT,
    DomainStatus.INBOX: NotificationStatus.INBOX_ONLY,
    DomainStatus.FAILED: NotificationStatus.FAILED,
}


@strawberry.input(description="A phone or browser that receives pushes.")
class RegisterDeviceInput:
    token: str = strawberry.field(description="FCM registration token.")
    platform: Platform = strawberry.field(description="IOS, ANDROID or WEB.")
    app_version: str | None = strawberry.field(
        default=strawberry.UNSET, description="The app's version, e.g. 4.2.0."
    )
    locale: str | None = strawberry.field(
        default=strawberry.UNSET, description="The device's language, BCP 47, e.g. fr-FR."
    )
    timezone: str | None = strawberry.field(
        default=strawberry.UNSET, description="The device's IANA timezone, e.g. Europe/Paris."
    )


@strawberry.type(description="A device registered for pushes.")
class Device:
    id: strawberry.ID = strawberry.field(description="The device's id.")
    platform: Platform = strawberry.field(description="Its platform.")
    push_enabled: bool = strawberry.field(
        description="False once FCM reported the token dead; registering again re-enables it."
    )

    @staticmethod
    def of(device: DeviceResult) -> Device:
        return Device(
            id=strawberry.ID(str(device.id)),
            platform=Platform(device.platform),
            push_enabled=device.push_enabled,
        )


@strawberry.type(description="The result of registerDevice.")
class RegisterDevicePayload:
    device: Device | None = strawberry.field(description="The device, when registered.")
    errors: list[UserError] = strawberry.field(description="Why it was not registered.")


@strawberry.input(description="A device to stop pushing to (log-out).")
class UnregisterDeviceInput:
    token: str = strawberry.field(description="The FCM registration token.")


@strawberry.type(description="The result of unregisterDevice.")
class UnregisterDevicePayload:
    errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Consent and quiet hours; omitted fields stay as they are.")
class PreferencesInput:
    push_opt_in: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Consent to push notifications."
    )
    location_opt_in: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Consent to location-based features."
    )
    marketing_opt_in: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Consent to marketing messages."
    )
    email_opt_in: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Marketing by email (with marketingOptIn); an email's unsubscribe link "
                    "turns it off.",
    )
    sms_opt_in: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Marketing by SMS (with marketingOptIn)."
    )
    quiet_hours_start: str | None = strawberry.field(
        default=strawberry.UNSET,
        description='Start of quiet hours, "HH:MM" in the customer\'s timezone; null clears.',
    )
    quiet_hours_end: str | None = strawberry.field(
        default=strawberry.UNSET,
        description='End of quiet hours, "HH:MM"; pushes held during the window go then.',
    )


@strawberry.type(description="The customer's consent and quiet hours.")
class Preferences:
    push_opt_in: bool = strawberry.field(description="Pushes allowed.")
    location_opt_in: bool = strawberry.field(description="Location features allowed.")
    marketing_opt_in: bool = strawberry.field(description="Marketing messages allowed.")
    email_opt_in: bool = strawberry.field(
        description="Marketing emails allowed (when marketingOptIn is too).")
    sms_opt_in: bool = strawberry.field(
        description="Marketing SMS allowed (when marketingOptIn is too).")
    quiet_hours_start: str | None = strawberry.field(description='Quiet from "HH:MM".')
    quiet_hours_end: str | None = strawberry.field(description='Quiet until "HH:MM".')

    @staticmethod
    def of(p: DomainPreferences) -> Preferences:
        return Preferences(
            push_opt_in=p.push_opt_in,
            location_opt_in=p.location_opt_in,
            marketing_opt_in=p.marketing_opt_in,
            quiet_hours_start=p.quiet_hours_start,
            quiet_hours_end=p.quiet_hours_end,
            email_opt_in=p.email_opt_in,
            sms_opt_in=p.sms_opt_in,
        )


@strawberry.type(description="The result of updatePreferences.")
class PreferencesPayload:
    preferences: Preferences | None = strawberry.field(description="The preferences now.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.input(description="Inbox messages to mark read.")
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] = strawberry.field(
        description="Notification ids (up to 100); others' ids are ignored."
    )


@strawberry.type(description="The result of markNotificationsRead.")
class MarkNotificationsReadPayload:
    marked: int = strawberry.field(default=0,
                                   description="How many messages were newly marked read.")
    errors: list[UserError] = strawberry.field(description="Why nothing was marked.")


@strawberry.input(description="Who a campaign is for: give exactly one field.")
class CampaignTargetInput:
    everyone: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Every customer who consented to marketing."
    )
    tier: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Customers in a loyalty tier, by its name (any case) or id; those "
        "without marketing consent are left out.",
    )
    customer_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Up to 10,000 customers; those without marketing consent are left out.",
    )
    segment_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="A segment's members as last evaluated; those without marketing consent "
        "are left out.",
    )


@strawberry.input(description="A marketing message pushed to many customers.")
class SendCampaignInput:
    title: str = strawberry.field(description="The push's title, 1 to 200 characters.")
    body: str = strawberry.field(description="The push's text, 1 to 1000 characters.")
    target: CampaignTargetInput = strawberry.field(description="Who receives it.")
    idempotency_key: str = strawberry.field(
        description="Client-generated; a retry with the same key sends nothing more."
    )


@strawberry.type(description="A campaign, queued for the push worker.")
class Campaign:
    id: strawberry.ID = strawberry.field(description="The campaign's id.")
    targeted: int = strawberry.field(
        description="Customers it was queued for (consented to marketing). Quiet hours, "
        "push opt-out and the daily marketing cap still apply per customer."
    )


@strawberry.type(description="The result of sendCampaign.")
class SendCampaignPayload:
    campaign: Campaign | None = strawberry.field(description="The campaign, when queued.")
    errors: list[UserError] = strawberry.field(description="Why it was not queued.")
