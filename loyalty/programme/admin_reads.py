"""What an administrator has made, a page at a time, for a back office: offers,
rewards (inactive ones too), stores, staff and survey responses.

Each page is keyset-paginated by id and costs a fixed number of statements
whatever its size: one, or two where a list belongs to each row (an offer's
customers, a staff member's stores), read for the whole page at once.
Catalogues list oldest first (a new item lands at the end, pages do not
shift); survey responses newest first, as a feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise import connections

from loyalty.platform.sql import as_datetime, fetch, placeholders
from loyalty.programme.offers import OfferRecord
from loyalty.programme.rewards import _COLUMNS as REWARD_COLUMNS
from loyalty.programme.rewards import RewardView
from loyalty.programme.rewards import _view as reward_view


@dataclass(frozen=True)
class StoreRow:
    id: int
    name: str
    latitude: float
    longitude: float
    timezone: str


@dataclass(frozen=True)
class StaffRow:
    id: int
    email: str
    role: str
    store_ids: tuple[int, ...]


@dataclass(frozen=True)
class SurveyResponseRow:
    id: int
    customer_id: int
    purchase_id: int
    rating: int
    comment: str | None
    # The bonus's ledger transaction; None when no survey bonus ran.
    transaction_id: int | None
    created_at: datetime


async def offers_page(after_id: int | None, limit: int) -> list[OfferRecord]:
    conn = connections.get("default")
    rows = await fetch(
        conn,
        "SELECT id, title, description, target, tier_id, store_id, starts_at, ends_at, "
        "per_customer_limit, benefit_kind, benefit_value, min_basket_minor, active "
        "FROM offer WHERE id > $1 ORDER BY id LIMIT $2", after_id or 0, limit)
    targets: dict[int, list[int]] = {row[0]: [] for row in rows}
    if rows:
        for offer_id, customer_id in await fetch(
                conn, f"SELECT offer_id, customer_id FROM offer_target WHERE offer_id IN "
                f"({placeholders(len(rows))}) ORDER BY offer_id, customer_id",
                *targets):
            targets[offer_id].append(customer_id)
    return [OfferRecord(
        id=row[0], title=row[1], description=row[2], target=row[3], tier_id=row[4],
        store_id=row[5], customer_ids=tuple(targets[row[0]]),
        starts_at=None if row[6] is None else as_datetime(row[6]),
        ends_at=None if row[7] is None else as_datetime(row[7]),
        per_customer_limit=row[8], benefit_kind=row[9], benefit_value=row[10],
        min_basket_minor=row[11], active=bool(row[12]),
    ) for row in rows]


async def rewards_page(after_id: int | None, limit: int) -> list[RewardView]:
    rows = await fetch(
        connections.get("default"),
        f"SELECT {REWARD_COLUMNS} FROM reward WHERE id > $1 ORDER BY id LIMIT $2",
        after_id or 0, limit)
    return [reward_view(row) for row in rows]


async def stores_page(after_id: int | None, limit: int) -> list[StoreRow]:
    rows = await fetch(
        connections.get("default"),
        "SELECT id, name, latitude, longitude, timezone FROM store WHERE id > $1 "
        "ORDER BY id LIMIT $2", after_id or 0, limit)
    return [StoreRow(*row) for row in rows]


async def staff_page(after_id: int | None, limit: int) -> list[StaffRow]:
    conn = connections.get("default")
    rows = await fetch(
        conn, "SELECT id, email, role FROM staff WHERE id > $1 ORDER BY id LIMIT $2",
        after_id or 0, limit)
    stores: dict[int, list[int]] = {row[0]: [] for row in rows}
    if rows:
        for staff_id, store_id in await fetch(
                conn, f"SELECT staff_id, store_id FROM staff_store WHERE staff_id IN "
                f"({placeholders(len(rows))}) ORDER BY staff_id, store_id", *stores):
            stores[staff_id].append(store_id)
    return [StaffRow(row[0], row[1], row[2], tuple(stores[row[0]])) for row in rows]


async def survey_responses_page(before_id: int | None, limit: int) -> list[SurveyResponseRow]:
    """Newest first: `before_id` is the last id of the previous page."""
    rows = await fetch(
        connections.get("default"),
        "SELECT id, customer_id, purchase_id, rating, comment, transaction_id, created_at "
        "FROM survey_response WHERE id < $1 ORDER BY id DESC LIMIT $2",
        before_id if before_id is not None else 2**63 - 1, limit)
    return [SurveyResponseRow(row[0], row[1], row[2], row[3], row[4], row[5],
                              as_datetime(row[6])) for row in rows]
