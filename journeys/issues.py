"""What is wrong with a definition, and where: the checks' shared vocabulary.

A check never stops at the first fault: a marketer fixing a journey in an
editor wants every fault at once, each with the path of the field at fault
("steps.s3.timeout"), which the API maps to INVALID_DEFINITION errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from journeys.durations import Duration, parse_duration

T = TypeVar("T")


@dataclass(frozen=True)
class Issue:
    path: str  # dotted, from the definition's root: "steps.s3.timeout"
    message: str


class DefinitionInvalid(ValueError):
    """A definition that does not validate; `issues` lists every fault found."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = tuple(issues)
        first = self.issues[0] if self.issues else Issue("", "invalid")
        more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(f"{first.path}: {first.message}{more}")


def join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


class Issues:
    """Collects faults while checking; typed readers return None on a fault."""

    def __init__(self) -> None:
        self.found: list[Issue] = []

    def add(self, path: str, message: str) -> None:
        self.found.append(Issue(path, message))

    def extend(self, issues: Iterable[Issue]) -> None:
        self.found.extend(issues)

    def obj(self, value: Any, path: str, *, required: Iterable[str] = (),
            optional: Iterable[str] = ()) -> Mapping[str, Any] | None:
        """`value` if it is an object whose keys are among the given ones,
        with every required one; each unknown or missing key is a fault."""
        if not isinstance(value, Mapping):
            self.add(path, f"must be an object, not {kind_of(value)}")
            return None
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in value:
            if key not in allowed:
                self.add(join(path, str(key)), "unknown field")
        for key in required:
            if key not in value:
                self.add(join(path, key), "is required")
        return value

    def string(self, value: Any, path: str, *, max_length: int = 200) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.add(path, "must be a non-empty string")
            return None
        if len(value) > max_length:
            self.add(path, f"longer than {max_length} characters")
            return None
        return value

    def integer(self, value: Any, path: str, low: int, high: int) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool):
            self.add(path, f"must be a whole number, not {kind_of(value)}")
            return None
        if not low <= value <= high:
            self.add(path, f"must be between {low} and {high}")
            return None
        return value

    def duration(self, value: Any, path: str, *, positive: bool = True) -> Duration | None:
        return self.parsed(value, path, parse_duration, positive_duration if positive else None)

    def parsed(self, value: Any, path: str, parse: Callable[[Any], T],
               then: Callable[[T], None] | None = None) -> T | None:
        """`parse(value)`, its ValueError recorded as the fault at `path`."""
        try:
            result = parse(value)
            if then is not None:
                then(result)
        except ValueError as exc:
            self.add(path, str(exc))
            return None
        return result


def positive_duration(duration: Duration) -> None:
    # A zero wait inside a loop would spin: every wait takes some time.
    if duration.is_zero:
        raise ValueError("must be longer than zero")
