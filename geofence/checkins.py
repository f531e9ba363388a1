"""checkIn: judge a geofence or beacon event, record it, move the visit on and
reward it, in one transaction.

Every judged check-in is recorded, refused ones with their reason, so that a
retry under the same idempotency key gets the same answer. Malformed input and
rate limiting are answered before anything is written.

On PostgreSQL the common check-in is first tried in two statements without a
transaction (geofence.checkin_fast); this module's transaction under the
account lock is the general path, taken when that one wrote nothing."""

from __future__ import annotations

import uuid as uuid_module
from datetime import UTC, datetime

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from geofence import checkin_fast, polygon, rules
from geofence.judge import RATE_WINDOW, BeaconSighting, CheckInResult, Target, judge
from geofence.models import CheckInKind
from geofence.visits import Place, apply, load_visit
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.ledger import check_idempotency_key, request_hash
from loyalty.platform.config import Settings, get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetchrow, is_pg

RSSI_FLOOR = -127  # the weakest signal a BLE radio reports

__all__ = ["BeaconSighting", "CheckInResult", "check_in"]


def _check_input(kind: CheckInKind, geofence_id: int | None, latitude: float | None,
                 longitude: float | None, accuracy_meters: float | None,
                 beacon: BeaconSighting | None, occurred_at: datetime) -> BeaconSighting | None:
    if occurred_at.tzinfo is None:
        raise invalid("occurredAt needs a UTC offset.", "occurredAt")
    if (latitude is None) != (longitude is None):
        raise invalid("latitude and longitude come together.", "latitude")
    if latitude is not None and not -90.0 <= latitude <= 90.0:
        raise invalid("Latitude must be between -90 and 90.", "latitude")
    if longitude is not None and not -180.0 <= longitude <= 180.0:
        raise invalid("Longitude must be between -180 and 180.", "longitude")
    if (latitude is None) != (accuracy_meters is None):
        raise invalid("A position needs its accuracyMeters, and only a position has one.",
                      "accuracyMeters")
    if accuracy_meters is not None and not 0.0 <= accuracy_meters < 1e7:
        raise invalid("accuracyMeters must be zero or more.", "accuracyMeters")
    if kind == CheckInKind.BEACON:
        if beacon is None:
            raise invalid("A BEACON check-in needs its beacon.", "beacon")
        if geofence_id is not None:
            raise invalid("A BEACON check-in names no geofence.", "geofenceId")
        try:
            normalized = str(uuid_module.UUID(beacon.uuid))
        except (ValueError, AttributeError, TypeError):
            raise invalid("Not a beacon UUID.", "beacon.uuid") from None
        for name, value in (("major", beacon.major), ("minor", beacon.minor)):
            if not 0 <= value <= 65535:
                raise invalid(f"{name} must be between 0 and 65535.", f"beacon.{name}")
        if beacon.rssi is not None and not RSSI_FLOOR <= beacon.rssi <= 0:
            raise invalid(f"rssi is in dBm, between {RSSI_FLOOR} and 0.", "beacon.rssi")
        return BeaconSighting(normalized, beacon.major, beacon.minor, beacon.rssi)
    if beacon is not None:
        raise invalid(f"A {kind.value} check-in carries no beacon.", "beacon")
    if geofence_id is None:
        raise invalid(f"A {kind.value} check-in needs its geofenceId.", "geofenceId")
    # An EXIT happens outside the fence, so only ENTER and DWELL must say where.
    if kind != CheckInKind.EXIT and latitude is None:
        raise invalid(f"A {kind.value} check-in needs the phone's position.", "latitude")
    return None


async def check_in(
    customer_id: int,
    *,
    idempotency_key: str,
    kind: CheckInKind,
    occurred_at: datetime,
    geofence_id: int | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    accuracy_meters: float | None = None,
    beacon: BeaconSighting | None = None,
) -> CheckInResult:
    """Judge one check-in. A refusal is CHECKIN_REJECTED with the reason as
    its message (recorded, and replayed on retry); too many check-ins in a
    minute is RATE_LIMITED (not recorded: the phone may retry later)."""
    settings = get_settings()
    key = check_idempotency_key(idempotency_key)
    beacon = _check_input(kind, geofence_id, latitude, longitude, accuracy_meters, beacon,
                          occurred_at)
    when = occurred_at.astimezone(UTC)
    fingerprint = request_hash(
        "checkIn", customer=customer_id, kind=kind.value, geofence=geofence_id,
        latitude=latitude, longitude=longitude, accuracy=accuracy_meters,
        beacon=None if beacon is None else [beacon.uuid, beacon.major, beacon.minor, beacon.rssi],
        occurred_at=when.isoformat(),
    )
    now = datetime.now(UTC)
    default = connections.get("default")
    pg = is_pg(default)
    if pg:
        try:
            fast = await checkin_fast.try_fast(
                default, customer_id=customer_id, key=key, fingerprint=fingerprint, kind=kind,
                geofence_id=geofence_id, latitude=latitude, longitude=longitude,
                accuracy_meters=accuracy_meters, beacon=beacon, when=when, now=now,
                settings=settings,
            )
        except IntegrityError:
            fast = None  # the key is taken: the general path replays it
        if isinstance(fast, str):
            raise DomainError(ErrorCode.CHECKIN_REJECTED, fast)
        if fast is not None:
            return fast
    try:
        async with transaction() as conn:
            # The account row serialises one customer's check-ins, as it does
            # postings: the speed, once-a-day and rate checks read settled history.
            # On PostgreSQL the lock also moves the account's version
            # (updated_at), which the one-statement path checks.
            account = await (fetchrow(conn, _LOCK_PG, now, customer_id) if pg
                             else fetchrow(conn, _LOCK, customer_id))
            if account is None:
                raise DomainError(ErrorCode.NOT_FOUND, "Unknown customer.")
            # After the lock, so that a concurrent retry sees the first one's row.
            context = await fetchrow(conn, _CONTEXT_SQL, customer_id, now - RATE_WINDOW, key,
                                     customer_id)
            assert context is not None
            if context["request_hash"] is not None:
                outcome: CheckInResult | str = await _replayed(
                    conn, fingerprint, context["request_hash"], context["accepted"],
                    context["reason"], context["visit_id"])
            elif context["recent"] >= settings.checkin_rate_per_minute:
                raise DomainError(
                    ErrorCode.RATE_LIMITED,
                    f"More than {settings.checkin_rate_per_minute} check-ins a minute; "
                    "try again later.",
                )
            else:
                outcome = await _judge_and_record(
                    conn, customer_id=customer_id, account_id=account["id"],
                    opted_in=bool(context["location_opt_in"]), timezone=context["timezone"],
                    key=key, fingerprint=fingerprint, kind=kind,
                    geofence_id=geofence_id, latitude=latitude, longitude=longitude,
                    accuracy_meters=accuracy_meters, beacon=beacon, when=when, now=now,
                    settings=settings,
                )
    except IntegrityError:
        # Another customer's check-in holds this key.
        async with transaction() as conn:
            found = await _replay(conn, key, fingerprint)
        if found is None:  # pragma: no cover - some other constraint; a bug
            raise
        outcome = found
    if isinstance(outcome, str):
        raise DomainError(ErrorCode.CHECKIN_REJECTED, outcome)
    return outcome


_LOCK = "SELECT id FROM account WHERE customer_id = $1 FOR UPDATE"
_LOCK_PG = (
    "UPDATE account SET updated_at = GREATEST($1::timestamptz, updated_at + interval "
    "'1 microsecond') WHERE customer_id = $2 RETURNING id"
)

_CONTEXT_SQL = (
    "SELECT c.location_opt_in, c.timezone, (SELECT COUNT(*) FROM check_in r "
    "WHERE r.customer_id = $1 AND r.created_at > $2) AS recent, k.request_hash, k.accepted, "
    "k.reason, k.visit_id FROM customer c LEFT JOIN check_in k ON k.idempotency_key = $3 "
    "WHERE c.id = $4"
)


async def _replay(conn: BaseDBAsyncClient, key: str,
                  fingerprint: str) -> CheckInResult | str | None:
    row = await fetchrow(
        conn,
        "SELECT request_hash, accepted, reason, visit_id FROM check_in "
        "WHERE idempotency_key = $1",
        key,
    )
    if row is None:
        return None
    return await _replayed(conn, fingerprint, row["request_hash"], row["accepted"],
                           row["reason"], row["visit_id"])


async def _replayed(conn: BaseDBAsyncClient, fingerprint: str, request_hash: str,
                    accepted: bool, reason: str | None,
                    visit_id: int | None) -> CheckInResult | str:
    """The answer recorded under a key: the refusal's reason, or the visit
    (as it stands now: a later DWELL may have confirmed it since)."""
    if request_hash != fingerprint:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was already used for a different request.",
            "idempotencyKey",
        )
    if not accepted:
        return str(reason)
    visit = None if visit_id is None else await load_visit(conn, visit_id)
    return CheckInResult(visit, replayed=True)


async def _judge_and_record(
    conn: BaseDBAsyncClient,
    *,
    customer_id: int,
    account_id: int,
    opted_in: bool,
    timezone: str,
    key: str,
    fingerprint: str,
    kind: CheckInKind,
    geofence_id: int | None,
    latitude: float | None,
    longitude: float | None,
    accuracy_meters: float | None,
    beacon: BeaconSighting | None,
    when: datetime,
    now: datetime,
    settings: Settings,
) -> CheckInResult | str:
    target = await _target(conn, geofence_id, beacon)
    reason, fix = judge(
        opted_in=opted_in, target=target, kind=kind, latitude=latitude, longitude=longitude,
        accuracy_meters=accuracy_meters, beacon=beacon, when=when, now=now, settings=settings,
        previous=await _previous_fix(conn, customer_id),
    )
    visit, posted = None, False
    if reason is None and target is not None:
        visit, posted = await apply(
            conn, customer_id=customer_id, account_id=account_id, timezone=timezone,
            kind=kind, place=target.place, when=when, now=now, settings=settings,
        )
    await execute(
        conn,
        "INSERT INTO check_in (customer_id, idempotency_key, request_hash, kind, geofence_id, "
        "beacon_id, latitude, longitude, accuracy_meters, occurred_at, accepted, reason, "
        "visit_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
        "$14)",
        customer_id,
        key,
        fingerprint,
        kind.value,
        None if target is None else target.place.geofence_id,
        None if target is None else target.beacon_id,
        latitude if fix is None else fix.latitude,
        longitude if fix is None else fix.longitude,
        accuracy_meters,
        when,
        reason is None,
        reason,
        None if visit is None else visit.id,
        now,
    )
    return reason if reason is not None else CheckInResult(visit, posted=posted)


async def _target(conn: BaseDBAsyncClient, geofence_id: int | None,
                  beacon: BeaconSighting | None) -> Target | None:
    if beacon is not None:
        row = await fetchrow(
            conn,
            "SELECT b.id, b.store_id, s.name, s.latitude, s.longitude, b.active, "
            "EXISTS (SELECT 1 FROM geofence g WHERE g.store_id = b.store_id AND g.active = $1) "
            "AS store_open FROM beacon b JOIN store s ON s.id = b.store_id "
            "WHERE b.uuid = $2 AND b.major = $3 AND b.minor = $4",
            True,
            beacon.uuid,
            beacon.major,
            beacon.minor,
        )
        if row is None:
            return None
        # A store whose fences are all retired is closed: its beacons with it.
        return Target(Place(row["store_id"], row["name"], None), row["id"], row["latitude"],
                      row["longitude"], None, not (row["active"] and row["store_open"]))
    if geofence_id is None or geofence_id > 2**63 - 1:
        return None
    row = await fetchrow(
        conn,
        "SELECT g.store_id, s.name, g.latitude, g.longitude, g.radius_meters, g.active, "
        "g.polygon FROM geofence g JOIN store s ON s.id = g.store_id WHERE g.id = $1",
        geofence_id,
    )
    if row is None:
        return None
    return Target(Place(row["store_id"], row["name"], geofence_id), None, row["latitude"],
                  row["longitude"], row["radius_meters"], not row["active"],
                  polygon.parse(row["polygon"]))


async def _previous_fix(conn: BaseDBAsyncClient, customer_id: int) -> rules.Fix | None:
    row = await fetchrow(
        conn,
        "SELECT latitude, longitude, accuracy_meters, occurred_at FROM check_in "
        "WHERE customer_id = $1 AND accepted = $2 ORDER BY occurred_at DESC LIMIT 1",
        customer_id,
        True,
    )
    if row is None or row["latitude"] is None:
        return None
    return rules.Fix(row["latitude"], row["longitude"], row["accuracy_meters"],
                     as_datetime(row["occurred_at"]))
