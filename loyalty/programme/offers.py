"""Targeted offers: who may see one, clipping it to the card, counting its uses.

An offer targets everyone (ALL), a tier (the customer's current
customer_tier row), a store, or a list of customers (offer_target). It is
usable while active, within its dates, and while the customer's activation
has been used fewer than `per_customer_limit` times."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow, placeholders
from loyalty.programme.coupons import Benefit, check_benefit

MAX_SHOWN = 100
MAX_TARGETED = 10_000
MAX_LIMIT = 1000


class OfferTarget(StrEnum):
    ALL = "ALL"
    TIER = "TIER"
    STORE = "STORE"
    CUSTOMERS = "CUSTOMERS"


@dataclass(frozen=True)
class OfferView:
    id: int
    title: str
    description: str
    activated: bool
    expires_at: datetime | None


@dataclass(frozen=True)
class OfferRecord:
    """An offer as an administrator sees it."""

    id: int
    title: str
    description: str
    target: str
    tier_id: int | None
    store_id: int | None
    customer_ids: tuple[int, ...]
    starts_at: datetime | None
    ends_at: datetime | None
    per_customer_limit: int
    benefit_kind: str
    benefit_value: int
    min_basket_minor: int | None
    active: bool


def _number(statement: str) -> str:
    """`?` placeholders numbered $1..$n in order (loyalty.platform.sql's convention)."""
    counter = iter(range(1, statement.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(counter)}", statement)


# The few fixed statements of the till and the app, numbered once each.
_numbered = lru_cache(maxsize=16)(_number)


def _usable_where(customer: str, store: str | None) -> str:
    """The join and the conditions that make an offer usable by the customer
    (`customer`: SQL for its id), in the store `store` (SQL) or in any store
    (None), with `?` for now twice. Every offer read goes through this."""
    return (
        f" offer_activation a ON a.offer_id = o.id AND a.customer_id = {customer} "
        "WHERE o.active AND (o.starts_at IS NULL OR o.starts_at <= ?) "
        "AND (o.ends_at IS NULL OR o.ends_at > ?) "
        "AND (a.id IS NULL OR a.uses < o.per_customer_limit) "
        "AND (o.target = 'ALL' "
        "OR (o.target = 'TIER' AND o.tier_id IN "
        f"(SELECT tier_id FROM customer_tier WHERE customer_id = {customer})) "
        "OR (o.target = 'CUSTOMERS' AND o.id IN "
        f"(SELECT offer_id FROM offer_target WHERE customer_id = {customer})) "
        "OR (o.target = 'STORE'" + ("" if store is None else f" AND o.store_id = {store}") + ")) "
    )


def _usable_sql(*, any_store: bool, clipped_only: bool, one_offer: bool) -> str:
    """One statement whatever the number of offers: the targeting is joined
    in, never looked up offer by offer."""
    # Placeholders in order: customer, now, now, customer, customer[, store][, offer].
    return _numbered(
        "SELECT o.id, o.title, o.description, o.ends_at, a.id, o.benefit_kind, "
        "o.benefit_value, o.min_basket_minor FROM offer o "
        + ("JOIN" if clipped_only else "LEFT JOIN")
        + _usable_where("?", None if any_store else "?")
        + ("AND o.id = ? " if one_offer else "")
        + f"ORDER BY o.id LIMIT {MAX_SHOWN}"
    )


async def first_offers_in_stores(
    conn: BaseDBAsyncClient, visits: list[tuple[int, int]], now: datetime
) -> dict[tuple[int, int], str]:
    """For (customer id, store id) pairs, the title of the first offer each
    customer may use in that store now (offers_for's first), in one statement
    per 200 pairs: the notification worker names one in a visit's welcome."""
    pairs = sorted(set(visits))
    found: dict[tuple[int, int], str] = {}
    for start in range(0, len(pairs), 200):
        chunk = pairs[start : start + 200]
        rows = ", ".join(["(CAST(? AS BIGINT), CAST(? AS BIGINT))"] * len(chunk))
        # Not through _numbered's cache: a statement per batch size would
        # push out the till's.
        statement = _number(
            f"WITH visit (customer_id, store_id) AS (VALUES {rows}) "
            "SELECT v.customer_id, v.store_id, (SELECT o.title FROM offer o LEFT JOIN"
            + _usable_where("v.customer_id", "v.store_id")
            + "ORDER BY o.id LIMIT 1) FROM visit v"
        )
        args: list[Any] = [x for pair in chunk for x in pair]
        for customer_id, store_id, title in await fetch(conn, statement, *args, now, now):
            if title is not None:
                found[(int(customer_id), int(store_id))] = title
    return found


async def _usable(
    conn: BaseDBAsyncClient,
    customer_id: int,
    store_id: int | None,
    now: datetime,
    *,
    clipped_only: bool = False,
    offer_id: int | None = None,
) -> list[Any]:
    args: list[Any] = [customer_id, now, now, customer_id, customer_id]
    if store_id is not None:
        args.append(store_id)
    if offer_id is not None:
        args.append(offer_id)
    sql = _usable_sql(
        any_store=store_id is None, clipped_only=clipped_only, one_offer=offer_id is not None
    )
    return await fetch(conn, sql, *args)


def _view(row: Any) -> OfferView:
    return OfferView(
        id=row[0],
        title=row[1],
        description=row[2],
        activated=row[4] is not None,
        expires_at=None if row[3] is None else as_datetime(row[3]),
    )


async def offers_for(
    conn: BaseDBAsyncClient, customer_id: int, store_id: int | None, now: datetime
) -> list[OfferView]:
    """The offers this customer may use now. In the app (`store_id` None)
    offers of every store are shown; at a till, only that store's."""
    return [_view(r) for r in await _usable(conn, customer_id, store_id, now)]


def clipped_offer_exists(customer: str, now: str) -> str:
    """SQL: the customer holds a clipped offer that may still apply (active,
    not ended, not used up), given the SQL for the customer's id and for now.
    The purchase path's cheap gate; which ones apply in a store is for
    clipped_benefits to say."""
    return (
        "EXISTS (SELECT 1 FROM offer_activation oa JOIN offer o ON o.id = oa.offer_id "
        f"WHERE oa.customer_id = {customer} AND o.active AND oa.uses < o.per_customer_limit "
        f"AND (o.ends_at IS NULL OR o.ends_at > {now}))"
    )


async def clipped_benefits(
    conn: BaseDBAsyncClient, customer_id: int, store_id: int, now: datetime
) -> list[Benefit]:
    """The clipped offers a purchase in this store may apply, by offer id."""
    rows = await _usable(conn, customer_id, store_id, now, clipped_only=True)
    return [Benefit("offer", r[0], None, r[4], r[1], r[5], r[6], r[7]) for r in rows]


async def use_offer(conn: BaseDBAsyncClient, activation_id: int) -> bool:
    """Count one use; False when the limit is already reached. The condition
    is re-checked under the row lock, so concurrent purchases never exceed it."""
    count = await execute(
        conn,
        "UPDATE offer_activation SET uses = uses + 1 WHERE id = $1 AND uses < "
        "(SELECT o.per_customer_limit FROM offer o WHERE o.id = offer_activation.offer_id)",
        activation_id,
    )
    return count == 1


async def activate_offer(customer_id: int, offer_id: int, now: datetime) -> OfferView:
    """Clip the offer to the card. Activating it again changes nothing."""
    async with transaction() as conn:
        if await fetchrow(conn, "SELECT 1 FROM offer WHERE id = $1", offer_id) is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such offer.", "offerId")
        rows = await _usable(conn, customer_id, None, now, offer_id=offer_id)
        if not rows:
            raise DomainError(
                ErrorCode.OFFER_NOT_AVAILABLE, "This offer is not available to you.", "offerId"
            )
        if rows[0][4] is None:
            # A concurrent activation of the same offer inserts nothing here.
            await execute(
                conn,
                "INSERT INTO offer_activation (offer_id, customer_id, uses, activated_at) "
                "VALUES ($1, $2, 0, $3) ON CONFLICT (offer_id, customer_id) DO NOTHING",
                offer_id,
                customer_id,
                now,
            )
    view = _view(rows[0])
    return OfferView(view.id, view.title, view.description, True, view.expires_at)


# ---- administration --------------------------------------------------------


def _check_text(value: str, field: str, low: int, high: int) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not low <= len(value) <= high:
        raise invalid(f"{field} must be {low} to {high} characters.", field)
    return value


def _check_when(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise invalid(f"{field} needs a UTC offset.", field)
    return None if value is None else value.astimezone(UTC)


def check_dates(
    starts_at: datetime | None, ends_at: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Both in UTC (SQLite compares them as text), the end after the start."""
    starts, ends = _check_when(starts_at, "startsAt"), _check_when(ends_at, "endsAt")
    if starts is not None and ends is not None and ends <= starts:
        raise invalid("endsAt must be after startsAt.", "endsAt")
    return starts, ends


async def create_offer(
    *,
    title: str,
    description: str = "",
    target: str = OfferTarget.ALL,
    tier_id: int | None = None,
    store_id: int | None = None,
    customer_ids: list[int] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    per_customer_limit: int = 1,
    benefit_kind: str,
    benefit_value: int,
    min_basket_minor: int | None = None,
) -> OfferRecord:
    title = _check_text(title, "title", 1, 200)
    description = _check_text(description, "description", 0, 1000)
    try:
        aim = OfferTarget(target)
    except ValueError:
        raise invalid("Unknown target.", "target") from None
    starts_at, ends_at = check_dates(starts_at, ends_at)
    if not isinstance(per_customer_limit, int) or not 1 <= per_customer_limit <= MAX_LIMIT:
        raise invalid(f"perCustomerLimit must be 1 to {MAX_LIMIT}.", "perCustomerLimit")
    kind = check_benefit(benefit_kind, benefit_value)
    if min_basket_minor is not None and not 0 < min_basket_minor <= 10**12:
        raise invalid("minBasketMinor must be positive.", "minBasketMinor")
    ids = sorted(set(customer_ids or []))
    for name, wanted, value in (
        ("tierId", OfferTarget.TIER, tier_id),
        ("storeId", OfferTarget.STORE, store_id),
        ("customerIds", OfferTarget.CUSTOMERS, ids or None),
    ):
        if (aim is wanted) != (value is not None):
            raise invalid(f"{name} is required for {wanted} offers and only for them.", name)
    if len(ids) > MAX_TARGETED:
        raise invalid(f"At most {MAX_TARGETED} customers.", "customerIds")
    async with transaction() as conn:
        if tier_id is not None and not await fetch(
            conn, "SELECT 1 FROM tier WHERE id = $1", tier_id
        ):
            raise DomainError(ErrorCode.NOT_FOUND, "No such tier.", "tierId")
        if store_id is not None and not await fetch(
            conn, "SELECT 1 FROM store WHERE id = $1", store_id
        ):
            raise DomainError(ErrorCode.NOT_FOUND, "No such store.", "storeId")
        if ids:
            found = await _existing_customers(conn, ids)
            if found != len(ids):
                raise DomainError(ErrorCode.NOT_FOUND, "Unknown customer.", "customerIds")
        row = await fetchrow(
            conn,
            "INSERT INTO offer (title, description, target, tier_id, store_id, starts_at, "
            "ends_at, per_customer_limit, benefit_kind, benefit_value, min_basket_minor, "
            "active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
            "$13) RETURNING id",
            title, description, aim.value, tier_id, store_id, starts_at, ends_at,
            per_customer_limit, kind.value, benefit_value, min_basket_minor, True,
            datetime.now(UTC),
        )
        assert row is not None
        for customer_id in ids:
            await execute(
                conn,
                "INSERT INTO offer_target (offer_id, customer_id) VALUES ($1, $2)",
                row[0],
                customer_id,
            )
        return await _record(conn, row[0])


async def _existing_customers(conn: BaseDBAsyncClient, ids: list[int]) -> int:
    found = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = placeholders(len(chunk))
        row = await fetchrow(conn, f"SELECT COUNT(*) FROM customer WHERE id IN ({marks})", *chunk)
        found += row[0] if row else 0
    return found


async def deactivate_offer(offer_id: int) -> OfferRecord:
    """Stop showing and applying the offer; clipped ones stop applying too."""
    async with transaction() as conn:
        if not await execute(conn, "UPDATE offer SET active = $1 WHERE id = $2", False, offer_id):
            raise DomainError(ErrorCode.NOT_FOUND, "No such offer.", "offerId")
        return await _record(conn, offer_id)


async def get_offer(offer_id: int) -> OfferRecord:
    conn = connections.get("default")
    if not await fetch(conn, "SELECT 1 FROM offer WHERE id = $1", offer_id):
        raise DomainError(ErrorCode.NOT_FOUND, "No such offer.", "offerId")
    return await _record(conn, offer_id)


async def _record(conn: BaseDBAsyncClient, offer_id: int) -> OfferRecord:
    row = await fetchrow(
        conn,
        "SELECT id, title, description, target, tier_id, store_id, starts_at, ends_at, "
        "per_customer_limit, benefit_kind, benefit_value, min_basket_minor, active "
        "FROM offer WHERE id = $1",
        offer_id,
    )
    assert row is not None
    targets = await fetch(
        conn, "SELECT customer_id FROM offer_target WHERE offer_id = $1 ORDER BY customer_id",
        offer_id,
    )
    return OfferRecord(
        id=row[0],
        title=row[1],
        description=row[2],
        target=row[3],
        tier_id=row[4],
        store_id=row[5],
        customer_ids=tuple(t[0] for t in targets),
        starts_at=None if row[6] is None else as_datetime(row[6]),
        ends_at=None if row[7] is None else as_datetime(row[7]),
        per_customer_limit=row[8],
        benefit_kind=row[9],
        benefit_value=row[10],
        min_basket_minor=row[11],
        active=bool(row[12]),
    )
