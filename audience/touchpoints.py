"""Conversion paths for attribution: the touchpoints that came before each
purchase, and the seam where the math library's models (first and last
touch, linear, time decay, position based, Markov; audience/attribution.py)
plug in.

Touchpoints, within LOOKBACK_DAYS before a purchase: messages sent
("message:PUSH" or "message:INBOX"), opens and clicks ("push_opened",
"email_clicked", ...), check-ins ("checkin"), page views by their
utm_source ("utm:news"), and the customer's acquisition source
("acquisition:instagram"). Conversions are purchases (net of refunds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from tortoise import connections

from audience.scores import CLICK_EVENTS
from loyalty.platform.sql import as_datetime, fetch

log = logging.getLogger(__name__)

LOOKBACK_DAYS = 30
# An attribution question over more purchases than this is answered from the
# most recent ones (and says so in the log): the paths are built in memory.
MAX_CONVERSIONS = 50_000


@dataclass
class Path:
    customer_id: int
    converted_at: datetime
    revenue_minor: int
    # (touchpoint, when), oldest first.
    touchpoints: list[tuple[str, datetime]] = field(default_factory=list)


@dataclass(frozen=True)
class Credit:
    touchpoint: str
    conversions: float
    revenue_minor: int


async def conversion_paths(start: datetime, end: datetime,
                           lookback: timedelta = timedelta(days=LOOKBACK_DAYS)) -> list[Path]:
    conn = connections.get("default")
    conversions = await fetch(
        conn,
        "SELECT p.customer_id, p.occurred_at, p.total_minor - p.refunded_minor, "
        "c.acquisition_source, c.created_at FROM purchase p JOIN customer c "
        "ON c.id = p.customer_id WHERE p.occurred_at >= $1 AND p.occurred_at < $2 "
        "ORDER BY p.occurred_at DESC LIMIT $3", start, end, MAX_CONVERSIONS + 1)
    if len(conversions) > MAX_CONVERSIONS:
        log.warning("attribution over more than %s purchases: the most recent only",
                    MAX_CONVERSIONS)
        conversions = conversions[:MAX_CONVERSIONS]
    paths = [Path(int(r[0]), as_datetime(r[1]), int(r[2])) for r in reversed(conversions)]
    if not paths:
        return []
    touches: dict[int, list[tuple[str, datetime]]] = {}
    for r in conversions:
        if r[3]:
            touches.setdefault(int(r[0]), []).append((f"acquisition:{r[3]}", as_datetime(r[4])))
    names = ", ".join(f"'{n}'" for n in (*CLICK_EVENTS, "checkin", "page_viewed"))
    window = (start - lookback, end)
    for customer_id, name, at, properties in await fetch(
        conn,
        "SELECT customer_id, name, occurred_at, properties FROM customer_event "
        f"WHERE occurred_at >= $1 AND occurred_at < $2 AND name IN ({names}) "
        "AND customer_id IS NOT NULL", *window,
    ):
        label = name
        if name == "page_viewed":
            props = orjson.loads(properties) if isinstance(properties, str) else properties
            source = (props or {}).get("utm_source")
            if not source:
                continue
            label = f"utm:{source}"
        touches.setdefault(int(customer_id), []).append((label, as_datetime(at)))
    for customer_id, status, at in await fetch(
        conn, "SELECT customer_id, status, created_at FROM notification "
              "WHERE created_at >= $1 AND created_at < $2", *window,
    ):
        channel = "PUSH" if status == "sent" else "INBOX"
        touches.setdefault(int(customer_id), []).append((f"message:{channel}", as_datetime(at)))
    for path in paths:
        path.touchpoints = sorted(
            (t for t in touches.get(path.customer_id, [])
             if path.converted_at - lookback <= t[1] <= path.converted_at
             or t[0].startswith("acquisition:")), key=lambda t: t[1])
    return paths


async def attribution(model: str, start: datetime, end: datetime) -> list[Credit]:
    """The credits of `model` (audience/attribution.py) over the purchases
    between `start` and `end` and the touchpoints before each."""
    from audience import attribution as models

    paths = [
        models.ConversionPath(
            touches=[models.Touch(name, at) for name, at in path.touchpoints],
            converted_at=path.converted_at, revenue_minor=path.revenue_minor)
        for path in await conversion_paths(start, end)
    ]
    rows = models.attribute(paths, models.AttributionModel(model),
                            lookback=timedelta(days=LOOKBACK_DAYS))
    return [Credit(row.touchpoint, row.conversions, row.revenue_minor) for row in rows]
