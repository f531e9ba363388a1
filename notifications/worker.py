"""The outbox consumer: ledger events become inbox rows, then pushes.

Two steps, each safe with several workers on PostgreSQL:

1. claim: unprocessed outbox events are locked (FOR UPDATE SKIP LOCKED), turned
   into one inbox row per (event, customer) and marked processed in the same
   transaction, so an event is never lost and a replay never doubles a row;
   campaign messages are checked here against marketing consent (none: no
   row at all) and the daily cap (over it: an inbox-only row, "marketing cap");
2. send: due notifications are leased (their next_attempt_at pushed forward
   under the same kind of lock), pushed outside any transaction, and their
   outcome written per device.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from loyalty.config import Settings, get_settings
from loyalty.sql import execute, fetch
from notifications import templates
from notifications.caps import marketing_today
from notifications.delivery import payload_of, placeholders, send_due, skip_locked
from notifications.models import Status
from notifications.policy import Policy, load_policy
from notifications.push import PushSender
from notifications.stats import RunStats

log = logging.getLogger(__name__)


CAMPAIGN = "campaign.message"
VISIT = "visit.accepted"
# Messages the customer did not cause by spending or earning: they need
# marketing consent and count under the daily marketing cap.
MARKETING = frozenset({CAMPAIGN, VISIT})


TITLE_MAX, BODY_MAX = 200, 1000  # notification.title / body column sizes


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _template_for(kind: str, payload: dict[str, Any]) -> str:
    # A visit on a day its reward was already given still gets a welcome,
    # without "+0 points".
    if kind == VISIT and not payload.get("points"):
        return "visit.welcome"
    return kind


async def claim_events(
    batch_size: int, now: datetime, stats: RunStats, policy: Policy | None = None
) -> None:
    policy = policy or Policy()
    async with in_transaction() as conn:
        events = await fetch(
            conn,
            skip_locked(
                conn,
                "SELECT id, kind, customer_id, payload FROM outbox_event "
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
        # Events that carry no balance (a visit without a reward) take it from
        # the ledger now, so the message says what the account holds.
        needing = sorted(
            {e[2] for e in events if e[2] in customers and "balance" not in payload_of(e[3])}
        )
        balances: dict[int, int] = {}
        if needing:
            rows = await fetch(
                conn,
                f"SELECT customer_id, available FROM account "
                f"WHERE customer_id IN ({placeholders(1, len(needing))})",
                *needing,
            )
            balances = {r[0]: int(r[1]) for r in rows}
        # Without marketing consent a campaign message is not written at all:
        # no push and no inbox row (the customer said no to marketing).
        marketing = {
            e[2]: customers[e[2]][3]
            for e in events
            if e[1] in MARKETING and e[2] in customers and customers[e[2]][2]
        }
        today = await marketing_today(conn, now, marketing)
        for event_id, kind, customer_id, raw in events:
            if customer_id not in customers:
                continue  # not a customer-facing event
            first_name, locale, marketing_opt_in, _ = customers[customer_id]
            payload = payload_of(raw)
            status, reason = Status.QUEUED, None
            if kind in MARKETING and not marketing_opt_in:
                stats.skipped += 1
                continue
            if kind == CAMPAIGN:
                title, body = str(payload["title"]), str(payload["body"])
            elif templates.has_template(kind):
                message = templates.render(
                    _template_for(kind, payload),
                    locale,
                    {
                        "first_name": first_name,
                        "points": payload.get("points"),
                        "balance": payload.get("balance", balances.get(customer_id)),
                        "store": payload.get("store_name"),
                    },
                )
                title, body = message.title, message.body
            else:
                continue  # no message for this kind (yet)
            if kind in MARKETING and today[customer_id] >= policy.marketing_daily_cap:
                status, reason = Status.INBOX, "marketing cap"
            inserted = await fetch(
                conn,
                "INSERT INTO notification (customer_id, event_id, kind, marketing, title, body, "
                "status, reason, attempts, next_attempt_at, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10) "
                "ON CONFLICT (event_id, customer_id) DO NOTHING RETURNING id",
                customer_id,
                event_id,
                kind,
                kind in MARKETING,
                # Store and first names are long enough to overflow the
                # columns; one oversized message must not stall the outbox.
                _clip(title, TITLE_MAX),
                _clip(body, BODY_MAX),
                status.value,
                reason,
                now if status == Status.QUEUED else None,
                now,
            )
            stats.created += len(inserted)
            if inserted and kind in MARKETING:
                if status == Status.QUEUED:
                    today[customer_id] += 1
                else:
                    stats.capped += 1
        await execute(
            conn,
            f"UPDATE outbox_event SET processed_at = $1, attempts = attempts + 1 "
            f"WHERE id IN ({placeholders(2, len(events))})",
            now,
            *[e[0] for e in events],
        )
        stats.events += len(events)


async def run_once(
    batch_size: int = 100,
    *,
    now: datetime | None = None,
    sender: PushSender | None = None,
    settings: Settings | None = None,
    policy: Policy | None = None,
) -> RunStats:
    """One pass: claim up to `batch_size` events, then send up to `batch_size`
    due notifications. Without a sender, messages reach the inbox and the log."""
    now = now or datetime.now(UTC)
    settings = settings or get_settings()
    policy = policy or load_policy()
    stats = RunStats()
    await claim_events(batch_size, now, stats, policy)
    await send_due(batch_size, now, sender, stats, settings, policy.lease)
    return stats


async def run_forever(
    stop: asyncio.Event, *, batch_size: int = 100, sender: PushSender | None = None
) -> None:
    """Loop run_once until `stop` is set, sleeping while there is nothing to do."""
    settings = get_settings()
    policy = load_policy()
    while not stop.is_set():
        try:
            stats = await run_once(batch_size, sender=sender, settings=settings, policy=policy)
        except Exception:  # a database blip must not kill the worker
            log.exception("worker pass failed")
            stats = RunStats()
        if not stats.busy:
            try:
                await asyncio.wait_for(stop.wait(), settings.worker_poll_seconds)
            except TimeoutError:
                pass
