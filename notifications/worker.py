"""The outbox consumer: ledger events become inbox rows, then pushes.

Two steps, each safe with several workers on PostgreSQL:

1. claim: unprocessed outbox events are locked (FOR UPDATE SKIP LOCKED), turned
   into one inbox row per (event, customer) and marked processed in the same
   transaction, so an event is never lost and a replay never doubles a row;
   campaign messages are checked here against marketing consent (none: no
   row at all) and the daily cap (over it: an inbox-only row, "marketing cap");
   an event whose claim raises fails alone, is retried, and after
   Policy.outbox_max_attempts is set aside as dead with its last_error;
2. send: due notifications are leased (their next_attempt_at pushed forward
   under the same kind of lock), pushed outside any transaction, and their
   outcome written per device.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.events import Event
from loyalty.events import parse as parse_event
from loyalty.platform.config import Settings, get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, placeholders, skip_locked
from notifications.caps import marketing_today
from notifications.delivery import send_due
from notifications.email import EmailSender, SmtpSender
from notifications.inbox_rows import MARKETING, InboxRow, write_row, write_rows
from notifications.models import Status
from notifications.personalise import NOWHERE, standings
from notifications.policy import Policy, load_policy
from notifications.push import PushSender
from notifications.render import Reader, render
from notifications.sms import SmsSender, sms_sender_from_url
from notifications.stats import RunStats
from observability.metrics import WORKER_STEP

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    """An outbox row the claim locked."""

    id: int
    kind: str
    customer_id: int | None
    payload: Any
    attempts: int


async def _readers(conn: BaseDBAsyncClient, events: list[Claimed]) -> dict[int, Reader]:
    customer_ids = sorted({e.customer_id for e in events if e.customer_id is not None})
    if not customer_ids:
        return {}
    rows = await fetch(
        conn,
        "SELECT id, first_name, locale, marketing_opt_in, timezone FROM customer "
        f"WHERE id IN ({placeholders(len(customer_ids))})",
        *customer_ids,
    )
    return {
        r["id"]: Reader(r["first_name"], r["locale"], bool(r["marketing_opt_in"]), r["timezone"])
        for r in rows
    }


async def claim_events(
    batch_size: int, now: datetime, stats: RunStats, policy: Policy | None = None
) -> None:
    policy = policy or Policy()
    async with transaction() as conn:
        rows = await fetch(
            conn,
            skip_locked(
                conn,
                "SELECT id, kind, customer_id, payload, attempts FROM outbox_event "
                "WHERE processed_at IS NULL ORDER BY id LIMIT $1",
            ),
            batch_size,
        )
        if not rows:
            return
        events = [Claimed(r["id"], r["kind"], r["customer_id"], r["payload"], r["attempts"])
                  for r in rows]
        readers = await _readers(conn, events)
        # A payload that does not parse fails its own event below, not the batch.
        parsed: dict[int, Event | None] = {}
        for e in events:
            with contextlib.suppress(ValueError, TypeError):
                parsed[e.id] = parse_event(e.kind, e.payload)

        def consented(e: Claimed) -> bool:
            """Not a marketing message, or one its reader said yes to."""
            reader = readers.get(e.customer_id or 0)
            return reader is not None and (e.kind not in MARKETING or reader.marketing_opt_in)

        # What the messages tell of the ledger now (balance, next reward or
        # tier, expiring points, a visited store's offer), for the whole batch.
        # Not for marketing messages the customer has not consented to.
        standing = await standings(
            conn,
            [
                (e.id, e.customer_id, event)
                for e in events
                if e.customer_id is not None and consented(e)
                and (event := parsed.get(e.id)) is not None
            ],
            now,
        )
        # Without marketing consent a campaign message is not written at all:
        # no push and no inbox row (the customer said no to marketing).
        marketing = {
            e.customer_id: readers[e.customer_id].timezone
            for e in events
            if e.kind in MARKETING and e.customer_id is not None and consented(e)
        }
        today = await marketing_today(conn, now, marketing)
        # Phase 1, no database: render each event's message. One that raises (a
        # template error, a bad payload) fails alone instead of rolling back
        # the batch and blocking every later event forever.
        done: list[int] = []
        messages: list[InboxRow] = []
        for e in events:
            reader = readers.get(e.customer_id or 0)
            if e.customer_id is None or reader is None:
                done.append(e.id)  # not a customer-facing event
                continue
            if not consented(e):
                done.append(e.id)
                stats.skipped += 1
                continue
            try:
                event = parsed[e.id] if e.id in parsed else parse_event(e.kind, e.payload)
                rendered = render(event, reader, standing.get(e.id, NOWHERE))
            except Exception as exc:
                await _claim_failed(conn, e.id, e.kind, e.attempts + 1, exc, now, policy)
                stats.event_errors += 1
                continue
            if rendered is None:
                done.append(e.id)  # no message for this kind (yet)
            else:
                title, body = rendered
                messages.append(InboxRow(e.id, e.kind, e.customer_id, title, body, e.attempts))
        # Phase 2: the inserts, all in one savepoint; if one is refused (on
        # PostgreSQL that aborts the transaction) they are redone one
        # savepoint each, so that only the culprit fails. A savepoint per
        # event from the start would cost two more round trips per message.
        trial = Counter(today)
        written: list[Status | None | Exception] = []
        try:
            async with transaction() as savepoint:
                written = list(await write_rows(savepoint, messages, trial, now, policy))
        except Exception:
            written = []
            for m in messages:
                try:
                    async with transaction() as savepoint:
                        written.append(await write_row(savepoint, m, today, now, policy))
                except Exception as exc:
                    written.append(exc)
        for m, status in zip(messages, written, strict=True):
            if isinstance(status, Exception):
                await _claim_failed(conn, m.event_id, m.kind, m.attempts + 1, status, now, policy)
                stats.event_errors += 1
                continue
            done.append(m.event_id)
            if status is None:
                continue  # a replay: its row is already there
            stats.created += 1
            if m.kind in MARKETING and status == Status.INBOX:
                stats.capped += 1
        if done:
            await execute(
                conn,
                f"UPDATE outbox_event SET processed_at = $1, attempts = attempts + 1, "
                f"last_error = NULL WHERE id IN ({placeholders(len(done), 2)})",
                now,
                *done,
            )
        stats.events += len(events)


async def _claim_failed(
    conn: BaseDBAsyncClient,
    event_id: int,
    kind: str,
    attempts: int,
    exc: Exception,
    now: datetime,
    policy: Policy,
) -> None:
    # Retried on the next passes; after the last allowed attempt the event is
    # dead: marked processed with its error, so it no longer holds the queue.
    dead = attempts >= policy.outbox_max_attempts
    error = f"{type(exc).__name__}: {exc}"[:200]
    await execute(
        conn,
        "UPDATE outbox_event SET attempts = $1, last_error = $2, processed_at = $3 WHERE id = $4",
        attempts,
        error,
        now if dead else None,
        event_id,
    )
    if dead:
        log.error(
            "outbox event %s (%s) is dead after %s attempts: %s",
            event_id,
            kind,
            attempts,
            error,
            exc_info=exc,
        )
    else:
        log.warning(
            "outbox event %s (%s) failed (attempt %s), will retry: %s",
            event_id,
            kind,
            attempts,
            error,
        )


async def run_once(
    batch_size: int = 100,
    *,
    now: datetime | None = None,
    sender: PushSender | None = None,
    settings: Settings | None = None,
    policy: Policy | None = None,
    email_sender: EmailSender | None = None,
    sms_sender: SmsSender | None = None,
) -> RunStats:
    """One pass: claim up to `batch_size` events, then send up to `batch_size`
    due notifications. Without a push sender, pushes reach the inbox and the
    log; email and SMS go through `email_sender` and `sms_sender`, by default
    the ones LOYALTY_SMTP_URL and LOYALTY_SMS_URL configure (neither set: no
    email, no SMS; a message for those channels only is suppressed)."""
    now = now or datetime.now(UTC)
    settings = settings or get_settings()
    policy = policy or load_policy()
    if email_sender is None and settings.smtp_url:
        email_sender = SmtpSender(settings.smtp_url, settings.email_from)
    own_sms = sms_sender is None and bool(settings.sms_url)
    if own_sms:
        sms_sender = sms_sender_from_url(settings.sms_url)
    stats = RunStats()
    started = time.monotonic()  # when `now` was: the send's lease is timed from it
    await claim_events(batch_size, now, stats, policy)
    claimed = time.monotonic()
    WORKER_STEP.labels("claim").observe(claimed - started)
    try:
        await send_due(
            batch_size, now, sender, stats, settings, policy.lease, started=started,
            email_sender=email_sender, sms_sender=sms_sender, cap=policy.marketing_daily_cap,
        )
    finally:
        if own_sms and sms_sender is not None:
            await sms_sender.close()
    WORKER_STEP.labels("send").observe(time.monotonic() - claimed)
    return stats


