"""Journeys as a marketer handles them: create, edit, publish, pause, archive
(what they did is journeys/stats.py).

A journey's definition lives in numbered versions. The newest version is a
draft until it is published; publishing freezes it (published_at) and makes
it the one new runs start on (live_version). Editing a journey whose newest
version is frozen writes a new draft version: customers already on a journey
finish on the version they started (the runtime reads each run's version).
Pausing stops entries and sends; publishing again resumes. Archiving ends it
for good: its runs leave, and it can no longer be edited
(JOURNEY_NOT_EDITABLE).

Each change takes the journey's row lock first, so two editors saving at once
write two versions one after the other, never the same version twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from audience.segment_grammar import SegmentRef, parse, references
from journeys import steps as s
from journeys.conditions import for_check
from journeys.definition import Definition, SegmentTrigger, parse_definition
from journeys.issues import DefinitionInvalid, Issue
from journeys.models import JourneyStatus
from journeys.templates import template
from loyalty.errors import DomainError, DomainErrors, ErrorCode, invalid
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow, is_pg, placeholders
from notifications import outgoing

UNCHANGED: Any = object()
MAX_NAME = 200
# A definition is written by a person in an editor; past this it is a mistake
# or an attack, and every run's advance would parse it.
MAX_DEFINITION_BYTES = 256 * 1024


@dataclass(frozen=True)
class JourneyView:
    id: int
    name: str
    status: JourneyStatus
    version: int  # the newest version (a draft, or the live one)
    live_version: int | None
    definition: Any  # the newest version's
    template_key: str | None
    updated_at: datetime


# ---- validation ------------------------------------------------------------


def _segment_issues(condition: Any, path: str) -> list[Issue]:
    """The audience's own validator, for conditions written in its grammar."""
    try:
        parse(for_check(condition), path)
    except DomainError as e:
        return [Issue(e.field or path, e.message)]
    return []


def _name(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(text) <= MAX_NAME:
        raise invalid(f"name must be 1 to {MAX_NAME} characters.", "name")
    return text


def _path(issue_path: str) -> str:
    return f"definition.{issue_path}" if issue_path else "definition"


def check_definition(raw: Any) -> Definition:
    """The definition parsed, or DomainErrors with every fault
    (INVALID_DEFINITION, `field` the path from the input: definition.steps.s3.timeout)."""
    try:
        size = len(orjson.dumps(raw))
    except (TypeError, orjson.JSONEncodeError):
        raise invalid("definition must be JSON.", "definition") from None
    if size > MAX_DEFINITION_BYTES:
        raise DomainError(ErrorCode.INVALID_DEFINITION,
                          f"A definition is at most {MAX_DEFINITION_BYTES // 1024} KiB.",
                          "definition")
    try:
        return parse_definition(raw, check_segment=_segment_issues)
    except DefinitionInvalid as e:
        raise DomainErrors([DomainError(ErrorCode.INVALID_DEFINITION, i.message, _path(i.path))
                            for i in e.issues]) from None


def _segment_ids(definition: Definition) -> list[tuple[int, str]]:
    """Segments the definition names, with the path naming each."""
    found: list[tuple[int, str]] = []
    trigger = definition.trigger
    if isinstance(trigger, SegmentTrigger):
        try:
            found.append((int(trigger.segment_id), "definition.trigger.segmentEntered"))
        except ValueError:
            raise DomainError(ErrorCode.INVALID_DEFINITION, "segmentEntered must be a "
                              "segment id.", "definition.trigger.segmentEntered") from None
    conditions: list[tuple[Any, str]] = []
    if definition.audience is not None:
        conditions.append((definition.audience, "definition.audience"))
    for step_id, step in definition.steps.items():
        if isinstance(step, s.Branch):
            conditions.append((step.condition, f"definition.steps.{step_id}.if"))
    for condition, path in conditions:
        node = parse(for_check(s.thaw(condition)), path)
        found += [(ref.segment_id, path) for ref in references(node)
                  if isinstance(ref, SegmentRef)]
    return found


async def _check_segments_exist(conn: BaseDBAsyncClient, definition: Definition) -> None:
    wanted = _segment_ids(definition)
    if not wanted:
        return
    ids = sorted({i for i, _ in wanted})
    marks = placeholders(len(ids))
    rows = await fetch(conn, f"SELECT id FROM segment WHERE id IN ({marks})", *ids)
    present = {int(r[0]) for r in rows}
    missing = [DomainError(ErrorCode.INVALID_DEFINITION, f"No segment {i}.", path)
               for i, path in wanted if i not in present]
    if missing:
        raise DomainErrors(missing)


# ---- reads -------------------------------------------------------------------

_SELECT = (
    "SELECT j.id, j.name, j.status, j.version, j.live_version, v.definition, j.template_key, "
    "j.updated_at FROM journey j JOIN journey_version v "
    "ON v.journey_id = j.id AND v.version = j.version"
)


def json_value(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _view(row: Any) -> JourneyView:
    return JourneyView(int(row[0]), row[1], JourneyStatus(row[2]), int(row[3]),
                       None if row[4] is None else int(row[4]), json_value(row[5]), row[6],
                       as_datetime(row[7]))


def _db(conn: BaseDBAsyncClient | None) -> BaseDBAsyncClient:
    return conn if conn is not None else connections.get("default")


async def list_journeys(conn: BaseDBAsyncClient | None = None) -> list[JourneyView]:
    """Every journey, newest first."""
    return [_view(r) for r in await fetch(_db(conn), f"{_SELECT} ORDER BY j.id DESC")]


async def get_journeys(ids: Iterable[int], conn: BaseDBAsyncClient | None = None
                       ) -> dict[int, JourneyView]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    marks = placeholders(len(wanted))
    rows = await fetch(_db(conn), f"{_SELECT} WHERE j.id IN ({marks})", *wanted)
    return {int(r[0]): _view(r) for r in rows}


async def get_journey(journey_id: int) -> JourneyView | None:
    return (await get_journeys([journey_id])).get(journey_id)


async def live_definition(journey_id: int, version: int) -> Definition:
    """A version's definition, parsed (the runtime and previews read runs' versions)."""
    row = await fetchrow(connections.get("default"),
                         "SELECT definition FROM journey_version WHERE journey_id = $1 "
                         "AND version = $2", journey_id, version)
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such journey version.", "journeyId")
    return parse_definition(json_value(row[0]))


# ---- changes ---------------------------------------------------------------


async def _locked(conn: BaseDBAsyncClient, journey_id: Any) -> Any:
    try:
        ident = int(journey_id)
    except (TypeError, ValueError):
        ident = -1
    lock = " FOR UPDATE" if is_pg(conn) else ""
    row = await fetchrow(conn, "SELECT id, status, version, live_version FROM journey "
                         f"WHERE id = $1{lock}", ident)
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such journey.", "journeyId")
    return row


async def _latest_published(conn: BaseDBAsyncClient, journey_id: int, version: int) -> bool:
    row = await fetchrow(conn, "SELECT published_at FROM journey_version WHERE journey_id = $1 "
                         "AND version = $2", journey_id, version)
    return row is not None and row[0] is not None


async def _reread(conn: BaseDBAsyncClient, journey_id: int) -> JourneyView:
    return (await get_journeys([journey_id], conn))[journey_id]


async def create_journey(*, name: str, definition: Any, template_key: str | None = None,
                         now: datetime | None = None) -> JourneyView:
    """A new journey, DRAFT, its definition as version 1 (not yet published)."""
    now = now or datetime.now(UTC)
    title = _name(name)
    if template_key is not None and template(template_key) is None:
        raise invalid("No journey template with this key.", "templateKey")
    parsed = check_definition(definition)
    async with transaction() as conn:
        await _check_segments_exist(conn, parsed)
        row = await fetchrow(
            conn, "INSERT INTO journey (name, status, version, live_version, template_key, "
            "created_at, updated_at) VALUES ($1, $2, 1, NULL, $3, $4, $5) RETURNING id",
            title, JourneyStatus.DRAFT.value, template_key, now, now)
        assert row is not None
        journey_id = int(row[0])
        await execute(conn, "INSERT INTO journey_version (journey_id, version, definition, "
                      "published_at, created_at) VALUES ($1, 1, $2, NULL, $3)",
                      journey_id, orjson.dumps(parsed.to_json()).decode(), now)
        return await _reread(conn, journey_id)


async def update_journey(journey_id: Any, *, name: Any = UNCHANGED, definition: Any = UNCHANGED,
                         now: datetime | None = None) -> JourneyView:
    """Rename, or change the definition: the draft in place, or a new draft
    version when the newest is published (frozen)."""
    now = now or datetime.now(UTC)
    title = None if name is UNCHANGED else _name(name)
    parsed = None if definition is UNCHANGED else check_definition(definition)
    async with transaction() as conn:
        row = await _locked(conn, journey_id)
        ident, status, version = int(row[0]), JourneyStatus(row[1]), int(row[2])
        if status == JourneyStatus.ARCHIVED:
            raise DomainError(ErrorCode.JOURNEY_NOT_EDITABLE,
                              "An archived journey cannot be edited: create a new one.",
                              "journeyId")
        if title is not None:
            await execute(conn, "UPDATE journey SET name = $1, updated_at = $2 WHERE id = $3",
                          title, now, ident)
        if parsed is not None:
            await _check_segments_exist(conn, parsed)
            body = orjson.dumps(parsed.to_json()).decode()
            latest = await fetchrow(conn, "SELECT version, published_at FROM journey_version "
                                    "WHERE journey_id = $1 ORDER BY version DESC LIMIT 1", ident)
            if latest is None or latest[1] is not None:
                # The newest is frozen (or there is none yet): a new draft version.
                version = (0 if latest is None else int(latest[0])) + 1
                await execute(conn, "INSERT INTO journey_version (journey_id, version, "
                              "definition, published_at, created_at) "
                              "VALUES ($1, $2, $3, NULL, $4)", ident, version, body, now)
                await execute(conn, "UPDATE journey SET version = $1, updated_at = $2 "
                              "WHERE id = $3", version, now, ident)
            else:
                await execute(conn, "UPDATE journey_version SET definition = $1 "
                              "WHERE journey_id = $2 AND version = $3", body, ident,
                              int(latest[0]))
                await execute(conn, "UPDATE journey SET updated_at = $1 WHERE id = $2",
                              now, ident)
        return await _reread(conn, ident)


async def publish_journey(journey_id: Any, now: datetime | None = None) -> JourneyView:
    """Freeze the newest version and make it live (new runs start on it);
    a paused journey resumes. Publishing what is already live changes nothing."""
    now = now or datetime.now(UTC)
    async with transaction() as conn:
        row = await _locked(conn, journey_id)
        ident, status, version = int(row[0]), JourneyStatus(row[1]), int(row[2])
        if status == JourneyStatus.ARCHIVED:
            raise DomainError(ErrorCode.JOURNEY_NOT_EDITABLE,
                              "An archived journey cannot be published again.", "journeyId")
        if not await _latest_published(conn, ident, version):
            # Segments may have been deleted since the draft was saved.
            stored = await fetchrow(conn, "SELECT definition FROM journey_version "
                                    "WHERE journey_id = $1 AND version = $2", ident, version)
            assert stored is not None
            await _check_segments_exist(conn, check_definition(json_value(stored[0])))
            await execute(conn, "UPDATE journey_version SET published_at = $1 "
                          "WHERE journey_id = $2 AND version = $3", now, ident, version)
        await execute(conn, "UPDATE journey SET status = $1, live_version = $2, updated_at = $3 "
                      "WHERE id = $4", JourneyStatus.LIVE.value, version, now, ident)
        if status == JourneyStatus.PAUSED:
            await outgoing.release_journey(conn, ident, now)
        return await _reread(conn, ident)


async def pause_journey(journey_id: Any, now: datetime | None = None) -> JourneyView:
    """No one enters and nothing is sent until it is published again; runs
    stay where they stand."""
    now = now or datetime.now(UTC)
    async with transaction() as conn:
        row = await _locked(conn, journey_id)
        ident, status = int(row[0]), JourneyStatus(row[1])
        if status not in (JourneyStatus.LIVE, JourneyStatus.PAUSED):
            raise DomainError(ErrorCode.INVALID_INPUT, f"A {status.value.lower()} journey "
                              "cannot be paused: only a live one.", "journeyId")
        await execute(conn, "UPDATE journey SET status = $1, updated_at = $2 WHERE id = $3",
                      JourneyStatus.PAUSED.value, now, ident)
        # Its messages not yet sent (quiet hours, retries) wait too.
        await outgoing.hold_journey(conn, ident)
        return await _reread(conn, ident)


async def archive_journey(journey_id: Any, now: datetime | None = None) -> JourneyView:
    """The journey ends for good: no entries, and its runs leave at the
    worker's next pass."""
    now = now or datetime.now(UTC)
    async with transaction() as conn:
        row = await _locked(conn, journey_id)
        ident = int(row[0])
        await execute(conn, "UPDATE journey SET status = $1, updated_at = $2 WHERE id = $3",
                      JourneyStatus.ARCHIVED.value, now, ident)
        await outgoing.cancel_journey(conn, ident)
        return await _reread(conn, ident)
