"""A fast path for the persisted trackEvents document (docs/adr/0012).

An app or a web shop sends batches of events all day: through the generic
executor, graphql-core coerces every field of every event (about a thousand
coercions for a batch of 100) and Strawberry builds an input object per
event, five times the cost of storing them. For the one persisted document
(`TRACK_DOCUMENT`, whitespace aside, over POST) whose variables have exactly
the shape the schema types (strings where String and ID are, a Channel name,
a strict ISO 8601 timestamp, any JSON as properties), the events go straight
to the same use case, audience.events.track_events, which validates each one;
the answer is the `data` the executor would give. Anything else (another
document or selection, a variable of another shape, a string the database
cannot store, a token the field's permission refuses) is left to the
executor, to answer or to refuse with its own error.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from api.fast_home import _normal
from api.permissions import may_track_events
from audience.events import EventIn, Tracked, track_events
from loyalty.identity.tokens import Principal
from loyalty.ledger import Channel

TRACK_DOCUMENT = (
    "mutation($input: TrackEventsInput!) { trackEvents(input: $input) "
    "{ accepted duplicates errors { code field message } } }"
)
_DOCUMENT = _normal(TRACK_DOCUMENT)
_REQUIRED = frozenset({"messageId", "name", "occurredAt", "channel"})
_ALLOWED = _REQUIRED | {"customerId", "anonymousId", "properties"}
_CHANNELS = frozenset(c.name for c in Channel)
# Timestamps both parsers read alike: strawberry's DateTime (dateutil's
# isoparse) and datetime.fromisoformat, ten times faster (a test compares them).
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


# What api/storable.py refuses, as it can only be written in a JSON body: a NUL
# or a UTF-16 surrogate as a \u escape (raw, neither is valid JSON text). A
# body holding one goes to the executor, which refuses it (or, for an escaped
# backslash before such text, accepts it): a byte search instead of a walk of
# every string of the variables.
_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def storable(body: bytes) -> bool:
    return _UNSTORABLE.search(body) is None


def events_of(payload: Any) -> list[EventIn] | None:
    """The events of a request body (decoded) that is the persisted document
    with variables of exactly the expected shape; None otherwise."""
    if not isinstance(payload, dict) or payload.get("operationName") is not None \
            or payload.get("extensions", None) not in (None, {}):
        return None
    query, variables = payload.get("query"), payload.get("variables")
    if not isinstance(query, str) or _normal(query) != _DOCUMENT \
            or not isinstance(variables, dict) or len(variables) != 1:
        return None
    given = variables.get("input")
    if not isinstance(given, dict) or len(given) != 1 or not isinstance(
            events := given.get("events"), list):
        return None
    found = []
    for event in events:
        if not isinstance(event, dict) or not _REQUIRED <= event.keys() <= _ALLOWED:
            return None
        message_id, name, when, channel = (event["messageId"], event["name"],
                                           event["occurredAt"], event["channel"])
        customer_id, anonymous_id = event.get("customerId"), event.get("anonymousId")
        if not (isinstance(message_id, str) and isinstance(name, str)
                and isinstance(when, str) and _TIMESTAMP.fullmatch(when)
                and isinstance(channel, str) and channel in _CHANNELS
                and (customer_id is None or isinstance(customer_id, str))
                and (anonymous_id is None or isinstance(anonymous_id, str))):
            return None
        found.append(EventIn(message_id, name, datetime.fromisoformat(when), channel,
                             customer_id, anonymous_id, event.get("properties")))
    return found


def may_track(principal: Principal | None) -> bool:
    """api.permissions.MayTrackEvents' rule (the executor checks the rest)."""
    return principal is not None and may_track_events(principal)


async def track_as(principal: Principal, events: list[EventIn]) -> Tracked:
    """track_events for this sender: a customer's own events, or events
    attributed to the API client that sends them (the executor's mutation
    and the fast path both call this)."""
    return await track_events(
        events, customer_id=principal.subject_id if principal.is_customer else None,
        client_id=principal.subject_id if principal.is_client else None)


def data_of(tracked: Tracked) -> dict[str, Any]:
    """The `data` of TRACK_DOCUMENT, as the executor serialises it."""
    return {"trackEvents": {
        "accepted": tracked.accepted,
        "duplicates": tracked.duplicates,
        "errors": [{"code": e.code.value, "field": e.field, "message": e.message}
                   for e in tracked.errors],
    }}
