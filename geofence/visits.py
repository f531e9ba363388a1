"""Visits: opened by ENTER, closed by EXIT, confirmed by DWELL or a beacon,
and rewarded on the ledger once per store per customer per local day."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from geofence.models import CheckInKind
from loyalty import tiers
from loyalty.config import Settings
from loyalty.earning import expiry_for
from loyalty.ledger import (
    SYSTEM_ISSUED,
    SYSTEM_KEY_PREFIX,
    Channel,
    Kind,
    credit_points,
    finish_posting,
    insert_transaction,
    mature_lots,
    request_hash,
)
from loyalty.sql import as_datetime, execute, fetch, fetchrow
from loyalty.timezones import zone_or_utc

EVENT = "visit.accepted"


def open_since(when: datetime, settings: Settings) -> datetime:
    """Visits opened before this are over even without their EXIT (phone off,
    app killed): check-ins at `when` ignore them and the next ENTER starts a
    new visit; geofence.jobs closes them."""
    return when - timedelta(minutes=settings.visit_max_open_minutes)


def reward_key(customer_id: int, store_id: int, when: datetime, timezone: str) -> str:
    """The visit reward's ledger idempotency key: once per store, customer and
    local day, enforced by the ledger's unique index."""
    return f"{SYSTEM_KEY_PREFIX}visit:{customer_id}:{store_id}:{local_day(when, timezone)}"


@dataclass(frozen=True)
class VisitResult:
    id: int
    store_id: int
    store_name: str
    points_earned: int
    opened_at: datetime
    closed_at: datetime | None
    confirmed: bool


@dataclass(frozen=True)
class Place:
    """What a check-in was at: a store, through one of its fences or beacons."""

    store_id: int
    store_name: str
    geofence_id: int | None


_VISIT_SQL = (
    "SELECT v.id, v.store_id, s.name, v.points_earned, v.opened_at, v.closed_at, v.confirmed "
    "FROM visit v JOIN store s ON s.id = v.store_id "
)


def _result(row: Any) -> VisitResult:
    return VisitResult(
        row[0],
        row[1],
        row[2],
        row[3],
        as_datetime(row[4]),
        None if row[5] is None else as_datetime(row[5]),
        bool(row[6]),
    )


async def load_visit(conn: BaseDBAsyncClient, visit_id: int) -> VisitResult | None:
    row = await fetchrow(conn, _VISIT_SQL + "WHERE v.id = $1", visit_id)
    return None if row is None else _result(row)


async def list_visits(customer_id: int, limit: int, before_id: int | None) -> list[VisitResult]:
    """The customer's visits, newest first, in one statement."""
    conn = connections.get("default")
    if before_id is None:
        rows = await fetch(
            conn,
            _VISIT_SQL + "WHERE v.customer_id = $1 ORDER BY v.id DESC LIMIT $2",
            customer_id,
            limit,
        )
    else:
        rows = await fetch(
            conn,
            _VISIT_SQL + "WHERE v.customer_id = $1 AND v.id < $2 ORDER BY v.id DESC LIMIT $3",
            customer_id,
            before_id,
            limit,
        )
    return [_result(r) for r in rows]


async def apply(
    conn: BaseDBAsyncClient,
    *,
    customer_id: int,
    account_id: int,
    timezone: str,
    kind: CheckInKind,
    place: Place,
    when: datetime,
    now: datetime,
    settings: Settings,
) -> tuple[VisitResult | None, bool]:
    """Move the customer's visit to `place` on by one check-in. Returns the
    visit (None for an EXIT with no open visit) and whether points were
    posted. The caller holds the customer's account lock."""
    row = await fetchrow(
        conn,
        "SELECT id, confirmed, opened_at, points_earned FROM visit WHERE customer_id = $1 "
        "AND store_id = $2 AND closed_at IS NULL AND opened_at > $3 ORDER BY id DESC LIMIT 1",
        customer_id,
        place.store_id,
        open_since(when, settings),
    )
    if row is None and kind == CheckInKind.EXIT:
        return None, False
    if row is None:
        created = await fetchrow(
            conn,
            "INSERT INTO visit (customer_id, store_id, geofence_id, opened_at, closed_at, "
            "confirmed, points_earned, reward_transaction_id) "
            "VALUES ($1, $2, $3, $4, NULL, $5, 0, NULL) RETURNING id",
            customer_id,
            place.store_id,
            place.geofence_id,
            when,
            False,
        )
        assert created is not None
        visit = VisitResult(created[0], place.store_id, place.store_name, 0, when, None, False)
    else:
        visit = VisitResult(
            row[0],
            place.store_id,
            place.store_name,
            row[3],
            as_datetime(row[2]),
            None,
            bool(row[1]),
        )
    if kind == CheckInKind.EXIT:
        closed = max(when, visit.opened_at)
        await execute(conn, "UPDATE visit SET closed_at = $1 WHERE id = $2", closed, visit.id)
        return replace(visit, closed_at=closed), False
    if kind == CheckInKind.ENTER or visit.confirmed:
        return visit, False
    # DWELL or BEACON: presence is confirmed now, once per visit.
    await execute(conn, "UPDATE visit SET confirmed = $1 WHERE id = $2", True, visit.id)
    points = await _reward(
        conn,
        customer_id=customer_id,
        account_id=account_id,
        timezone=timezone,
        visit_id=visit.id,
        place=place,
        when=when,
        now=now,
        settings=settings,
    )
    return replace(visit, confirmed=True, points_earned=points), points > 0


def local_day(when: datetime, timezone: str) -> str:
    return when.astimezone(zone_or_utc(timezone)).date().isoformat()


def in_cooldown(last_reward_at: datetime | None, when: datetime, settings: Settings) -> bool:
    """Whether a visit at `when` is too close to the customer's last rewarded one."""
    if last_reward_at is None or settings.visit_cooldown_minutes <= 0:
        return False
    return abs(when - last_reward_at) < timedelta(minutes=settings.visit_cooldown_minutes)


async def _reward(
    conn: BaseDBAsyncClient,
    *,
    customer_id: int,
    account_id: int,
    timezone: str,
    visit_id: int,
    place: Place,
    when: datetime,
    now: datetime,
    settings: Settings,
) -> int:
    """The points this newly confirmed visit earns, posted; 0 if none."""
    points = settings.visit_reward_points
    # The ledger's unique idempotency key is what makes "once a day" hold even
    # if two processes got past the checks below at once.
    key = reward_key(customer_id, place.store_id, when, timezone)
    eligible = points > 0
    if eligible:
        done = await fetchrow(
            conn, "SELECT id FROM ledger_transaction WHERE idempotency_key = $1", key
        )
        eligible = done is None
    if eligible and settings.visit_cooldown_minutes > 0:
        last = await fetchrow(
            conn,
            "SELECT t.occurred_at FROM visit v JOIN ledger_transaction t "
            "ON t.id = v.reward_transaction_id WHERE v.customer_id = $1 "
            "ORDER BY v.reward_transaction_id DESC LIMIT 1",
            customer_id,
        )
        eligible = not in_cooldown(None if last is None else as_datetime(last[0]), when,
                                   settings)
    if not eligible:
        # Written directly, not through add_outbox: no points changed, so no
        # points_changed NOTIFY for the subscription listeners.
        await execute(
            conn,
            "INSERT INTO outbox_event (kind, customer_id, payload, created_at, attempts) "
            "VALUES ($1, $2, $3, $4, 0)",
            EVENT,
            customer_id,
            json.dumps(
                {
                    "visit_id": visit_id,
                    "points": 0,
                    "store_id": place.store_id,
                    "store_name": place.store_name,
                }
            ),
            now,
        )
        return 0
    txn = await insert_transaction(
        conn,
        kind=Kind.BONUS,
        channel=Channel.CHECKIN,
        description=f"Visit to {place.store_name}",
        key=key,
        fingerprint=request_hash(
            "visitReward", customer=customer_id, store=place.store_id, key=key
        ),
        customer_id=customer_id,
        store_id=place.store_id,
        points=points,
        occurred_at=when,
    )
    await mature_lots(conn, account_id, now)
    available, pending, _ = await credit_points(
        conn, account_id=account_id, transaction_id=txn.id, points=points,
        expires_at=expiry_for(when, settings), now=now.astimezone(UTC),
    )
    await execute(
        conn,
        "UPDATE visit SET points_earned = $1, reward_transaction_id = $2 WHERE id = $3",
        points,
        txn.id,
        visit_id,
    )
    await finish_posting(
        conn,
        txn,
        account_id=account_id,
        available=available,
        pending=pending,
        system_account=SYSTEM_ISSUED,
        event=EVENT,
        store_id=place.store_id,
        store_name=place.store_name,
        visit_id=visit_id,
        channel=Channel.CHECKIN.value,
    )
    # Visit points count towards tiers like any other: up at once (ADR 0007).
    await tiers.after_earning(conn, customer_id, now)
    return points
