"""Schedule triggers: a journey with {"schedule": "RRULE:..."} enters its
audience at each occurrence of the rule on each customer's clock.

Customers are grouped by time zone: for each live schedule journey and each
zone that customers live in, the last occurrence at or before now (since the
version was published) enters the zone's customers who meet the audience
and the re-entry rule, as runs due at once (the due-runs workers step them,
in parallel). Occurrences missed while no worker ran are not made up: the
latest one stands for them. Which occurrence a (journey, zone) last entered
is a cursor row ("sched:<journey>:<crc of the zone>" in audience_cursor,
its position the occurrence's Unix time), locked while entering, so that
two workers never enter the same occurrence; the run rows' unique
(journey, customer, entry) key backs it up.
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from audience import cursor as cursors
from audience.membership import context, stored_segments
from audience.segment_grammar import parse
from audience.segment_sql import Params, compile_predicate
from journeys.definition import Definition, ScheduleTrigger
from journeys.effects import as_json, stamp
from journeys.engine import enter
from journeys.entry import PastRun, may_enter
from journeys.models import JourneyStatus
from journeys.rows import row_values
from journeys.runner import definition_of, journeys
from journeys.steps import thaw
from journeys.timing import occurrences
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch
from loyalty.platform.timezones import zone_or_utc

# Rows per INSERT: far below both databases' limits on parameters.
_CHUNK = 400
_RUN_COLUMNS = ("journey_id", "customer_id", "version", "entry", "step", "status", "seq", "arm",
                "trigger", "wake_at", "entered_at")


def cursor_name(journey_id: int, zone: str) -> str:
    return f"sched:{journey_id}:{zlib.crc32(zone.encode()):08x}"


async def enter_scheduled(now: datetime) -> int:
    """Runs entered for the occurrences due by `now`; how many."""
    entered = 0
    async with transaction() as conn:
        infos = await journeys(conn)
        chosen: list[tuple[int, int, datetime, Definition]] = []
        for info in infos.values():
            if info.status != JourneyStatus.LIVE or info.live_version is None \
                    or info.published_at is None:
                continue
            definition = await definition_of(conn, info.id, info.live_version)
            if definition is not None and isinstance(definition.trigger, ScheduleTrigger):
                chosen.append((info.id, info.live_version, info.published_at, definition))
        if not chosen:
            return 0
        zones = [r[0] for r in await fetch(conn, "SELECT DISTINCT timezone FROM customer "
                                                 "WHERE erased_at IS NULL")]
    for journey_id, version, published_at, definition in chosen:
        for zone in zones:
            entered += await _enter_zone(journey_id, version, published_at, definition, zone,
                                         now)
    return entered


async def _enter_zone(journey_id: int, version: int, published_at: datetime,
                      definition: Definition, zone_name: str, now: datetime) -> int:
    trigger = definition.trigger
    assert isinstance(trigger, ScheduleTrigger)
    zone = zone_or_utc(zone_name)
    async with transaction() as conn:
        cursor = await cursors.lock(conn, cursor_name(journey_id, zone_name), now)
        if cursor is None:
            return 0
        since = max(published_at, datetime.fromtimestamp(cursor.position, UTC)
                    + timedelta(microseconds=1))
        due = occurrences(trigger.rule, since, now + timedelta(microseconds=1), zone)
        if not due:
            return 0
        occurrence = due[-1]
        ids = await _audience(conn, definition, zone_name, occurrence)
        entered = await _enter_all(conn, journey_id, version, definition, ids, zone_name,
                                   occurrence)
        cursor.position = int(occurrence.timestamp())
        await cursors.save(conn, cursor, now)
    return entered


async def _audience(conn: BaseDBAsyncClient, definition: Definition, zone: str,
                    now: datetime) -> list[int]:
    params = Params()
    predicate = "1 = 1"
    if definition.audience is not None:
        ctx = await context(conn, await stored_segments(conn), now)
        try:
            predicate = compile_predicate(parse(thaw(definition.audience), "audience"), ctx,
                                          params)
        except Exception:  # noqa: BLE001 - a segment it names is gone: nobody enters
            return []
    mark = params.add(zone)
    rows = await fetch(conn, f"SELECT c.id FROM customer c WHERE ({predicate}) "
                             f"AND c.timezone = {mark} AND c.erased_at IS NULL ORDER BY c.id",
                       *params.values)
    return [int(r[0]) for r in rows]


async def _enter_all(conn: BaseDBAsyncClient, journey_id: int, version: int,
                     definition: Definition, ids: list[int], zone_name: str,
                     occurrence: datetime) -> int:
    if not ids:
        return 0
    zone = zone_or_utc(zone_name)
    past: dict[int, list[PastRun]] = {}
    entries: dict[int, int] = {}
    for r in await fetch(conn, "SELECT customer_id, entry, entered_at, ended_at FROM journey_run "
                               "WHERE journey_id = $1", journey_id):
        customer_id = int(r[0])
        past.setdefault(customer_id, []).append(
            PastRun(as_datetime(r[2]), None if r[3] is None else as_datetime(r[3])))
        entries[customer_id] = max(entries.get(customer_id, 0), int(r[1]))
    rows: list[list[Any]] = []
    for customer_id in ids:
        if not may_enter(definition, past.get(customer_id, []), occurrence, zone):
            continue
        state = enter(run_id=0, journey_id=journey_id, version=version,
                      customer_id=customer_id, entry=entries.get(customer_id, 0) + 1,
                      definition=definition,
                      trigger={"occurrence": occurrence.isoformat()}, now=occurrence)
        # Due at once: the due-runs workers take it from its first step.
        v = row_values(replace(state, wake_at=occurrence))
        rows.append([journey_id, customer_id, version, v["entry"], v["step"],
                     state.status.value, v["seq"], v["arm"], as_json(v["trigger"]),
                     stamp(conn, occurrence), stamp(conn, occurrence)])
    for first in range(0, len(rows), _CHUNK):
        chunk = rows[first:first + _CHUNK]
        n = len(_RUN_COLUMNS)
        values = ", ".join("(" + ", ".join(f"${i * n + k}" for k in range(1, n + 1)) + ")"
                           for i in range(len(chunk)))
        await execute(conn, f"INSERT INTO journey_run ({', '.join(_RUN_COLUMNS)}) VALUES "
                            f"{values} ON CONFLICT (journey_id, customer_id, entry) DO NOTHING",
                      *[x for row in chunk for x in row])
    return len(rows)
