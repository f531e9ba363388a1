"""Each request seen by an operator: one log line and its metrics.

The edge (api/edge.py) times every HTTP request and writes one line when its
response ends (`api.access`: request id, method, path, status, duration, the GraphQL
operation, who asked); the schema's guard (api/guard.py) and the home
screen's fast path name the operation (`record_operation`) in the request's
scope on the way. Costs are kept to a few dictionary reads and two metric
increments per request: the home screen takes about 0.3 ms of CPU.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from graphql import FieldNode, OperationDefinitionNode, OperationType
from starlette.types import Scope

from observability.metrics import (
    GRAPHQL_DURATION,
    GRAPHQL_ERRORS,
    GRAPHQL_OPERATIONS,
    HTTP_DURATION,
    HTTP_REQUESTS,
)

# The per-request line's logger, set by api/logs.py: none (no line) until
# the process configures its logging, as tests and embedders may not.
access_log: Any = None

# Where the request's operation is written for the log line.
OPERATION = "loyalty.operation"
OPERATION_NAME = "loyalty.operation_name"
OUTCOME = "loyalty.outcome"
INVALID = "(invalid)"
MULTIPLE = "(multiple)"
ROUTES = {"/graphql": "/graphql", "/healthz": "/healthz", "/readyz": "/readyz",
          "/metrics": "/metrics"}
STATIC_PREFIX = "/graphiql/"
# What of a client's operation name reaches the log: a GraphQL name, bounded.
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")

# Operation labels by (hash of the query, its length, the operation chosen):
# the hash of a str is kept by the str, and keys stay small whatever the
# queries' size. A collision would cost a wrong label, nothing else.
_labels: dict[tuple[int, int, str | None], tuple[str, bool]] = {}
_MAX_LABELS = 1024


def route_of(path: str) -> str:
    route = ROUTES.get(path)
    if route is not None:
        return route
    return "/graphiql" if path.startswith(STATIC_PREFIX) else "other"


def _root_label(document: Any, operation_name: str | None) -> tuple[str, bool]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None
              or (o.name is not None and o.name.value == operation_name)]
    if len(chosen) != 1:
        return INVALID, False
    subscription = chosen[0].operation == OperationType.SUBSCRIPTION
    fields = chosen[0].selection_set.selections
    if len(fields) != 1 or not isinstance(fields[0], FieldNode):
        return MULTIPLE, subscription
    # A field the schema has: validation passed before this is reached.
    return fields[0].name.value, subscription


def describe_operation(query: str | None, document: Any, operation_name: str | None,
                       valid: bool) -> tuple[str, bool]:
    """The operation's label and whether it is a subscription."""
    if not valid or document is None or query is None:
        return INVALID, False
    key = (hash(query), len(query), operation_name)
    described = _labels.get(key)
    if described is None:
        described = _root_label(document, operation_name)
        if len(_labels) >= _MAX_LABELS:
            _labels.clear()
        _labels[key] = described
    return described


def outcome_of(errors: list[Any] | None) -> str:
    if not errors:
        return "ok"
    codes = {(e.extensions or {}).get("code") for e in errors}
    return "internal" if "INTERNAL" in codes else "error"


def record_operation(scope: MutableMapping[str, Any] | None, label: str, operation_name: str | None,
                     outcome: str, seconds: float | None) -> None:
    """Count one GraphQL operation; `seconds` is None for a subscription (its
    time is its life). The scope (the request's or socket's) gets the label
    for the log line."""
    counter, histogram = _operation_metrics(label, outcome)
    counter.inc()
    if seconds is not None:
        histogram.observe(seconds)
    if scope is not None:
        scope[OPERATION] = label
        scope[OUTCOME] = outcome
        if operation_name and _NAME.fullmatch(operation_name):
            scope[OPERATION_NAME] = operation_name


# Each label set's metric children, looked up once: `labels()` takes a lock
# and converts its values on every call, a microsecond or more each. The keys
# are bounded (routes and statuses of the app, root fields of the schema).
_operations: dict[tuple[str, str], tuple[Any, Any]] = {}
_routes: dict[tuple[str, int], tuple[Any, Any]] = {}


def _operation_metrics(label: str, outcome: str) -> tuple[Any, Any]:
    found = _operations.get((label, outcome))
    if found is None:
        found = (GRAPHQL_OPERATIONS.labels(label, outcome), GRAPHQL_DURATION.labels(label))
        _operations[(label, outcome)] = found
    return found


def _route_metrics(route: str, status: int) -> tuple[Any, Any]:
    found = _routes.get((route, status))
    if found is None:
        found = (HTTP_REQUESTS.labels(route, status), HTTP_DURATION.labels(route))
        _routes[(route, status)] = found
    return found


def count_error(code: str) -> None:
    GRAPHQL_ERRORS.labels(code).inc()


def flush_log() -> None:
    """Write out the request lines still buffered (api/logs.py), at shutdown."""
    flush = getattr(access_log, "flush", None)
    if flush is not None:
        flush()


def request_done(scope: Scope, status: int, seconds: float) -> None:
    """Count and log an HTTP request whose response has ended (api/edge.py)."""
    path = scope["path"]
    route = route_of(path)
    counter, histogram = _route_metrics(route, status)
    counter.inc()
    histogram.observe(seconds)
    if access_log is not None:
        _log_request(scope, route, path, status, seconds)


def _log_request(scope: Scope, route: str, path: str, status: int, seconds: float) -> None:
    principal = getattr(scope.get("user"), "principal", None)
    access_log.info(
        "request",
        method=scope["method"],
        # The app's own paths; anything else is a client's text, not logged.
        path=path if route != "other" else "(other)",
        status=status,
        duration_ms=round(seconds * 1000, 3),
        operation=scope.get(OPERATION),
        operation_name=scope.get(OPERATION_NAME),
        principal=principal.kind if principal is not None else None,
        principal_id=principal.subject_id if principal is not None else None,
        role=principal.role if principal is not None else None,
    )
