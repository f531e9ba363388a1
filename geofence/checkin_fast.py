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

What an accepted check-in does to the visit is geofence.visit_machine's
`next_step`, the function the general path calls too. Left to the general
path: replays (the key is already recorded), unknown customers, and a
confirmed visit that earns its reward (the write's guard requires the day's
reward to exist already when no cool-down forbids one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from geofence import polygon
from geofence.judge import RATE_WINDOW, BeaconSighting, CheckInResult, Target, judge
from geofence.models import CheckInKind
from geofence.rules import Fix
from geofence.visit_machine import (
    Action,
    Place,
    Step,
    VisitResult,
    next_step,
    open_since,
    reward_key,
    reward_possible,
)
from loyalty.errors import DomainError, ErrorCode
from loyalty.events import VisitAccepted
from loyalty.ledger.lots import Params
from loyalty.ledger.statement import emit_statement
from loyalty.platform.config import Settings
from loyalty.platform.sql import fetchrow

_FENCE_TARGET = (
    "s.id AS store_id, s.name AS store_name, g.latitude, g.longitude, g.radius_meters, "
    "g.active, NULL::bigint AS beacon_id, g.polygon AS outline",
    "LEFT JOIN geofence g ON g.id = $3 LEFT JOIN store s ON s.id = g.store_id",
)
# A store whose fences are all retired is closed: its beacons with it.
_BEACON_TARGET = (
    "s.id AS store_id, s.name AS store_name, s.latitude, s.longitude, "
    "NULL::float8 AS radius_meters, b.active AND EXISTS "
    "(SELECT 1 FROM geofence gf WHERE gf.store_id = b.store_id AND gf.active) AS active, "
    "b.id AS beacon_id, NULL::text AS outline",
    "LEFT JOIN beacon b ON b.uuid = $3 AND b.major = $4 AND b.minor = $5 "
    "LEFT JOIN store s ON s.id = b.store_id",
)
_READ = """SELECT c.location_opt_in AS opted_in, c.timezone, a.id AS account_id,
  a.updated_at AS version,
  (SELECT COUNT(*) FROM check_in r WHERE r.customer_id = c.id AND r.created_at > $1) AS recent,
  k.request_hash AS replayed, {columns},
  p.latitude AS previous_latitude, p.longitude AS previous_longitude,
  p.accuracy_meters AS previous_accuracy, p.occurred_at AS previous_at,
  v.id AS visit_id, v.confirmed AS visit_confirmed, v.opened_at AS visit_opened_at,
  v.points_earned AS visit_points, lr.occurred_at AS last_reward_at
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
_READ_FENCE = _READ.format(columns=_FENCE_TARGET[0], join=_FENCE_TARGET[1], n=4, m=5)
_READ_BEACON = _READ.format(columns=_BEACON_TARGET[0], join=_BEACON_TARGET[1], n=6, m=7)
_MAX_ID = 2**63 - 1


def _target(row: Any, beacon: BeaconSighting | None, geofence_id: int | None) -> Target | None:
    if row["store_id"] is None:
        return None
    place = Place(row["store_id"], row["store_name"], None if beacon is not None else geofence_id)
    return Target(place, row["beacon_id"], row["latitude"], row["longitude"],
                  row["radius_meters"], not row["active"], polygon.parse(row["outline"]))


def _opened(row: Any, place: Place) -> VisitResult | None:
    if row["visit_id"] is None:
        return None
    return VisitResult(row["visit_id"], place.store_id, place.store_name, row["visit_points"],
                       row["visit_opened_at"], None, bool(row["visit_confirmed"]))


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
    if row is None or row["replayed"] is not None:
        return None  # unknown customer, or a replay: the general path answers both
    if row["recent"] >= settings.checkin_rate_per_minute:
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"More than {settings.checkin_rate_per_minute} check-ins a minute; try again later.",
        )
    target = _target(row, beacon, geofence_id)
    previous = None
    if row["previous_latitude"] is not None:
        previous = Fix(row["previous_latitude"], row["previous_longitude"],
                       row["previous_accuracy"], row["previous_at"])
    reason, fix = judge(
        opted_in=bool(row["opted_in"]), target=target, kind=kind, latitude=latitude,
        longitude=longitude, accuracy_meters=accuracy_meters, beacon=beacon, when=when,
        now=now, settings=settings, previous=previous,
    )
    step = Step(None, Action.NONE)
    reward_done = None
    if reason is None and target is not None:
        step = next_step(kind, target.place, _opened(row, target.place), when)
        if step.confirms and reward_possible(settings, row["last_reward_at"], when):
            # Here only when the day's reward was given already: the write checks it.
            reward_done = reward_key(customer_id, target.place.store_id, when, row["timezone"])
    args = Params(cast=True)
    sql = _statement(args, step, reward_done, account_id=row["account_id"],
                     version=row["version"], now=now, when=when, customer_id=customer_id,
                     geofence_id=None if target is None else target.place.geofence_id)
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
    if visit is not None and step.action == Action.OPEN:
        visit = VisitResult(written["visit_id"], visit.store_id, visit.store_name,
                            visit.points_earned, visit.opened_at, visit.closed_at,
                            visit.confirmed)
    return CheckInResult(visit)


def _statement(args: Params, step: Step, reward_done: str | None, *, account_id: int,
               version: datetime, now: datetime, when: datetime, customer_id: int,
               geofence_id: int | None) -> str:
    """The guard `a`, the visit change `v` (one row, its id or NULL, when the
    guard held) and the welcome event `o`; the caller appends the check-in.
    `reward_done`: a reward key that must already exist."""
    sql = ("WITH a AS (UPDATE account SET updated_at = GREATEST("
           f"{args(now, 'timestamptz')}, updated_at + interval '1 microsecond') "
           f"WHERE id = {args(account_id, 'bigint')} AND updated_at = "
           f"{args(version, 'timestamptz')}")
    if reward_done is not None:
        sql += (" AND EXISTS (SELECT 1 FROM ledger_transaction WHERE idempotency_key = "
                f"{args(reward_done, 'text')})")
    sql += " RETURNING id), v AS ("
    visit = step.visit
    if visit is None:
        sql += "SELECT NULL::bigint AS id FROM a)"
    elif step.action == Action.OPEN:
        sql += (
            "INSERT INTO visit (customer_id, store_id, geofence_id, opened_at, closed_at, "
            "confirmed, points_earned, reward_transaction_id) "
            f"SELECT {args(customer_id, 'bigint')}, {args(visit.store_id, 'bigint')}, "
            f"{args(geofence_id, 'bigint')}, {args(when, 'timestamptz')}, NULL, "
            f"{args(visit.confirmed, 'boolean')}, 0, NULL FROM a RETURNING id)"
        )
    elif step.action in (Action.CLOSE, Action.CONFIRM):
        change = (f"closed_at = {args(visit.closed_at, 'timestamptz')}"
                  if step.action == Action.CLOSE else "confirmed = TRUE")
        # A visit the stale-visit job closed meanwhile fails the write too.
        sql += (f"UPDATE visit SET {change} FROM a WHERE visit.id = "
                f"{args(visit.id, 'bigint')} AND visit.closed_at IS NULL RETURNING visit.id)")
    else:
        sql += f"SELECT {args(visit.id, 'bigint')} AS id FROM a)"
    if step.confirms and visit is not None:
        # The welcome the general path emits (no points changed: no NOTIFY).
        welcome = VisitAccepted(visit_id=0, points=0, store_id=visit.store_id,
                                store_name=visit.store_name)
        insert = emit_statement(args, customer_id, welcome, now, source="v",
                                computed={"visit_id": "v.id"})
        sql += f", o AS ({insert})"
    return sql
