"""Who enters a journey, and when: the trigger's filter and the re-entry
rule. The audience filter is a segment-grammar condition that the worker
evaluates for the customer (audience/) before calling `may_enter`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from journeys.conditions import matches
from journeys.definition import Definition, EventTrigger, SegmentTrigger
from journeys.run import Event
from journeys.timing import after


@dataclass(frozen=True)
class PastRun:
    entered_at: datetime
    ended_at: datetime | None  # None: still running


def triggered_by(definition: Definition, event: Event) -> bool:
    """Whether `event` starts this journey for its customer. Entering a
    segment arrives as the stream's segment_entered event."""
    trigger = definition.trigger
    if isinstance(trigger, EventTrigger):
        return event.name == trigger.event and matches(trigger.where, event.properties)
    if isinstance(trigger, SegmentTrigger):
        return event.name == "segment_entered" \
            and matches({"segmentId": trigger.segment_id}, event.properties)
    return False  # a schedule enters its audience at its occurrences (journeys.timing)


def may_enter(definition: Definition, previous: Sequence[PastRun], now: datetime,
              zone: ZoneInfo) -> bool:
    """Whether the re-entry rule lets the customer start a new run now, given
    their earlier runs of this journey (any version). Nobody ever has two
    runs of one journey at once: each waits for the one before to end."""
    if not previous:
        return True
    reentry = definition.reentry
    if reentry.mode == "never" or any(run.ended_at is None for run in previous):
        return False
    if reentry.mode == "afterExit":
        return True
    assert reentry.after is not None
    last = max(run.entered_at for run in previous)
    return now >= after(last, reentry.after, zone)
