"""Registering and unregistering the phones (FCM tokens) a customer pushes to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from loyalty.errors import invalid
from loyalty.identity.accounts import _check_locale
from loyalty.platform.db import transaction
from loyalty.platform.timezones import check_timezone
from notifications.models import Device, Platform

MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class DeviceResult:
    id: int
    platform: Platform
    push_enabled: bool


def _check_token(token: str) -> str:
    token = token.strip() if isinstance(token, str) else ""
    if not token or len(token) > MAX_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise invalid(f"token must be 1 to {MAX_TOKEN_LENGTH} characters, no spaces.", "token")
    return token


def _check_app_version(version: str | None) -> str | None:
    if version is None:
        return None
    version = version.strip()
    if not version or len(version) > 32:
        raise invalid("appVersion must be 1 to 32 characters.", "appVersion")
    return version


async def register_device(
    customer_id: int,
    *,
    token: str,
    platform: Platform,
    app_version: str | None = None,
    locale: str | None = None,
    timezone: str | None = None,
    now: datetime | None = None,
) -> DeviceResult:
    """Attach `token` to this customer, re-enabling it; a token registered by
    someone else moves here (the last registration wins)."""
    token = _check_token(token)
    app_version = _check_app_version(app_version)
    locale = _check_locale(locale) if locale is not None else None
    timezone = check_timezone(timezone) if timezone is not None else None
    now = now or datetime.now(UTC)
    fields = dict(
        customer_id=customer_id,
        platform=platform,
        app_version=app_version,
        locale=locale,
        timezone=timezone,
        push_enabled=True,
        disabled_reason=None,
        last_seen=now,
    )
    for attempt in range(2):
        try:
            async with transaction() as conn:
                # select_for_update serialises two registrations of one token;
                # the unique index settles the race when neither row exists
                # yet, and the loser takes the update path on its second try.
                device = await Device.filter(token=token).using_db(conn).select_for_update().first()
                if device is None:
                    device = await Device.create(using_db=conn, token=token, **fields)
                else:
                    device.update_from_dict(fields)
                    await device.save(using_db=conn)
            break
        except IntegrityError:
            if attempt:
                raise
    assert device is not None
    return DeviceResult(device.id, Platform(device.platform), device.push_enabled)


async def unregister_device(customer_id: int, *, token: str) -> bool:
    """Log-out of a device: its pushes stop. Unknown tokens, or tokens that now
    belong to someone else, are left alone (the call is idempotent)."""
    token = _check_token(token)
    removed = await Device.filter(token=token, customer_id=customer_id).delete()
    return removed > 0
