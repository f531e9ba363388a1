"""What a message says about the customer, read from the ledger when it is
rendered: the balance, the nearer of the next reward and the next tier, points
expiring soon, and for a visit an offer valid in that store.

The reads are made once per batch of events (loyalty.progress, and the
visited stores' offers: loyalty.offers.first_offers_in_stores), not per
message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.offers import first_offers_in_stores
from loyalty.progress import Progress, progress_for
from loyalty.reminders import zone
from loyalty.sql import as_datetime, fetch

VISIT = "visit.accepted"
# Events whose messages tell the customer where they stand.
PERSONAL = frozenset({"points.earned", "points.redeemed", VISIT})
# Kinds whose text is the admin's, not a template's.
VERBATIM = frozenset({"campaign.message"})
TIER_CHANGED = "tier.changed"
ADJUSTED = "points.adjusted"


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


async def standings(
    conn: BaseDBAsyncClient,
    events: Sequence[tuple[int, str, int, dict[str, Any]]],
    now: datetime,
) -> dict[int, Standing]:
    """Each event's standing, by event id, for (event id, kind, customer id,
    payload) of events about to be rendered."""
    wanted = sorted(
        {c for _, kind, c, payload in events if kind in PERSONAL or _needs_balance(kind, payload)}
    )
    progress = await progress_for(conn, wanted, now)
    offers = await first_offers_in_stores(
        conn,
        [
            (customer_id, payload["store_id"])
            for _, kind, customer_id, payload in events
            if kind == VISIT and _store_id(payload) is not None and customer_id in progress
        ],
        now,
    )
    kinds = await store_kinds(conn, {s for _, _, _, p in events if (s := _store_id(p))})
    found: dict[int, Standing] = {}
    for event_id, kind, customer_id, payload in events:
        mine = progress.get(customer_id)
        store_id = _store_id(payload)
        if mine is None:
            if store_id in kinds:
                found[event_id] = Standing(None, store_kind=kinds[store_id])
            continue
        offer = None
        if kind == VISIT and store_id is not None:
            offer = offers.get((customer_id, store_id))
        if kind in PERSONAL and isinstance(payload.get("balance"), int):
            # The reward to aim for is measured from the balance the message states.
            mine = mine.with_balance(payload["balance"])
        found[event_id] = Standing(mine.balance, mine if kind in PERSONAL else None, offer,
                                   kinds.get(store_id) if store_id is not None else None)
    return found


async def store_kinds(conn: BaseDBAsyncClient, store_ids: set[int]) -> dict[int, str]:
    """Each store's kind, in one statement for the batch."""
    if not store_ids:
        return {}
    ids = sorted(store_ids)
    marks = ", ".join(f"${i + 1}" for i in range(len(ids)))
    rows = await fetch(conn, f"SELECT id, kind FROM store WHERE id IN ({marks})", *ids)
    return {r[0]: r[1] for r in rows}


def _store_id(payload: dict[str, Any]) -> int | None:
    # A bad payload must not fail the batch's read (bool is an int to Python).
    store_id = payload.get("store_id")
    if isinstance(store_id, int) and not isinstance(store_id, bool) and 0 < store_id < 2**63:
        return store_id
    return None


def _needs_balance(kind: str, payload: dict[str, Any]) -> bool:
    return kind not in VERBATIM and "balance" not in payload


def _remote(standing: Standing) -> bool:
    return standing.store_kind in ("ONLINE", "CALL_CENTRE")


def template_for(kind: str, payload: dict[str, Any]) -> str:
    # A visit on a day its reward was already given still gets a welcome,
    # without "+0 points".
    if kind == VISIT and not payload.get("points"):
        return "visit.welcome"
    # Points spent on a reward in the app: what was bought, not where.
    if kind == "points.redeemed" and payload.get("reward_name"):
        return "reward.redeemed"
    if kind == ADJUSTED and isinstance(payload.get("signed_points"), int) \
            and payload["signed_points"] < 0:
        return "points.adjusted.down"
    if kind == TIER_CHANGED:
        if not payload.get("to"):
            return "tier.lost"
        return "tier.down" if payload.get("direction") == "down" else "tier.up"
    return kind


def values(
    kind: str,
    payload: dict[str, Any],
    first_name: str,
    timezone: str | None,
    standing: Standing,
) -> dict[str, Any]:
    """Every placeholder's value for this event (templates.ALLOWED); None
    leaves out the optional sentences that name it."""
    progress = standing.progress
    goal = None if progress is None else progress.next_goal
    expiring_points: int | None = None
    expires_at: Any = None
    if kind in ("points.expiring", "coupon.expiring"):
        # A reminder is about what it names.
        expiring_points, expires_at = payload.get("points"), payload.get("expires_at")
    elif progress is not None:
        expiring_points, expires_at = progress.expiring_points, progress.expiring_at
    # Dates are shown as the customer's calendar day (a lot expiring at
    # 23:30 UTC expires "tomorrow" in Paris), formatted by the template.
    day = (
        as_datetime(expires_at).astimezone(zone(timezone)).date()
        if isinstance(expires_at, str | datetime)
        else None
    )
    return {
        "first_name": first_name,
        "points": payload.get("points"),
        "balance": payload.get("balance", standing.balance),
        # A store without a place is named by where it is ("online"), not
        # by its name ("at Boutique en ligne").
        "store": payload.get("store_name") if not _remote(standing) else None,
        "where": standing.store_kind if _remote(standing) else None,
        "points_to_next": None if goal is None else goal.points,
        "next_reward": goal.name if goal and progress and goal is progress.next_reward else None,
        "next_tier": goal.name if goal and progress and goal is progress.next_tier else None,
        "expiring_points": expiring_points,
        "expiring_date": day,
        "coupon": payload.get("title"),
        "reward": payload.get("reward_name"),
        "offer": standing.offer,
        "tier": payload.get("to"),
        "previous_tier": payload.get("from"),
        "reason": payload.get("reason") if kind == ADJUSTED else None,
    }
