"""What a message says about the customer, read from the ledger when it is
rendered: the balance, the nearer of the next reward and the next tier, points
expiring soon, and for a visit an offer valid in that store.

The reads are made once per batch of events (loyalty.programme.progress, and the
visited stores' offers: loyalty.programme.offers.first_offers_in_stores), not per
message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.events import (
    CampaignMessage,
    CouponExpiring,
    Event,
    LedgerEvent,
    PointsAdjusted,
    PointsEarned,
    PointsExpiring,
    PointsRedeemed,
    TierChanged,
    VisitAccepted,
)
from loyalty.platform.sql import as_datetime, fetch, placeholders
from loyalty.points.reminders import zone
from loyalty.programme.offers import first_offers_in_stores
from loyalty.programme.progress import Progress, progress_for

# Events whose messages tell the customer where they stand.
PERSONAL = frozenset({PointsEarned.kind, PointsRedeemed.kind, VisitAccepted.kind})
# Kinds whose text is the admin's, not a template's.
VERBATIM = frozenset({CampaignMessage.kind})


@dataclass(frozen=True)
class Standing:
    # The balance now, for events that do not carry the one they left.
    balance: int | None
    progress: Progress | None = None
    # The title of the first offer valid in the visited store.
    offer: str | None = None
    # The event's store's kind (loyalty.models.StoreKind), when it has one.
    store_kind: str | None = None


NOWHERE = Standing(None)


def _balance(event: Event) -> int | None:
    """The balance the event says its posting left, if it says one."""
    return event.balance if isinstance(event, LedgerEvent) else None


async def standings(
    conn: BaseDBAsyncClient,
    events: Sequence[tuple[int, int, Event]],
    now: datetime,
) -> dict[int, Standing]:
    """Each event's standing, by event id, for (event id, customer id, event)
    of events about to be rendered."""
    wanted = sorted(
        {c for _, c, event in events if event.kind in PERSONAL or _needs_balance(event)}
    )
    progress = await progress_for(conn, wanted, now)
    offers = await first_offers_in_stores(
        conn,
        [
            (customer_id, store_id)
            for _, customer_id, event in events
            if (store_id := _visited(event)) is not None and customer_id in progress
        ],
        now,
    )
    kinds = await store_kinds(conn, {s for _, _, e in events if (s := _store_id(e))})
    found: dict[int, Standing] = {}
    for event_id, customer_id, event in events:
        mine = progress.get(customer_id)
        kind = kinds.get(_store_id(event) or 0)
        if mine is None:
            if kind is not None:
                found[event_id] = Standing(None, store_kind=kind)
            continue
        store_id = _visited(event)
        offer = None if store_id is None else offers.get((customer_id, store_id))
        balance = _balance(event)
        if event.kind in PERSONAL and balance is not None:
            # The reward to aim for is measured from the balance the message states.
            mine = mine.with_balance(balance)
        found[event_id] = Standing(mine.balance, mine if event.kind in PERSONAL else None, offer,
                                   kind)
    return found


async def store_kinds(conn: BaseDBAsyncClient, store_ids: set[int]) -> dict[int, str]:
    """Each store's kind, in one statement for the batch."""
    if not store_ids:
        return {}
    ids = sorted(store_ids)
    rows = await fetch(conn, f"SELECT id, kind FROM store WHERE id IN ({placeholders(len(ids))})",
                       *ids)
    return {r[0]: r[1] for r in rows}


def _store_id(event: Event) -> int | None:
    """The store a ledger event names, when it is an id the database can hold."""
    store_id = event.store_id if isinstance(event, LedgerEvent) else None
    return store_id if store_id is not None and 0 < store_id < 2**63 else None


def _remote(standing: Standing) -> bool:
    return standing.store_kind in ("ONLINE", "CALL_CENTRE")


def _visited(event: Event) -> int | None:
    """The store a visit event names, when it is an id the database can hold."""
    if isinstance(event, VisitAccepted) and event.store_id is not None:
        return event.store_id if 0 < event.store_id < 2**63 else None
    return None


def _needs_balance(event: Event) -> bool:
    return event.kind not in VERBATIM and _balance(event) is None


def template_for(event: Event) -> str:
    # A visit on a day its reward was already given still gets a welcome,
    # without "+0 points".
    if isinstance(event, VisitAccepted) and not event.points:
        return "visit.welcome"
    # Points spent on a reward in the app: what was bought, not where.
    if isinstance(event, PointsRedeemed) and event.reward_name:
        return "reward.redeemed"
    if isinstance(event, PointsAdjusted) and event.signed_points < 0:
        return "points.adjusted.down"
    if isinstance(event, TierChanged):
        if not event.to_tier:
            return "tier.lost"
        return "tier.down" if event.direction == "down" else "tier.up"
    return event.kind


def values(
    event: Event,
    first_name: str,
    timezone: str | None,
    standing: Standing,
) -> dict[str, Any]:
    """Every placeholder's value for this event (templates.ALLOWED); None
    leaves out the optional sentences that name it."""
    progress = standing.progress
    goal = None if progress is None else progress.next_goal
    expiring_points: int | None = None
    expires_at: datetime | None = None
    if isinstance(event, PointsExpiring | CouponExpiring):
        # A reminder is about what it names.
        expires_at = event.expires_at
        expiring_points = event.points if isinstance(event, PointsExpiring) else None
    elif progress is not None:
        expiring_points, expires_at = progress.expiring_points, progress.expiring_at
    # Dates are shown as the customer's calendar day (a lot expiring at
    # 23:30 UTC expires "tomorrow" in Paris), formatted by the template.
    day = None if expires_at is None else as_datetime(expires_at).astimezone(zone(timezone)).date()
    ledger = event if isinstance(event, LedgerEvent) else None
    balance = _balance(event)
    return {
        "first_name": first_name,
        "points": event.points if isinstance(event, LedgerEvent | PointsExpiring) else None,
        "balance": standing.balance if balance is None else balance,
        # A store without a place is named by where it is ("online"), not
        # by its name ("at Boutique en ligne").
        "store": None if ledger is None or _remote(standing) else ledger.store_name,
        "where": standing.store_kind if _remote(standing) else None,
        "points_to_next": None if goal is None else goal.points,
        "next_reward": goal.name if goal and progress and goal is progress.next_reward else None,
        "next_tier": goal.name if goal and progress and goal is progress.next_tier else None,
        "expiring_points": expiring_points,
        "expiring_date": day,
        "coupon": event.title if isinstance(event, CouponExpiring) else None,
        "reward": event.reward_name if isinstance(event, PointsRedeemed) else None,
        "offer": standing.offer,
        "tier": event.to_tier if isinstance(event, TierChanged) else None,
        "previous_tier": event.from_tier if isinstance(event, TierChanged) else None,
        "reason": event.reason if isinstance(event, PointsAdjusted) else None,
    }
