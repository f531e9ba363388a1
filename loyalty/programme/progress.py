"""Where customers stand, for the messages that tell them: their balance, the
next reward or tier they can reach and how far it is, and the points that
expire soon.

Read for a whole batch of customers in a bounded number of statements (the
notification worker renders a hundred messages at a time): the accounts, their
first expiry, their stored tiers and qualifying totals, and the catalogue once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import as_datetime, fetch, placeholders
from loyalty.programme.settings import programme_settings
from loyalty.programme.tier_periods import TierBasis, current_period
from loyalty.programme.tiers import TierInfo, active_tiers, effective_tier, tier_ahead

# Customers per IN (...) list: far below both databases' parameter limits.
_CHUNK = 500
# The catalogue read for the next reward; a programme with more rewards than
# this on sale at once names one of the cheapest that many.
_REWARDS = 500


@dataclass(frozen=True)
class Goal:
    # A reward's or a tier's name, and the points still needed to reach it (> 0).
    name: str
    points: int


@dataclass(frozen=True)
class Progress:
    balance: int
    # The cheapest reward on sale that the balance cannot buy yet.
    next_reward: Goal | None
    # The tier above the customer's, when tiers qualify on points.
    next_tier: Goal | None
    # Points in the customer's first-expiring lots, when that is within the
    # programme's reminder window.
    expiring_points: int | None
    expiring_at: datetime | None
    # The rewards on sale, (price, name) cheapest first: shared by the batch.
    catalogue: tuple[tuple[int, str], ...] = field(default=(), repr=False)

    def with_balance(self, balance: int) -> Progress:
        """The same customer measured from another balance (the one a message
        states, which later postings may since have changed)."""
        return replace(self, balance=balance, next_reward=next_reward(self.catalogue, balance))

    @property
    def next_goal(self) -> Goal | None:
        """The nearer of the next reward and the next tier (the reward on a tie)."""
        goals = [g for g in (self.next_reward, self.next_tier) if g is not None]
        return min(goals, key=lambda g: g.points) if goals else None


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def next_reward(prices: Sequence[tuple[int, str]], balance: int) -> Goal | None:
    """The cheapest reward (`prices` cheapest first) the balance cannot buy yet."""
    for price, name in prices:
        if price > balance:
            return Goal(name, price - max(balance, 0))
    return None


def next_tier(
    tiers: tuple[TierInfo, ...], current: TierInfo | None, total: int
) -> Goal | None:
    tier = tier_ahead(tiers, current, total)
    return None if tier is None else Goal(tier.name, tier.threshold - max(total, 0))


async def progress_for(
    conn: BaseDBAsyncClient,
    customer_ids: list[int],
    now: datetime,
) -> dict[int, Progress]:
    """Each customer's progress, keyed by customer id (those without an account
    are left out)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    settings = await programme_settings(conn)
    accounts: dict[int, tuple[int, int]] = {}  # customer -> (account, available)
    for chunk in _chunks(ids):
        rows = await fetch(
            conn,
            f"SELECT customer_id, id, available FROM account WHERE customer_id IN "
            f"({placeholders(len(chunk))})",
            *chunk,
        )
        accounts.update({r[0]: (int(r[1]), int(r[2])) for r in rows})
    if not accounts:
        return {}
    expiring = await _first_expiry(
        conn, [a for a, _ in accounts.values()], now + timedelta(days=settings.reminder_days)
    )
    prices = await _catalogue(conn, now)
    tiers_ahead = await _tiers_ahead(conn, list(accounts), now)
    result = {}
    for customer_id, (account_id, available) in accounts.items():
        points, at = expiring.get(account_id, (None, None))
        result[customer_id] = Progress(
            balance=available,
            next_reward=next_reward(prices, available),
            next_tier=tiers_ahead.get(customer_id),
            expiring_points=points,
            expiring_at=at,
            catalogue=prices,
        )
    return result


async def _first_expiry(
    conn: BaseDBAsyncClient, account_ids: list[int], horizon: datetime
) -> dict[int, tuple[int, datetime]]:
    """Each account's earliest expiry before `horizon` and the points left in
    its lots then (the app's nextExpiry, loyalty.ledger.balances, cut at the horizon)."""
    found: dict[int, tuple[int, datetime]] = {}
    for chunk in _chunks(sorted(account_ids)):
        rows = await fetch(
            conn,
            "SELECT l.account_id, l.expires_at, SUM(l.remaining) FROM lot l "
            "JOIN (SELECT account_id, MIN(expires_at) AS first FROM lot "
            f"WHERE remaining > 0 AND account_id IN ({placeholders(len(chunk))}) "
            "GROUP BY account_id) f "
            "ON f.account_id = l.account_id AND f.first = l.expires_at "
            f"WHERE l.remaining > 0 AND l.expires_at <= ${len(chunk) + 1} "
            "GROUP BY l.account_id, l.expires_at",
            *chunk,
            horizon,
        )
        found.update({r[0]: (int(r[2]), as_datetime(r[1])) for r in rows})
    return found


async def _catalogue(conn: BaseDBAsyncClient, now: datetime) -> tuple[tuple[int, str], ...]:
    """(price, name) of the rewards on sale now, cheapest first
    (loyalty.programme.rewards.list_rewards' rule: active, within dates, in stock)."""
    rows = await fetch(
        conn,
        "SELECT points_price, name FROM reward WHERE active "
        "AND (starts_at IS NULL OR starts_at <= $1) AND (ends_at IS NULL OR ends_at > $2) "
        "AND (stock IS NULL OR stock > 0) ORDER BY points_price, id LIMIT $3",
        now,
        now,
        _REWARDS,
    )
    return tuple((int(r[0]), r[1]) for r in rows)


async def _tiers_ahead(
    conn: BaseDBAsyncClient, customer_ids: list[int], now: datetime
) -> dict[int, Goal]:
    """The next tier and the points still to earn for it in this period
    (loyalty.programme.tiers.tier_status, for many customers). Only when tiers qualify
    on points: a spend threshold is not a number of points to tell."""
    tiers = await active_tiers(conn)
    settings = await programme_settings(conn)
    if not tiers or settings.tier_basis is not TierBasis.POINTS:
        return {}
    period = current_period(now, settings.period_rules)
    stored: dict[int, tuple[int | None, int | None]] = {}
    totals: dict[int, int] = {}
    for chunk in _chunks(sorted(customer_ids)):
        marks = placeholders(len(chunk))
        rows = await fetch(
            conn,
            "SELECT ct.customer_id, ct.tier_id, t.threshold FROM customer_tier ct "
            f"LEFT JOIN tier t ON t.id = ct.tier_id WHERE ct.customer_id IN ({marks})",
            *chunk,
        )
        stored.update({r[0]: (r[1], r[2]) for r in rows})
        # Earned minus taken back, as loyalty.programme.tiers.qualifying_total counts it.
        rows = await fetch(
            conn,
            "SELECT customer_id, COALESCE(SUM(points), 0) FROM ledger_transaction "
            f"WHERE customer_id IN ({marks}) "
            f"AND occurred_at >= ${len(chunk) + 1} AND occurred_at < ${len(chunk) + 2} "
            "AND kind IN ('EARN', 'BONUS', 'REFUND') GROUP BY customer_id",
            *chunk,
            period.start,
            period.end,
        )
        totals.update({r[0]: int(r[1]) for r in rows})
    ahead = {}
    for customer_id in customer_ids:
        tier_id, threshold = stored.get(customer_id, (None, None))
        current = effective_tier(tiers, tier_id, threshold)
        goal = next_tier(tiers, current, totals.get(customer_id, 0))
        if goal is not None:
            ahead[customer_id] = goal
    return ahead
