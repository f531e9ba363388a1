"""Reminders written before points or a coupon expire.

`programme_settings.reminder_days` before the date (14 by default, 0: none), a
`PointsExpiring` or `CouponExpiring` event is written; the worker
turns it into a message. A coupon with its own `remind_at` (a journey's
remindBefore) is reminded at that instant instead, whatever the programme's
days. Each lot and coupon is claimed by a conditional UPDATE (`reminded_at IS
NULL`), so several workers write each reminder once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty import ledger
from loyalty.events import CouponExpiring, PointsExpiring
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, fetch, fetchrow, placeholders, skip_locked
from loyalty.platform.timezones import zone_or_utc

DEFAULT_REMINDER_DAYS = 14


async def reminder_days(conn: BaseDBAsyncClient | None = None) -> int:
    row = await fetchrow(
        conn or connections.get("default"),
        "SELECT reminder_days FROM programme_settings WHERE id = $1",
        1,
    )
    return DEFAULT_REMINDER_DAYS if row is None or row[0] is None else int(row[0])


async def write_reminders(now: datetime, batch: int = 500) -> int:
    """Write the reminders now due; returns how many events were written."""
    days = await reminder_days()
    # Without programme reminders, only coupons with their own time are due.
    until = now + timedelta(days=days) if days > 0 else None
    written = 0
    while until is not None:
        count, more = await _points_batch(now, until, batch)
        written += count
        if not more:
            break
    while True:
        count, more = await _coupons_batch(now, until, batch)
        written += count
        if not more:
            break
    return written


async def _points_batch(now: datetime, until: datetime, batch: int) -> tuple[int, bool]:
    async with transaction() as conn:
        claimed = await fetch(
            conn,
            # Rows another worker is claiming are left to it, not waited for;
            # the outer condition makes a row claimed meanwhile drop out.
            "UPDATE lot SET reminded_at = $1 WHERE id IN ("
            + skip_locked(
                conn,
                "SELECT id FROM lot WHERE expires_at > $2 AND expires_at <= $3 "
                "AND remaining > 0 AND reminded_at IS NULL "
                "AND (pending_until IS NULL OR pending_until <= $4) ORDER BY id LIMIT $5",
            )
            + ") AND reminded_at IS NULL RETURNING id, account_id, remaining, expires_at",
            now,
            now,
            until,
            now,
            batch,
        )
        if not claimed:
            return 0, False
        account_ids = sorted({int(r[1]) for r in claimed})
        marks = placeholders(len(account_ids))
        owners = {
            int(r[0]): (r[1], r[2])
            for r in await fetch(
                conn,
                "SELECT a.id, a.customer_id, c.timezone FROM account a "
                f"JOIN customer c ON c.id = a.customer_id WHERE a.id IN ({marks})",
                *account_ids,
            )
        }
        # One event per customer and local expiry day: three purchases on the
        # same day make one reminder, not three.
        groups: dict[tuple[int, str], list[Any]] = defaultdict(list)
        for lot_id, account_id, remaining, expires_at in claimed:
            owner = owners.get(int(account_id))
            if owner is None:
                continue
            moment = as_datetime(expires_at)
            day = moment.astimezone(zone(owner[1])).date().isoformat()
            groups[(int(owner[0]), day)].append((int(lot_id), int(remaining), moment))
        for (customer_id, _), lots in sorted(groups.items()):
            lots.sort()
            await ledger.emit(conn, customer_id, PointsExpiring(
                points=sum(p for _, p, _ in lots),
                expires_at=min(m for _, _, m in lots),
                lot_id=lots[0][0],
                lot_ids=tuple(i for i, _, _ in lots),
            ))
    return len(groups), len(claimed) >= batch


async def _coupons_batch(now: datetime, until: datetime | None, batch: int
                         ) -> tuple[int, bool]:
    # Due: a coupon's own remind_at has come, or, without one, its expiry is
    # within the programme's days (`until`; None: programme reminders off).
    # Placeholders are numbered in the order they appear (loyalty/platform/sql.py).
    due = "(remind_at IS NOT NULL AND remind_at <= $3)"
    args: list[object] = [now, now, now]
    if until is not None:
        due = f"({due} OR (remind_at IS NULL AND expires_at <= $4))"
        args.append(until)
    args.append(batch)
    limit = f"${len(args)}"
    async with transaction() as conn:
        claimed = await fetch(
            conn,
            "UPDATE coupon SET reminded_at = $1 WHERE id IN ("
            + skip_locked(
                conn,
                f"SELECT id FROM coupon WHERE expires_at > $2 AND {due} "
                "AND redeemed_at IS NULL AND reminded_at IS NULL AND customer_id IS NOT NULL "
                f"ORDER BY id LIMIT {limit}",
            )
            + ") AND reminded_at IS NULL RETURNING id, customer_id, title, expires_at",
            *args,
        )
        for coupon_id, customer_id, title, expires_at in sorted(claimed):
            await ledger.emit(conn, int(customer_id), CouponExpiring(
                coupon_id=int(coupon_id), title=title, expires_at=as_datetime(expires_at),
            ))
    return len(claimed), len(claimed) >= batch


def zone(tz: str | None) -> ZoneInfo:
    """A customer's timezone; UTC when unset or unknown to this machine."""
    return zone_or_utc(tz)
