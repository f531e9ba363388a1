"""Visits: opened by ENTER, closed by EXIT, confirmed by DWELL or a beacon,
and rewarded on the ledger once per store per customer per local day."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from geofence.models import CheckInKind
from geofence.visit_machine import (
    Action,
    Place,
    VisitResult,
    in_cooldown,
    local_day,
    next_step,
    open_since,
    reward_key,
    reward_possible,
)
from loyalty import ledger
from loyalty.events import VisitAccepted
from loyalty.ledger import Channel, Kind, NewLot, Posting, request_hash
from loyalty.platform.config import Settings
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow
from loyalty.points.earning import expiry_for
from loyalty.programme import tiers

__all__ = ["Place", "VisitResult", "apply", "in_cooldown", "list_visits", "load_visit",
           "local_day", "open_since", "reward_key"]

_VISIT_SQL = (
    "SELECT v.id, v.store_id, s.name AS store_name, v.points_earned, v.opened_at, "
    "v.closed_at, v.confirmed FROM visit v JOIN store s ON s.id = v.store_id "
)


def _result(row: Any) -> VisitResult:
    return VisitResult(
        id=row["id"],
        store_id=row["store_id"],
        store_name=row["store_name"],
        points_earned=row["points_earned"],
        opened_at=as_datetime(row["opened_at"]),
        closed_at=None if row["closed_at"] is None else as_datetime(row["closed_at"]),
        confirmed=bool(row["confirmed"]),
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
    """Move the customer's visit to `place` on by one check-in, as
    visit_machine.next_step says. Returns the visit (None for an EXIT with no
    open visit) and whether points were posted. The caller holds the
    customer's account lock."""
    row = await fetchrow(
        conn,
        "SELECT id, confirmed, opened_at, points_earned FROM visit WHERE customer_id = $1 "
        "AND store_id = $2 AND closed_at IS NULL AND opened_at > $3 ORDER BY id DESC LIMIT 1",
        customer_id,
        place.store_id,
        open_since(when, settings),
    )
    opened = None if row is None else VisitResult(
        id=row["id"], store_id=place.store_id, store_name=place.store_name,
        points_earned=row["points_earned"], opened_at=as_datetime(row["opened_at"]),
        closed_at=None, confirmed=bool(row["confirmed"]),
    )
    step = next_step(kind, place, opened, when)
    visit = step.visit
    if visit is None:
        return None, False
    if step.action == Action.OPEN:
        created = await fetchrow(
            conn,
            "INSERT INTO visit (customer_id, store_id, geofence_id, opened_at, closed_at, "
            "confirmed, points_earned, reward_transaction_id) "
            "VALUES ($1, $2, $3, $4, NULL, $5, 0, NULL) RETURNING id",
            customer_id,
            place.store_id,
            place.geofence_id,
            when,
            visit.confirmed,
        )
        assert created is not None
        visit = replace(visit, id=created["id"])
    elif step.action == Action.CLOSE:
        await execute(conn, "UPDATE visit SET closed_at = $1 WHERE id = $2", visit.closed_at,
                      visit.id)
    elif step.action == Action.CONFIRM:
        await execute(conn, "UPDATE visit SET confirmed = $1 WHERE id = $2", True, visit.id)
    if not step.confirms:
        return visit, False
    # Presence is confirmed now, once per visit: the reward, or a welcome.
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
    return replace(visit, points_earned=points), points > 0


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
    eligible = points > 0 and await fetchrow(
        conn, "SELECT id FROM ledger_transaction WHERE idempotency_key = $1", key
    ) is None
    if eligible and settings.visit_cooldown_minutes > 0:
        last = await fetchrow(
            conn,
            "SELECT t.occurred_at FROM visit v JOIN ledger_transaction t "
            "ON t.id = v.reward_transaction_id WHERE v.customer_id = $1 "
            "ORDER BY v.reward_transaction_id DESC LIMIT 1",
            customer_id,
        )
        last_at = None if last is None else as_datetime(last["occurred_at"])
        eligible = reward_possible(settings, last_at, when)
    if not eligible:
        # A welcome without points: no posting, so no "points changed" signal.
        await ledger.emit(conn, customer_id, VisitAccepted(
            visit_id=visit_id, points=0, store_id=place.store_id, store_name=place.store_name,
        ), now=now)
        return 0
    posted = await ledger.post(conn, Posting(
        kind=Kind.BONUS, channel=Channel.CHECKIN, customer_id=customer_id,
        account_id=account_id, points=points, lots=NewLot(expiry_for(when, settings)),
        description=f"Visit to {place.store_name}", key=key,
        fingerprint=request_hash("visitReward", customer=customer_id, store=place.store_id,
                                 key=key),
        event=VisitAccepted(visit_id=visit_id, store_id=place.store_id,
                            store_name=place.store_name, channel=Channel.CHECKIN.value),
        occurred_at=when, now=now.astimezone(UTC), store_id=place.store_id,
    ))
    await execute(
        conn,
        "UPDATE visit SET points_earned = $1, reward_transaction_id = $2 WHERE id = $3",
        points,
        posted.transaction.id,
        visit_id,
    )
    # Visit points count towards tiers like any other: up at once (ADR 0007).
    await tiers.after_earning(conn, customer_id, now)
    return points
