"""Behavioural events: `trackEvents` validated, deduplicated and appended to
the stream, in one statement per batch on PostgreSQL (docs/adr/0012).

Each event is checked on its own: a bad one is refused with the path of its
field (`events.3.occurredAt`) and the good ones of the same call are kept. A
`messageId` seen before (or twice in one call) is counted as a duplicate and
changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from audience import partitions
from audience.config import audience_settings
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.ledger import Channel
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, fetchrow, is_pg

# Printable ASCII without spaces: a UUID, a ULID, a hash, a prefixed id.
_ID = re.compile(r"[\x21-\x7e]{1,128}")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
MAX_ID_LENGTH = 128
_CHANNELS = frozenset(c.value for c in Channel)
# The server's own message ids; a client may not take them.
SERVER_PREFIX = "srv:"
# The server writes these from the ledger, the check-ins and the segments
# (audience/domain_events.py, audience/segments): a client sending one could
# fake a purchase that segments and journeys would believe.
SERVER_EVENTS = frozenset({
    "purchase", "refund", "redemption", "checkin", "survey_submitted", "coupon_redeemed",
    "tier_changed", "segment_entered", "segment_exited", "signed_up",
})


@dataclass(frozen=True)
class EventIn:
    """One event as a client sent it (GraphQL's TrackEventInput)."""

    message_id: str
    name: str
    occurred_at: datetime
    channel: str
    # An id as the API carries it (a string) or as code does.
    customer_id: int | str | None = None
    anonymous_id: str | None = None
    properties: Any = None


@dataclass(frozen=True)
class StreamRow:
    """One row for the stream: what write_events inserts."""

    message_id: str
    name: str
    channel: str
    occurred_at: datetime
    customer_id: int | None
    anonymous_id: str | None
    # Serialised JSON, or None.
    properties: str | None


@dataclass
class Tracked:
    accepted: int = 0
    duplicates: int = 0
    errors: list[DomainError] = field(default_factory=list)


def check_anonymous_id(value: str | None, where: str = "anonymousId") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise invalid(f"{where.rsplit('.', 1)[-1]} must be 1 to {MAX_ID_LENGTH} printable "
                      "characters without spaces.", where)
    return value


def _check(event: EventIn, at: str, now: datetime) -> StreamRow:
    """The event as a stream row, or the DomainError of its first fault."""
    settings = audience_settings()
    if not isinstance(event.message_id, str) or not _ID.fullmatch(event.message_id):
        raise invalid(f"messageId must be 1 to {MAX_ID_LENGTH} printable characters without "
                      "spaces.", f"{at}.messageId")
    if event.message_id.startswith(SERVER_PREFIX):
        raise invalid(f"messageId may not start with {SERVER_PREFIX!r}.", f"{at}.messageId")
    if not isinstance(event.name, str) or not _NAME.fullmatch(event.name):
        raise invalid("name must be 1 to 64 characters: a letter, then letters, digits, "
                      "_ . : or -.", f"{at}.name")
    if event.name in SERVER_EVENTS:
        raise invalid(f"{event.name!r} is written by the server itself.", f"{at}.name")
    channel = event.channel
    if channel not in _CHANNELS:
        raise invalid("Unknown channel.", f"{at}.channel")
    occurred = event.occurred_at
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    occurred = occurred.astimezone(UTC)
    if occurred > now + timedelta(seconds=settings.events_max_future_seconds):
        raise invalid(f"occurredAt is more than {settings.events_max_future_seconds} seconds "
                      "ahead of the server's clock.", f"{at}.occurredAt")
    if occurred < now - timedelta(days=settings.events_max_age_days):
        raise invalid(f"occurredAt is more than {settings.events_max_age_days} days old.",
                      f"{at}.occurredAt")
    customer_id = _customer_id(event.customer_id, f"{at}.customerId")
    anonymous_id = check_anonymous_id(event.anonymous_id, f"{at}.anonymousId")
    properties = None
    if event.properties is not None:
        if not isinstance(event.properties, dict):
            raise invalid("properties must be a JSON object.", f"{at}.properties")
        try:
            encoded = orjson.dumps(event.properties)
        except (TypeError, orjson.JSONEncodeError):
            raise invalid("properties is not storable JSON.", f"{at}.properties") from None
        if len(encoded) > settings.events_max_properties_bytes:
            raise invalid(f"properties is over {settings.events_max_properties_bytes} bytes "
                          "as JSON.", f"{at}.properties")
        properties = encoded.decode()
    return StreamRow(event.message_id, event.name, channel, occurred, customer_id,
                     anonymous_id, properties)


def _customer_id(value: int | str | None, where: str) -> int | None:
    if value is None:
        return None
    text = str(value)
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 2**63 - 1:
        raise invalid("Not a valid id.", where)
    return int(text)


async def track_events(
    events: list[EventIn],
    *,
    customer_id: int | None = None,
    client_id: int | None = None,
    now: datetime | None = None,
) -> Tracked:
    """Validate and store `events`. With `customer_id` (a customer's own token)
    every event is that customer's, and naming another one is FORBIDDEN;
    without it (a trusted sender: an API client with scope EVENTS, whose id
    `client_id` is kept on each row, or an admin) each event names its
    customerId, its anonymousId or both, and an unknown customer is NOT_FOUND."""
    settings = audience_settings()
    now = now or datetime.now(UTC)
    result = Tracked()
    if len(events) > settings.events_max_batch:
        result.errors.append(invalid(
            f"At most {settings.events_max_batch} events a call.", "events"))
        return result
    rows: list[tuple[int, StreamRow]] = []
    seen: set[str] = set()
    for i, event in enumerate(events):
        at = f"events.{i}"
        try:
            row = _check(event, at, now)
            if customer_id is not None:
                if row.customer_id is not None and row.customer_id != customer_id:
                    raise DomainError(ErrorCode.FORBIDDEN,
                                      "A customer sends only their own events.",
                                      f"{at}.customerId")
                row = _with_customer(row, customer_id)
            elif row.customer_id is None and row.anonymous_id is None:
                raise invalid("Name the customer: customerId or anonymousId.", at)
        except DomainError as e:
            result.errors.append(e)
            continue
        if row.message_id in seen:
            result.duplicates += 1
            continue
        seen.add(row.message_id)
        rows.append((i, row))
    if customer_id is None:
        rows = await _known_customers(rows, result)
    if rows:
        result.accepted = await write_events([r for _, r in rows], now, client_id=client_id)
    result.duplicates += len(rows) - result.accepted
    result.errors.sort(key=lambda e: _index(e.field))
    return result


def _with_customer(row: StreamRow, customer_id: int) -> StreamRow:
    return StreamRow(row.message_id, row.name, row.channel, row.occurred_at, customer_id,
                     row.anonymous_id, row.properties)


def _index(path: str | None) -> int:
    parts = (path or "").split(".")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1


async def _known_customers(rows: list[tuple[int, StreamRow]], result: Tracked
                           ) -> list[tuple[int, StreamRow]]:
    """Rows whose customerId exists; the others become NOT_FOUND errors."""
    wanted = sorted({r.customer_id for _, r in rows if r.customer_id is not None})
    if not wanted:
        return rows
    conn = connections.get("default")
    if is_pg(conn):
        found_rows = await fetch(conn, "SELECT id FROM customer WHERE id = ANY($1::bigint[])",
                                 wanted)
    else:
        found_rows = await fetch(
            conn, "SELECT id FROM customer WHERE id IN (SELECT value FROM json_each($1))",
            orjson.dumps(wanted).decode())
    found = {int(r[0]) for r in found_rows}
    kept = []
    for i, row in rows:
        if row.customer_id is not None and row.customer_id not in found:
            result.errors.append(DomainError(ErrorCode.NOT_FOUND, "No such customer.",
                                             f"events.{i}.customerId"))
        else:
            kept.append((i, row))
    return kept


# One statement for a whole batch: the message ids claimed in event_message
# (a resend, or a race with one, claims nothing), the claimed events appended
# (an anonymous one attributed to its customer once a log-in has merged its
# anonymousId), and their customers marked for segment re-evaluation.
_INSERT_PG = """WITH input AS (
  SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::timestamptz[],
                       $5::bigint[], $6::varchar[], $7::text[]) WITH ORDINALITY
    AS u(message_id, name, channel, occurred_at, customer_id, anonymous_id, properties, n)),
fresh AS (
  INSERT INTO event_message (message_id, received_at)
  SELECT message_id, $8 FROM input ON CONFLICT (message_id) DO NOTHING RETURNING message_id),
ins AS (
  INSERT INTO customer_event (message_id, customer_id, anonymous_id, name, channel,
                              occurred_at, received_at, properties, api_client_id)
  SELECT i.message_id, COALESCE(i.customer_id, a.customer_id), i.anonymous_id, i.name,
         i.channel, i.occurred_at, $9, i.properties::jsonb, $10::bigint
  FROM input i JOIN fresh f ON f.message_id = i.message_id
  LEFT JOIN anonymous_identity a ON i.customer_id IS NULL AND a.anonymous_id = i.anonymous_id
  ORDER BY i.n
  RETURNING customer_id){touch}
SELECT count(*) FROM ins"""
_TOUCH_PG = """,
touched AS (
  INSERT INTO segment_touch (customer_id, touched_at)
  SELECT DISTINCT customer_id, $11::timestamptz FROM ins WHERE customer_id IS NOT NULL)"""
INSERT_PG = _INSERT_PG.format(touch=_TOUCH_PG)
INSERT_PG_UNTOUCHED = _INSERT_PG.format(touch="")

# SQLite has no data-modifying CTE: three statements in one transaction, the
# batch passed as one JSON parameter.
_CLAIM_SQLITE = (
    "INSERT OR IGNORE INTO event_message (message_id, received_at) "
    "SELECT json_extract(value, '$[0]'), $1 FROM json_each($2) RETURNING message_id"
)
_FROM_SQLITE = (
    "FROM json_each($2) j LEFT JOIN anonymous_identity a "
    "ON json_extract(j.value, '$[4]') IS NULL AND a.anonymous_id = json_extract(j.value, '$[5]') "
    "WHERE json_extract(j.value, '$[0]') IN (SELECT value FROM json_each($3))"
)
_INSERT_SQLITE = (
    "INSERT INTO customer_event (message_id, customer_id, anonymous_id, name, channel, "
    "occurred_at, received_at, properties, api_client_id) SELECT json_extract(j.value, '$[0]'), "
    "COALESCE(json_extract(j.value, '$[4]'), a.customer_id), json_extract(j.value, '$[5]'), "
    "json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'), "
    "json_extract(j.value, '$[3]'), $1, json_extract(j.value, '$[6]'), $2 " +
    _FROM_SQLITE.replace("$3", "$4").replace("$2", "$3")
)
_TOUCH_SQLITE = (
    "INSERT INTO segment_touch (customer_id, touched_at) SELECT DISTINCT "
    "COALESCE(json_extract(j.value, '$[4]'), a.customer_id), $1 " + _FROM_SQLITE +
    " AND COALESCE(json_extract(j.value, '$[4]'), a.customer_id) IS NOT NULL"
)


def sqlite_time(moment: datetime) -> str:
    """A timestamp as Tortoise stores it in SQLite, so that text comparisons order it."""
    return moment.astimezone(UTC).isoformat(" ")


async def write_events(rows: list[StreamRow], now: datetime,
                       conn: BaseDBAsyncClient | None = None, touch: bool = True,
                       client_id: int | None = None) -> int:
    """Append `rows` whose message ids are new; returns how many were. On
    PostgreSQL one statement (and the month's partition made first when this
    process has not seen it yet); `conn`: a transaction to write in;
    `client_id`: the API client that sent them, kept on each row."""
    if not rows:
        return 0
    if conn is not None:
        if is_pg(conn):
            return await _write_pg(conn, rows, now, touch, client_id)
        return await _write_sqlite(conn, rows, now, touch, client_id)
    default = connections.get("default")
    if is_pg(default):
        # One statement: its own transaction.
        return await _write_pg(default, rows, now, touch, client_id)
    async with transaction() as tx:
        return await _write_sqlite(tx, rows, now, touch, client_id)


async def _write_pg(conn: BaseDBAsyncClient, rows: list[StreamRow], now: datetime,
                    touch: bool, client_id: int | None) -> int:
    await partitions.ensure_for(conn, [r.occurred_at for r in rows])
    args: list[Any] = [
        [r.message_id for r in rows], [r.name for r in rows], [r.channel for r in rows],
        [r.occurred_at for r in rows], [r.customer_id for r in rows],
        [r.anonymous_id for r in rows], [r.properties for r in rows], now, now, client_id,
    ]
    if touch:
        args.append(now)
    statement = INSERT_PG if touch else INSERT_PG_UNTOUCHED
    try:
        row = await fetchrow(conn, statement, *args)
    except Exception as exc:
        if not partitions.is_missing_partition(exc):
            raise
        # A partition dropped behind this process's back: made again, once.
        partitions.forget()
        await partitions.ensure_for(conn, [r.occurred_at for r in rows])
        row = await fetchrow(conn, statement, *args)
    return int(row[0]) if row else 0


async def _write_sqlite(conn: BaseDBAsyncClient, rows: list[StreamRow], now: datetime,
                        touch: bool, client_id: int | None) -> int:
    batch = orjson.dumps([
        [r.message_id, r.name, r.channel, sqlite_time(r.occurred_at), r.customer_id,
         r.anonymous_id, None if r.properties is None else orjson.Fragment(r.properties)]
        for r in rows
    ]).decode()
    received = sqlite_time(now)
    claimed = await fetch(conn, _CLAIM_SQLITE, received, batch)
    if not claimed:
        return 0
    fresh = orjson.dumps([r[0] for r in claimed]).decode()
    await fetch(conn, _INSERT_SQLITE, received, client_id, batch, fresh)
    if touch:
        await fetch(conn, _TOUCH_SQLITE, received, batch, fresh)
    return len(claimed)


async def prune_messages(now: datetime) -> int:
    """Forget message ids received long enough ago that a resend would be
    refused as too old anyway (occurredAt past events_max_age_days), with a
    day's margin for a client clock ahead of ours."""
    settings = audience_settings()
    cutoff = now - timedelta(days=settings.events_max_age_days + 1)
    return await execute(connections.get("default"),
                         "DELETE FROM event_message WHERE received_at < $1", cutoff)
