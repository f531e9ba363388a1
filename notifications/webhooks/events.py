"""The one door through which webhooks read domain events: the outbox.

The outbox's `processed_at` belongs to the inbox consumer (docs/adr/0004);
webhooks keep their own marker, `webhooked_at`. This module turns rows into
`DomainEvent`s, reading each through the typed events (loyalty/events.py),
and nothing else reads outbox_event for webhooks.

A webhook's `data` is the payload as the outbox holds it, key for key, not
the typed event written again: subscribers receive what they always did,
whatever the event's class makes of it (a key an older producer left out
stays out, a kind without class goes as it is). What the typed read decides
is what webhooks skip: the programme's own messages and rows erasure emptied;
a payload that does not read as its kind is logged and sent as it is.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.events import CampaignCreated, CampaignMessage, is_erased, parse
from loyalty.platform.sql import as_datetime, execute, fetch, placeholders, skip_locked

log = logging.getLogger(__name__)

# Messages the programme writes to the customer, not facts about the ledger.
NOT_FOR_WEBHOOKS = frozenset({CampaignMessage.kind, CampaignCreated.kind})


@dataclass(frozen=True)
class DomainEvent:
    id: int
    kind: str
    customer_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    # Privacy erasure emptied the payload ({"erased": true}) before the
    # fan-out read it: the row no longer says what happened, and the
    # customer.erased event that follows it is what webhooks learn.
    erased: bool = False

    @property
    def for_webhooks(self) -> bool:
        return not self.erased and self.kind not in NOT_FOR_WEBHOOKS

    def body(self) -> str:
        """What a webhook receives: the event with a stable envelope."""
        return json.dumps({
            "id": str(self.id),
            "type": self.kind,
            "createdAt": self.created_at.isoformat(),
            "customerId": None if self.customer_id is None else str(self.customer_id),
            "data": self.payload,
        }, sort_keys=True, separators=(",", ":"))


async def unread_events(conn: BaseDBAsyncClient, limit: int) -> list[DomainEvent]:
    """The oldest events not yet fanned out to webhooks, locked until `mark_read`
    commits (other workers skip them)."""
    rows = await fetch(
        conn,
        skip_locked(conn, "SELECT id, kind, customer_id, payload, created_at FROM outbox_event "
                    "WHERE webhooked_at IS NULL ORDER BY id LIMIT $1"),
        limit,
    )
    events = []
    for event_id, kind, customer_id, payload, created_at in rows:
        data: Any = {}
        erased = False
        try:
            data = json.loads(payload) if isinstance(payload, str | bytes) else dict(payload)
            erased = isinstance(data, dict) and is_erased(data)
            if not erased:
                parse(kind, data)
        except (ValueError, TypeError) as exc:
            # Fanned out all the same, as before: subscribers get the payload.
            log.warning("outbox event %s (%s) does not read as its kind: %s",
                        event_id, kind, exc)
        events.append(DomainEvent(event_id, kind, customer_id,
                                  data if isinstance(data, dict) else {},
                                  as_datetime(created_at), erased))
    return events


async def mark_read(conn: BaseDBAsyncClient, events: list[DomainEvent], now: datetime) -> None:
    if not events:
        return
    ids = [e.id for e in events]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = placeholders(len(chunk), 2)
        await execute(conn, f"UPDATE outbox_event SET webhooked_at = $1 WHERE id IN ({marks})",
                      now, *chunk)
