"""Shaping the tier ladder (admin): create a tier, change or deactivate one.

Tiers are never deleted (offers and customers point at them); a deactivated
tier leaves the ladder and its members count as the tier below until their
next review. Two active tiers may not share a threshold: which one a total
reaches would be ambiguous.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, fetchrow
from loyalty.programme import tiers
from loyalty.programme.tiers import TierInfo

log = logging.getLogger(__name__)

MAX_NAME = 60
MAX_THRESHOLD = 10**12
MAX_MULTIPLIER = Decimal(100)


@dataclass(frozen=True)
class TierRecord:
    info: TierInfo
    active: bool


def check_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= MAX_NAME:
        raise invalid(f"name must be 1 to {MAX_NAME} characters.", "name")
    return name


def check_threshold(threshold: int) -> int:
    if not 0 <= threshold <= MAX_THRESHOLD:
        raise invalid(f"threshold must be 0 to {MAX_THRESHOLD}.", "threshold")
    return threshold


def check_multiplier(text: str) -> Decimal:
    """A decimal string from 1 to 100 with at most 4 decimals ("1.5")."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise invalid("multiplier must be a decimal number such as 1.5.", "multiplier") from None
    if not value.is_finite() or not 1 <= value <= MAX_MULTIPLIER:
        raise invalid(f"multiplier must be from 1 to {MAX_MULTIPLIER}.", "multiplier")
    if value.as_tuple().exponent < -4:  # type: ignore[operator]
        raise invalid("multiplier may have at most 4 decimals.", "multiplier")
    return value


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


async def _check_unique(
    conn: BaseDBAsyncClient, tier_id: int, name: str, threshold: int, active: bool
) -> None:
    # Checked rather than left to the unique index: a violation would abort
    # the transaction on PostgreSQL, and the client needs the field at fault.
    if await fetchrow(
        conn, "SELECT 1 FROM tier WHERE LOWER(name) = $1 AND id <> $2", name.lower(), tier_id
    ):
        raise invalid(f"A tier named {name!r} already exists.", "name")
    if active and await fetchrow(
        conn,
        "SELECT 1 FROM tier WHERE threshold = $1 AND active = $2 AND id <> $3",
        threshold,
        True,
        tier_id,
    ):
        raise invalid("Another active tier has this threshold.", "threshold")


def _record(row: tuple) -> TierRecord:
    return TierRecord(
        TierInfo(int(row[0]), row[1], int(row[2]), Decimal(row[3])), bool(row[4])
    )


_COLUMNS = "id, name, threshold, multiplier, active"


async def list_tiers(include_inactive: bool = False) -> list[TierRecord]:
    async with transaction() as conn:
        rows = await fetch(conn, f"SELECT {_COLUMNS} FROM tier ORDER BY threshold, id")
    return [r for r in map(_record, rows) if include_inactive or r.active]


async def create_tier(staff_id: int | None, *, name: str, threshold: int,
                      multiplier: str) -> TierRecord:
    name, threshold = check_name(name), check_threshold(threshold)
    factor = check_multiplier(multiplier)
    async with transaction() as conn:
        await _check_unique(conn, 0, name, threshold, True)
        row = await fetchrow(
            conn,
            f"INSERT INTO tier (name, threshold, multiplier, active, created_at, updated_at) "
            f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            name,
            threshold,
            _text(factor),
            True,
            datetime.now(UTC),
            datetime.now(UTC),
        )
    assert row is not None
    tiers.invalidate()
    record = _record(row)
    log.info("tier %s created by staff %s: %r", row[0], staff_id, record)
    return record


async def update_tier(
    staff_id: int | None,
    tier_id: int,
    *,
    name: str | None = None,
    threshold: int | None = None,
    multiplier: str | None = None,
    active: bool | None = None,
) -> TierRecord:
    """Change the given fields (None: unchanged)."""
    async with transaction() as conn:
        row = await fetchrow(conn, f"SELECT {_COLUMNS} FROM tier WHERE id = $1 FOR UPDATE",
                             tier_id)
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such tier.", "id")
        before = _record(row)
        new_name = before.info.name if name is None else check_name(name)
        new_threshold = before.info.threshold if threshold is None else check_threshold(threshold)
        factor = before.info.multiplier if multiplier is None else check_multiplier(multiplier)
        now_active = before.active if active is None else bool(active)
        await _check_unique(conn, tier_id, new_name, new_threshold, now_active)
        await execute(
            conn,
            "UPDATE tier SET name = $1, threshold = $2, multiplier = $3, active = $4, "
            "updated_at = $5 WHERE id = $6",
            new_name,
            new_threshold,
            _text(factor),
            now_active,
            datetime.now(UTC),
            tier_id,
        )
    tiers.invalidate()
    after = TierRecord(TierInfo(tier_id, new_name, new_threshold, factor), now_active)
    log.info("tier %s changed by staff %s: %s -> %s", tier_id, staff_id, before, after)
    return after
