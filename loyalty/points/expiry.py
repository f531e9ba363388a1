"""Expiring lots past their date, through the ledger.

A scheduled job (`loyalty worker`, `loyalty jobs`) that any number of workers
may run at once: each account is expired in its own transaction under its row
lock, taken with SKIP LOCKED on PostgreSQL so that two workers never wait on
each other, and the lots are re-read under that lock, so a lot is expired once.
See docs/adr/0006-expiry.md.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime

from tortoise import connections

from loyalty import ledger
from loyalty.events import PointsExpired
from loyalty.ledger import SYSTEM_KEY_PREFIX, Channel, Expire, Kind, Posting, request_hash
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, fetch, fetchrow
from loyalty.points.reminders import zone

log = logging.getLogger(__name__)

# A lot is usable (and so can expire) once matured; one whose pending window
# has passed but that no posting has matured yet is matured here first.
_DUE = (
    "expires_at <= $1 AND remaining > 0 AND (pending_until IS NULL OR pending_until <= $2)"
)


async def expire_due(now: datetime, batch: int = 500) -> int:
    """Expire every usable lot whose date has passed; returns the points expired.

    Accounts are visited in id order, `batch` at a time; an account another
    worker is expiring right now is skipped (that worker expires it)."""
    total, after = 0, 0
    while True:
        rows = await fetch(
            connections.get("default"),
            f"SELECT DISTINCT account_id FROM lot WHERE {_DUE} AND account_id > $3 "
            "ORDER BY account_id LIMIT $4",
            now,
            now,
            after,
            batch,
        )
        for (account_id,) in rows:
            total += await expire_account(account_id, now)
        if len(rows) < batch:
            return total
        after = rows[-1][0]


async def expire_account(account_id: int, now: datetime) -> int:
    """Expire one account's due lots in one posting; 0 when another worker
    holds the account or nothing is due any more."""
    async with transaction() as conn:
        # The account row first, then its lots: the order every posting
        # takes; an account another worker holds is left to it.
        if not await ledger.lock(conn, account_id, now, skip_locked=True):
            return 0
        owner = await fetchrow(
            conn,
            "SELECT a.customer_id, c.timezone, a.available FROM account a "
            "JOIN customer c ON c.id = a.customer_id WHERE a.id = $1",
            account_id,
        )
        if owner is None:
            return 0
        customer_id, tz, available = owner
        lots = await fetch(
            conn,
            "SELECT l.id, l.remaining, l.expires_at, t.occurred_at FROM lot l "
            "JOIN ledger_transaction t ON t.id = l.transaction_id "
            "WHERE l.account_id = $1 AND l.expires_at <= $2 AND l.remaining > 0 "
            "AND l.pending_until IS NULL ORDER BY l.id",
            account_id,
            now,
        )
        if not lots:
            return 0
        points = sum(int(r[1]) for r in lots)
        if int(available) < points:
            # Usable lots hold exactly max(available, 0) (ADR 0002), so this
            # means the ledger is already inconsistent: expiring would make the
            # account more negative for points it no longer holds. Leave it for
            # `loyalty ledger verify` and a person.
            log.error(
                "account %s: lots hold %s due points but only %s are available; not expired",
                account_id, points, available,
            )
            return 0
        ids = tuple(int(r[0]) for r in lots)
        earned = sorted({_local_date(as_datetime(r[3]), tz) for r in lots})
        await ledger.post(conn, Posting(
            kind=Kind.EXPIRE, channel=Channel.SYSTEM, customer_id=customer_id,
            account_id=account_id, points=-points, lots=Expire(ids),
            description=describe(points, earned), key=expiry_key(account_id, list(ids)),
            fingerprint=request_hash("expire", account=account_id, lots=list(ids),
                                     points=points),
            event=PointsExpired(lot_ids=ids, earned_on=tuple(d.isoformat() for d in earned)),
            # When the points stopped being usable, not when a worker noticed.
            occurred_at=max(as_datetime(r[2]) for r in lots), now=now,
        ))
    return points


def expiry_key(account_id: int, lot_ids: list[int]) -> str:
    """The same lots always give the same key, so a posting can never be
    doubled even if two workers somehow got past the row lock."""
    digest = hashlib.sha256(",".join(map(str, lot_ids)).encode()).hexdigest()[:16]
    return f"{SYSTEM_KEY_PREFIX}expire:{account_id}:{lot_ids[0]}:{lot_ids[-1]}:{digest}"


def describe(points: int, earned: list[date]) -> str:
    unit = "point" if points == 1 else "points"
    when = earned[0].isoformat()
    if len(earned) > 1:
        when = f"{earned[0].isoformat()} to {earned[-1].isoformat()}"
    return f"{points} {unit} expired (earned {when})"


def _local_date(moment: datetime, tz: str | None) -> date:
    return moment.astimezone(zone(tz)).date()
