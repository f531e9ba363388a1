"""Typed domain events: one class per kind, one serialisation.

Every outbox row is one of these, written by `loyalty.ledger` (a posting's
event, or `emit` for events that move no points) and read back by its
consumers (the notifications worker, the events stream that segments and
journeys read, webhooks) through `parse`. A payload is the event's fields
in declaration order, as JSON: datetimes as ISO 8601, tuples as arrays. The
payloads are the ones the outbox carried before these classes existed, key
for key, so rows written by an older process read the same; a field some
older producer left out is optional here, so that its rows still read
(tests/unit/test_events.py keeps those payloads).

Ledger events (`LedgerEvent`) leave `transaction_id`, `points` and `balance`
to the ledger: a use case describes the event, `ledger.post` fills in what the
posting wrote (docs/adr/0020).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self

KINDS: dict[str, type[Event]] = {}


class BadEvent(ValueError):
    """A payload that is not its kind's: a field missing or of the wrong type."""


def _json_name(f: dataclasses.Field[Any]) -> str:
    # A key that is a Python keyword ("from") is spelt in the field's metadata.
    return str(f.metadata.get("json", f.name))


@dataclass(frozen=True, kw_only=True)
class Event:
    kind: ClassVar[str] = ""
    # Fields left out of the payload while None (a shape the consumers tell
    # apart by the key's absence, e.g. a visit that earned nothing).
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            assert cls.kind not in KINDS, f"two classes for {cls.kind}"
            KINDS[cls.kind] = cls

    def payload(self, fill: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON object; `fill` gives some fields' values instead (the
        ledger's, for a posting's event), never left out."""
        out: dict[str, Any] = {}
        omitted = self.omitted_when_none
        for attribute, name, _, _ in _schema(type(self)):  # type: ignore[arg-type]
            if fill is not None and attribute in fill:
                out[name] = fill[attribute]
                continue
            value = getattr(self, attribute)
            if value is None and attribute in omitted:
                continue
            out[name] = plain(value)
        return out

    def to_json(self) -> str:
        return json.dumps(self.payload())

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Self:
        values: dict[str, Any] = {}
        for attribute, name, hint, required in _schema(cls):  # type: ignore[arg-type]
            if name not in payload:
                if required:
                    raise BadEvent(f"{cls.kind}: {name} is missing")
                continue
            values[attribute] = _typed(payload[name], hint, f"{cls.kind}.{name}")
        return cls(**values)


@functools.cache
def _schema(cls: type[Event]) -> tuple[tuple[str, str, Any, bool], ...]:
    """(attribute, JSON key, type, required) per field: read once per class."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, _json_name(f), hints[f.name],
         f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    )


def plain(value: Any) -> Any:
    """A field's value as JSON holds it."""
    if value is None or type(value) in (int, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def _typed(value: Any, hint: Any, where: str) -> Any:
    """`value` read from JSON as `hint` says, or BadEvent."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise BadEvent(f"{where} is null")
    for option in options:
        origin = typing.get_origin(option)
        if origin is tuple and isinstance(value, list):
            inner = typing.get_args(option)[0]
            return tuple(_typed(v, inner, where) for v in value)
        if option is datetime and isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                raise BadEvent(f"{where} is not a datetime") from None
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option in (str, bool) and isinstance(value, option):
            return value
    raise BadEvent(f"{where} is not {hint}")


# What privacy erasure leaves of each of a customer's outbox rows
# (loyalty/identity/privacy.py): the row says that something happened, no longer what.
ERASED_PAYLOAD = json.dumps({"erased": True})


def is_erased(payload: Mapping[str, Any]) -> bool:
    """Whether a decoded payload is one erasure emptied."""
    return len(payload) == 1 and payload.get("erased") is True


def parse(kind: str, raw: str | bytes | Mapping[str, Any] | None) -> Event | None:
    """The event an outbox row holds; None for a kind no class describes and
    for a payload erasure emptied (nothing left to read: never an event of
    default values). A malformed payload raises BadEvent (a ValueError)."""
    cls = KINDS.get(kind)
    if cls is None:
        return None
    payload = json.loads(raw) if isinstance(raw, str | bytes) else raw
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise BadEvent(f"an event payload must be an object, not {type(payload).__name__}")
    if is_erased(payload):
        return None
    return cls.from_payload(payload)


# -- Events a posting emits -------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LedgerEvent(Event):
    """What a posting reports: the first three fields are the posting's own,
    filled in by ledger.post; the balance is `available` after it."""

    transaction_id: int | None = None
    points: int = 0
    balance: int | None = None
    store_id: int | None = None
    store_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class PointsEarned(LedgerEvent):
    kind: ClassVar[str] = "points.earned"
    # None only in the rows of journeys' bonuses written before these classes
    # (adjustments.post_bonus gave no channel); every producer gives one now.
    channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class PointsRedeemed(LedgerEvent):
    kind: ClassVar[str] = "points.redeemed"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"reward_id", "reward_name"})
    # Set when the points bought a reward in the app (none at the till).
    reward_id: int | None = None
    reward_name: str | None = None


# A refund's `reason` when it takes back a survey bonus (loyalty/points/refunds.py):
# the consequence of a refund, not a refund of its own to the events stream.
SURVEY_CLAWBACK = "survey_bonus"


@dataclass(frozen=True, kw_only=True)
class PointsRefunded(LedgerEvent):
    kind: ClassVar[str] = "points.refunded"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"reason"})
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class PointsAdjusted(LedgerEvent):
    """Customer service corrected the balance (loyalty/points/adjustments.py)."""

    kind: ClassVar[str] = "points.adjusted"
    signed_points: int
    # None only in rows written before the event carried it (the first
    # adjustPoints); every adjustment gives one now.
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class PointsClosed(LedgerEvent):
    """An erased customer's points left the programme (loyalty/identity/privacy.py)."""

    kind: ClassVar[str] = "points.closed"


@dataclass(frozen=True, kw_only=True)
class PointsExpired(LedgerEvent):
    kind: ClassVar[str] = "points.expired"
    lot_ids: tuple[int, ...]
    # The local days the expired points were earned on (ISO dates).
    earned_on: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class VisitAccepted(LedgerEvent):
    """A confirmed visit: with its reward (a posting), or, on a day the reward
    was already given or within the cool-down, a welcome without points and
    without transaction, balance or channel."""

    kind: ClassVar[str] = "visit.accepted"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset(
        {"transaction_id", "balance", "channel"}
    )
    visit_id: int
    channel: str | None = None


# -- Events that move no points ----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CustomerSignedUp(Event):
    """The start of welcome journeys; no push or points of its own."""

    kind: ClassVar[str] = "customer.signed_up"
    customer_id: int
    source: str | None = None


@dataclass(frozen=True, kw_only=True)
class CustomerErased(Event):
    kind: ClassVar[str] = "customer.erased"
    customer_id: int


@dataclass(frozen=True, kw_only=True)
class SurveySubmitted(Event):
    """An accepted survey answer, bonus or not (journeys wait for it)."""

    kind: ClassVar[str] = "survey.submitted"
    survey_id: int
    purchase_id: int
    store_id: int
    receipt_id: str
    rating: int
    points: int  # the bonus credited, 0 without one


@dataclass(frozen=True, kw_only=True)
class TierChanged(Event):
    kind: ClassVar[str] = "tier.changed"
    from_tier: str | None = field(metadata={"json": "from"})
    to_tier: str | None = field(metadata={"json": "to"})
    from_id: int | None = None
    to_id: int | None = None
    direction: str  # "up" or "down"


@dataclass(frozen=True, kw_only=True)
class PointsExpiring(Event):
    """A reminder: the customer's lots expiring on one local day."""

    kind: ClassVar[str] = "points.expiring"
    points: int
    expires_at: datetime
    lot_id: int
    lot_ids: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class CouponExpiring(Event):
    kind: ClassVar[str] = "coupon.expiring"
    coupon_id: int
    title: str
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class CampaignCreated(Event):
    """A campaign's header (no customer): its idempotency key and fingerprint."""

    kind: ClassVar[str] = "campaign.created"
    key: str
    fingerprint: str
    targeted: int
    title: str
    tier: str | None = None
    segment_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class CampaignMessage(Event):
    kind: ClassVar[str] = "campaign.message"
    campaign_id: int
    title: str
    body: str
