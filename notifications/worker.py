"""The outbox consumer: ledger events become inbox rows, then pushes.

Two steps, each safe with several workers on PostgreSQL:

1. claim: unprocessed outbox events are locked (FOR UPDATE SKIP LOCKED), turned
   into one inbox row per (event, customer) and marked processed in the same
   transaction, so an event is never lost and a replay never doubles a row;
2. send: due notifications are leased (their next_attempt_at pushed forward
   under the same kind of lock), pushed outside any transaction, and their
   outcome written per device.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from loyalty.config import Settings, get_settings
from loyalty.sql import execute, fetch
from notifications import templates
from notifications.delivery import payload_of, placeholders, send_due, skip_locked
from notifications.models import Status
from notifications.push import PushSender
from notifications.stats import RunStats

log = logging.getLogger(__name__)


async def claim_events(batch_size: int, now: datetime, stats: RunStats) -> None:
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
                f"SELECT id, first_name, locale FROM customer WHERE id IN "
                f"({placeholders(1, len(customer_ids))})",
                *customer_ids,
            )
            customers = {r[0]: (r[1], r[2]) for r in rows}
        for event_id, kind, customer_id, raw in events:
            if customer_id not in customers or not templates.has_template(kind):
                continue  # not a customer-facing event (yet)
            first_name, locale = customers[customer_id]
            payload = payload_of(raw)
            message = templates.render(
                kind,
                locale,
                {
                    "first_name": first_name,
                    "points": payload.get("points"),
                    "balance": payload.get("balance"),
                    "store": payload.get("store_name"),
                },
            )
            inserted = await fetch(
                conn,
                "INSERT INTO notification (customer_id, event_id, kind, marketing, title, body, "
                "status, attempts, next_attempt_at, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) "
                "ON CONFLICT (event_id, customer_id) DO NOTHING RETURNING id",
                customer_id,
                event_id,
                kind,
                False,
                message.title,
                message.body,
                Status.QUEUED.value,
                now,
                now,
            )
            stats.created += len(inserted)
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
) -> RunStats:
    """One pass: claim up to `batch_size` events, then send up to `batch_size`
    due notifications. Without a sender, messages reach the inbox and the log."""
    now = now or datetime.now(UTC)
    settings = settings or get_settings()
    stats = RunStats()
    await claim_events(batch_size, now, stats)
    await send_due(batch_size, now, sender, stats, settings)
    return stats


async def run_forever(
    stop: asyncio.Event, *, batch_size: int = 100, sender: PushSender | None = None
) -> None:
    """Loop run_once until `stop` is set, sleeping while there is nothing to do."""
    settings = get_settings()
    while not stop.is_set():
        try:
            stats = await run_once(batch_size, sender=sender, settings=settings)
        except Exception:  # a database blip must not kill the worker
            log.exception("worker pass failed")
            stats = RunStats()
        if not stats.busy:
            try:
                await asyncio.wait_for(stop.wait(), settings.worker_poll_seconds)
            except TimeoutError:
                pass
