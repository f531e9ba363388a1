"""Messages that journeys (and later other senders) hand to the channels: one
`notification` row per message, written in the caller's transaction, sent
after commit by the notification worker on the first channel of `channels`
that can carry it (PUSH, INBOX, EMAIL, SMS).

The row's `dedupe_key` is unique: a journey step retried after a crash
enqueues nothing new, so a customer never gets the same step twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.sql import fetchrow
from notifications.inbox_rows import BODY_MAX, TITLE_MAX, clip
from notifications.models import Status

JOURNEY = "journey.message"
CHANNELS = ("PUSH", "INBOX", "EMAIL", "SMS")


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
    unknown = [c for c in channels if c not in CHANNELS]
    if not channels or unknown:
        raise ValueError(f"channels must be among {CHANNELS}, got {list(channels)}")
    row = await fetchrow(
        conn,
        "INSERT INTO notification (customer_id, event_id, kind, marketing, title, body, "
        "status, attempts, next_attempt_at, created_at, channels, dedupe_key, journey_id) "
        # Each $n once: SQLite's placeholders are positional (loyalty.sql).
        "VALUES ($1, NULL, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $11) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        customer_id, kind, marketing, clip(title or "", TITLE_MAX), clip(body, BODY_MAX),
        Status.QUEUED.value, now, now, ",".join(channels), dedupe_key, journey_id,
    )
    return None if row is None else int(row[0])
