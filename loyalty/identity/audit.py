"""The audit log: who (staff, API client, customer) did what to whom, when and
why. Written in the transaction of the change it records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.identity.tokens import Principal
from loyalty.platform.sql import execute


async def record(
    conn: BaseDBAsyncClient,
    actor: Principal | None,
    action: str,
    *,
    target_kind: str | None = None,
    target_id: int | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """One row; `detail` must hold no personal data (it outlives an erasure)."""
    await execute(
        conn,
        "INSERT INTO audit_log (at, actor_kind, actor_id, action, target_kind, target_id, "
        "reason, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        at or datetime.now(UTC),
        "system" if actor is None else actor.kind,
        None if actor is None else actor.subject_id,
        action,
        target_kind,
        target_id,
        reason,
        None if detail is None else json.dumps(detail, sort_keys=True),
    )


CLIENT_CALL = "api.call"


@dataclass(frozen=True)
class ClientCall:
    """One call made with an API client's key: the operation's root field
    (never the query's text or variables), how it ended, the HTTP status and
    the request id that finds its log lines."""

    client_id: int
    operation: str | None
    outcome: str
    status: int
    request_id: str | None
    at: datetime


async def record_client_calls(calls: list[ClientCall]) -> None:
    """One audit_log row per call, in one statement (api/client_audit.py
    gathers a process's calls and writes them a few times a second)."""
    if not calls:
        return
    values = []
    args: list[Any] = []
    for call in calls:
        n = len(args)
        values.append(f"(${n + 1}, ${n + 2}, ${n + 3}, ${n + 4}, ${n + 5})")
        args += [call.at, "client", call.client_id, CLIENT_CALL,
                 json.dumps({"operation": call.operation, "outcome": call.outcome,
                             "status": call.status, "request_id": call.request_id},
                            sort_keys=True)]
    await execute(connections.get("default"),
                  "INSERT INTO audit_log (at, actor_kind, actor_id, action, detail) VALUES "
                  + ", ".join(values), *args)
