"""The inbox rows the outbox consumer writes when it claims events: one per
(event, customer), its status decided by the marketing cap."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.events import CampaignMessage, VisitAccepted
from loyalty.platform.sql import fetch
from notifications.models import Status
from notifications.policy import Policy

# Messages the customer did not cause by spending or earning: they need
# marketing consent and count under the daily marketing cap.
MARKETING = frozenset({CampaignMessage.kind, VisitAccepted.kind})


TITLE_MAX, BODY_MAX = 200, 1000  # notification.title / body column sizes


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class InboxRow:
    # One event's inbox row, rendered (phase 1, no database) before it is written.
    event_id: int
    kind: str
    customer_id: int
    title: str
    body: str
    attempts: int


async def write_row(
    conn: BaseDBAsyncClient, m: InboxRow, today: Counter[int], now: datetime, policy: Policy
) -> Status | None:
    """Inserts the inbox row; its status, or None if it was there already (a replay).
    Counts it in `today` only once written, so a refused insert counts nothing."""
    status, reason = Status.QUEUED, None
    marketing = m.kind in MARKETING
    if marketing and today[m.customer_id] >= policy.marketing_daily_cap:
        status, reason = Status.INBOX, "marketing cap"
    inserted = await fetch(
        conn,
        "INSERT INTO notification (customer_id, event_id, kind, marketing, title, body, "
        "status, reason, attempts, next_attempt_at, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10) "
        "ON CONFLICT (event_id, customer_id) DO NOTHING RETURNING id",
        m.customer_id,
        m.event_id,
        m.kind,
        marketing,
        # Store and first names are long enough to overflow the
        # columns; one oversized message must not stall the outbox.
        clip(m.title, TITLE_MAX),
        clip(m.body, BODY_MAX),
        status.value,
        reason,
        now if status == Status.QUEUED else None,
        now,
    )
    if not inserted:
        return None
    if marketing and status == Status.QUEUED:
        today[m.customer_id] += 1
    return status


_NOTIFICATION_COLUMNS = (
    "INSERT INTO notification (customer_id, event_id, kind, marketing, title, body, "
    "status, reason, attempts, next_attempt_at, created_at) VALUES "
)
_ROWS_PER_INSERT = 200  # 10 parameters a row: far below either database's limit


async def write_rows(
    conn: BaseDBAsyncClient,
    messages: list[InboxRow],
    today: Counter[int],
    now: datetime,
    policy: Policy,
) -> list[Status | None]:
    """write_row for a whole batch in a few multi-row statements (one round trip
    per 200 rows instead of one per message). The cap is counted as the rows
    are planned: a row already there (a replay) cannot occur within one claim,
    whose rows and processed_at commit together."""
    planned: list[tuple[InboxRow, Status, str | None]] = []
    for m in messages:
        status, reason = Status.QUEUED, None
        if m.kind in MARKETING:
            if today[m.customer_id] >= policy.marketing_daily_cap:
                status, reason = Status.INBOX, "marketing cap"
            else:
                today[m.customer_id] += 1
        planned.append((m, status, reason))
    inserted: set[tuple[int, int]] = set()
    for start in range(0, len(planned), _ROWS_PER_INSERT):
        chunk = planned[start : start + _ROWS_PER_INSERT]
        args: list[Any] = []
        rows = []
        for m, status, reason in chunk:
            n = len(args)
            rows.append(
                f"(${n + 1}, ${n + 2}, ${n + 3}, ${n + 4}, ${n + 5}, ${n + 6}, ${n + 7}, "
                f"${n + 8}, 0, ${n + 9}, ${n + 10})"
            )
            args += [
                m.customer_id, m.event_id, m.kind, m.kind in MARKETING,
                clip(m.title, TITLE_MAX), clip(m.body, BODY_MAX), status.value, reason,
                now if status == Status.QUEUED else None, now,
            ]
        returned = await fetch(
            conn,
            _NOTIFICATION_COLUMNS + ", ".join(rows)
            + " ON CONFLICT (event_id, customer_id) DO NOTHING RETURNING event_id, customer_id",
            *args,
        )
        inserted.update((r[0], r[1]) for r in returned)
    return [
        status if (m.event_id, m.customer_id) in inserted else None for m, status, _ in planned
    ]
