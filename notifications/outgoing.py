"""Messages that journeys (and later other senders) hand to the channels: one
`notification` row per message, written in the caller's transaction, sent
after commit by the notification worker on the first channel of `channels`
that can carry it (PUSH, INBOX, EMAIL, SMS).

The row's `dedupe_key` is unique: a journey step retried after a crash
enqueues nothing new, so a customer never gets the same step twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.sql import execute, fetch
from notifications.inbox_rows import BODY_MAX, TITLE_MAX, clip
from notifications.models import Status

JOURNEY = "journey.message"
CHANNELS = ("PUSH", "INBOX", "EMAIL", "SMS")


@dataclass(frozen=True)
class Outgoing:
    """One message for `enqueue_many`."""

    customer_id: int
    channels: Sequence[str]
    title: str | None
    body: str
    dedupe_key: str
    journey_id: int | None
    kind: str = JOURNEY
    marketing: bool = True


async def enqueue(
    conn: BaseDBAsyncClient,
    *,
    customer_id: int,
    channels: Sequence[str],
    title: str | None,
    body: str,
    dedupe_key: str,
    journey_id: int | None,
    now: datetime,
    kind: str = JOURNEY,
    marketing: bool = True,
) -> int | None:
    """Queue one message in the caller's transaction; its id, or None when a
    message with this dedupe key exists already (a retried step)."""
    found = await enqueue_many(conn, [Outgoing(customer_id, channels, title, body, dedupe_key,
                                               journey_id, kind, marketing)], now)
    return found.get(dedupe_key)


_COLUMNS = 11
# Rows per statement: far below both databases' limits on parameters.
_CHUNK = 500


async def enqueue_many(conn: BaseDBAsyncClient, messages: Sequence[Outgoing],
                       now: datetime) -> dict[str, int]:
    """Queue many messages in the caller's transaction, one statement per
    500: {dedupe key: id} of those queued now (a key seen before is left out)."""
    for m in messages:
        unknown = [c for c in m.channels if c not in CHANNELS]
        if not m.channels or unknown:
            raise ValueError(f"channels must be among {CHANNELS}, got {list(m.channels)}")
    queued: dict[str, int] = {}
    for first in range(0, len(messages), _CHUNK):
        chunk = messages[first:first + _CHUNK]
        values, args = [], []
        for i, m in enumerate(chunk):
            # Each $n once: SQLite's placeholders are positional (loyalty.platform.sql).
            marks = [f"${i * _COLUMNS + k}" for k in range(1, _COLUMNS + 1)]
            values.append(f"({marks[0]}, NULL, {marks[1]}, {marks[2]}, {marks[3]}, {marks[4]}, "
                          f"{marks[5]}, 0, {', '.join(marks[6:])})")
            args.extend([m.customer_id, m.kind, m.marketing, clip(m.title or "", TITLE_MAX),
                         clip(m.body, BODY_MAX), Status.QUEUED.value, now, now,
                         ",".join(m.channels), m.dedupe_key, m.journey_id])
        rows = await fetch(
            conn,
            "INSERT INTO notification (customer_id, event_id, kind, marketing, title, body, "
            "status, attempts, next_attempt_at, created_at, channels, dedupe_key, journey_id) "
            f"VALUES {', '.join(values)} "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key, id",
            *args,
        )
        queued.update({r[0]: int(r[1]) for r in rows})
    return queued


# A paused journey's messages not yet sent wait without a due time (the
# sender's lease reads `next_attempt_at <= now`, which NULL never is); a
# message being sent right now (reason "sending") is left to finish.
HELD = "journey paused"


async def hold_journey(conn: BaseDBAsyncClient, journey_id: int) -> int:
    """Hold the journey's queued and deferred messages (pauseJourney); how many."""
    return await execute(
        conn, "UPDATE notification SET next_attempt_at = NULL, reason = $1 "
        "WHERE journey_id = $2 AND status IN ($3, $4) "
        "AND (reason IS NULL OR reason <> $5)",
        HELD, journey_id, Status.QUEUED.value, Status.DEFERRED.value, "sending")


async def release_journey(conn: BaseDBAsyncClient, journey_id: int, now: datetime) -> int:
    """Let the held messages go again (the journey published again)."""
    return await execute(
        conn, "UPDATE notification SET next_attempt_at = $1, reason = NULL "
        "WHERE journey_id = $2 AND reason = $3 AND status IN ($4, $5)",
        now, journey_id, HELD, Status.QUEUED.value, Status.DEFERRED.value)


async def cancel_journey(conn: BaseDBAsyncClient, journey_id: int) -> int:
    """The archived journey's unsent messages are suppressed, with the reason."""
    return await execute(
        conn, "UPDATE notification SET status = $1, next_attempt_at = NULL, reason = $2 "
        "WHERE journey_id = $3 AND status IN ($4, $5) "
        "AND (reason IS NULL OR reason <> $6)",
        Status.SUPPRESSED.value, "journey archived", journey_id, Status.QUEUED.value,
        Status.DEFERRED.value, "sending")
