"""Advancing runs in the worker: what the step machine needs (the journey's
version, the customer's zone, segment conditions), due runs claimed in
batches, and archived journeys' runs taken out.

Due runs are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so that
several worker processes share them, and advanced, their effects applied
and their states stored in the claiming transaction (journeys/effects.py):
a worker killed mid-batch leaves its runs as they were, due, for the next.
A batch that fails is taken again one run per transaction, so that one
broken run cannot hold the others back; a run that fails alone (not for a
database error) is stored `failed` with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import BaseORMException

from journeys import steps as s
from journeys.definition import Definition, parse_definition
from journeys.effects import Advanced, Applied, Customer, apply, stamp
from journeys.engine import advance, leave
from journeys.models import JourneyStatus
from journeys.predicates import Conditions, Unknown, answer, key_of
from journeys.rows import COLUMNS, state_of_record
from journeys.run import Advance, Event, Facts, RunState, Status
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, is_pg, placeholders, skip_locked
from loyalty.platform.timezones import zone_or_utc
from observability.metrics import JOURNEY_STEPS, JOURNEY_TIMER_LAG

log = logging.getLogger(__name__)

RUN_SELECT = "SELECT " + ", ".join(f"r.{c}" for c in COLUMNS) + " FROM journey_run r"
IN_FLIGHT = (Status.ACTIVE.value, Status.WAITING.value)


@dataclass(frozen=True)
class JourneyInfo:
    id: int
    status: JourneyStatus
    live_version: int | None
    published_at: datetime | None  # of the live version


# Published versions are frozen: parsed once per process.
_definitions: dict[tuple[int, int], Definition | None] = {}


def forget_definitions() -> None:
    _definitions.clear()


async def definition_of(conn: BaseDBAsyncClient, journey_id: int,
                        version: int) -> Definition | None:
    """A published version's definition; None if it has none or no longer parses."""
    found = _definitions.get((journey_id, version), False)
    if found is not False:
        return found  # type: ignore[return-value]
    rows = await fetch(conn, "SELECT definition FROM journey_version WHERE journey_id = $1 "
                             "AND version = $2 AND published_at IS NOT NULL",
                       journey_id, version)
    definition = None
    if rows:
        raw = rows[0][0]
        try:
            definition = parse_definition(orjson.loads(raw) if isinstance(raw, str | bytes)
                                          else raw)
        except Exception:  # noqa: BLE001 - one bad version must not stop the worker
            log.exception("journey %s version %s does not parse", journey_id, version)
        _definitions[(journey_id, version)] = definition
    return definition


async def journeys(conn: BaseDBAsyncClient) -> dict[int, JourneyInfo]:
    """Every journey's status and live version, as they stay until `conn`'s
    transaction ends: on PostgreSQL the rows are shared-locked, so that
    pausing, archiving or publishing one (journeys.service, which locks it
    for update) waits for the passes that read it before. A pause that
    landed mid-pass would otherwise find none of the messages that pass is
    about to queue, and they would go out while the journey is paused.
    (SQLite runs one transaction at a time.)"""
    lock = " FOR SHARE OF j" if is_pg(conn) else ""
    rows = await fetch(conn, "SELECT j.id, j.status, j.live_version, v.published_at "
                             "FROM journey j LEFT JOIN journey_version v "
                             f"ON v.journey_id = j.id AND v.version = j.live_version{lock}")
    return {int(r[0]): JourneyInfo(int(r[0]), JourneyStatus(r[1]),
                                   None if r[2] is None else int(r[2]),
                                   None if r[3] is None else as_datetime(r[3]))
            for r in rows}


async def customers_of(conn: BaseDBAsyncClient, ids: Sequence[int]) -> dict[int, Customer]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await fetch(conn, "SELECT id, timezone, locale, erased_at FROM customer "
                             f"WHERE id IN ({placeholders(len(wanted))})", *wanted)
    return {int(r[0]): Customer(int(r[0]), zone_or_utc(r[1]), r[2], r[3] is not None)
            for r in rows}


class Stepper:
    """Advances runs for one pass: conditions are evaluated as the step
    machine meets them and remembered for the pass."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.conditions = Conditions(now)

    async def advance(self, conn: BaseDBAsyncClient, state: RunState, definition: Definition,
                      customer: Customer, event: Event | None = None) -> Advance:
        known: dict[str, bool] = {}
        while True:
            facts = Facts(customer.zone, answer(known), event)
            try:
                return advance(state, definition, self.now, facts)
            except Unknown as need:
                known[key_of(need.condition)] = await self.conditions.holds(
                    conn, need.condition, customer.id)


def count_steps(done: Sequence[Advanced]) -> int:
    """Steps started, into loyalty_journey_steps by kind and outcome."""
    total = 0
    for d in done:
        state = d.result.state
        for i, step_id in enumerate(d.result.path):
            step = d.definition.steps.get(step_id)
            kind = _KINDS.get(type(step), "unknown")
            last = i == len(d.result.path) - 1
            outcome = "done"
            if last and state.status == Status.WAITING:
                outcome = "waiting"
            elif last and state.status == Status.FAILED:
                outcome = "failed"
            JOURNEY_STEPS.labels(kind, outcome).inc()
            total += 1
    return total


_KINDS: dict[type, str] = {s.Message: "message", s.Wait: "wait", s.WaitFor: "waitFor",
                           s.IssueCoupon: "issueCoupon", s.AwardPoints: "awardPoints",
                           s.Branch: "branch", s.Split: "split", s.Exit: "exit"}


@dataclass
class DueResult:
    runs: int = 0
    steps: int = 0
    applied: Applied | None = None


async def _advance_records(conn: BaseDBAsyncClient, records: Sequence[Any], now: datetime,
                           infos: dict[int, JourneyInfo], stepper: Stepper
                           ) -> list[Advanced]:
    states = [state_of_record(r) for r in records]
    customers = await customers_of(conn, [int(st.customer_id) for st in states])
    done: list[Advanced] = []
    for state in states:
        info = infos.get(int(state.journey_id))
        definition = await definition_of(conn, int(state.journey_id), state.version)
        customer = customers.get(int(state.customer_id))
        if info is None or definition is None or customer is None:
            continue  # a journey or version gone: nothing to run it on
        if info.status == JourneyStatus.PAUSED:
            continue
        if info.status == JourneyStatus.ARCHIVED:
            result = leave(state, now, "journey archived")
        elif customer.erased:
            result = leave(state, now, "customer erased")
        else:
            result = await stepper.advance(conn, state, definition, customer)
        if result.changed or result.state != state:
            done.append(Advanced(state, result, customer, definition))
    return done


async def advance_due(now: datetime, batch_size: int) -> DueResult:
    """One batch of due runs (`wake_at <= now`) advanced; how many there were."""
    result = DueResult()
    try:
        async with transaction() as conn:
            infos = await journeys(conn)
            paused = sorted(i.id for i in infos.values() if i.status == JourneyStatus.PAUSED)
            records = await _claim(conn, now, batch_size, paused)
            if not records:
                return result
            result.runs = len(records)
            done = await _advance_records(conn, records, now, infos, Stepper(now))
            result.applied = await apply(conn, done, now)
    except Exception:
        if not result.runs:
            raise
        log.exception("a batch of %d journey runs failed; taking them one by one",
                      result.runs)
        return await _one_by_one([int(r[0]) for r in records], now)
    _observe(records, now)
    result.steps = count_steps(done)
    return result


def _observe(records: Sequence[Any], now: datetime) -> None:
    for r in records:
        if r[12] is not None:
            JOURNEY_TIMER_LAG.observe(max(0.0, (now - as_datetime(r[12])).total_seconds()))


async def _claim(conn: BaseDBAsyncClient, now: datetime, limit: int,
                 paused: list[int]) -> list[Any]:
    """Up to `limit` due runs, the longest due first, locked. One statement per
    status, so that each reads the (status, wake_at) index in order and stops
    at `limit`: with both statuses at once PostgreSQL sorted every due row on
    each claim (a quarter of a second with 100,000 due). Waiting runs come
    first: under a burst of entries (a schedule's audience, all due at once)
    the timers of customers already in a journey keep their time and the
    entries queue. Paused journeys' runs stay where they stood."""
    found: list[Any] = []
    for status in (Status.WAITING.value, Status.ACTIVE.value):
        if len(found) >= limit:
            break
        args: list[Any] = [status, stamp(conn, now)]
        skip = ""
        if paused:
            skip = f" AND r.journey_id NOT IN ({placeholders(len(paused), 3)})"
            args.extend(paused)
        args.append(limit - len(found))
        statement = skip_locked(conn, f"{RUN_SELECT} WHERE r.status = $1 AND r.wake_at <= $2"
                                      f"{skip} ORDER BY r.wake_at LIMIT ${len(args)}", of="r")
        found.extend(await fetch(conn, statement, *args))
    return found


async def _one_by_one(run_ids: list[int], now: datetime) -> DueResult:
    result = DueResult()
    for run_id in run_ids:
        try:
            async with transaction() as conn:
                records = await fetch(conn, skip_locked(
                    conn, f"{RUN_SELECT} WHERE r.id = $1 AND r.status IN ($2, $3) "
                          "AND r.wake_at <= $4", of="r"),
                    run_id, *IN_FLIGHT, stamp(conn, now))
                done = await _advance_records(conn, records, now, await journeys(conn),
                                              Stepper(now))
                await apply(conn, done, now)
            result.runs += len(records)
            result.steps += count_steps(done)
        except (BaseORMException, OSError):
            log.exception("journey run %s: database error; it stays due", run_id)
        except Exception as exc:  # noqa: BLE001 - a broken run must not block the others
            log.exception("journey run %s failed; stored as failed", run_id)
            await fail(run_id, now, f"{type(exc).__name__}: {exc}"[:200])
    return result


async def fail(run_id: int, now: datetime, reason: str) -> None:
    async with transaction() as conn:
        await fail_in(conn, run_id, now, reason)


async def fail_in(conn: BaseDBAsyncClient, run_id: int, now: datetime, reason: str) -> None:
    """The run stored as failed with `reason` (a step raised: a bug or a
    customer without an account), so that it is not taken again."""
    await execute(conn, "UPDATE journey_run SET status = $1, reason = $2, ended_at = $3, "
                        "wake_at = NULL, waiting_event = NULL, waiting_match = NULL "
                        "WHERE id = $4 AND status IN ($5, $6)",
                  Status.FAILED.value, reason, stamp(conn, now), run_id, *IN_FLIGHT)
    JOURNEY_STEPS.labels("unknown", "failed").inc()


async def leave_archived(now: datetime, batch_size: int) -> int:
    """Runs of archived journeys taken out (engine.leave), a batch at a time."""
    async with transaction() as conn:
        archived = [i.id for i in (await journeys(conn)).values()
                    if i.status == JourneyStatus.ARCHIVED]
        if not archived:
            return 0
        records = await fetch(conn, skip_locked(
            conn, f"{RUN_SELECT} WHERE r.status IN ($1, $2) "
                  f"AND r.journey_id IN ({placeholders(len(archived), 3)}) "
                  f"LIMIT ${len(archived) + 3}", of="r"),
            *IN_FLIGHT, *archived, batch_size)
        if not records:
            return 0
        done = await _advance_records(conn, records, now, await journeys(conn), Stepper(now))
        await apply(conn, done, now)
    return len(records)


__all__ = ["Advanced", "DueResult", "JourneyInfo", "Stepper", "advance_due", "customers_of",
           "definition_of", "fail", "fail_in", "forget_definitions", "journeys", "leave_archived"]
