"""The common check-in on PostgreSQL in two statements and no transaction.

One statement reads everything the judgement needs (customer, rate, replay,
fence or beacon, previous fix, open visit, last reward) in one snapshot,
together with the account's version (`account.updated_at`, which every
check-in write moves forward: the general path's lock does too). Python judges
the check-in with the very rules the general path uses (geofence.judge), then
one guarded statement writes the outcome: it moves the version on only if it
is still the one read, so a check-in of the same customer that committed in
between (or a posting, which also sets updated_at) makes it write nothing, and
the caller takes the general path, which reads everything again under the
account lock. The guard is on the locked row itself, so PostgreSQL re-checks it
on the newest version after waiting for a concurrent writer.

Left to the general path: replays (the key is already recorded), unknown
customers, and a confirmed visit that earns its reward (the write's guard
requires the day's reward to exist already when no cool-down forbids one)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from tortoise.backends.base.client import BaseDBAsyncClient

from geofence import polygon
from geofence.judge import RATE_WINDOW, BeaconSighting, CheckInResult, Target, judge
from geofence.models import CheckInKind
from geofence.rules import Fix
from geofence.visits import Place, VisitResult, in_cooldown, open_since, reward_key
from loyalty.config import Settings
from loyalty.errors import DomainError, ErrorCode
from loyalty.events import VisitAccepted
from loyalty.ledger_rows import Params, emit_statement
from loyalty.sql import fetchrow

_FENCE_TARGET = (
    "s.id, s.name, g.latitude, g.longitude, g.radius_meters, g.active, NULL::bigint",
    "LEFT JOIN geofence g ON g.id = $3 LEFT JOIN store s ON s.id = g.store_id",
)
# A store whose fences are all retired is closed: its beacons with it.
_BEACON_TARGET = (
    "s.id, s.name, s.latitude, s.longitude, NULL::float8, b.active AND EXISTS "
    "(SELECT 1 FROM geofence gf WHERE gf.store_id = b.store_id AND gf.active), b.id",
    "LEFT JOIN beacon b ON b.uuid = $3 AND b.major = $4 AND b.minor = $5 "
    "LEFT JOIN store s ON s.id = b.store_id",
)
_READ = """SELECT c.location_opt_in, c.timezone, a.id, a.updated_at,
  (SELECT COUNT(*) FROM check_in r WHERE r.customer_id = c.id AND r.created_at > $1),
  k.request_hash, {columns},
  p.latitude, p.longitude, p.accuracy_meters, p.occurred_at,
  v.id, v.confirmed, v.opened_at, v.points_earned, lr.occurred_at, {outline}
FROM customer c JOIN account a ON a.customer_id = c.id
LEFT JOIN check_in k ON k.idempotency_key = $2
{join}
LEFT JOIN LATERAL (SELECT latitude, longitude, accuracy_meters, occurred_at FROM check_in
  WHERE customer_id = c.id AND accepted ORDER BY occurred_at DESC LIMIT 1) p ON TRUE
LEFT JOIN LATERAL (SELECT id, confirmed, opened_at, points_earned FROM visit
  WHERE customer_id = c.id AND store_id = s.id AND closed_at IS NULL AND opened_at > ${n}
  ORDER BY id DESC LIMIT 1) v ON TRUE
LEFT JOIN LATERAL (SELECT t.occurred_at FROM visit rv JOIN ledger_transaction t
  ON t.id = rv.reward_transaction_id WHERE rv.customer_id = c.id
  ORDER BY rv.reward_transaction_id DESC LIMIT 1) lr ON TRUE
WHERE c.id = ${m}"""
_READ_FENCE = _READ.format(columns=_FENCE_TARGET[0], join=_FENCE_TARGET[1], n=4, m=5,
                           outline="g.polygon")
_READ_BEACON = _READ.format(columns=_BEACON_TARGET[0], join=_BEACON_TARGET[1], n=6, m=7,
                            outline="NULL::text")
_MAX_ID = 2**63 - 1


async def try_fast(
    conn: BaseDBAsyncClient,
    *,
    customer_id: int,
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
) -> CheckInResult | str | None:
    """The accepted check-in, the reason it was refused (both recorded), or
    None when nothing was written and the general path must decide.
    RATE_LIMITED is raised as on the general path; IntegrityError (the key was
    recorded meanwhile) propagates."""
    since = now - RATE_WINDOW
    if beacon is not None:
        row = await fetchrow(conn, _READ_BEACON, since, key, beacon.uuid, beacon.major,
                             beacon.minor, open_since(when, settings), customer_id)
    elif geofence_id is not None and 0 < geofence_id <= _MAX_ID:
        row = await fetchrow(conn, _READ_FENCE, since, key, geofence_id,
                             open_since(when, settings), customer_id)
    else:
        return None
    if row is None or row[5] is not None:
        return None  # unknown customer, or a replay: the general path answers both
    if row[4] >= settings.checkin_rate_per_minute:
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"More than {settings.checkin_rate_per_minute} check-ins a minute; try again later.",
        )
    target = None
    if row[6] is not None:
        target = Target(Place(row[6], row[7], None if beacon is not None else geofence_id),
                        row[12], row[8], row[9], row[10], not row[11], polygon.parse(row[22]))
    previous = None if row[13] is None else Fix(row[13], row[14], row[15], row[16])
    reason, fix = judge(
        opted_in=bool(row[0]), target=target, kind=kind, latitude=latitude,
        longitude=longitude, accuracy_meters=accuracy_meters, beacon=beacon, when=when,
        now=now, settings=settings, previous=previous,
    )
    step = _Step(None, _Action.NONE)
    if reason is None and target is not None:
        opened = None
        if row[17] is not None:
            opened = VisitResult(row[17], target.place.store_id, target.place.store_name,
                                 row[20], row[19], None, bool(row[18]))
        step = _next_step(kind, target.place, opened, when, settings,
                          customer_id=customer_id, timezone=row[1], last_reward_at=row[21])
    args = Params(cast=True)
    sql = _statement(args, step, account_id=row[2], version=row[3], now=now, when=when,
                     customer_id=customer_id, geofence_id=None if target is None
                     else target.place.geofence_id)
    sql += (
        " INSERT INTO check_in (customer_id, idempotency_key, request_hash, kind, geofence_id, "
        "beacon_id, latitude, longitude, accuracy_meters, occurred_at, accepted, reason, "
        f"visit_id, created_at) SELECT {args(customer_id, 'bigint')}, {args(key, 'text')}, "
        f"{args(fingerprint, 'text')}, {args(kind.value, 'text')}, "
        f"{args(None if target is None else target.place.geofence_id, 'bigint')}, "
        f"{args(None if target is None else target.beacon_id, 'bigint')}, "
        f"{args(latitude if fix is None else fix.latitude, 'float8')}, "
        f"{args(longitude if fix is None else fix.longitude, 'float8')}, "
        f"{args(accuracy_meters, 'float8')}, {args(when, 'timestamptz')}, "
        f"{args(reason is None, 'boolean')}, {args(reason, 'text')}, v.id, "
        f"{args(now, 'timestamptz')} FROM v RETURNING visit_id"
    )
    written = await fetchrow(conn, sql, *args.values)
    if written is None:
        return None  # the version moved, the visit was closed, or a reward is due
    if reason is not None:
        return reason
    visit = step.visit
    if visit is not None and step.action == _Action.OPEN:
        visit = replace(visit, id=written[0])
    return CheckInResult(visit)


class _Action(Enum):
    NONE = "none"  # no visit: a refusal, or an EXIT with no visit open
    KEEP = "keep"  # the open visit, unchanged
    OPEN = "open"  # a new visit
    CLOSE = "close"  # the open visit, closed
    CONFIRM = "confirm"  # the open visit, confirmed, with its welcome event


@dataclass(frozen=True)
class _Step:
    visit: VisitResult | None  # as it will stand (id 0 until a new one is written)
    action: _Action
    reward_done: str | None = None  # a reward key that must already exist


def _next_step(kind: CheckInKind, place: Place, opened: VisitResult | None, when: datetime,
               settings: Settings, *, customer_id: int, timezone: str,
               last_reward_at: datetime | None) -> _Step:
    """What an accepted check-in does to the visit, as geofence.visits.apply
    does it under the lock."""
    if kind == CheckInKind.EXIT:
        if opened is None:
            return _Step(None, _Action.NONE)
        return _Step(replace(opened, closed_at=max(when, opened.opened_at)), _Action.CLOSE)
    if opened is None:
        fresh = VisitResult(0, place.store_id, place.store_name, 0, when, None,
                            kind != CheckInKind.ENTER)
        action = _Action.OPEN
    elif kind == CheckInKind.ENTER or opened.confirmed:
        return _Step(opened, _Action.KEEP)
    else:
        fresh, action = replace(opened, confirmed=True, points_earned=0), _Action.CONFIRM
    if kind == CheckInKind.ENTER:
        return _Step(fresh, action)
    # DWELL or BEACON confirms presence: here only when no reward is due, which
    # the write checks (the day's reward must exist) unless the cool-down or a
    # zero reward already rules one out.
    if settings.visit_reward_points <= 0 or in_cooldown(last_reward_at, when, settings):
        return _Step(fresh, action)
    return _Step(fresh, action, reward_key(customer_id, place.store_id, when, timezone))


def _statement(args: Params, step: _Step, *, account_id: int, version: datetime, now: datetime,
               when: datetime, customer_id: int, geofence_id: int | None) -> str:
    """The guard `a`, the visit change `v` (one row, its id or NULL, when the
    guard held) and the welcome event `o`; the caller appends the check-in."""
    sql = ("WITH a AS (UPDATE account SET updated_at = GREATEST("
           f"{args(now, 'timestamptz')}, updated_at + interval '1 microsecond') "
           f"WHERE id = {args(account_id, 'bigint')} AND updated_at = "
           f"{args(version, 'timestamptz')}")
    if step.reward_done is not None:
        sql += (" AND EXISTS (SELECT 1 FROM ledger_transaction WHERE idempotency_key = "
                f"{args(step.reward_done, 'text')})")
    sql += " RETURNING id), v AS ("
    visit = step.visit
    if visit is None:
        sql += "SELECT NULL::bigint AS id FROM a)"
    elif step.action == _Action.OPEN:
        sql += (
            "INSERT INTO visit (customer_id, store_id, geofence_id, opened_at, closed_at, "
            "confirmed, points_earned, reward_transaction_id) "
            f"SELECT {args(customer_id, 'bigint')}, {args(visit.store_id, 'bigint')}, "
            f"{args(geofence_id, 'bigint')}, {args(when, 'timestamptz')}, NULL, "
            f"{args(visit.confirmed, 'boolean')}, 0, NULL FROM a RETURNING id)"
        )
    elif step.action in (_Action.CLOSE, _Action.CONFIRM):
        change = (f"closed_at = {args(visit.closed_at, 'timestamptz')}"
                  if step.action == _Action.CLOSE else "confirmed = TRUE")
        # A visit the stale-visit job closed meanwhile fails the write too.
        sql += (f"UPDATE visit SET {change} FROM a WHERE visit.id = "
                f"{args(visit.id, 'bigint')} AND visit.closed_at IS NULL RETURNING visit.id)")
    else:
        sql += f"SELECT {args(visit.id, 'bigint')} AS id FROM a)"
    if visit is not None and visit.confirmed and step.action in (_Action.OPEN, _Action.CONFIRM):
        # The welcome the general path emits (no points changed: no NOTIFY).
        welcome = VisitAccepted(visit_id=0, points=0, store_id=visit.store_id,
                                store_name=visit.store_name)
        insert = emit_statement(args, customer_id, welcome, now, source="v",
                                computed={"visit_id": "v.id"})
        sql += f", o AS ({insert})"
    return sql
