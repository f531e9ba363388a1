"""Consent (push, location, marketing) and quiet hours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity import consents
from loyalty.identity.consents import CONSENTS
from loyalty.models import Customer
from loyalty.platform.db import transaction

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Preferences:
    push_opt_in: bool
    location_opt_in: bool
    marketing_opt_in: bool
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    # Marketing by email / by SMS (each needs marketing_opt_in too).
    email_opt_in: bool = True
    sms_opt_in: bool = True


def _of(customer: Customer) -> Preferences:
    return Preferences(
        push_opt_in=customer.push_opt_in,
        location_opt_in=customer.location_opt_in,
        marketing_opt_in=customer.marketing_opt_in,
        quiet_hours_start=customer.quiet_hours_start,
        quiet_hours_end=customer.quiet_hours_end,
        email_opt_in=customer.email_opt_in,
        sms_opt_in=customer.sms_opt_in,
    )


def parse_hhmm(value: str, field: str) -> time:
    match = _HHMM.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise invalid(f"{field} must be a time of day as HH:MM, e.g. 22:00.", field)
    return time(int(match[1]), int(match[2]))


UNCHANGED = object()


async def update_preferences(
    customer_id: int,
    *,
    push_opt_in: bool | None = None,
    location_opt_in: bool | None = None,
    marketing_opt_in: bool | None = None,
    quiet_hours_start: str | None | object = UNCHANGED,
    quiet_hours_end: str | None | object = UNCHANGED,
    source: str = "app",
    email_opt_in: bool | None = None,
    sms_opt_in: bool | None = None,
) -> Preferences:
    """Change what is given; quiet hours are set or cleared as a pair."""
    customer = await Customer.get_or_none(id=customer_id)
    if customer is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such customer.")
    changes: dict[str, object] = {}
    for name, value in (
        ("push_opt_in", push_opt_in),
        ("location_opt_in", location_opt_in),
        ("marketing_opt_in", marketing_opt_in),
        ("email_opt_in", email_opt_in),
        ("sms_opt_in", sms_opt_in),
    ):
        if value is not None:
            changes[name] = bool(value)
    if quiet_hours_start is not UNCHANGED or quiet_hours_end is not UNCHANGED:
        start = customer.quiet_hours_start if quiet_hours_start is UNCHANGED else quiet_hours_start
        end = customer.quiet_hours_end if quiet_hours_end is UNCHANGED else quiet_hours_end
        if (start is None) != (end is None):
            field = "quietHoursEnd" if end is None else "quietHoursStart"
            raise invalid("quietHoursStart and quietHoursEnd are set together.", field)
        if start is not None:
            assert isinstance(start, str) and isinstance(end, str)
            start_t = parse_hhmm(start, "quietHoursStart")
            end_t = parse_hhmm(end, "quietHoursEnd")
            if start_t == end_t:
                raise invalid("Quiet hours must not start and end at once.", "quietHoursEnd")
            start, end = start_t.strftime("%H:%M"), end_t.strftime("%H:%M")
        changes["quiet_hours_start"] = start
        changes["quiet_hours_end"] = end
    if changes:
        changed = {k: bool(v) for k, v in changes.items()
                   if k in CONSENTS and getattr(customer, k) != v}
        customer.update_from_dict(changes)
        async with transaction() as conn:
            await customer.save(update_fields=list(changes), using_db=conn)
            # Each consent changed, with when and through what (GDPR art. 7).
            await consents.record(conn, customer_id, changed, source)
    return _of(customer)


async def get_preferences(customer_id: int) -> Preferences:
    customer = await Customer.get_or_none(id=customer_id)
    if customer is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such customer.")
    return _of(customer)


def quiet_until(
    now: datetime, timezone: str, start: str | None, end: str | None
) -> datetime | None:
    """The end of the quiet window `now` falls in, in UTC, or None when a push
    may go now. The window is local wall-clock time and may span midnight."""
    if not start or not end:
        return None
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    start_t, end_t = parse_hhmm(start, "quietHoursStart"), parse_hhmm(end, "quietHoursEnd")
    t = local.time().replace(tzinfo=None)
    if start_t < end_t:
        inside, end_day = start_t <= t < end_t, local.date()
    else:  # e.g. 22:00-08:00
        inside = t >= start_t or t < end_t
        end_day = local.date() + timedelta(days=1) if t >= start_t else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end_t, tzinfo=tz).astimezone(now.tzinfo)
