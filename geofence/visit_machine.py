"""A visit's state machine: one pure function that both check-in paths call.

ENTER opens a visit, EXIT closes it, DWELL and BEACON confirm it (opening it
first when no visit is open). `next_step` says what an accepted check-in does
to the customer's open visit at a store; the general path
(geofence.visits.apply, under the account lock) and the one-statement path
(geofence.checkin_fast) only write what it says. Whether a newly confirmed
visit earns its reward is `reward_possible` here plus the once-a-day key,
which each path checks in its own way (a read under the lock, or a guard in
the statement).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from geofence.models import CheckInKind
from loyalty.ledger import SYSTEM_KEY_PREFIX
from loyalty.platform.config import Settings
from loyalty.platform.timezones import zone_or_utc


@dataclass(frozen=True)
class VisitResult:
    id: int
    store_id: int
    store_name: str
    points_earned: int
    opened_at: datetime
    closed_at: datetime | None
    confirmed: bool


@dataclass(frozen=True)
class Place:
    """What a check-in was at: a store, through one of its fences or beacons."""

    store_id: int
    store_name: str
    geofence_id: int | None


class Action(Enum):
    NONE = "none"  # no visit: an EXIT with no visit open
    KEEP = "keep"  # the open visit, unchanged
    OPEN = "open"  # a new visit (confirmed at once by a DWELL or BEACON)
    CLOSE = "close"  # the open visit, closed
    CONFIRM = "confirm"  # the open visit, confirmed


@dataclass(frozen=True)
class Step:
    # The visit as it will stand (id 0 until a new one is written).
    visit: VisitResult | None
    action: Action

    @property
    def confirms(self) -> bool:
        """Presence confirmed by this check-in: the welcome, and maybe the reward."""
        return self.visit is not None and self.visit.confirmed and self.action in (
            Action.OPEN, Action.CONFIRM)


def next_step(kind: CheckInKind, place: Place, opened: VisitResult | None,
              when: datetime) -> Step:
    """What an accepted check-in at `when` does to `opened`, the customer's
    visit to `place` still open (None: none is)."""
    if kind == CheckInKind.EXIT:
        if opened is None:
            return Step(None, Action.NONE)
        return Step(replace(opened, closed_at=max(when, opened.opened_at)), Action.CLOSE)
    if opened is None:
        return Step(VisitResult(0, place.store_id, place.store_name, 0, when, None,
                                kind != CheckInKind.ENTER), Action.OPEN)
    if kind == CheckInKind.ENTER or opened.confirmed:
        return Step(opened, Action.KEEP)
    return Step(replace(opened, confirmed=True), Action.CONFIRM)


def reward_possible(settings: Settings, last_reward_at: datetime | None,
                    when: datetime) -> bool:
    """Whether a visit confirmed at `when` may earn points, if its store's
    reward was not given yet that day: a reward is set, and the customer's
    last rewarded visit is not within the cool-down."""
    return settings.visit_reward_points > 0 and not in_cooldown(last_reward_at, when, settings)


def open_since(when: datetime, settings: Settings) -> datetime:
    """Visits opened before this are over even without their EXIT (phone off,
    app killed): check-ins at `when` ignore them and the next ENTER starts a
    new visit; geofence.jobs closes them."""
    return when - timedelta(minutes=settings.visit_max_open_minutes)


def in_cooldown(last_reward_at: datetime | None, when: datetime, settings: Settings) -> bool:
    """Whether a visit at `when` is too close to the customer's last rewarded one."""
    if last_reward_at is None or settings.visit_cooldown_minutes <= 0:
        return False
    return abs(when - last_reward_at) < timedelta(minutes=settings.visit_cooldown_minutes)


def local_day(when: datetime, timezone: str) -> str:
    return when.astimezone(zone_or_utc(timezone)).date().isoformat()


def reward_key(customer_id: int, store_id: int, when: datetime, timezone: str) -> str:
    """The visit reward's ledger idempotency key: once per store, customer and
    local day, enforced by the ledger's unique index."""
    return f"{SYSTEM_KEY_PREFIX}visit:{customer_id}:{store_id}:{local_day(when, timezone)}"
