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
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.config import Settings, get_settings
from loyalty.db import transaction
from loyalty.sql import execute, fetch, skip_locked
from notifications import templates
from notifications.caps import marketing_today
from notifications.delivery import payload_of, placeholders, send_due
from notifications.email import EmailSender, SmtpSender
from notifications.inbox_rows import (
    BODY_MAX,
    CAMPAIGN,
    MARKETING,
    TITLE_MAX,
    InboxRow,
    clip,
    write_row,
    write_rows,
)
from notifications.models import Status
from notifications.outcomes import Due
from notifications.personalise import NOWHERE, Standing, standings, values
from notifications.personalise import template_for as _template_for
from notifications.policy import Policy, load_policy
from notifications.push import PushSender
from notifications.sms import SmsSender, sms_sender_from_url
from notifications.stats import RunStats
from observability.metrics import WORKER_STEP

log = logging.getLogger(__name__)


async def claim_events(
    batch_size: int, now: datetime, stats: RunStats, policy: Policy | None = None
) -> None:
    policy = policy or Policy()
    async with transaction() as conn:
        events = await fetch(
            conn,
            skip_locked(
                conn,
                "SELECT id, kind, customer_id, payload, attempts FROM outbox_event "
                "WHERE processed_at IS NULL ORDER BY id LIMIT $1",
            ),
            batch_size,
        )
        if not events:
            return
        customer_ids = sorted({e[2] for e in events if e[2] is not None})
        customers = {}
        if customer_ids:
            rows = await fetch(
                conn,
                f"SELECT id, first_name, locale, marketing_opt_in, timezone FROM customer "
                f"WHERE id IN ({placeholders(1, len(customer_ids))})",
                *customer_ids,
            )
            customers = {r[0]: (r[1], r[2], bool(r[3]), r[4]) for r in rows}
        # A payload that does not parse fails its own event below, not the batch.
        payloads: dict[int, dict[str, Any]] = {}
        for e in events:
            with contextlib.suppress(ValueError, TypeError):
                payloads[e[0]] = payload_of(e[3])
        # What the messages tell of the ledger now (balance, next reward or
        # tier, expiring points, a visited store's offer), for the whole batch.
        # Not for marketing messages the customer has not consented to.
        standing = await standings(
            conn,
            [
                (e[0], e[1], e[2], payloads[e[0]])
                for e in events
                if e[2] in customers
                and e[0] in payloads
                and (e[1] not in MARKETING or customers[e[2]][2])
            ],
            now,
        )
        # Without marketing consent a campaign message is not written at all:
        # no push and no inbox row (the customer said no to marketing).
        marketing = {
            e[2]: customers[e[2]][3]
            for e in events
            if e[1] in MARKETING and e[2] in customers and customers[e[2]][2]
        }
        today = await marketing_today(conn, now, marketing)
        # Phase 1, no database: render each event's message. One that raises (a
        # template error, a bad payload) fails alone instead of rolling back
        # the batch and blocking every later event forever.
        done: list[int] = []
        messages: list[InboxRow] = []
        for event_id, kind, customer_id, raw, attempts in events:
            if customer_id not in customers:
                done.append(event_id)  # not a customer-facing event
                continue
            try:
                rendered = _render(
                    kind,
                    customers[customer_id],
                    payloads[event_id] if event_id in payloads else payload_of(raw),
                    standing.get(event_id, NOWHERE),
                )
            except Exception as exc:
                await _claim_failed(conn, event_id, kind, attempts + 1, exc, now, policy)
                stats.event_errors += 1
                continue
            if rendered is None:
                done.append(event_id)  # no message for this kind (yet)
            elif isinstance(rendered, str):  # "skipped"
                done.append(event_id)
                stats.skipped += 1
            else:
                title, body = rendered
                messages.append(InboxRow(event_id, kind, customer_id, title, body, attempts))
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
                f"last_error = NULL WHERE id IN ({placeholders(2, len(done))})",
                now,
                *done,
            )
        stats.events += len(events)


def _render(
    kind: str,
    customer: tuple[str, str | None, bool, str],
    payload: dict[str, Any],
    standing: Standing,
) -> tuple[str, str] | str | None:
    """The event's (title, body); "skipped" without marketing consent; None
    when there is no message for this kind."""
    first_name, locale, marketing_opt_in, timezone = customer
    if kind in MARKETING and not marketing_opt_in:
        return "skipped"
    if kind == CAMPAIGN:
        return str(payload["title"]), str(payload["body"])
    template = _template_for(kind, payload)  # tier.changed has one per direction
    if not templates.has_template(template):
        return None
    message = templates.render(
        template, locale, values(kind, payload, first_name, timezone, standing)
    )
    return message.title, message.body


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


async def localized(
    conn: BaseDBAsyncClient, wanted: list[tuple[Due, str]]
) -> dict[tuple[int, str], tuple[str, str]]:
    """Messages rendered again from their events in another locale (a device's,
    when it differs from its customer's): {(notification id, language): text}.
    Campaign texts are written by hand in one language and are left as they are."""
    wanted = [(n, loc) for n, loc in wanted if n.event_id is not None and n.kind != CAMPAIGN]
    if not wanted:
        return {}
    event_ids = sorted({n.event_id for n, _ in wanted if n.event_id is not None})
    rows = await fetch(
        conn,
        f"SELECT id, payload FROM outbox_event WHERE id IN ({placeholders(1, len(event_ids))})",
        *event_ids,
    )
    payloads: dict[int, dict[str, Any]] = {}
    for r in rows:
        with contextlib.suppress(ValueError, TypeError):
            payloads[r[0]] = payload_of(r[1])
    events = {
        n.event_id: (n.event_id, n.kind, n.customer_id, payloads[n.event_id])
        for n, _ in wanted
        if n.event_id is not None and n.event_id in payloads
    }
    standing = await standings(conn, list(events.values()), datetime.now(UTC))
    texts: dict[tuple[int, str], tuple[str, str]] = {}
    for n, locale in wanted:
        payload = payloads.get(n.event_id or 0)
        if payload is None:
            continue
        try:
            customer = (n.first_name, locale, True, n.timezone)
            rendered = _render(n.kind, customer, payload, standing.get(n.event_id or 0, NOWHERE))
        except Exception:  # the customer's text, already written, is sent instead
            log.warning("notification %s cannot be rendered in %s", n.id, locale, exc_info=True)
            continue
        if isinstance(rendered, tuple):
            title, body = rendered
            texts[(n.id, templates.language(locale))] = (
                clip(title, TITLE_MAX),
                clip(body, BODY_MAX),
            )
    return texts


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
            batch_size, now, sender, stats, settings, policy.lease, localized, started=started,
            email_sender=email_sender, sms_sender=sms_sender, cap=policy.marketing_daily_cap,
        )
    finally:
        if own_sms and sms_sender is not None:
            await sms_sender.close()
    WORKER_STEP.labels("send").observe(time.monotonic() - claimed)
    return stats


