"""A customer's run through a journey, what wakes it, and what advancing it
asks the worker to do: the vocabulary of journeys.engine.

A run is one row per (journey, customer, entry). `seq` counts the steps it
has started: the effects of a step are keyed by (run, step, seq), so a
worker that crashed and retries the same stored state repeats the same keys
(and the ledger, the coupon table and the message log ignore the repeat),
while a step visited again through a loop gets new ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from journeys.steps import Channel, Content, Money, thaw


class Status(StrEnum):
    ACTIVE = "active"  # ready to run its current step
    WAITING = "waiting"  # for wake_at, or for an event until wake_at
    COMPLETED = "completed"  # reached an exit step
    CONVERTED = "converted"  # reached the journey's goal
    EXITED = "exited"  # taken out: journey archived, customer erased or unsubscribed
    FAILED = "failed"  # its version names a step it does not have (a bug, never a fault)


ENDED = frozenset({Status.COMPLETED, Status.CONVERTED, Status.EXITED, Status.FAILED})


@dataclass(frozen=True)
class Waiting:
    event: str
    match: Mapping[str, Any]  # trigger references resolved: the values to find
    timeout_at: datetime


def match_key(match: Mapping[str, Any]) -> str:
    """A resolved match as one canonical string (sorted keys, no spaces), the
    run row's waiting_match: equal matches store equal strings."""
    return json.dumps(thaw(match), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


@dataclass(frozen=True)
class RunState:
    run_id: int | str
    journey_id: int | str
    version: int
    customer_id: int | str
    entry: int  # 1 for the customer's first run of this journey, then 2, ...
    step: str
    status: Status
    entered_at: datetime
    trigger: Mapping[str, Any] = field(default_factory=dict)  # the entering event's properties
    arm: str | None = None  # "holdout", the arm of the journey's split, or None
    seq: int = 0
    wake_at: datetime | None = None
    waiting: Waiting | None = None
    last_event: Mapping[str, Any] | None = None  # the event that ended the last waitFor
    coupon_key: str | None = None  # the key of the last coupon the run issued
    ended_at: datetime | None = None
    reason: str | None = None  # why it exited or failed


@dataclass(frozen=True)
class Event:
    name: str
    properties: Mapping[str, Any]
    occurred_at: datetime


Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Facts:
    """What the worker knows when it advances a run: the customer's zone, the
    event that woke it (if any), and how to evaluate a segment-grammar
    condition for this customer now (audience/)."""

    zone: ZoneInfo
    condition: Predicate
    event: Event | None = None


@dataclass(frozen=True)
class SendMessage:
    key: str  # the dedupe key: (run, step, seq)
    step_id: str
    channel: Channel  # PREFERRED is resolved by the sender, with the fallbacks
    fallback: tuple[Channel, ...]
    content: Mapping[str, Content]
    store_id: Any  # for store.name: the waking event's store, else the trigger's
    coupon_key: str | None  # for coupon.code and coupon.expires_at


@dataclass(frozen=True)
class IssueCoupon:
    key: str  # idempotency key of the coupon
    step_id: str
    percent_off: int | None
    amount_off: Money | None
    title: str | None
    channels: tuple[str, ...]
    expires_at: datetime
    remind_at: datetime | None


@dataclass(frozen=True)
class AwardPoints:
    key: str  # idempotency key of the ledger posting
    step_id: str
    points: int
    reason: str


@dataclass(frozen=True)
class Suppressed:
    """A step with an effect that this run does not get (the holdout), kept
    for the message log and the stats."""

    key: str
    step_id: str
    reason: str


@dataclass(frozen=True)
class ScheduleWake:
    at: datetime


@dataclass(frozen=True)
class AwaitEvent:
    event: str
    match: Mapping[str, Any]
    timeout_at: datetime


@dataclass(frozen=True)
class Finish:
    status: Status
    reason: str | None = None


Action = SendMessage | IssueCoupon | AwardPoints | Suppressed | ScheduleWake | AwaitEvent | Finish


@dataclass(frozen=True)
class Advance:
    """The run as it must be stored, and the effects to perform, in order,
    in the same transaction as storing it (see journeys.engine)."""

    state: RunState
    actions: tuple[Action, ...] = ()
    path: tuple[str, ...] = ()  # the steps started, in order

    @property
    def changed(self) -> bool:
        return bool(self.actions or self.path)
