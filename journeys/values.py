"""What a journey message may say about its customer, read at send time:
the one place the worker (and the preview query) fill
`journeys.content.Values` from, so that a preview shows what would be sent.

Read for a whole batch of messages in a bounded number of statements:
customers, balances and next rewards (loyalty.programme.progress), tiers, the runs'
coupons by their issue keys, store names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from journeys.content import Values
from journeys.run import RunState, SendMessage
from journeys.steps import thaw
from loyalty.platform.sql import as_datetime, fetch, placeholders
from loyalty.points import surveys
from loyalty.programme.progress import progress_for
from loyalty.programme.tiers import tier_statuses
from notifications import unsubscribe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wanted:
    """One message's needs: whose values, with which trigger, store and coupon."""

    customer_id: int
    trigger: Mapping[str, Any]
    store_id: Any = None
    coupon_key: str | None = None


def _store_of(run: RunState) -> Any:
    for source in (run.last_event or {}, run.trigger):
        if source.get("storeId") is not None:
            return source["storeId"]
    return None


async def values_for(conn: BaseDBAsyncClient, customer_id: int, run: RunState, now: datetime,
                     action: SendMessage | None = None) -> Values:
    """The values of a message `run` sends now (the step `action`, if
    known, names the store and coupon; else the run's own)."""
    wanted = Wanted(customer_id, run.trigger,
                    _store_of(run) if action is None else action.store_id,
                    run.coupon_key if action is None else action.coupon_key)
    return (await values_for_many(conn, [wanted], now))[0]


async def values_for_many(conn: BaseDBAsyncClient, wanted: Sequence[Wanted],
                          now: datetime) -> list[Values]:
    """Values for each of `wanted`, in order."""
    if not wanted:
        return []
    ids = sorted({w.customer_id for w in wanted})
    customers = {int(r[0]): (r[1], r[2]) for r in await fetch(
        conn, "SELECT id, first_name, timezone FROM customer "
        f"WHERE id IN ({placeholders(len(ids))})",
        *ids)}
    progress = await progress_for(conn, ids, now)
    tiers = await tier_statuses(conn, ids, now)
    keys = sorted({w.coupon_key for w in wanted if w.coupon_key})
    coupons = {r[0]: (r[1], as_datetime(r[2])) for r in await fetch(
        conn, f"SELECT issue_key, code, expires_at FROM coupon WHERE issue_key IN "
              f"({placeholders(len(keys))})", *keys)} if keys else {}
    stores = await _stores(conn, {w.store_id for w in wanted})
    found = []
    for w in wanted:
        first_name, timezone = customers.get(w.customer_id, ("", None))
        p = progress.get(w.customer_id)
        tier = tiers.get(w.customer_id)
        code, expires = coupons.get(w.coupon_key or "", (None, None))
        found.append(Values(
            first_name=first_name or "",
            points_available=None if p is None else p.balance,
            points_to_next_reward=None if p is None or p.next_reward is None
            else p.next_reward.points,
            next_reward=None if p is None or p.next_reward is None else p.next_reward.name,
            tier=None if tier is None or tier.tier is None else tier.tier.name,
            coupon_code=code,
            coupon_expires_at=expires,
            store_name=stores.get(_store_key(w.store_id) or 0),
            trigger=thaw(w.trigger),
            survey_url=await _survey_url(conn, w, now),
            unsubscribe_url=unsubscribe.link_for(w.customer_id),
            timezone=timezone,
        ))
    return found


def _store_key(store_id: Any) -> int | None:
    try:
        return int(store_id)
    except (TypeError, ValueError):
        return None


async def _stores(conn: BaseDBAsyncClient, store_ids: set[Any]) -> dict[int, str]:
    ids = sorted({k for k in map(_store_key, store_ids) if k is not None})
    if not ids:
        return {}
    rows = await fetch(conn, f"SELECT id, name FROM store WHERE id IN ({placeholders(len(ids))})",
                       *ids)
    return {int(r[0]): r[1] for r in rows}


async def _survey_url(conn: BaseDBAsyncClient, wanted: Wanted, now: datetime) -> str | None:
    """The survey link for the run's purchase (its store and receipt, from
    the trigger or the event that woke it); None without one, or without
    LOYALTY_SURVEY_URL: a template that prints it then fails to render
    rather than send a blank."""
    store_id = _store_key(wanted.store_id)
    receipt_id = wanted.trigger.get("receiptId")
    if store_id is None or not isinstance(receipt_id, str) or not receipt_id:
        return None
    return surveys.survey_url(wanted.customer_id, store_id, receipt_id, now)
