"""Campaigns as an administrator lists them, newest first.

A campaign is its header outbox event (notifications/campaigns.py): its id,
when it was sent, and what the header recorded (title, tier, customers
targeted). The page reads outbox events of that kind by id, newest first:
with no index on (kind, id), a long outbox between two campaigns is scanned,
which an index would spare when the outbox grows large.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise import connections

from loyalty.events import CampaignCreated, parse
from loyalty.platform.sql import as_datetime, fetch


@dataclass(frozen=True)
class CampaignRow:
    id: int
    title: str
    tier: str | None
    targeted: int
    created_at: datetime


async def campaigns_page(before_id: int | None, limit: int) -> list[CampaignRow]:
    rows = await fetch(
        connections.get("default"),
        "SELECT id, payload, created_at FROM outbox_event WHERE kind = $1 AND id < $2 "
        "ORDER BY id DESC LIMIT $3",
        CampaignCreated.kind, before_id if before_id is not None else 2**63 - 1, limit)
    found = []
    for event_id, payload, created_at in rows:
        header = parse(CampaignCreated.kind, payload)
        assert isinstance(header, CampaignCreated)
        found.append(CampaignRow(event_id, header.title, header.tier, header.targeted,
                                 as_datetime(created_at)))
    return found
