"""The in-app inbox: a customer's messages, newest first, and marking them read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from loyalty.errors import invalid
from notifications.models import Notification

MAX_MARK = 100


@dataclass(frozen=True)
class InboxItem:
    id: int
    kind: str
    title: str
    body: str
    status: str
    reason: str | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None


async def list_inbox(customer_id: int, limit: int, before_id: int | None = None) -> list[InboxItem]:
    query = Notification.filter(customer_id=customer_id)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(limit)
    return [
        InboxItem(
            id=n.id,
            kind=n.kind,
            title=n.title,
            body=n.body,
            status=n.status.value if hasattr(n.status, "value") else str(n.status),
            reason=n.reason,
            created_at=n.created_at,
            sent_at=n.sent_at,
            read_at=n.read_at,
        )
        for n in rows
    ]


async def mark_read(customer_id: int, ids: list[int], now: datetime | None = None) -> int:
    """Mark the customer's own messages read; ids of other customers' messages
    are ignored, and a message keeps the time it was first read."""
    if len(ids) > MAX_MARK:
        raise invalid(f"At most {MAX_MARK} ids at a time.", "ids")
    if not ids:
        return 0
    return await Notification.filter(
        customer_id=customer_id, id__in=ids, read_at__isnull=True
    ).update(read_at=now or datetime.now(UTC))
