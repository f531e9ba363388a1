"""Programme-wide settings: how tiers qualify, the programme's timezone, and
how early expiry reminders go out.

One row (id 1); while it is absent the defaults below apply. Read on hot paths
(every posting of a programme with tiers), so each process keeps it for a few
seconds: a change made here is seen at once in this process and within
`CACHE_SECONDS` in the others.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.errors import invalid
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetchrow
from loyalty.platform.timezones import check_timezone
from loyalty.programme.tier_periods import PeriodRules, TierBasis, TierPeriod

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
MAX_WINDOW_DAYS = 3660
MAX_REMINDER_DAYS = 365


@dataclass(frozen=True)
class ProgrammeSettingsView:
    tier_basis: TierBasis = TierBasis.POINTS
    tier_period: TierPeriod = TierPeriod.CALENDAR_YEAR
    tier_window_days: int = 365
    timezone: str = "UTC"
    reminder_days: int = 14

    @property
    def period_rules(self) -> PeriodRules:
        return PeriodRules(self.tier_period, self.tier_window_days, self.timezone)


DEFAULTS = ProgrammeSettingsView()

_cached: tuple[float, ProgrammeSettingsView] | None = None


def invalidate() -> None:
    global _cached
    _cached = None


_SELECT = (
    "SELECT tier_basis, tier_period, tier_window_days, timezone, reminder_days "
    "FROM programme_settings WHERE id = 1"
)


async def programme_settings(conn: BaseDBAsyncClient) -> ProgrammeSettingsView:
    global _cached
    if _cached is not None and time.monotonic() - _cached[0] < CACHE_SECONDS:
        return _cached[1]
    row = await fetchrow(conn, _SELECT)
    view = DEFAULTS if row is None else _view(row)
    _cached = (time.monotonic(), view)
    return view


def _view(row: tuple) -> ProgrammeSettingsView:
    return ProgrammeSettingsView(
        tier_basis=TierBasis(row[0]),
        tier_period=TierPeriod(row[1]),
        tier_window_days=int(row[2]),
        timezone=row[3],
        reminder_days=int(row[4]),
    )


def _check(view: ProgrammeSettingsView) -> ProgrammeSettingsView:
    check_timezone(view.timezone)
    if not 1 <= view.tier_window_days <= MAX_WINDOW_DAYS:
        raise invalid(f"tierWindowDays must be 1 to {MAX_WINDOW_DAYS}.", "tierWindowDays")
    if not 0 <= view.reminder_days <= MAX_REMINDER_DAYS:
        raise invalid(f"reminderDays must be 0 to {MAX_REMINDER_DAYS}.", "reminderDays")
    return view


async def update_programme_settings(
    staff_id: int | None,
    *,
    tier_basis: TierBasis | str | None = None,
    tier_period: TierPeriod | str | None = None,
    tier_window_days: int | None = None,
    timezone: str | None = None,
    reminder_days: int | None = None,
) -> ProgrammeSettingsView:
    """Change the given settings (None: unchanged). Customers' current review
    dates stay as they are; the next review measures with the new rules."""
    try:
        basis = None if tier_basis is None else TierBasis(tier_basis)
    except ValueError:
        raise invalid("tierBasis must be POINTS or SPEND.", "tierBasis") from None
    try:
        period = None if tier_period is None else TierPeriod(tier_period)
    except ValueError:
        raise invalid("tierPeriod must be CALENDAR_YEAR or ROLLING.", "tierPeriod") from None
    async with transaction() as conn:
        row = await fetchrow(conn, _SELECT + " FOR UPDATE")
        before = DEFAULTS if row is None else _view(row)
        after = _check(
            replace(
                before,
                tier_basis=basis or before.tier_basis,
                tier_period=period or before.tier_period,
                tier_window_days=(
                    before.tier_window_days if tier_window_days is None else tier_window_days
                ),
                timezone=before.timezone if timezone is None else timezone.strip(),
                reminder_days=before.reminder_days if reminder_days is None else reminder_days,
            )
        )
        values = (
            after.tier_basis.value,
            after.tier_period.value,
            after.tier_window_days,
            after.timezone,
            after.reminder_days,
        )
        if row is None:
            await execute(
                conn,
                # Two first saves at once: the later one wins, as two updates would.
                "INSERT INTO programme_settings (id, tier_basis, tier_period, tier_window_days, "
                "timezone, reminder_days, updated_at) VALUES (1, $1, $2, $3, $4, $5, $6) "
                "ON CONFLICT (id) DO UPDATE SET tier_basis = excluded.tier_basis, "
                "tier_period = excluded.tier_period, "
                "tier_window_days = excluded.tier_window_days, timezone = excluded.timezone, "
                "reminder_days = excluded.reminder_days, updated_at = excluded.updated_at",
                *values,
                datetime.now(UTC),
            )
        else:
            await execute(
                conn,
                "UPDATE programme_settings SET tier_basis = $1, tier_period = $2, "
                "tier_window_days = $3, timezone = $4, reminder_days = $5, "
                "updated_at = $6 WHERE id = 1",
                *values,
                datetime.now(UTC),
            )
    invalidate()
    log.info("programme settings changed by staff %s: %s -> %s", staff_id, asdict(before),
             asdict(after))
    return after
