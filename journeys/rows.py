"""A run's state to and from its row: the one mapping between
journeys.run.RunState and journeys.models.JourneyRun, so that the worker
stores exactly what the step machine returned."""

from __future__ import annotations

import json
from typing import Any

from journeys.models import JourneyRun
from journeys.run import RunState, Status, Waiting, match_key
from journeys.steps import freeze, thaw
from loyalty.platform.sql import as_datetime


def row_values(state: RunState) -> dict[str, Any]:
    """The JourneyRun columns for `state` (its id, journey and customer aside)."""
    waiting = state.waiting
    return {
        "version": state.version,
        "entry": state.entry,
        "step": state.step,
        "status": state.status,
        "seq": state.seq,
        "arm": state.arm,
        "trigger": thaw(state.trigger),
        "last_event": None if state.last_event is None else thaw(state.last_event),
        "coupon_key": state.coupon_key,
        "wake_at": state.wake_at,
        "waiting_event": None if waiting is None else waiting.event,
        "waiting_match": None if waiting is None else match_key(waiting.match),
        "entered_at": state.entered_at,
        "ended_at": state.ended_at,
        "reason": state.reason,
    }


def state_of(row: JourneyRun) -> RunState:
    """The RunState a stored row stands for."""
    waiting = None
    # A waitFor stores its timeout as the wake time (journeys.engine).
    if row.waiting_event is not None and row.wake_at is not None:
        waiting = Waiting(row.waiting_event, freeze(json.loads(row.waiting_match or "{}")),
                          row.wake_at)
    return RunState(
        run_id=row.id,
        journey_id=row.journey_id,  # type: ignore[attr-defined]
        version=row.version,
        customer_id=row.customer_id,  # type: ignore[attr-defined]
        entry=row.entry,
        step=row.step,
        status=Status(row.status),
        entered_at=row.entered_at,
        trigger=freeze(row.trigger),
        arm=row.arm,
        seq=row.seq,
        wake_at=row.wake_at,
        waiting=waiting,
        last_event=None if row.last_event is None else freeze(row.last_event),
        coupon_key=row.coupon_key,
        ended_at=row.ended_at,
        reason=row.reason,
    )


# The run's columns as raw SQL reads them (the worker's hot path), in the
# order `state_of_record` takes them.
COLUMNS = ("id", "journey_id", "version", "customer_id", "entry", "step", "status", "seq",
           "arm", "trigger", "last_event", "coupon_key", "wake_at", "waiting_event",
           "waiting_match", "entered_at", "ended_at", "reason")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _time(value: Any) -> Any:
    return None if value is None else as_datetime(value)


def state_of_record(r: Any) -> RunState:
    """The RunState of a row read as COLUMNS (`r.` prefixed or not)."""
    wake_at = _time(r[12])
    waiting = None
    if r[13] is not None and wake_at is not None:
        waiting = Waiting(r[13], freeze(json.loads(r[14] or "{}")), wake_at)
    last_event = _json(r[10])
    return RunState(
        run_id=int(r[0]), journey_id=int(r[1]), version=int(r[2]), customer_id=int(r[3]),
        entry=int(r[4]), step=r[5], status=Status(r[6]), entered_at=as_datetime(r[15]),
        trigger=freeze(_json(r[9]) or {}), arm=r[8], seq=int(r[7]), wake_at=wake_at,
        waiting=waiting, last_event=None if last_event is None else freeze(last_event),
        coupon_key=r[11], ended_at=_time(r[16]), reason=r[17],
    )
