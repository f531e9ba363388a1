"""A controlled clock and a stored run, for walking journeys through
journeys.engine.advance the way a worker would (tests only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from journeys.definition import Definition, parse_definition
from journeys.engine import advance, enter
from journeys.run import Action, Advance, Event, Facts, RunState

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def never(_: Mapping[str, Any]) -> bool:
    return False


@dataclass
class Walk:
    """One customer's run, advanced and stored after each call like a worker does."""

    definition: Definition
    run: RunState
    zone: ZoneInfo = PARIS
    condition: Callable[[Mapping[str, Any]], bool] = never
    log: list[Advance] = field(default_factory=list)

    @classmethod
    def start(cls, raw: Mapping[str, Any], now: datetime, trigger: dict[str, Any] | None = None,
              *, customer_id: int | str = 42, journey_id: int | str = 7, run_id: str = "r1",
              condition: Callable[[Mapping[str, Any]], bool] = never,
              zone: ZoneInfo = PARIS) -> tuple[Walk, Advance]:
        definition = parse_definition(raw)
        run = enter(run_id=run_id, journey_id=journey_id, version=1, customer_id=customer_id,
                    entry=1, definition=definition, trigger=trigger, now=now)
        walk = cls(definition, run, zone, condition)
        return walk, walk.at(now)

    def at(self, now: datetime, event: Event | None = None) -> Advance:
        step = advance(self.run, self.definition, now, Facts(self.zone, self.condition, event))
        self.run = step.state
        self.log.append(step)
        return step

    def event(self, now: datetime, name: str, **properties: Any) -> Advance:
        return self.at(now, Event(name, properties, now))


def kinds(actions: tuple[Action, ...]) -> list[str]:
    return [type(a).__name__ for a in actions]
