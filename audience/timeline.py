"""A customer's timeline for the 360 view: the channels they use, the one
they respond to best, their events (newest first) and the messages sent to
them (notification rows, read through SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise import connections

from loyalty.platform.sql import as_datetime, fetch, placeholders

# What an open or a click says of the channel it came through.
RESPONSE_CHANNEL = {"push_opened": "PUSH", "email_opened": "EMAIL", "email_clicked": "EMAIL",
                    "sms_clicked": "SMS", "inbox_read": "INBOX"}
# Ties go to the channel first here.
CHANNEL_ORDER = ("PUSH", "INBOX", "EMAIL", "SMS")


@dataclass(frozen=True)
class Activity:
    # Every channel the customer bought or engaged on (the server's own SYSTEM
    # events aside), as the `channels` segment condition counts them.
    channels: list[str]
    # The message channel they open or click most (inbox reads count for
    # INBOX); None without any response.
    preferred: str | None


async def activity_of(customer_ids: list[int]) -> dict[int, Activity]:
    """Channels and preferred channel, for many customers in one statement:
    each customer's events are read once, grouped by channel and name."""
    if not customer_ids:
        return {}
    n = len(customer_ids)
    rows = await fetch(
        connections.get("default"),
        "SELECT customer_id, 'e', channel, name, COUNT(*) FROM customer_event "
        f"WHERE customer_id IN ({placeholders(n)}) GROUP BY customer_id, channel, name "
        "UNION ALL SELECT customer_id, 'p', channel, '', COUNT(*) FROM purchase "
        f"WHERE customer_id IN ({placeholders(n, n + 1)}) GROUP BY customer_id, channel "
        "UNION ALL SELECT customer_id, 'n', '', 'inbox_read', COUNT(*) FROM notification "
        f"WHERE customer_id IN ({placeholders(n, 2 * n + 1)}) AND read_at IS NOT NULL "
        "GROUP BY customer_id",
        *customer_ids, *customer_ids, *customer_ids)
    channels: dict[int, set[str]] = {i: set() for i in customer_ids}
    counts: dict[int, dict[str, int]] = {i: {} for i in customer_ids}
    for customer_id, source, channel, name, count in rows:
        customer_id = int(customer_id)
        if source != "n" and channel != "SYSTEM":
            channels[customer_id].add(channel)
        responded = RESPONSE_CHANNEL.get(name)
        if responded is not None:
            mine = counts[customer_id]
            mine[responded] = mine.get(responded, 0) + int(count)
    return {i: Activity(sorted(channels[i]), _preferred(counts[i])) for i in customer_ids}


def _preferred(counts: dict[str, int]) -> str | None:
    if not counts:
        return None
    return max(CHANNEL_ORDER, key=lambda ch: (counts.get(ch, 0), -CHANNEL_ORDER.index(ch)))


@dataclass(frozen=True)
class EventView:
    id: int
    name: str
    channel: str
    occurred_at: datetime
    properties: Any


async def events_of(customer_id: int, first: int,
                    before: tuple[datetime, int] | None) -> list[EventView]:
    """The customer's events, newest first, after the cursor (occurredAt, id)."""
    args: list[Any] = [customer_id]
    cursor = ""
    if before is not None:
        args += [before[0], before[0], before[1]]
        cursor = " AND (occurred_at < $2 OR (occurred_at = $3 AND id < $4))"
    args.append(first)
    rows = await fetch(
        connections.get("default"),
        "SELECT id, name, channel, occurred_at, properties FROM customer_event "
        f"WHERE customer_id = $1{cursor} ORDER BY occurred_at DESC, id DESC LIMIT ${len(args)}",
        *args)
    return [EventView(int(r[0]), r[1], r[2], as_datetime(r[3]),
                      orjson.loads(r[4]) if isinstance(r[4], str) else r[4]) for r in rows]


@dataclass(frozen=True)
class MessageView:
    id: int
    channel: str
    title: str | None
    body: str
    status: str
    sent_at: datetime | None
    opened_at: datetime | None
    journey_id: int | None = None


def _channel(channel: str | None, status: str, channels: str | None) -> str:
    """The channel that carried it (or was tried). Rows written before the
    column was: a pushed one is PUSH, one left in the inbox INBOX; one not
    sent yet names the first channel it will try."""
    if channel:
        return channel
    if status == "sent":
        return "PUSH"
    if status in ("queued", "deferred", "suppressed") and channels:
        return channels.split(",", 1)[0]
    return "INBOX"


async def messages_of(customer_id: int, first: int, before_id: int | None) -> list[MessageView]:
    """Messages sent to the customer on any channel, newest first, with what
    became of each (queued, deferred, sent, inbox, failed, suppressed) and the
    journey that sent it."""
    args: list[Any] = [customer_id]
    cursor = ""
    if before_id is not None:
        args.append(before_id)
        cursor = " AND id < $2"
    args.append(first)
    rows = await fetch(
        connections.get("default"),
        "SELECT id, status, title, body, sent_at, read_at, created_at, channel, channels, "
        f"journey_id FROM notification WHERE customer_id = $1{cursor} "
        f"ORDER BY id DESC LIMIT ${len(args)}", *args)
    return [MessageView(int(r[0]), _channel(r[7], r[1], r[8]), r[2], r[3], r[1],
                        as_datetime(r[4]) if r[4] is not None
                        else (as_datetime(r[6]) if r[1] == "inbox" else None),
                        None if r[5] is None else as_datetime(r[5]),
                        None if r[9] is None else int(r[9])) for r in rows]
