"""Customers, live journeys and events for the journeys worker's tests, on
the real database, with a clock the tests move."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from audience.events import StreamRow, write_events
from journeys.models import Journey, JourneyMessage, JourneyRun
from journeys.publish import publish_version
from loyalty.identity import accounts as identity
from loyalty.models import Customer
from notifications.models import Notification
from tests.conftest import PASSWORD
from wallet.cards import issue_card

NOW = datetime(2030, 5, 6, 8, 0, tzinfo=UTC)
PUBLISHED = NOW - timedelta(hours=1)


def text(body: str, title: str | None = None) -> dict[str, Any]:
    one = {"body": body} if title is None else {"title": title, "body": body}
    return {"en": one}


def message(body: str, nxt: str, channel: str = "INBOX", fallback: list[str] | None = None,
            title: str | None = None) -> dict[str, Any]:
    if title is None and channel != "SMS":
        title = "News"  # a subject or push title is required
    return {"type": "message", "channel": channel, "fallback": fallback or [],
            "content": text(body, title), "next": nxt}


EXIT = {"type": "exit"}


async def customer(first_name: str, *, timezone: str = "UTC", opt_in: bool = False) -> int:
    email = f"{first_name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    await identity.sign_up(email=email, password=PASSWORD, first_name=first_name,
                           timezone=timezone, marketing_opt_in=opt_in, locale="en",
                           issue_card=issue_card)
    return (await Customer.get(email=email)).id


async def live(definition: dict[str, Any], name: str = "journey",
               at: datetime = PUBLISHED) -> int:
    journey = await Journey.create(name=name)
    await publish_version(journey.id, definition, at)
    return journey.id


async def event(customer_id: int, name: str, at: datetime = NOW, **properties: Any) -> None:
    await write_events([StreamRow(f"test:{uuid.uuid4().hex}", name, "WEB", at, customer_id,
                                  None, json.dumps(properties))], at)


async def runs(journey_id: int) -> list[JourneyRun]:
    return await JourneyRun.filter(journey_id=journey_id).order_by("customer_id", "entry")


async def notes(customer_id: int) -> list[Notification]:
    return await Notification.filter(customer_id=customer_id).order_by("id")


async def logged(customer_id: int) -> list[JourneyMessage]:
    return await JourneyMessage.filter(customer_id=customer_id).order_by("id")
