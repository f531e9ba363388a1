"""Journeys' reader of the event stream (customer_event): each event enters
its customer into the live journeys it triggers, and wakes that customer's
runs that wait for it or whose goal it is.

Read in id order with a cursor of its own ("journeys" in audience_cursor,
with the gaps of ids committed out of order: audience/cursor.py), in one
transaction per pass with what the events did, so that an event acts once.
A new cursor starts at the stream's end as it was before the first journey
was published: history older than every journey triggers nothing.

Entering: `triggered_by`, the journey's `audience` (a segment-grammar
condition, for this customer now) and the re-entry rule (`may_enter`, with
the customer's earlier runs of the journey, any version). The run row is
unique per (journey, customer, entry), so two workers handling the same
event enter the customer once. Only a LIVE journey is entered, on its live
version, and only by events that arrived after that version was published.

Waking: the customer's runs in flight are found through the index on
(customer_id, waiting_event), locked, and advanced with the event: a
waitFor's awaited event moves the run on, the goal's converts it. Runs of
a paused journey do not hear the events of the pause.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from audience import cursor as cursors
from journeys.conditions import matches, resolve
from journeys.definition import Definition
from journeys.effects import Advanced, Applied, Customer, apply, stamp
from journeys.engine import enter
from journeys.entry import PastRun, may_enter, triggered_by
from journeys.models import JourneyStatus
from journeys.rows import row_values
from journeys.run import Event, RunState, Status
from journeys.runner import (
    IN_FLIGHT,
    RUN_SELECT,
    JourneyInfo,
    Stepper,
    count_steps,
    customers_of,
    definition_of,
    fail_in,
    journeys,
)
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, fetch, fetchrow, placeholders
from observability.metrics import JOURNEY_EVENT_LAG

log = logging.getLogger(__name__)

NAME = "journeys"
_EVENTS = "SELECT id, customer_id, name, properties, occurred_at, received_at FROM customer_event"


@dataclass
class StreamResult:
    read: int = 0
    entered: int = 0
    woken: int = 0
    steps: int = 0
    position: int = 0
    applied: list[Applied] = field(default_factory=list)


@dataclass(frozen=True)
class Arrived:
    id: int
    customer_id: int
    event: Event
    received_at: datetime


async def _start(conn: BaseDBAsyncClient) -> int:
    first = await fetchrow(conn, "SELECT MIN(published_at) FROM journey_version "
                                 "WHERE published_at IS NOT NULL")
    if first is None or first[0] is None:
        row = await fetchrow(conn, "SELECT MAX(id) FROM customer_event")
    else:
        row = await fetchrow(conn, "SELECT MAX(id) FROM customer_event WHERE received_at < $1",
                             stamp(conn, as_datetime(first[0])))
    return 0 if row is None or row[0] is None else int(row[0])


def _arrived(r: Any) -> Arrived | None:
    if r[1] is None:
        return None  # anonymous: no journey knows them yet
    properties = r[3]
    if isinstance(properties, str | bytes):
        properties = orjson.loads(properties)
    return Arrived(int(r[0]), int(r[1]),
                   Event(r[2], properties or {}, as_datetime(r[4])), as_datetime(r[5]))


async def consume(batch_size: int, now: datetime, clock: float | None = None) -> StreamResult:
    """One pass over the events after the cursor."""
    clock = time.time() if clock is None else clock
    result = StreamResult()
    async with transaction() as conn:
        cursor = await cursors.lock(conn, NAME, now, _start)
        if cursor is None:
            return result
        raw = await cursors.read(conn, cursor, _EVENTS, batch_size, clock)
        result.read = len(raw)
        arrived = [a for a in map(_arrived, raw) if a is not None]
        if arrived:
            await _handle(conn, arrived, now, result)
        await cursors.save(conn, cursor, now)
        result.position = cursor.position
    for a in arrived:
        JOURNEY_EVENT_LAG.observe(max(0.0, (now - a.received_at).total_seconds()))
    return result


async def _handle(conn: BaseDBAsyncClient, arrived: list[Arrived], now: datetime,
                  result: StreamResult) -> None:
    infos = await journeys(conn)
    live: list[tuple[JourneyInfo, Definition]] = []
    for info in infos.values():
        if info.status == JourneyStatus.LIVE and info.live_version is not None:
            definition = await definition_of(conn, info.id, info.live_version)
            if definition is not None:
                live.append((info, definition))
    customers = await customers_of(conn, [a.customer_id for a in arrived])
    in_flight = await _in_flight(conn, sorted(customers))
    stepper = Stepper(now)
    for a in arrived:
        customer = customers.get(a.customer_id)
        if customer is None or customer.erased:
            continue
        await _wake(conn, a, customer, in_flight[a.customer_id], infos, stepper, now, result)
        for info, definition in live:
            if triggered_by(definition, a.event) and info.published_at is not None \
                    and a.received_at >= info.published_at:
                try:
                    # A savepoint: an entry whose first steps raise enters nobody,
                    # and the stream goes on.
                    async with transaction():
                        run = await _enter(conn, info, definition, a, customer, stepper, now,
                                           result)
                except Exception:  # noqa: BLE001 - logged; the event is not read again
                    log.exception("journey %s: entering customer %s on event %s failed",
                                  info.id, customer.id, a.id)
                    continue
                if run is not None:
                    in_flight[a.customer_id].append(run)


async def _in_flight(conn: BaseDBAsyncClient, customer_ids: list[int]
                     ) -> dict[int, list[RunState]]:
    """Each customer's runs in flight (through the customer's index)."""
    from journeys.rows import state_of_record

    found: dict[int, list[RunState]] = defaultdict(list)
    if not customer_ids:
        return found
    marks = placeholders(len(customer_ids), 3)
    for r in await fetch(conn, f"{RUN_SELECT} WHERE r.status IN ($1, $2) "
                               f"AND r.customer_id IN ({marks}) ORDER BY r.id",
                         *IN_FLIGHT, *customer_ids):
        state = state_of_record(r)
        found[int(state.customer_id)].append(state)
    return found


def _hears(state: RunState, definition: Definition, event: Event) -> bool:
    waiting = state.waiting
    if waiting is not None and waiting.event == event.name:
        return True
    goal = definition.goal
    return goal is not None and goal.event == event.name \
        and matches(resolve(goal.where, state.trigger), event.properties)


async def _wake(conn: BaseDBAsyncClient, a: Arrived, customer: Customer,
                runs: list[RunState], infos: dict[int, JourneyInfo], stepper: Stepper,
                now: datetime, result: StreamResult) -> None:
    from journeys.rows import state_of_record

    for i, state in enumerate(runs):
        info = infos.get(int(state.journey_id))
        if info is None or info.status != JourneyStatus.LIVE:
            continue  # paused: deaf until resumed; archived: leaving
        definition = await definition_of(conn, int(state.journey_id), state.version)
        if definition is None or not _hears(state, definition, a.event):
            continue
        # Locked, and read again: a due-runs worker may have moved it since.
        locked = await fetch(conn, f"{RUN_SELECT} WHERE r.id = $1 AND r.status IN ($2, $3) "
                                   "FOR UPDATE", int(state.run_id), *IN_FLIGHT)
        if not locked:
            continue
        state = state_of_record(locked[0])
        try:
            # A savepoint: a run whose step raises must not hold the stream back.
            async with transaction():
                step = await stepper.advance(conn, state, definition, customer, a.event)
                if not (step.changed or step.state != state):
                    continue
                done = [Advanced(state, step, customer, definition)]
                applied = await apply(conn, done, now)
        except Exception as exc:  # noqa: BLE001 - stored as failed, with the reason
            log.exception("journey run %s failed on event %s", state.run_id, a.id)
            await fail_in(conn, int(state.run_id), now, f"{type(exc).__name__}: {exc}"[:200])
            runs[i] = replace(state, status=Status.FAILED, waiting=None)
            continue
        result.applied.append(applied)
        result.steps += count_steps(done)
        result.woken += 1
        runs[i] = step.state


async def _enter(conn: BaseDBAsyncClient, info: JourneyInfo, definition: Definition,
                 a: Arrived, customer: Customer, stepper: Stepper, now: datetime,
                 result: StreamResult) -> RunState | None:
    previous = await fetch(conn, "SELECT entry, entered_at, ended_at FROM journey_run "
                                 "WHERE journey_id = $1 AND customer_id = $2", info.id,
                           customer.id)
    past = [PastRun(as_datetime(r[1]), None if r[2] is None else as_datetime(r[2]))
            for r in previous]
    if not may_enter(definition, past, now, customer.zone):
        return None
    if definition.audience is not None \
            and not await stepper.conditions.holds(conn, definition.audience, customer.id):
        return None
    entry = max((int(r[0]) for r in previous), default=0) + 1
    assert info.live_version is not None
    state = enter(run_id=0, journey_id=info.id, version=info.live_version,
                  customer_id=customer.id, entry=entry, definition=definition,
                  trigger=dict(a.event.properties), now=now)
    run_id = await _insert(conn, state)
    if run_id is None:
        return None  # another worker entered them for this event
    state = replace(state, run_id=run_id)
    step = await stepper.advance(conn, state, definition, customer)
    done = [Advanced(state, step, customer, definition)]
    result.applied.append(await apply(conn, done, now))
    result.steps += count_steps(done)
    result.entered += 1
    return step.state


async def _insert(conn: BaseDBAsyncClient, state: RunState) -> int | None:
    from journeys.effects import as_json

    v = row_values(state)
    row = await fetchrow(
        conn,
        "INSERT INTO journey_run (journey_id, customer_id, version, entry, step, status, seq, "
        "arm, trigger, last_event, coupon_key, wake_at, waiting_event, waiting_match, "
        "entered_at, ended_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
        "$12, $13, $14, $15, $16, $17) "
        "ON CONFLICT (journey_id, customer_id, entry) DO NOTHING RETURNING id",
        int(state.journey_id), int(state.customer_id), v["version"], v["entry"], v["step"],
        state.status.value, v["seq"], v["arm"], as_json(v["trigger"]), as_json(v["last_event"]),
        v["coupon_key"], stamp(conn, v["wake_at"]), v["waiting_event"], v["waiting_match"],
        stamp(conn, v["entered_at"]), stamp(conn, v["ended_at"]), v["reason"])
    return None if row is None else int(row[0])
