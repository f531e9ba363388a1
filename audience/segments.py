"""Dynamic segments: saved after validation (INVALID_DEFINITION with the path
at fault, cycles refused), listed with their member counts and members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from audience.membership import Stored, context, stored_segments
from audience.scope import CustomerScope
from audience.segment_grammar import Node, Tier, bad, parse, references
from audience.segment_sql import Params, compile_predicate
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, fetch, fetchrow, placeholders

UNCHANGED: Any = object()
MAX_NAME = 200
MAX_DESCRIPTION = 1000


@dataclass(frozen=True)
class SegmentView:
    id: int
    name: str
    description: str | None
    definition: Any
    version: int
    updated_at: datetime
    refreshed_at: datetime | None


_COLUMNS = "id, name, description, definition, version, updated_at, refreshed_at"


def _view(row: Any) -> SegmentView:
    definition = orjson.loads(row[3]) if isinstance(row[3], str | bytes) else row[3]
    return SegmentView(int(row[0]), row[1], row[2], definition, int(row[4]),
                       as_datetime(row[5]), None if row[6] is None else as_datetime(row[6]))


def _name(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(text) <= MAX_NAME:
        raise invalid(f"name must be 1 to {MAX_NAME} characters.", "name")
    return text


def _description(value: Any) -> str | None:
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > MAX_DESCRIPTION:
        raise invalid(f"description must be at most {MAX_DESCRIPTION} characters.",
                      "description")
    return text or None


async def _check(conn: BaseDBAsyncClient, definition: Any, segment_id: int | None) -> Node:
    """`definition` parsed, its tier names and segment references known, no
    cycle through it, and compilable; or INVALID_DEFINITION at the fault."""
    node = parse(definition)
    stored = await stored_segments(conn)
    for ref in references(node):
        if ref.segment_id not in stored and ref.segment_id != segment_id:
            raise bad(ref.path, f"No segment {ref.segment_id}.")
    if segment_id is not None:
        _refuse_cycle(node, segment_id, stored)
    ctx = await context(conn, stored, datetime.now(UTC))
    known = {t.name.casefold() for t in ctx.tiers}
    for tier in _tiers(node):
        for i, name in enumerate(tier.names):
            if name.strip().casefold() not in known:
                raise bad(f"{tier.path}.tier.{i}", f"No active tier named {name!r}.")
    definitions = dict(ctx.definitions)
    if segment_id is not None:
        definitions[segment_id] = node
    compile_predicate(node, type(ctx)(ctx.now, ctx.pg, definitions, ctx.tiers), Params())
    return node


def _tiers(node: Node) -> list[Tier]:
    items = getattr(node, "items", None)
    if items is not None:
        return [t for i in items for t in _tiers(i)]
    inner = getattr(node, "item", None)
    if inner is not None:
        return _tiers(inner)
    return [node] if isinstance(node, Tier) else []


def _refuse_cycle(node: Node, segment_id: int, stored: dict[int, Stored]) -> None:
    """A reference of `node` through which the segments lead back to `segment_id`."""
    graph = {s.id: [r.segment_id for r in references(s.node)] for s in stored.values()}
    graph[segment_id] = [r.segment_id for r in references(node)]
    for ref in references(node):
        stack, seen = [ref.segment_id], set()
        while stack:
            current = stack.pop()
            if current == segment_id:
                raise bad(ref.path, "Segments may not name each other in a cycle.")
            if current in seen:
                continue
            seen.add(current)
            stack.extend(graph.get(current, []))


async def create_segment(*, name: str, description: str | None, definition: Any,
                         staff_id: int | None, now: datetime | None = None) -> SegmentView:
    name, description = _name(name), _description(description)
    now = now or datetime.now(UTC)
    try:
        async with transaction() as conn:
            await _check(conn, definition, None)
            row = await fetchrow(
                conn,
                "INSERT INTO segment (name, description, definition, version, created_by, "
                "created_at, updated_at, refreshed_at) VALUES ($1, $2, $3, 1, $4, $5, $6, NULL) "
                f"RETURNING {_COLUMNS}",
                name, description, _json_arg(definition), staff_id, now, now,
            )
    except IntegrityError:
        raise _name_taken(name) from None
    assert row is not None
    return _view(row)


async def update_segment(segment_id: int, *, name: Any = UNCHANGED,
                         description: Any = UNCHANGED, definition: Any = UNCHANGED,
                         now: datetime | None = None) -> SegmentView:
    """Change what is given. A new definition bumps the version and has the
    members evaluated again at once by the worker (entries and exits)."""
    now = now or datetime.now(UTC)
    try:
        async with transaction() as conn:
            current = await fetchrow(
                conn, f"SELECT {_COLUMNS} FROM segment WHERE id = $1 FOR UPDATE", segment_id)
            if current is None:
                raise DomainError(ErrorCode.NOT_FOUND, "No such segment.", "segmentId")
            before = _view(current)
            new_name = before.name if name is UNCHANGED or name is None else _name(name)
            new_description = (before.description if description is UNCHANGED
                               else _description(description))
            changed = definition is not UNCHANGED and definition is not None \
                and definition != before.definition
            if changed:
                await _check(conn, definition, segment_id)
            row = await fetchrow(
                conn,
                "UPDATE segment SET name = $1, description = $2, definition = $3, "
                "version = version + $4, updated_at = $5, "
                "refreshed_at = CASE WHEN $6 THEN NULL ELSE refreshed_at END "
                f"WHERE id = $7 RETURNING {_COLUMNS}",
                new_name, new_description,
                _json_arg(definition if changed else before.definition),
                1 if changed else 0, now, changed, segment_id,
            )
    except IntegrityError:
        raise _name_taken(str(name)) from None
    assert row is not None
    return _view(row)


def _name_taken(name: str) -> DomainError:
    return invalid(f"A segment named {name!r} exists already.", "name")


def _json_arg(value: Any) -> str:
    return orjson.dumps(value).decode()


async def list_segments() -> list[SegmentView]:
    rows = await fetch(connections.get("default"), f"SELECT {_COLUMNS} FROM segment ORDER BY id")
    return [_view(r) for r in rows]


async def get_segments(ids: list[int]) -> dict[int, SegmentView]:
    if not ids:
        return {}
    rows = await fetch(connections.get("default"),
                       f"SELECT {_COLUMNS} FROM segment WHERE id IN ({placeholders(len(ids))})",
                       *ids)
    return {int(r[0]): _view(r) for r in rows}


async def member_counts(segment_ids: list[int], *, scope: CustomerScope) -> dict[int, int]:
    """How many members each segment has among the customers `scope` allows."""
    if not segment_ids:
        return {}
    args: list[Any] = list(segment_ids)
    marks = placeholders(len(segment_ids))
    within = ("" if scope.stores is None else
              f" AND EXISTS (SELECT 1 FROM customer c WHERE c.id = m.customer_id "
              f"AND {scope.condition(args)})")
    rows = await fetch(
        connections.get("default"),
        "SELECT m.segment_id, COUNT(*) FROM segment_member m "
        f"WHERE m.segment_id IN ({marks}){within} GROUP BY m.segment_id", *args)
    counts = {int(r[0]): int(r[1]) for r in rows}
    return {i: counts.get(i, 0) for i in segment_ids}


async def segments_of(customer_ids: list[int]) -> dict[int, list[SegmentView]]:
    """Each customer's segments (one statement for any number of customers)."""
    if not customer_ids:
        return {}
    rows = await fetch(
        connections.get("default"),
        f"SELECT m.customer_id, {', '.join('s.' + c for c in _COLUMNS.split(', '))} "
        "FROM segment_member m JOIN segment s ON s.id = m.segment_id "
        f"WHERE m.customer_id IN ({placeholders(len(customer_ids))}) ORDER BY s.id",
        *customer_ids,
    )
    found: dict[int, list[SegmentView]] = {i: [] for i in customer_ids}
    for r in rows:
        found[int(r[0])].append(_view(r[1:]))
    return found

