"""Publishing a journey's definition as a new frozen version: the one door
through which runs get something to run (the service's `publishJourney`
calls it; the worker's tests do too)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from journeys.conditions import SegmentCheck, structural
from journeys.definition import parse_definition
from journeys.effects import stamp
from journeys.models import JourneyStatus, JourneyVersion
from loyalty.db import transaction
from loyalty.errors import DomainError, ErrorCode
from loyalty.sql import execute, fetchrow


async def publish_version(journey_id: int, definition: Any, now: datetime, *,
                          check_segment: SegmentCheck = structural) -> int:
    """Freeze `definition` as the journey's next version, published at `now`,
    and make it the live one (the journey LIVE): new runs start on it, runs
    in flight finish on theirs. Returns the version number.

    Raises DefinitionInvalid (every fault with its path) or NOT_FOUND."""
    parsed = parse_definition(definition, check_segment=check_segment)
    async with transaction() as conn:
        # The journey row is locked: two publishes at once number their versions apart.
        row = await fetchrow(conn, "SELECT id FROM journey WHERE id = $1 FOR UPDATE",
                             journey_id)
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such journey.", "id")
        top = await fetchrow(conn, "SELECT MAX(version) FROM journey_version "
                                   "WHERE journey_id = $1", journey_id)
        version = int(top[0] or 0) + 1 if top is not None else 1
        await JourneyVersion.create(journey_id=journey_id, version=version,
                                    definition=parsed.to_json(), published_at=now,
                                    using_db=conn)
        await execute(conn, "UPDATE journey SET version = $1, live_version = $2, status = $3, "
                            "updated_at = $4 WHERE id = $5",
                      version, version, JourneyStatus.LIVE.value, stamp(conn, now), journey_id)
    return version
