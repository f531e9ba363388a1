"""Fan-out (events -> deliveries) and delivery (deliveries -> POSTs), both
run by `loyalty worker` beside the push passes, safe with several workers.

- Fan-out reads unread events through the outbox adapter (events.py), writes
  one delivery per (subscribed active webhook, event) and marks the events
  read, in one transaction. One worker fans out at a time (a transaction
  advisory lock on PostgreSQL; SQLite has one writer), so a customer's
  deliveries get their events' order.
- Delivery claims due deliveries with FOR UPDATE SKIP LOCKED, never one whose
  customer has an earlier delivery still pending to the same webhook (in
  order per customer), leases them, POSTs them side by side outside any
  transaction, then records each outcome: 2xx delivered; otherwise retried
  after an exponential back-off with jitter, failed after its last attempt.
  A webhook whose attempts fail `webhook_disable_after_failures` times in a
  row is disabled; redelivering enables it again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import random
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from loyalty.platform.config import Settings, get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import (
    as_datetime,
    execute,
    execute_numbered,
    fetch,
    fetchrow,
    is_pg,
    placeholders,
    skip_locked,
)
from notifications.webhooks.events import DomainEvent, mark_read, unread_events
from notifications.webhooks.signing import HEADER, signature

log = logging.getLogger(__name__)

_INSERT_CHUNK = 100


def _subscribed(events: list[str], kind: str) -> bool:
    return "*" in events or kind in events


async def fan_out(now: datetime | None = None, limit: int = 1000) -> int:
    """Deliveries written for the next unread events; 0 when there is nothing
    to read or another worker is fanning out."""
    now = now or datetime.now(UTC)
    async with transaction() as conn:
        if is_pg(conn):
            got = await fetchrow(conn, "SELECT pg_try_advisory_xact_lock(hashtext($1))",
                                 "webhook_fanout")
            if got is None or not got[0]:
                return 0
        events = await unread_events(conn, limit)
        if not events:
            return 0
        hooks = [(r[0], _list(r[1]), as_datetime(r[2])) for r in await fetch(
            conn, "SELECT id, events, created_at FROM webhook WHERE active = $1", True)]
        rows: list[tuple[object, ...]] = []
        for event in events:
            if not event.for_webhooks:
                continue
            body = None
            for hook_id, kinds, created_at in hooks:
                # A webhook receives what happens from its creation on.
                if created_at <= event.created_at and _subscribed(kinds, event.kind):
                    body = body or event.body()
                    rows.append((hook_id, event.id, event.kind, event.customer_id, body, now))
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start:start + _INSERT_CHUNK]
            values = ", ".join(
                f"(${i * 6 + 1}, ${i * 6 + 2}, ${i * 6 + 3}, ${i * 6 + 4}, ${i * 6 + 5}, "
                f"'pending', 0, ${i * 6 + 6}, ${i * 6 + 6})" for i in range(len(chunk)))
            # $n stands twice for the same value: execute_numbered.
            await execute_numbered(
                conn,
                "INSERT INTO webhook_delivery (webhook_id, event_id, event, customer_id, body, "
                f"status, attempts, next_attempt_at, created_at) VALUES {values} "
                "ON CONFLICT DO NOTHING",
                *[v for row in chunk for v in row],
            )
        await mark_read(conn, events, now)
    return len(rows)


@dataclass(frozen=True)
class Due:
    id: int
    webhook_id: int
    url: str
    secret: str
    event: str
    body: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    due: Due
    code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


_CLAIM = (
    "SELECT d.id, d.webhook_id, w.url, w.secret, d.event, d.body, d.attempts "
    "FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id "
    "WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.active = $2 "
    "AND (d.customer_id IS NULL OR NOT EXISTS (SELECT 1 FROM webhook_delivery e "
    "WHERE e.webhook_id = d.webhook_id AND e.customer_id = d.customer_id "
    "AND e.status = 'pending' AND e.event_id < d.event_id)) "
    "ORDER BY d.id LIMIT $3"
)


async def claim_due(now: datetime, limit: int, settings: Settings) -> list[Due]:
    lease = now + timedelta(seconds=settings.webhook_timeout_seconds + 5)
    async with transaction() as conn:
        rows = await fetch(conn, skip_locked(conn, _CLAIM, of="d"), now, True, limit)
        due = [Due(*r) for r in rows]
        for start in range(0, len(due), 500):
            chunk = [d.id for d in due[start:start + 500]]
            marks = placeholders(len(chunk), 2)
            await execute(conn, "UPDATE webhook_delivery SET next_attempt_at = $1 "
                          f"WHERE id IN ({marks})", lease, *chunk)
    return due


async def send(client: httpx.AsyncClient, due: Due, seconds: float) -> Outcome:
    body = due.body.encode()
    headers = {"content-type": "application/json", HEADER: signature(due.secret, body),
               "Loyalty-Event": due.event, "Loyalty-Delivery": str(due.id)}
    try:
        # The timeout is the endpoint's: waiting for one of the client's
        # pooled connections is not the endpoint being slow.
        response = await client.post(due.url, content=body, headers=headers,
                                     timeout=httpx.Timeout(seconds, pool=None))
    except httpx.TimeoutException:
        return Outcome(due, None, "timeout")
    except httpx.HTTPError as exc:
        return Outcome(due, None, type(exc).__name__)
    return Outcome(due, response.status_code, None if response.is_success
                   else f"HTTP {response.status_code}")


def backoff(attempts: int, settings: Settings) -> float:
    """Seconds before attempt `attempts + 1`: doubled each time, capped, and
    jittered between half and all of it so that retries do not arrive in step."""
    delay = min(settings.webhook_backoff_max_seconds,
                settings.webhook_backoff_seconds * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)


async def record(outcomes: list[Outcome], now: datetime, settings: Settings) -> None:
    delivered: dict[int, list[int]] = defaultdict(list)
    per_hook: dict[int, tuple[int, int]] = {}
    async with transaction() as conn:
        for o in outcomes:
            ok, failed = per_hook.get(o.due.webhook_id, (0, 0))
            if o.ok:
                assert o.code is not None
                delivered[o.code].append(o.due.id)
                per_hook[o.due.webhook_id] = (ok + 1, failed)
                continue
            per_hook[o.due.webhook_id] = (ok, failed + 1)
            attempts = o.due.attempts + 1
            if attempts >= settings.webhook_max_attempts:
                await execute(conn, "UPDATE webhook_delivery SET status = 'failed', attempts = $1, "
                              "last_response_code = $2, last_error = $3 WHERE id = $4",
                              attempts, o.code, o.error, o.due.id)
            else:
                await execute(conn, "UPDATE webhook_delivery SET attempts = $1, "
                              "last_response_code = $2, last_error = $3, next_attempt_at = $4 "
                              "WHERE id = $5", attempts, o.code, o.error,
                              now + timedelta(seconds=backoff(attempts, settings)), o.due.id)
        for code, ids in delivered.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = placeholders(len(chunk), 3)
                await execute(conn, "UPDATE webhook_delivery SET status = 'delivered', "
                              "attempts = attempts + 1, last_response_code = $1, "
                              f"last_error = NULL, delivered_at = $2 WHERE id IN ({marks})",
                              code, now, *chunk)
        for hook_id, (ok, failed) in sorted(per_hook.items()):
            if ok:
                await execute(conn, "UPDATE webhook SET consecutive_failures = $1 WHERE id = $2",
                              0, hook_id)
                continue
            row = await fetchrow(conn, "UPDATE webhook SET consecutive_failures = "
                                 "consecutive_failures + $1 WHERE id = $2 "
                                 "RETURNING consecutive_failures", failed, hook_id)
            if row is not None and row[0] >= settings.webhook_disable_after_failures:
                await execute(conn, "UPDATE webhook SET active = $1, disabled_at = $2 "
                              "WHERE id = $3 AND active = $4", False, now, hook_id, True)
                log.warning("webhook %s disabled after %s failed attempts in a row",
                            hook_id, row[0])


async def deliver_due(sender: Sender, limit: int = 200,
                      settings: Settings | None = None) -> int:
    """One pass: claim, POST side by side, record. Returns deliveries attempted."""
    settings = settings or get_settings()
    due = await claim_due(datetime.now(UTC), limit, settings)
    if not due:
        return 0
    outcomes = await sender.send_all(due, settings.webhook_timeout_seconds)
    await record(outcomes, datetime.now(UTC), settings)
    return len(due)


async def run_once(sender: Sender, settings: Settings | None = None) -> int:
    """Fan out, then deliver: how much work was done (0: idle)."""
    fanned = await fan_out()
    return fanned + await deliver_due(sender, settings=settings)


# Deliveries in flight at once, one connection each.
LANES = 32


class Sender:
    """`lanes` httpx clients of one connection each, each sending one delivery
    after another. One client with a pool of N connections costs quadratic CPU
    once many requests queue on it (httpcore rescans every connection for
    every queued request when one starts or ends: 820 requests/s with 32
    one-connection clients against 158/s with one 32-connection client on
    this machine; docs/adr/0004 saw the same with FCM)."""

    def __init__(self, lanes: int = LANES) -> None:
        self.clients = [_client() for _ in range(lanes)]

    async def send_all(self, due: list[Due], seconds: float) -> list[Outcome]:
        queue = collections.deque(due)
        outcomes: list[Outcome] = []

        async def lane(client: httpx.AsyncClient) -> None:
            while queue:
                outcomes.append(await send(client, queue.popleft(), seconds))

        await asyncio.gather(*(lane(c) for c in self.clients[:len(due)]))
        return outcomes

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients))

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _client() -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # httpcore writes a request's head and body separately: without
    # TCP_NODELAY the body waits for the head's ACK, which the receiver may
    # delay while it waits for the body.
    transport = httpx.AsyncHTTPTransport(
        limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    # Redirects are not followed: a signed delivery goes where it was told.
    return httpx.AsyncClient(transport=transport, follow_redirects=False)


def new_client() -> Sender:
    return Sender()


async def run_until(stop: asyncio.Event, settings: Settings | None = None, *,
                    passes: int = 2, limit: int = 500, idle_seconds: float | None = None
                    ) -> None:
    """What `loyalty worker` runs: one fan-out loop and `passes` delivery
    loops side by side (each with its own lanes), so that one claims and
    records in the database while another waits on the endpoints. Passes
    claim disjoint deliveries (SKIP LOCKED) and never a customer's next one
    while an earlier one is pending, whichever pass holds it."""
    settings = settings or get_settings()
    idle = settings.worker_poll_seconds if idle_seconds is None else idle_seconds

    async def forever(step: Callable[[], Awaitable[int]]) -> None:
        while not stop.is_set():
            try:
                done = await step()
            except Exception:  # a database blip must not kill the worker
                log.exception("webhook pass failed")
                done = 0
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle)

    senders = [Sender(max(1, LANES // passes)) for _ in range(passes)]
    try:
        await asyncio.gather(
            forever(lambda: fan_out(limit=4 * limit)),
            *(forever(functools.partial(deliver_due, sender, limit, settings))
              for sender in senders))
    finally:
        await asyncio.gather(*(s.aclose() for s in senders))


def _list(value: object) -> list[str]:
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value or [])  # type: ignore[call-overload]


__all__ = ["DomainEvent", "deliver_due", "fan_out", "new_client", "run_once"]
