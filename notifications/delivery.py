"""Sending due notifications: lease, push outside any transaction, record
the outcome per device, retry with back-off or give up with a reason."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from loyalty.config import Settings
from loyalty.sql import execute, fetch, is_pg
from notifications.models import Status
from notifications.preferences import quiet_until
from notifications.push import PushMessage, PushOutcome, PushSender, PushUnavailable
from notifications.stats import RunStats

log = logging.getLogger(__name__)

# The default lease (notifications.policy.Policy.lease_seconds).
LEASE = timedelta(minutes=5)


def placeholders(first: int, count: int) -> str:
    return ", ".join(f"${i}" for i in range(first, first + count))


def skip_locked(conn: BaseDBAsyncClient, statement: str, of: str | None = None) -> str:
    # SQLite has a single writer: its transaction is the lock.
    if not is_pg(conn):
        return statement
    return statement + (f" FOR UPDATE OF {of} SKIP LOCKED" if of else " FOR UPDATE SKIP LOCKED")


def payload_of(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str | bytes) else dict(value or {})


@dataclass
class _Due:
    id: int
    customer_id: int
    title: str
    body: str
    kind: str
    marketing: bool
    attempts: int
    push_opt_in: bool
    marketing_opt_in: bool
    timezone: str
    quiet_start: str | None
    quiet_end: str | None
    outcomes: list[PushOutcome] = field(default_factory=list)


async def _lease_due(batch_size: int, now: datetime, lease: timedelta) -> list[_Due]:
    async with in_transaction() as conn:
        rows = await fetch(
            conn,
            skip_locked(
                conn,
                "SELECT n.id, n.customer_id, n.title, n.body, n.kind, n.marketing, "
                "n.attempts, c.push_opt_in, c.marketing_opt_in, c.timezone, "
                "c.quiet_hours_start, c.quiet_hours_end FROM notification n "
                "JOIN customer c ON c.id = n.customer_id "
                "WHERE n.status IN ('queued', 'deferred') AND n.next_attempt_at <= $1 "
                "ORDER BY n.next_attempt_at, n.id LIMIT $2",
                of="n",
            ),
            now,
            batch_size,
        )
        if rows:
            await execute(
                conn,
                "UPDATE notification SET next_attempt_at = $1 "
                f"WHERE id IN ({placeholders(2, len(rows))})",
                now + lease,
                *[r[0] for r in rows],
            )
    return [
        _Due(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            bool(r[5]),
            r[6],
            bool(r[7]),
            bool(r[8]),
            r[9],
            r[10],
            r[11],
        )
        for r in rows
    ]


def backoff(attempts: int, settings: Settings, retry_after: float | None) -> timedelta:
    """Exponential, with jitter so that retries of one outage spread out, and
    never sooner than FCM's Retry-After."""
    base = min(
        settings.push_backoff_max_seconds, settings.push_backoff_seconds * 2 ** max(0, attempts - 1)
    )
    delay = base * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


async def _set(
    conn: BaseDBAsyncClient,
    n: _Due,
    status: Status,
    *,
    reason: str | None,
    attempts: int,
    next_at: datetime | None,
    sent_at: datetime | None,
) -> None:
    await execute(
        conn,
        "UPDATE notification SET status = $1, reason = $2, attempts = $3, next_attempt_at = $4, "
        "sent_at = COALESCE(sent_at, $5) WHERE id = $6",
        status.value,
        reason,
        attempts,
        next_at,
        sent_at,
        n.id,
    )


async def send_due(
    batch_size: int,
    now: datetime,
    sender: PushSender | None,
    stats: RunStats,
    settings: Settings,
    lease: timedelta = LEASE,
) -> None:
    due = await _lease_due(batch_size, now, lease)
    if not due:
        return
    conn = connections.get("default")
    to_push: list[_Due] = []
    async with in_transaction() as tx:
        for n in due:
            if n.marketing and not n.marketing_opt_in:
                # Consent withdrawn after the message was queued: it leaves the
                # inbox too, as if it had never been written.
                await execute(tx, "DELETE FROM notification WHERE id = $1", n.id)
                stats.skipped += 1
                continue
            reason = None
            if not n.push_opt_in:
                reason = "push opt-out"
            elif sender is None:
                reason = "no push credentials"
                log.info(
                    "inbox only (no FIREBASE_CREDENTIALS) for customer %s: %s / %s",
                    n.customer_id,
                    n.title,
                    n.body,
                )
            if reason is not None:
                await _set(
                    tx,
                    n,
                    Status.INBOX,
                    reason=reason,
                    attempts=n.attempts,
                    next_at=None,
                    sent_at=None,
                )
                stats.inbox_only += 1
                continue
            until = quiet_until(now, n.timezone, n.quiet_start, n.quiet_end)
            if until is not None:
                await _set(
                    tx,
                    n,
                    Status.DEFERRED,
                    reason="quiet hours",
                    attempts=n.attempts,
                    next_at=until,
                    sent_at=None,
                )
                stats.deferred += 1
                continue
            to_push.append(n)
    if not to_push or sender is None:
        return
    ids = [n.id for n in to_push]
    devices = await _devices(conn, to_push)
    delivered = await fetch(
        conn,
        f"SELECT notification_id, device_id FROM delivery WHERE status = 'sent' "
        f"AND notification_id IN ({placeholders(1, len(ids))})",
        *ids,
    )
    already = {(r[0], r[1]) for r in delivered}
    sent_before = {r[0] for r in delivered}
    plan: list[tuple[_Due, int, PushMessage]] = []
    for n in to_push:
        for device_id, token, customer_id in devices:
            if customer_id == n.customer_id and (n.id, device_id) not in already:
                plan.append(
                    (
                        n,
                        device_id,
                        PushMessage(
                            token=token,
                            title=n.title,
                            body=n.body,
                            data={"kind": n.kind, "notificationId": str(n.id)},
                            collapse_id=f"n{n.id}",
                        ),
                    )
                )
    batch_error: str | None = None
    outcomes: list[PushOutcome] = []
    if plan:
        try:
            outcomes = await sender.send([p[2] for p in plan])
        except PushUnavailable as exc:
            batch_error = str(exc)[:200]
            log.warning("push batch failed, will retry: %s", exc)
    async with in_transaction() as tx:
        for (n, device_id, _), outcome in zip(plan, outcomes, strict=False):
            n.outcomes.append(outcome)
            status = "sent" if outcome.ok else ("failed" if outcome.token_gone else "retry")
            await execute(
                tx,
                "INSERT INTO delivery (notification_id, device_id, status, error, message_id, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT (notification_id, device_id) DO UPDATE SET status = excluded.status, "
                "error = excluded.error, message_id = excluded.message_id, "
                "updated_at = excluded.updated_at",
                n.id,
                device_id,
                status,
                outcome.error,
                outcome.message_id,
                now,
            )
            if outcome.token_gone:
                await execute(
                    tx,
                    "UPDATE device SET push_enabled = $1, disabled_reason = $2 WHERE id = $3",
                    False,
                    outcome.error,
                    device_id,
                )
                stats.devices_disabled += 1
        planned = {p[0].id for p in plan}
        for n in to_push:
            await _finish(
                tx,
                n,
                now,
                settings,
                stats,
                had_plan=n.id in planned,
                sent_before=n.id in sent_before,
                batch_error=batch_error if n.id in planned else None,
            )


async def _devices(conn: BaseDBAsyncClient, due: list[_Due]) -> list[Any]:
    customer_ids = sorted({n.customer_id for n in due})
    return await fetch(
        conn,
        f"SELECT id, token, customer_id FROM device WHERE push_enabled = $1 "
        f"AND customer_id IN ({placeholders(2, len(customer_ids))}) ORDER BY id",
        True,
        *customer_ids,
    )


async def _finish(
    tx: BaseDBAsyncClient,
    n: _Due,
    now: datetime,
    settings: Settings,
    stats: RunStats,
    *,
    had_plan: bool,
    sent_before: bool,
    batch_error: str | None,
) -> None:
    if not had_plan:
        if sent_before:  # every device reached on an earlier attempt
            await _set(
                tx, n, Status.SENT, reason=None, attempts=n.attempts, next_at=None, sent_at=now
            )
            stats.pushed += 1
        else:
            await _set(
                tx,
                n,
                Status.INBOX,
                reason="no device",
                attempts=n.attempts,
                next_at=None,
                sent_at=None,
            )
            stats.inbox_only += 1
        return
    attempts = n.attempts + 1
    success = sent_before or any(o.ok for o in n.outcomes)
    retry = [o for o in n.outcomes if not o.ok and not o.token_gone]
    reason = batch_error or (retry[-1].error if retry else None)
    if batch_error is not None or retry:
        if attempts < settings.push_max_attempts:
            after = max((o.retry_after or 0.0 for o in retry), default=0.0) or None
            await _set(
                tx,
                n,
                Status.QUEUED,
                reason=reason,
                attempts=attempts,
                next_at=now + backoff(attempts, settings, after),
                sent_at=now if success else None,
            )
            stats.retried += 1
            return
    if success:
        await _set(
            tx,
            n,
            Status.SENT,
            reason=None if not retry else reason,
            attempts=attempts,
            next_at=None,
            sent_at=now,
        )
        stats.pushed += 1
        return
    gone = sorted({o.error for o in n.outcomes if o.token_gone and o.error})
    await _set(
        tx,
        n,
        Status.FAILED,
        reason=reason or ", ".join(gone) or "undelivered",
        attempts=attempts,
        next_at=None,
        sent_at=None,
    )
    stats.failed += 1
