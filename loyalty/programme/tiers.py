"""Tiers: named levels reached by points earned (or money spent) in a
qualification period, each with a multiplier the earn rules apply.

A customer goes up the moment a posting takes them over a threshold
(`after_earning`, inside that posting's transaction) and goes down only at the
end of a qualification period (`review_due`, the worker's period-end job). The
stored row (customer_tier) is the truth between the two; `tier_of` reads it.

A customer with no stored tier is in the lowest tier when its threshold is 0
(everyone's base level), otherwise in none. A stored tier that an admin has
since deactivated counts as the highest active tier at or below its threshold
until the customer's next review.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty import ledger
from loyalty.events import TierChanged
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow, placeholders, skip_locked
from loyalty.programme.settings import CACHE_SECONDS, programme_settings
from loyalty.programme.tier_periods import (
    Period,
    TierBasis,
    current_period,
    next_review,
    period_end_after,
    period_ending,
)

# The tier a customer held at an instant: the newest change at or before it
# (none: no tier then, the base tier if it has a threshold of 0).
TIER_AT_SQL = ("SELECT h.tier_id FROM tier_change h WHERE h.customer_id = {customer} "
               "AND h.at <= {at} ORDER BY h.at DESC, h.id DESC LIMIT 1")


@dataclass(frozen=True)
class TierInfo:
    id: int
    name: str
    threshold: int
    multiplier: Decimal


@dataclass(frozen=True)
class TierStatusView:
    # None while the customer is below every tier.
    tier: TierInfo | None
    # The current period's qualifying total, in the programme's basis
    # (points, or minor units of spend).
    qualifying_total: int
    next_tier: TierInfo | None
    # Still to earn (or spend) in this period for `next_tier` (> 0); None at the top.
    points_to_next_tier: int | None

    @property
    def name(self) -> str:
        return "" if self.tier is None else self.tier.name


_cached: tuple[float, tuple[TierInfo, ...]] | None = None


def invalidate() -> None:
    """Forget this process's copy of the ladder (after a change to it)."""
    global _cached
    _cached = None


async def active_tiers(conn: BaseDBAsyncClient) -> tuple[TierInfo, ...]:
    """The active tiers, lowest threshold first; kept for a few seconds per
    process, since every posting asks."""
    global _cached
    if _cached is not None and time.monotonic() - _cached[0] < CACHE_SECONDS:
        return _cached[1]
    rows = await fetch(
        conn,
        "SELECT id, name, threshold, multiplier FROM tier WHERE active = $1 "
        "ORDER BY threshold, id",
        True,
    )
    tiers = tuple(TierInfo(int(r[0]), r[1], int(r[2]), Decimal(r[3])) for r in rows)
    _cached = (time.monotonic(), tiers)
    return tiers


def qualifying(tiers: tuple[TierInfo, ...], total: int) -> TierInfo | None:
    """The highest tier a qualifying total reaches (a negative total reaches
    only a threshold of 0)."""
    found = None
    for tier in tiers:
        if tier.threshold <= max(total, 0):
            found = tier
    return found


def effective_tier(
    tiers: tuple[TierInfo, ...], tier_id: int | None, threshold: int | None = None
) -> TierInfo | None:
    """The tier a stored customer_tier.tier_id stands for (see the module
    docstring); `threshold` is the stored tier's, needed only once deactivated."""
    if tier_id is not None:
        for tier in tiers:
            if tier.id == tier_id:
                return tier
        return qualifying(tiers, int(threshold or 0))
    return qualifying(tiers, 0)


def _rank(tier: TierInfo | None) -> int:
    return -1 if tier is None else tier.threshold


def tier_ahead(
    tiers: tuple[TierInfo, ...], current: TierInfo | None, total: int
) -> TierInfo | None:
    """The tier to aim for: the lowest above the customer's that this period's
    total has not reached yet. A tier reached but not held (created, or its
    threshold lowered, mid-period: it is granted with the next earning) is no
    goal to name, so the app's `me.tier` and the pushes (loyalty.programme.progress)
    both skip it."""
    for tier in tiers:
        if tier.threshold > _rank(current) and tier.threshold > total:
            return tier
    return None


async def tier_of(conn: BaseDBAsyncClient, customer_id: int) -> TierInfo | None:
    tiers = await active_tiers(conn)
    if not tiers:
        return None
    row = await fetchrow(
        conn,
        "SELECT ct.tier_id, t.threshold FROM customer_tier ct "
        "LEFT JOIN tier t ON t.id = ct.tier_id WHERE ct.customer_id = $1",
        customer_id,
    )
    return effective_tier(tiers, None) if row is None else effective_tier(tiers, row[0], row[1])


# (table, summed expression, extra condition) of each basis.
_TOTALS = {
    TierBasis.SPEND: ("purchase", "total_minor - refunded_minor", ""),
    # Earned minus taken back: a refund in the period lowers the total.
    TierBasis.POINTS: ("ledger_transaction", "points", " AND kind IN ('EARN', 'BONUS', 'REFUND')"),
}
_QUALIFYING = {
    basis: f"SELECT COALESCE(SUM({summed}), 0) FROM {table} "
    f"WHERE customer_id = $1 AND occurred_at >= $2 AND occurred_at < $3{extra}"
    for basis, (table, summed, extra) in _TOTALS.items()
}
# tier_status's one round trip: the period's total, then the stored tier
# (no customer_tier row reads as a row with no tier, as in tier_of).
_STATUS = {
    basis: f"SELECT ({statement}), ct.tier_id, t.threshold FROM (SELECT 1 AS one) o "
    "LEFT JOIN customer_tier ct ON ct.customer_id = $4 LEFT JOIN tier t ON t.id = ct.tier_id"
    for basis, statement in _QUALIFYING.items()
}


async def qualifying_total(
    conn: BaseDBAsyncClient, customer_id: int, basis: TierBasis, period: Period
) -> int:
    row = await fetchrow(conn, _QUALIFYING[basis], customer_id, period.start, period.end)
    return int(row[0]) if row else 0


async def _stored(conn: BaseDBAsyncClient, customer_id: int) -> int | None:
    row = await fetchrow(
        conn, "SELECT tier_id FROM customer_tier WHERE customer_id = $1 FOR UPDATE", customer_id
    )
    return None if row is None else row[0]


async def _threshold(conn: BaseDBAsyncClient, tier_id: int) -> int:
    row = await fetchrow(conn, "SELECT threshold FROM tier WHERE id = $1", tier_id)
    return int(row[0]) if row else 0


def _event(before: TierInfo | None, after: TierInfo | None) -> TierChanged:
    return TierChanged(
        from_tier=None if before is None else before.name,
        to_tier=None if after is None else after.name,
        from_id=None if before is None else before.id,
        to_id=None if after is None else after.id,
        direction="up" if _rank(after) > _rank(before) else "down",
    )


async def after_earning(
    conn: BaseDBAsyncClient, customer_id: int, now: datetime
) -> TierInfo | None:
    """Raise the customer's tier if the current period's total now reaches a
    higher one; never lowers it. Runs inside the posting's transaction, after
    its ledger rows, with the account row already locked by it (so postings
    for one customer reach here one at a time). Returns the new tier, or None
    when it did not change."""
    tiers = await active_tiers(conn)
    if not tiers:
        return None
    settings = await programme_settings(conn)
    rules = settings.period_rules
    total = await qualifying_total(
        conn, customer_id, settings.tier_basis, current_period(now, rules)
    )
    target = qualifying(tiers, total)
    if target is None:
        return None
    tier_id = await _stored(conn, customer_id)
    threshold = None
    if tier_id is not None and all(t.id != tier_id for t in tiers):
        threshold = await _threshold(conn, tier_id)  # deactivated since: rare
    current = effective_tier(tiers, tier_id, threshold)
    if _rank(target) <= _rank(current):
        return None
    await execute(
        conn,
        "INSERT INTO customer_tier (customer_id, tier_id, since, review_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer_id) DO UPDATE SET "
        "tier_id = excluded.tier_id, since = excluded.since, review_at = excluded.review_at, "
        "updated_at = excluded.updated_at",
        customer_id,
        target.id,
        now,
        period_end_after(now, rules),
        now,
    )
    await record_change(conn, customer_id, target.id, now)
    await ledger.emit(conn, customer_id, _event(current, target), now=now)
    return target


async def record_change(conn: BaseDBAsyncClient, customer_id: int, tier_id: int | None,
                        at: datetime) -> None:
    """The tier history's row, in the transaction that sets customer_tier."""
    await execute(conn, "INSERT INTO tier_change (customer_id, tier_id, at) VALUES ($1, $2, $3)",
                  customer_id, tier_id, at)


async def tier_id_at(conn: BaseDBAsyncClient, customer_id: int, at: datetime) -> int | None:
    """The tier (id) the customer held at `at`, from the history."""
    row = await fetchrow(conn, TIER_AT_SQL.format(customer="$1", at="$2"), customer_id, at)
    return None if row is None else row[0]


_DUE_SQL = (
    "SELECT ct.id, ct.customer_id, ct.tier_id, t.threshold, ct.review_at "
    "FROM customer_tier ct LEFT JOIN tier t ON t.id = ct.tier_id "
    "WHERE ct.review_at <= $1 ORDER BY ct.review_at, ct.id LIMIT $2"
)


async def review_due(now: datetime, batch: int = 500) -> int:
    """The period-end job: every customer whose qualification period has
    ended gets the tier that period's total earns (or the one the period
    under way already earns, if higher: a late job must not take back what an
    upgrade would give again), and a new review at the end of the next period.

    Rows are claimed with SKIP LOCKED, so several workers share the work and
    none waits on another; a reviewed row is no longer due, so running it
    again changes nothing. Returns how many customers were reviewed."""
    reviewed = 0
    while True:
        async with transaction() as conn:
            tiers = await active_tiers(conn)
            if not tiers:
                # Nothing to place anyone in; the rows wait for a ladder.
                return reviewed
            settings = await programme_settings(conn)
            rules = settings.period_rules
            rows = await fetch(conn, skip_locked(conn, _DUE_SQL, of="ct"), now, batch)
            for row_id, customer_id, tier_id, threshold, review_at in rows:
                review_at = as_datetime(review_at)
                current = effective_tier(tiers, tier_id, threshold)
                ended = await qualifying_total(
                    conn, customer_id, settings.tier_basis, period_ending(review_at, rules)
                )
                running = await qualifying_total(
                    conn, customer_id, settings.tier_basis, current_period(now, rules)
                )
                target = max(qualifying(tiers, ended), qualifying(tiers, running), key=_rank)
                changed = _rank(target) != _rank(current)
                target_id = None if target is None else target.id
                review = next_review(review_at, now, rules)
                if changed:
                    await execute(
                        conn,
                        "UPDATE customer_tier SET tier_id = $1, since = $2, review_at = $3, "
                        "updated_at = $4 WHERE id = $5",
                        target_id, now, review, now, row_id,
                    )
                else:
                    await execute(
                        conn,
                        "UPDATE customer_tier SET tier_id = $1, review_at = $2, updated_at = $3 "
                        "WHERE id = $4",
                        target_id, review, now, row_id,
                    )
                if changed:
                    await record_change(conn, customer_id, target_id, now)
                    await ledger.emit(conn, customer_id, _event(current, target), now=now)
        reviewed += len(rows)
        if len(rows) < batch:
            return reviewed


def _status_view(tiers: tuple[TierInfo, ...], total: int, tier_id: int | None,
                 threshold: int | None, stored: bool) -> TierStatusView:
    tier = effective_tier(tiers, tier_id, threshold) if stored else effective_tier(tiers, None)
    nxt = tier_ahead(tiers, tier, total)
    return TierStatusView(
        tier=tier,
        qualifying_total=total,
        next_tier=nxt,
        points_to_next_tier=None if nxt is None else nxt.threshold - max(total, 0),
    )


async def tier_statuses(
    conn: BaseDBAsyncClient, customer_ids: list[int], now: datetime
) -> dict[int, TierStatusView | None]:
    """tier_status for many customers in two statements (a staff list)."""
    if not customer_ids:
        return {}
    tiers = await active_tiers(conn)
    if not tiers:
        return {i: None for i in customer_ids}
    settings = await programme_settings(conn)
    period = current_period(now, settings.period_rules)
    table, summed, extra = _TOTALS[settings.tier_basis]
    marks = placeholders(len(customer_ids), 3)
    totals = {int(r[0]): int(r[1]) for r in await fetch(
        conn,
        f"SELECT customer_id, COALESCE(SUM({summed}), 0) FROM {table} WHERE "
        f"occurred_at >= $1 AND occurred_at < $2 AND customer_id IN ({marks}){extra} "
        "GROUP BY customer_id", period.start, period.end, *customer_ids)}
    marks = placeholders(len(customer_ids))
    stored = {int(r[0]): (r[1], r[2]) for r in await fetch(
        conn,
        "SELECT ct.customer_id, ct.tier_id, t.threshold FROM customer_tier ct "
        f"LEFT JOIN tier t ON t.id = ct.tier_id WHERE ct.customer_id IN ({marks})",
        *customer_ids)}
    return {i: _status_view(tiers, totals.get(i, 0), *stored.get(i, (None, None)),
                            stored=i in stored) for i in customer_ids}


async def tier_status(
    conn: BaseDBAsyncClient, customer_id: int, now: datetime
) -> TierStatusView | None:
    """The customer's tier and how far the next one is; None only while the
    programme has no tiers."""
    tiers = await active_tiers(conn)
    if not tiers:
        return None
    # One statement: the app's home screen asks on every fetch.
    settings = await programme_settings(conn)
    period = current_period(now, settings.period_rules)
    row = await fetchrow(
        conn, _STATUS[settings.tier_basis], customer_id, period.start, period.end, customer_id
    )
    if row is None:
        return _status_view(tiers, 0, None, None, stored=False)
    return _status_view(tiers, int(row[0]), row[1], row[2], stored=True)
