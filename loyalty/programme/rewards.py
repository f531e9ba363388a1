"""The rewards catalogue: items bought with points, delivered as coupons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError

from loyalty import ledger
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.events import PointsRedeemed
from loyalty.ledger import (
    Channel,
    Kind,
    Posting,
    Spend,
    TransactionResult,
    check_idempotency_key,
    find_by_key,
    request_hash,
)
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, fetch, fetchrow
from loyalty.points.redemptions import MAX_REDEEM_POINTS
from loyalty.programme.coupons import check_benefit, issue_coupon
from loyalty.programme.offers import check_dates

MAX_VALID_DAYS = 3650
MAX_STOCK = 10**9


@dataclass(frozen=True)
class RewardView:
    id: int
    name: str
    description: str
    points_price: int
    stock: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    active: bool
    benefit_kind: str
    benefit_value: int
    coupon_valid_days: int


@dataclass(frozen=True)
class RewardRedemption:
    code: str
    title: str
    expires_at: datetime
    transaction: TransactionResult
    kind: str
    value: int
    redeemed_at: datetime | None = None  # a replay may find the coupon used since


class _Keep:
    """An update argument left out: the column keeps its value (None is a value)."""


KEEP: Any = _Keep()

_COLUMNS = (
    "id, name, description, points_price, stock, starts_at, ends_at, active, "
    "benefit_kind, benefit_value, coupon_valid_days"
)


def _view(row: Any) -> RewardView:
    return RewardView(
        id=row[0],
        name=row[1],
        description=row[2],
        points_price=row[3],
        stock=row[4],
        starts_at=None if row[5] is None else as_datetime(row[5]),
        ends_at=None if row[6] is None else as_datetime(row[6]),
        active=bool(row[7]),
        benefit_kind=row[8],
        benefit_value=row[9],
        coupon_valid_days=row[10],
    )


def _check(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate the given columns (the caller's view names them camelCase)."""
    out = dict(fields)
    if "name" in out:
        name = out["name"].strip() if isinstance(out["name"], str) else ""
        if not 1 <= len(name) <= 200:
            raise invalid("name must be 1 to 200 characters.", "name")
        out["name"] = name
    if "description" in out:
        if not isinstance(out["description"], str) or len(out["description"]) > 1000:
            raise invalid("description is at most 1000 characters.", "description")
        out["description"] = out["description"].strip()
    if "points_price" in out:
        price = out["points_price"]
        if not isinstance(price, int) or not 0 < price <= MAX_REDEEM_POINTS:
            raise invalid("pointsPrice must be a positive whole number.", "pointsPrice")
    if out.get("stock") is not None and not 0 <= out["stock"] <= MAX_STOCK:
        raise invalid("stock must be 0 or more (null: unlimited).", "stock")
    if "coupon_valid_days" in out and not 1 <= out["coupon_valid_days"] <= MAX_VALID_DAYS:
        raise invalid(f"couponValidDays must be 1 to {MAX_VALID_DAYS}.", "couponValidDays")
    for field in ("starts_at", "ends_at"):
        value = out.get(field)
        if value is not None:
            if value.tzinfo is None:
                raise invalid(f"{_camel(field)} needs a UTC offset.", _camel(field))
            out[field] = value.astimezone(UTC)  # SQLite compares them as text
    return out


async def create_reward(
    *,
    name: str,
    points_price: int,
    benefit_kind: str,
    benefit_value: int,
    description: str = "",
    stock: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    coupon_valid_days: int = 30,
    active: bool = True,
) -> RewardView:
    check_benefit(benefit_kind, benefit_value)
    check_dates(starts_at, ends_at)
    v = _check(dict(name=name, description=description, points_price=points_price, stock=stock,
                    starts_at=starts_at, ends_at=ends_at, coupon_valid_days=coupon_valid_days))
    async with transaction() as conn:
        row = await fetchrow(
            conn,
            "INSERT INTO reward (name, description, points_price, stock, starts_at, ends_at, "
            "active, benefit_kind, benefit_value, coupon_valid_days, created_at) VALUES "
            f"($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {_COLUMNS}",
            v["name"], v["description"], points_price, stock, v["starts_at"], v["ends_at"],
            active, benefit_kind, benefit_value, coupon_valid_days, datetime.now(UTC),
        )
    return _view(row)


async def update_reward(
    reward_id: int,
    *,
    name: str = KEEP,
    description: str = KEEP,
    points_price: int = KEEP,
    stock: int | None = KEEP,
    starts_at: datetime | None = KEEP,
    ends_at: datetime | None = KEEP,
    active: bool = KEEP,
    benefit_kind: str = KEEP,
    benefit_value: int = KEEP,
    coupon_valid_days: int = KEEP,
) -> RewardView:
    """Change the given columns only; coupons already issued keep theirs."""
    given = {k: v for k, v in dict(
        name=name, description=description, points_price=points_price, stock=stock,
        starts_at=starts_at, ends_at=ends_at, active=active, benefit_kind=benefit_kind,
        benefit_value=benefit_value, coupon_valid_days=coupon_valid_days,
    ).items() if not isinstance(v, _Keep)}
    for required in ("name", "points_price", "active", "benefit_kind", "benefit_value",
                     "coupon_valid_days"):
        if required in given and given[required] is None:
            raise invalid("This field cannot be null.", _camel(required))
    changes = _check(given)
    async with transaction() as conn:
        row = await fetchrow(conn, f"SELECT {_COLUMNS} FROM reward WHERE id = $1", reward_id)
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such reward.", "rewardId")
        old = _view(row)
        check_benefit(changes.get("benefit_kind", old.benefit_kind),
                      changes.get("benefit_value", old.benefit_value))
        check_dates(changes.get("starts_at", old.starts_at), changes.get("ends_at", old.ends_at))
        if changes:
            sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=1))
            row = await fetchrow(
                conn,
                f"UPDATE reward SET {sets} WHERE id = ${len(changes) + 1} RETURNING {_COLUMNS}",
                *changes.values(),
                reward_id,
            )
    return _view(row)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


_AVAILABLE = (
    "active AND (starts_at IS NULL OR starts_at <= $1) AND (ends_at IS NULL OR ends_at > $2) "
    "AND (stock IS NULL OR stock > 0)"
)


async def list_rewards(now: datetime, limit: int = 200) -> list[RewardView]:
    """The catalogue a customer may buy from now, cheapest first."""
    rows = await fetch(
        connections.get("default"),
        f"SELECT {_COLUMNS} FROM reward WHERE {_AVAILABLE} ORDER BY points_price, id LIMIT $3",
        now,
        now,
        limit,
    )
    return [_view(r) for r in rows]


async def redeem_reward(
    *, idempotency_key: str, customer_id: int, account_id: int, reward_id: int, now: datetime
) -> RewardRedemption:
    """Buy a reward with points: the points leave through the ledger, one item
    of stock goes, and a coupon bound to the customer is issued, all in one
    transaction. A retry with the same key returns the same coupon."""
    key = check_idempotency_key(idempotency_key)
    fingerprint = request_hash("redeemReward", customer=customer_id, reward=reward_id)
    try:
        async with transaction() as conn:
            # The account first, as every posting; then the reward's row.
            await ledger.lock(conn, account_id, now)
            existing = await find_by_key(conn, key, fingerprint)
            if existing is not None:
                return await _replayed(conn, existing)
            row = await fetchrow(conn, f"SELECT {_COLUMNS} FROM reward WHERE id = $1", reward_id)
            if row is None:
                raise DomainError(ErrorCode.NOT_FOUND, "No such reward.", "rewardId")
            reward = _view(row)
            if not reward.active or (reward.starts_at and reward.starts_at > now) or (
                reward.ends_at and reward.ends_at <= now
            ):
                raise DomainError(
                    ErrorCode.REWARD_NOT_AVAILABLE, "This reward is not available.", "rewardId"
                )
            if reward.stock is not None and await fetchrow(
                conn,
                "UPDATE reward SET stock = stock - 1 WHERE id = $1 AND stock > 0 RETURNING stock",
                reward_id,
            ) is None:
                raise DomainError(ErrorCode.OUT_OF_STOCK, "This reward is sold out.", "rewardId")
            posted = await ledger.post(conn, Posting(
                kind=Kind.REDEEM, channel=Channel.APP, customer_id=customer_id,
                account_id=account_id, points=-reward.points_price, lots=Spend("rewardId"),
                description=f"Reward: {reward.name}", key=key, fingerprint=fingerprint,
                event=PointsRedeemed(reward_id=reward_id, reward_name=reward.name),
                occurred_at=now, now=now,
            ))
            expires_at = now + timedelta(days=reward.coupon_valid_days)
            code = await issue_coupon(
                conn,
                customer_id=customer_id,
                title=reward.name,
                kind=reward.benefit_kind,
                value=reward.benefit_value,
                expires_at=expires_at,
                reward_id=reward_id,
                bought_with_id=posted.transaction.id,
            )
    except IntegrityError:
        # A concurrent retry posted first under this key.
        async with transaction() as conn:
            existing = await find_by_key(conn, key, fingerprint)
            if existing is None:
                raise  # pragma: no cover - another constraint: a bug
            return await _replayed(conn, existing)
    return RewardRedemption(
        code, reward.name, expires_at, posted.transaction, reward.benefit_kind,
        reward.benefit_value,
    )


async def _replayed(conn: Any, txn: TransactionResult) -> RewardRedemption:
    row = await fetchrow(
        conn,
        "SELECT code, title, expires_at, benefit_kind, benefit_value, redeemed_at "
        "FROM coupon WHERE bought_with_id = $1",
        txn.id,
    )
    assert row is not None, "a reward redemption always issues its coupon"
    return RewardRedemption(
        row[0], row[1], as_datetime(row[2]), txn, row[3], row[4],
        None if row[5] is None else as_datetime(row[5]),
    )


async def account_of(customer_id: int) -> int:
    row = await fetchrow(
        connections.get("default"), "SELECT id FROM account WHERE customer_id = $1", customer_id
    )
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No points account.", None)
    return int(row[0])
