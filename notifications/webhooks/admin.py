"""Webhooks' administration: create, list, the delivery log, redelivery."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from tortoise import connections

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity import audit
from loyalty.identity.tokens import Principal
from loyalty.platform.config import get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow

MAX_EVENTS = 50


@dataclass(frozen=True)
class WebhookView:
    id: int
    url: str
    events: tuple[str, ...]
    active: bool


@dataclass(frozen=True)
class DeliveryView:
    id: int
    event: str
    status: str
    attempts: int
    last_response_code: int | None
    created_at: datetime


def check_url(url: str) -> str:
    url = url.strip() if isinstance(url, str) else ""
    parts = urlsplit(url)
    allowed = ("https", "http") if get_settings().webhook_allow_http else ("https",)
    if len(url) > 2000 or parts.scheme not in allowed or not parts.hostname:
        raise invalid("The URL must be https:// with a host.", "url")
    return url


def _check_events(events: list[str]) -> tuple[str, ...]:
    cleaned = sorted({e.strip() for e in events if isinstance(e, str) and e.strip()})
    if not cleaned or len(cleaned) > MAX_EVENTS or any(len(e) > 48 for e in cleaned):
        raise invalid(f"Name 1 to {MAX_EVENTS} event kinds (or \"*\" for all).", "events")
    return tuple(cleaned)


async def create_webhook(actor: Principal, url: str, events: list[str]) -> tuple[WebhookView,
                                                                                  str]:
    """The webhook and its signing secret (shown once)."""
    url = check_url(url)
    kinds = _check_events(events)
    secret = "whsec_" + secrets.token_urlsafe(32)
    async with transaction() as conn:
        row = await fetchrow(
            conn,
            "INSERT INTO webhook (url, events, secret, active, consecutive_failures, created_by, "
            "created_at) VALUES ($1, $2, $3, $4, 0, $5, $6) RETURNING id",
            url, json.dumps(list(kinds)), secret, True,
            actor.subject_id if actor.is_staff else None, datetime.now(UTC),
        )
        assert row is not None
        await audit.record(conn, actor, "webhook.created", target_kind="webhook",
                           target_id=row[0], detail={"events": list(kinds)})
    return WebhookView(row[0], url, kinds, True), secret


async def list_webhooks() -> list[WebhookView]:
    rows = await fetch(connections.get("default"),
                       "SELECT id, url, events, active FROM webhook ORDER BY id")
    return [WebhookView(r[0], r[1], tuple(_list(r[2])), bool(r[3])) for r in rows]


async def deliveries(webhook_id: int, first: int) -> list[DeliveryView]:
    """The newest deliveries first."""
    if not 1 <= first <= 500:
        raise invalid("first must be 1 to 500.", "first")
    rows = await fetch(
        connections.get("default"),
        "SELECT id, event, status, attempts, last_response_code, created_at "
        "FROM webhook_delivery WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
        webhook_id, first,
    )
    return [DeliveryView(r[0], r[1], r[2], r[3], r[4], as_datetime(r[5])) for r in rows]


async def redeliver(actor: Principal, delivery_id: int) -> DeliveryView:
    """Send a delivery again from its first attempt, whatever became of it; a
    webhook disabled after its failures is enabled again (its endpoint is
    taken to be fixed)."""
    now = datetime.now(UTC)
    async with transaction() as conn:
        row = await fetchrow(conn, "SELECT webhook_id FROM webhook_delivery WHERE id = $1",
                             delivery_id)
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such delivery.", "deliveryId")
        await execute(conn, "UPDATE webhook_delivery SET status = 'pending', attempts = 0, "
                      "next_attempt_at = $1, last_error = NULL WHERE id = $2", now, delivery_id)
        await execute(conn, "UPDATE webhook SET active = $1, consecutive_failures = 0, "
                      "disabled_at = NULL WHERE id = $2", True, row[0])
        await audit.record(conn, actor, "webhook.redelivered", target_kind="webhook_delivery",
                           target_id=delivery_id, at=now)
        found = await fetchrow(conn, "SELECT id, event, status, attempts, last_response_code, "
                               "created_at FROM webhook_delivery WHERE id = $1", delivery_id)
    assert found is not None
    return DeliveryView(found[0], found[1], found[2], found[3], found[4],
                        as_datetime(found[5]))


def _list(value: object) -> list[str]:
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value or [])  # type: ignore[call-overload]
