"""Segment membership as state (docs/adr/0012): evaluated for the customers an
event or a posting touched within seconds (the worker's audience loop), in
full on a schedule, and at once after a definition changes. Every entry and
exit is a segment_entered / segment_exited event in the stream.

On PostgreSQL one statement per segment computes who should be in, inserts
the entries, deletes the exits and writes their events, set-based (nothing
crosses into Python, whatever the segment's size). Two evaluations of one
segment at once are safe: an entry is inserted ON CONFLICT DO NOTHING and a
delete finds the row gone, and only rows actually inserted or deleted become
events. SQLite (one writer, small programmes) diffs the two id sets in Python.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from audience import partitions
from audience.segment_grammar import Node, parse, references, uses_scores
from audience.segment_sql import Context, Params, compile_predicate
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, is_pg
from loyalty.programme.tiers import active_tiers
from observability.metrics import SEGMENT_RECOMPUTE

log = logging.getLogger(__name__)

TOUCH_BATCH = 5000


@dataclass(frozen=True)
class Stored:
    id: int
    name: str
    node: Node
    refreshed_at: datetime | None


@dataclass
class Changes:
    # Customers re-evaluated (touched), or segments refreshed (in full).
    customers: int = 0
    segments: int = 0
    entered: int = 0
    exited: int = 0

    def add(self, entered: int, exited: int) -> None:
        self.entered += entered
        self.exited += exited


async def stored_segments(conn: BaseDBAsyncClient) -> dict[int, Stored]:
    """Every segment's parsed definition. A definition that no longer parses
    (saved by an older grammar) is logged and left out."""
    found = {}
    for row in await fetch(conn, "SELECT id, name, definition, refreshed_at FROM segment "
                                 "ORDER BY id"):
        definition = orjson.loads(row[2]) if isinstance(row[2], str | bytes) else row[2]
        try:
            node = parse(definition)
        except Exception:  # noqa: BLE001 - one bad row must not stop the others
            log.exception("segment %s has a definition that does not parse", row[0])
            continue
        found[int(row[0])] = Stored(int(row[0]), row[1], node,
                                    None if row[3] is None else as_datetime(row[3]))
    return found


async def context(conn: BaseDBAsyncClient, segments: dict[int, Stored],
                  now: datetime) -> Context:
    return Context(now=now, pg=is_pg(conn),
                   definitions={s.id: s.node for s in segments.values()},
                   tiers=await active_tiers(conn))


_PG = """WITH want AS (
  SELECT c.id FROM customer c WHERE {only}({predicate})),
have AS (
  SELECT customer_id FROM segment_member WHERE segment_id = {segment}{only_members}),
entered AS (
  INSERT INTO segment_member (segment_id, customer_id, since)
  SELECT {segment}, w.id, {now} FROM want w
  WHERE NOT EXISTS (SELECT 1 FROM have h WHERE h.customer_id = w.id)
  ON CONFLICT (segment_id, customer_id) DO NOTHING RETURNING customer_id),
exited AS (
  DELETE FROM segment_member m WHERE m.segment_id = {segment}
  AND m.customer_id IN (SELECT customer_id FROM have EXCEPT SELECT id FROM want)
  RETURNING m.customer_id),
changed AS (
  SELECT customer_id, 'segment_entered' AS name, 'in' AS way FROM entered
  UNION ALL SELECT customer_id, 'segment_exited', 'out' FROM exited),
written AS (
  INSERT INTO customer_event (message_id, customer_id, name, channel, occurred_at,
                              received_at, properties)
  SELECT 'srv:segment:' || {segment}::text || ':' || x.customer_id::text || ':' || x.way
         || ':' || {stamp}, x.customer_id, x.name, 'SYSTEM', {now}, {now}, {properties}::jsonb
  FROM changed x)
SELECT (SELECT count(*) FROM entered), (SELECT count(*) FROM exited)"""


async def evaluate(conn: BaseDBAsyncClient, segment: Stored, ctx: Context,
                   ids: list[int] | None) -> tuple[int, int]:
    """Bring `segment`'s members up to date, for `ids` only or (None) for
    everyone; returns (entered, exited)."""
    now = ctx.now
    params = Params()
    predicate = compile_predicate(segment.node, ctx, params)
    properties = orjson.dumps({"segmentId": str(segment.id), "segmentName": segment.name})
    if ctx.pg:
        await partitions.ensure_for(conn, [now])
        only = only_members = ""
        if ids is not None:
            marks = params.add(ids)
            only = f"c.id = ANY({marks}::bigint[]) AND "
            only_members = f" AND customer_id = ANY({marks}::bigint[])"
        statement = _PG.format(
            predicate=predicate, only=only, only_members=only_members,
            segment=params.add(segment.id) + "::bigint", now=params.add(now) + "::timestamptz",
            stamp=params.add(str(int(now.timestamp() * 1_000_000))) + "::text",
            properties=params.add(properties.decode()),
        )
        # A `$n` named more than once is fine on PostgreSQL (and only SQLite
        # has its placeholders rewritten).
        row = (await fetch(conn, statement, *params.values))[0]
        return int(row[0]), int(row[1])
    return await _evaluate_sqlite(conn, segment, predicate, params, ids, now, properties)


async def _evaluate_sqlite(conn: BaseDBAsyncClient, segment: Stored, predicate: str,
                           params: Params, ids: list[int] | None, now: datetime,
                           properties: bytes) -> tuple[int, int]:
    only = ""
    if ids is not None:
        only = f" AND c.id IN (SELECT value FROM json_each({params.add(_json(ids))}))"
    want = {int(r[0]) for r in await fetch(
        conn, f"SELECT c.id FROM customer c WHERE ({predicate}){only}", *params.values)}
    have_sql = "SELECT customer_id FROM segment_member WHERE segment_id = $1"
    have_args: list[Any] = [segment.id]
    if ids is not None:
        have_sql += " AND customer_id IN (SELECT value FROM json_each($2))"
        have_args.append(_json(ids))
    have = {int(r[0]) for r in await fetch(conn, have_sql, *have_args)}
    entered, exited = sorted(want - have), sorted(have - want)
    stamp = int(now.timestamp() * 1_000_000)
    if entered:
        await execute(conn, "INSERT INTO segment_member (segment_id, customer_id, since) "
                            "SELECT $1, value, $2 FROM json_each($3)",
                      segment.id, now, _json(entered))
    if exited:
        await execute(conn, "DELETE FROM segment_member WHERE segment_id = $1 "
                            "AND customer_id IN (SELECT value FROM json_each($2))",
                      segment.id, _json(exited))
    changes = [(c, "segment_entered", "in") for c in entered] + \
              [(c, "segment_exited", "out") for c in exited]
    if changes:
        await execute(
            conn,
            "INSERT INTO customer_event (message_id, customer_id, name, channel, occurred_at, "
            "received_at, properties) SELECT 'srv:segment:' || $1 || ':' || "
            "json_extract(value, '$[0]') || ':' || json_extract(value, '$[2]') || ':' || $2, "
            "json_extract(value, '$[0]'), json_extract(value, '$[1]'), 'SYSTEM', $3, $4, $5 "
            "FROM json_each($6)",
            str(segment.id), str(stamp), now, now, properties.decode(),
            _json(changes),
        )
    return len(entered), len(exited)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _claim_touched(conn: BaseDBAsyncClient, limit: int) -> list[int]:
    if is_pg(conn):
        rows = await fetch(
            conn,
            "DELETE FROM segment_touch WHERE id IN (SELECT id FROM segment_touch ORDER BY id "
            "LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING customer_id", limit)
    else:
        rows = await fetch(
            conn,
            "DELETE FROM segment_touch WHERE id IN (SELECT id FROM segment_touch ORDER BY id "
            "LIMIT $1) RETURNING customer_id", limit)
    return sorted({int(r[0]) for r in rows})


async def evaluate_touched(now: datetime | None = None, limit: int = TOUCH_BATCH) -> Changes:
    """The customers marked since the last pass, re-evaluated in every
    segment. Claimed and evaluated in one transaction: a failure leaves the
    marks for the next pass."""
    now = now or datetime.now(UTC)
    result = Changes()
    with SEGMENT_RECOMPUTE.labels("incremental").time():
        return await _evaluate_touched(now, limit, result)


async def _evaluate_touched(now: datetime, limit: int, result: Changes) -> Changes:
    async with transaction() as conn:
        ids = await _claim_touched(conn, limit)
        if not ids:
            return result
        result.customers = len(ids)
        segments = await stored_segments(conn)
        if not segments:
            return result
        ctx = await context(conn, segments, now)
        for segment in segments.values():
            result.add(*await evaluate(conn, segment, ctx, ids))
        result.segments = len(segments)
    return result


async def refresh(now: datetime | None = None, *, only_pending: bool = False,
                  only_scored: bool = False) -> Changes:
    """Every segment evaluated in full (the schedule), or only those never
    evaluated since their definition changed (`only_pending`: the worker's
    loop), or only those that read the scores (`only_scored`: after a
    recomputation). One transaction per segment."""
    now = now or datetime.now(UTC)
    result = Changes()
    async with transaction() as conn:
        segments = await stored_segments(conn)
    chosen = [s for s in segments.values()
              if (not only_pending or s.refreshed_at is None)
              and (not only_scored or _reads_scores(s, segments))]
    with SEGMENT_RECOMPUTE.labels("full").time():
        await _refresh_each(chosen, segments, now, result)
    return result


async def _refresh_each(chosen: list[Stored], segments: dict[int, Stored], now: datetime,
                        result: Changes) -> None:
    for segment in chosen:
        async with transaction() as conn:
            ctx = await context(conn, segments, now)
            result.add(*await evaluate(conn, segment, ctx, None))
            await execute(conn, "UPDATE segment SET refreshed_at = $1 WHERE id = $2",
                          now, segment.id)
        result.segments += 1


def _reads_scores(segment: Stored, segments: dict[int, Stored],
                  seen: frozenset[int] = frozenset()) -> bool:
    if uses_scores(segment.node):
        return True
    return any(r.segment_id in segments and r.segment_id not in seen
               and _reads_scores(segments[r.segment_id], segments, seen | {segment.id})
               for r in references(segment.node))
