"""A journey's steps: one frozen class per step type, and the ways out of
each. Their JSON is checked by journeys.grammar."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from journeys.durations import Duration

LANGUAGES = ("fr", "en")
STEP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Channel(StrEnum):
    EMAIL = "EMAIL"
    PUSH = "PUSH"
    INBOX = "INBOX"
    SMS = "SMS"
    PREFERRED = "PREFERRED"  # the customer's preferred channel (audience), then the fallbacks


@dataclass(frozen=True)
class Content:
    title: str | None
    body: str


@dataclass(frozen=True)
class Message:
    id: str
    channel: Channel
    fallback: tuple[Channel, ...]
    content: Mapping[str, Content]  # language ("fr", "en") -> content
    next: str


@dataclass(frozen=True)
class Wait:
    id: str
    next: str
    duration: Duration | None = None
    until: time | None = None  # a local time of day in the customer's zone


@dataclass(frozen=True)
class WaitFor:
    id: str
    event: str
    match: Mapping[str, Any]  # values may be "{{ trigger.x }}", resolved on arrival
    timeout: Duration
    next: str
    timeout_next: str


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class IssueCoupon:
    id: str
    valid_for: Duration
    channels: tuple[str, ...]
    next: str
    percent_off: int | None = None
    amount_off: Money | None = None
    remind_before: Duration | None = None
    title: str | None = None


@dataclass(frozen=True)
class AwardPoints:
    id: str
    points: int
    reason: str
    next: str


@dataclass(frozen=True)
class Branch:
    id: str
    condition: Mapping[str, Any]  # segment grammar, may hold trigger references
    then: str
    otherwise: str  # "else" in JSON


@dataclass(frozen=True)
class Arm:
    name: str
    percent: int
    next: str


@dataclass(frozen=True)
class Split:
    id: str
    arms: tuple[Arm, ...]


@dataclass(frozen=True)
class Exit:
    id: str


Step = Message | Wait | WaitFor | IssueCoupon | AwardPoints | Branch | Split | Exit
WAITS = (Wait, WaitFor)


def targets(step: Step) -> list[tuple[str, str]]:
    """(field path relative to the step, target step id) of every way out."""
    if isinstance(step, Exit):
        return []
    if isinstance(step, WaitFor):
        return [("next", step.next), ("timeoutNext", step.timeout_next)]
    if isinstance(step, Branch):
        return [("then", step.then), ("else", step.otherwise)]
    if isinstance(step, Split):
        return [(f"arms.{i}.next", arm.next) for i, arm in enumerate(step.arms)]
    return [("next", step.next)]


def raw_targets(raw: Any) -> list[tuple[str, str]]:
    """(field path, target) of the step ids a step's JSON names, valid or not."""
    if not isinstance(raw, Mapping):
        return []
    found = [(key, raw[key]) for key in ("next", "timeoutNext", "then", "else")
             if isinstance(raw.get(key), str)]
    arms = raw.get("arms")
    for i, arm in enumerate(arms if isinstance(arms, list) else []):
        if isinstance(arm, Mapping) and isinstance(arm.get("next"), str):
            found.append((f"arms.{i}.next", arm["next"]))
    return found


def thaw(value: Any) -> Any:
    """A frozen (or any) JSON value as plain dicts and lists, for storage."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def freeze(value: Any) -> Any:
    """A JSON value made read-only: objects as mapping proxies, lists as tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value
