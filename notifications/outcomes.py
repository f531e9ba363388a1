"""Recording push outcomes, and only while the worker still holds its lease.

A worker leases due notifications by pushing their next_attempt_at to a
deadline, `until`; that deadline is also the lease's token. Another worker may
take a notification over only once the deadline has passed, and then sets a
later one; the outcome of a retry or a quiet-hours deferral is another value
again. So `next_attempt_at = until`, read under a row lock, means the lease is
still ours. A worker slower than its lease writes nothing for what it lost:
the worker that took it over records its own outcome, never overwritten.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.platform.config import Settings
from loyalty.platform.sql import execute, fetch, placeholders
from notifications.models import Status
from notifications.push import PushOutcome
from notifications.stats import RunStats

log = logging.getLogger(__name__)

# A retryable failure for a message its sender returned no outcome for.
NO_OUTCOME = "NO_OUTCOME"


@dataclass
class Due:
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
    # What its text was rendered from, to render it again in a device's language.
    event_id: int | None = None
    first_name: str = ""
    locale: str | None = None
    outcomes: list[PushOutcome] = field(default_factory=list)
    # Its channels to try, in order, and the one that carried it (or that
    # an attempt is under way on, with reason SENDING).
    channels: str = "PUSH,INBOX"
    channel: str | None = None
    reason: str | None = None
    # Where the customer may be reached besides the app, and their consents.
    email: str | None = None
    phone: str | None = None
    email_opt_in: bool = True
    sms_opt_in: bool = True
    # The channels passed over before the one it goes on ("EMAIL: no email
    # consent"): the reason a sent row keeps.
    passed: str | None = None


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str | None
    attempts: int
    next_at: datetime | None
    sent_at: datetime | None
    # The channel that carried it, or was tried; None leaves the row's as it is.
    channel: str | None = None


async def held(conn: BaseDBAsyncClient, ids: list[int], until: datetime) -> set[int]:
    """The notifications among `ids` whose lease is still ours, locked (in id
    order) until the caller's transaction ends, so that it cannot be lost
    between this check and the writes."""
    if not ids:
        return set()
    ids = sorted(set(ids))
    rows = await fetch(
        conn,
        f"SELECT id FROM notification WHERE id IN ({placeholders(len(ids))}) "
        f"AND next_attempt_at = ${len(ids) + 1} ORDER BY id FOR UPDATE",
        *ids,
        until,
    )
    ours = {r[0] for r in rows}
    if len(ours) < len(ids):
        log.warning(
            "lease lost on notification(s) %s (a send slower than the lease): "
            "their outcome is left to the worker that took them over",
            sorted(set(ids) - ours),
        )
    return ours


async def renew(
    conn: BaseDBAsyncClient, ids: list[int], until: datetime, later: datetime
) -> set[int]:
    """The lease on `ids` extended to `later`, which becomes its token; the
    ids renewed, locked in id order as `held` locks them. One whose lease was
    already lost (a worker on a machine whose clock is ahead) is left as it
    is, to the worker that holds it."""
    ours = await held(conn, ids, until)
    if ours:
        await execute(
            conn,
            f"UPDATE notification SET next_attempt_at = $1 "
            f"WHERE id IN ({placeholders(len(ours), 2)})",
            later,
            *sorted(ours),
        )
    return ours


async def apply(
    conn: BaseDBAsyncClient, verdicts: list[tuple[Due, Verdict]], until: datetime
) -> None:
    """Write the verdicts, one statement per distinct verdict (a batch that
    went well is one statement), still only where the lease is ours."""
    groups: dict[Verdict, list[int]] = defaultdict(list)
    for n, v in verdicts:
        groups[v].append(n.id)
    for v, ids in groups.items():
        await execute(
            conn,
            "UPDATE notification SET status = $1, reason = $2, attempts = $3, "
            "next_attempt_at = $4, sent_at = COALESCE(sent_at, $5), "
            "channel = COALESCE($6, channel) "
            f"WHERE id IN ({placeholders(len(ids), 7)}) AND next_attempt_at = ${7 + len(ids)}",
            v.status.value,
            v.reason,
            v.attempts,
            v.next_at,
            v.sent_at,
            v.channel,
            *ids,
            until,
        )


def matched(outcomes: list[PushOutcome], count: int) -> list[PushOutcome]:
    """One outcome per message sent. A sender that answers fewer is a bug in
    it, and whether the messages without an answer were delivered is unknown:
    they are retried (a retryable NO_OUTCOME failure), never marked failed
    nor sent; a copy that FCM did deliver is then replaced on the phone by
    the retry (same collapse id), not shown twice. Logged as an error."""
    if len(outcomes) == count:
        return outcomes
    log.error("push sender returned %s outcomes for %s messages", len(outcomes), count)
    missing = max(0, count - len(outcomes))
    return [*outcomes[:count], *[PushOutcome(error=NO_OUTCOME)] * missing]


async def record_deliveries(
    conn: BaseDBAsyncClient,
    rows: list[tuple[Due, int, PushOutcome]],
    now: datetime,
    stats: RunStats,
) -> None:
    """The outcome per (notification, device), and dead tokens disabled."""
    for n, _, outcome in rows:
        n.outcomes.append(outcome)
    for start in range(0, len(rows), 100):
        part = rows[start : start + 100]
        values = ", ".join(
            f"(${6 * i + 1}, ${6 * i + 2}, ${6 * i + 3}, ${6 * i + 4}, ${6 * i + 5}, ${6 * i + 6})"
            for i in range(len(part))
        )
        args: list[object] = []
        for n, device_id, o in part:
            status = "sent" if o.ok else ("failed" if o.token_gone else "retry")
            args += [n.id, device_id, status, o.error, o.message_id, now]
        await execute(
            conn,
            "INSERT INTO delivery (notification_id, device_id, status, error, message_id, "
            f"updated_at) VALUES {values} "
            "ON CONFLICT (notification_id, device_id) DO UPDATE SET status = excluded.status, "
            "error = excluded.error, message_id = excluded.message_id, "
            "updated_at = excluded.updated_at",
            *args,
        )
    for _, device_id, o in rows:
        if o.token_gone:
            await execute(
                conn,
                "UPDATE device SET push_enabled = $1, disabled_reason = $2 WHERE id = $3",
                False,
                o.error,
                device_id,
            )
            stats.devices_disabled += 1


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


def verdict(
    n: Due,
    now: datetime,
    settings: Settings,
    stats: RunStats,
    *,
    had_plan: bool,
    sent_before: bool,
    batch_error: str | None,
) -> Verdict:
    """Where a notification stands once every message planned for it has an
    outcome (or the batch failed before it was sent)."""
    if not had_plan:
        if sent_before:  # every device reached on an earlier attempt
            stats.pushed += 1
            return Verdict(Status.SENT, n.passed, n.attempts, None, now, "PUSH")
        stats.inbox_only += 1
        return Verdict(Status.INBOX, "no device", n.attempts, None, None, "INBOX")
    attempts = n.attempts + 1
    success = sent_before or any(o.ok for o in n.outcomes)
    retry = [o for o in n.outcomes if not o.ok and not o.token_gone]
    reason = batch_error or (retry[-1].error if retry else None)
    if (batch_error is not None or retry) and attempts < settings.push_max_attempts:
        after = max((o.retry_after or 0.0 for o in retry), default=0.0) or None
        stats.retried += 1
        return Verdict(
            Status.QUEUED,
            reason,
            attempts,
            now + backoff(attempts, settings, after),
            now if success else None,
            "PUSH",
        )
    if success:
        stats.pushed += 1
        return Verdict(Status.SENT, reason if retry else n.passed, attempts, None, now, "PUSH")
    gone = sorted({o.error for o in n.outcomes if o.token_gone and o.error})
    stats.failed += 1
    return Verdict(
        Status.FAILED, reason or ", ".join(gone) or "undelivered", attempts, None, None, "PUSH"
    )
