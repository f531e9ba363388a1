"""The journey step machine: one pure function, `advance`.

Given a run as stored, its journey version, the time and what the worker
knows (the customer's zone, the event that woke the run, a segment
predicate), it returns the run as it must be stored next and the effects to
perform. It performs none: the worker stores the new state and records the
effects (message log rows, coupon, ledger posting, each under its key) in
one transaction, and sends after commit from the outbox. A worker that dies
before committing leaves the stored state as it was, so the next one
computes the same keys again, and the same effects are applied once.

Runs in the holdout walk the same steps at the same times (so their goal is
tracked over the same window) but each message, coupon and points step is
Suppressed for them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from journeys import steps as s
from journeys.conditions import matches, resolve
from journeys.definition import Definition
from journeys.experiments import HOLDOUT, assign_arm, in_holdout
from journeys.run import (
    ENDED,
    Action,
    Advance,
    AwaitEvent,
    AwardPoints,
    Event,
    Facts,
    Finish,
    IssueCoupon,
    RunState,
    ScheduleWake,
    SendMessage,
    Status,
    Suppressed,
    Waiting,
)
from journeys.steps import freeze
from journeys.timing import after, before, next_local_time

# Validation refuses loops without a wait, so one advance starts each step at
# most once; this bound only stops a definition that bypassed validation.
MAX_STEPS_PER_ADVANCE = 500


def enter(*, run_id: int | str, journey_id: int | str, version: int, customer_id: int | str,
          entry: int, definition: Definition, trigger: dict[str, Any] | None,
          now: datetime) -> RunState:
    """A new run at the journey's start (then `advance` it), in the holdout or not."""
    held = in_holdout(journey_id, customer_id, definition.holdout_percent)
    return RunState(run_id, journey_id, version, customer_id, entry, definition.start,
                    Status.ACTIVE, now, freeze(trigger or {}), HOLDOUT if held else None)


def leave(run: RunState, now: datetime, reason: str) -> Advance:
    """Take a run out before its end (journey archived, customer erased)."""
    if run.status in ENDED:
        return Advance(run)
    return _finish(run, Status.EXITED, now, [], (), reason)


def advance(run: RunState, definition: Definition, now: datetime, facts: Facts) -> Advance:
    """The run's next state and the effects to perform; unchanged if nothing is due."""
    if run.status in ENDED:
        return Advance(run)
    event = facts.event
    goal = definition.goal
    if event is not None and goal is not None and event.name == goal.event \
            and matches(resolve(goal.where, run.trigger), event.properties):
        return _finish(run, Status.CONVERTED, now, [], (), None)
    if run.status == Status.WAITING:
        woken = _wake(run, definition, now, event)
        if woken is None:
            return Advance(run)
        run = woken
    return _walk(run, definition, now, facts)


def _wake(run: RunState, definition: Definition, now: datetime,
          event: Event | None) -> RunState | None:
    """The run moved past its wait, or None if it must go on waiting."""
    step = definition.steps.get(run.step)
    waiting = run.waiting
    if isinstance(step, s.WaitFor) and waiting is not None:
        if event is not None and event.name == waiting.event \
                and event.occurred_at <= waiting.timeout_at \
                and matches(waiting.match, event.properties):
            return _moved(run, step.next, last_event=freeze(dict(event.properties)))
        if now >= waiting.timeout_at:
            return _moved(run, step.timeout_next)
        return None
    if isinstance(step, s.Wait) and run.wake_at is not None:
        return _moved(run, step.next) if now >= run.wake_at else None
    # Stored as waiting at a step that is no wait: let _walk fail it loudly.
    return replace(run, status=Status.ACTIVE, wake_at=None, waiting=None)


def _moved(run: RunState, step_id: str, **changes: Any) -> RunState:
    return replace(run, step=step_id, status=Status.ACTIVE, wake_at=None, waiting=None,
                   **changes)


def _walk(run: RunState, definition: Definition, now: datetime, facts: Facts) -> Advance:
    actions: list[Action] = []
    path: list[str] = []
    held = run.arm == HOLDOUT
    for _ in range(MAX_STEPS_PER_ADVANCE):
        step = definition.steps.get(run.step)
        if step is None:
            return _finish(run, Status.FAILED, now, actions, path,
                           f"version {run.version} has no step {run.step!r}")
        run = replace(run, seq=run.seq + 1)
        key = f"{run.run_id}:{step.id}:{run.seq}"
        path.append(step.id)
        if isinstance(step, s.Exit):
            return _finish(run, Status.COMPLETED, now, actions, path, None)
        if isinstance(step, s.Wait):
            if step.duration is not None:
                wake = after(now, step.duration, facts.zone)
            else:
                assert step.until is not None  # one or the other, by validation
                wake = next_local_time(now, step.until, facts.zone)
            actions.append(ScheduleWake(wake))
            return Advance(replace(run, status=Status.WAITING, wake_at=wake),
                           tuple(actions), tuple(path))
        if isinstance(step, s.WaitFor):
            timeout = after(now, step.timeout, facts.zone)
            match = freeze(resolve(step.match, run.trigger))
            actions.append(AwaitEvent(step.event, match, timeout))
            waiting = Waiting(step.event, match, timeout)
            return Advance(replace(run, status=Status.WAITING, wake_at=timeout, waiting=waiting),
                           tuple(actions), tuple(path))
        if isinstance(step, s.Branch):
            chosen = facts.condition(resolve(step.condition, run.trigger))
            run = replace(run, step=step.then if chosen else step.otherwise)
        elif isinstance(step, s.Split):
            arm = assign_arm(run.journey_id, run.customer_id, step.id, step.arms)
            run = replace(run, step=arm.next, arm=run.arm if held else arm.name)
        elif held:
            actions.append(Suppressed(key, step.id, HOLDOUT))
            run = replace(run, step=step.next)
        else:
            actions.append(_effect(step, key, run, now, facts))
            run = replace(run, step=step.next,
                          coupon_key=key if isinstance(step, s.IssueCoupon) else run.coupon_key)
    return _finish(run, Status.FAILED, now, actions, path,
                   f"more than {MAX_STEPS_PER_ADVANCE} steps without a wait")


def _effect(step: s.Message | s.IssueCoupon | s.AwardPoints, key: str, run: RunState,
            now: datetime, facts: Facts) -> Action:
    if isinstance(step, s.Message):
        return SendMessage(key, step.id, step.channel, step.fallback, step.content,
                           _store_id(run), run.coupon_key)
    if isinstance(step, s.IssueCoupon):
        expires = after(now, step.valid_for, facts.zone)
        remind = None if step.remind_before is None \
            else before(expires, step.remind_before, facts.zone)
        return IssueCoupon(key, step.id, step.percent_off, step.amount_off, step.title,
                           step.channels, expires, remind)
    return AwardPoints(key, step.id, step.points, step.reason)


def _store_id(run: RunState) -> Any:
    # The store the customer is at (a check-in that ended a wait), else the
    # one the journey started from.
    for source in (run.last_event or {}, run.trigger):
        if source.get("storeId") is not None:
            return source["storeId"]
    return None


def _finish(run: RunState, status: Status, now: datetime, actions: list[Action],
            path: list[str] | tuple[str, ...], reason: str | None) -> Advance:
    ended = replace(run, status=status, ended_at=now, wake_at=None, waiting=None, reason=reason)
    return Advance(ended, (*actions, Finish(status, reason)), tuple(path))
