"""Messages rendered from events: the inbox text written when the worker claims
an event (notifications.worker), and the same message again in a device's
language when it is pushed (notifications.delivery). Both read the event
through loyalty.events and the customer's standing through
notifications.personalise, so a push never says other than its inbox row."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.events import CampaignMessage, Event
from loyalty.events import parse as parse_event
from loyalty.platform.sql import fetch, placeholders
from notifications import templates
from notifications.inbox_rows import BODY_MAX, TITLE_MAX, clip
from notifications.outcomes import Due
from notifications.personalise import NOWHERE, Standing, standings, template_for, values

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reader:
    """Whom a message is rendered for."""

    first_name: str
    locale: str | None
    marketing_opt_in: bool
    timezone: str


def render(event: Event | None, reader: Reader, standing: Standing) -> tuple[str, str] | None:
    """The event's (title, body) for `reader`; None when there is no message for it."""
    if event is None:
        return None  # a kind no class describes
    if isinstance(event, CampaignMessage):
        return event.title, event.body
    template = template_for(event)  # tier.changed has one per direction
    if not templates.has_template(template):
        return None
    message = templates.render(
        template, reader.locale, values(event, reader.first_name, reader.timezone, standing)
    )
    return message.title, message.body


async def in_languages(
    conn: BaseDBAsyncClient, wanted: list[tuple[Due, str]]
) -> dict[tuple[int, str], tuple[str, str]]:
    """Messages rendered again from their events in another locale (a device's,
    when it differs from its customer's): {(notification id, language): text}.
    Campaign texts are written by hand in one language and are left as they
    are; what cannot be rendered is left out (the inbox text goes instead)."""
    wanted = [(n, loc) for n, loc in wanted
              if n.event_id is not None and n.kind != CampaignMessage.kind]
    if not wanted:
        return {}
    kinds = {n.event_id: n.kind for n, _ in wanted}
    event_ids = sorted(e for e in kinds if e is not None)
    rows = await fetch(
        conn,
        f"SELECT id, payload FROM outbox_event WHERE id IN ({placeholders(len(event_ids))})",
        *event_ids,
    )
    parsed: dict[int, Event] = {}
    for row in rows:
        with contextlib.suppress(ValueError, TypeError):
            event = parse_event(kinds[row["id"]], row["payload"])
            if event is not None:
                parsed[row["id"]] = event
    batch = {
        n.event_id: (n.event_id, n.customer_id, parsed[n.event_id])
        for n, _ in wanted
        if n.event_id is not None and n.event_id in parsed
    }
    standing = await standings(conn, list(batch.values()), datetime.now(UTC))
    texts: dict[tuple[int, str], tuple[str, str]] = {}
    for n, locale in wanted:
        found = parsed.get(n.event_id or 0)
        if found is None:
            continue
        try:
            reader = Reader(n.first_name, locale, True, n.timezone)
            rendered = render(found, reader, standing.get(n.event_id or 0, NOWHERE))
        except Exception:  # the customer's text, already written, is sent instead
            log.warning("notification %s cannot be rendered in %s", n.id, locale, exc_info=True)
            continue
        if rendered is not None:
            title, body = rendered
            texts[(n.id, templates.language(locale))] = (
                clip(title, TITLE_MAX),
                clip(body, BODY_MAX),
            )
    return texts
