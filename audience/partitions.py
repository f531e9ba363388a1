"""The monthly partitions of customer_event on PostgreSQL (docs/adr/0012).

Made ahead of time by the worker's jobs (this month and the next two), and on
demand by whoever writes an event into a month that has none yet: every
process remembers the months it has seen made, so the common write checks
nothing. SQLite has one plain table and needs none of this.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import is_pg

TABLE = "customer_event"
MONTHS_AHEAD = 2
_known: set[tuple[int, int]] = set()


def month_of(moment: datetime) -> tuple[int, int]:
    utc = moment.astimezone(UTC)
    return utc.year, utc.month


def _next(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def partition_name(year: int, month: int) -> str:
    return f"{TABLE}_y{year:04d}m{month:02d}"


def partition_ddl(year: int, month: int) -> str:
    # Two processes making the same month take turns on an advisory lock held
    # to the end of the statement's transaction; the second finds it made.
    end_year, end_month = _next(year, month)
    name = partition_name(year, month)
    return (
        "DO $$ BEGIN "
        f"PERFORM pg_advisory_xact_lock(hashtext('{TABLE} partitions')); "
        f"IF to_regclass('{name}') IS NULL THEN "
        f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES "
        f"FROM ('{year:04d}-{month:02d}-01 00:00:00+00') "
        f"TO ('{end_year:04d}-{end_month:02d}-01 00:00:00+00'); "
        "END IF; END $$;"
    )


async def ensure(conn: BaseDBAsyncClient, months: Iterable[tuple[int, int]]) -> int:
    """Make the partitions of `months` that do not exist; returns how many
    months were checked (made or found)."""
    done = 0
    for year, month in sorted(set(months)):
        await conn.execute_script(partition_ddl(year, month))
        _known.add((year, month))
        done += 1
    return done


async def ensure_for(conn: BaseDBAsyncClient, moments: Iterable[datetime]) -> None:
    missing = {month_of(m) for m in moments} - _known
    if missing:
        await ensure(conn, missing)


async def ensure_ahead(now: datetime) -> int:
    """The job: this month's partition and the next MONTHS_AHEAD months';
    returns how many months it checked."""
    conn = connections.get("default")
    if not is_pg(conn):
        return 0
    months = [month_of(now)]
    for _ in range(MONTHS_AHEAD):
        months.append(_next(*months[-1]))
    return await ensure(conn, months)


def is_missing_partition(exc: BaseException) -> bool:
    return "no partition of relation" in str(exc)


def forget() -> None:
    _known.clear()
