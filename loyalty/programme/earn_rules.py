"""Managing the earn rules (admin), and the active set every purchase reads.

Rules are never deleted, only deactivated, so old ledger descriptions and the
audit trail keep their meaning. Every change writes an earn_rule_change row
(who, what, the rule before and after) in the same transaction and bumps the
rule's `version`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow
from loyalty.programme.earn_rule_checks import RuleFields, validated
from loyalty.programme.rules import Conditions, PurchaseFacts, Rule, RuleKind, matches

log = logging.getLogger(__name__)


class _Keep(Enum):
    KEEP = "KEEP"


# update_rule: leave this field as it is (None means "clear it").
KEEP = _Keep.KEEP

_COLUMNS = "id, name, label, kind, rate, points, cap, conditions, priority, active, version, " \
    "updated_at"


@dataclass(frozen=True)
class RuleRecord:
    rule: Rule
    name: str
    active: bool
    version: int
    updated_at: datetime

    def snapshot(self) -> dict[str, Any]:
        """The rule as the audit trail stores it."""
        r = self.rule
        return {
            "name": self.name,
            "label": r.label,
            "kind": r.kind.value,
            "rate": None if r.rate is None else str(r.rate),
            "points": r.points,
            "cap": r.cap,
            "conditions": r.conditions.to_json(),
            "priority": r.priority,
            "active": self.active,
            "version": self.version,
        }


@dataclass(frozen=True)
class RuleChange:
    id: int
    rule_id: int
    staff_id: int | None
    staff_email: str | None
    action: str  # create update deactivate
    before: dict[str, Any] | None
    after: dict[str, Any]
    at: datetime


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _rule_of(row: Sequence[Any]) -> Rule:
    return Rule(
        id=int(row[0]),
        kind=RuleKind(row[3]),
        label=row[2],
        rate=None if row[4] is None else Decimal(row[4]),
        points=row[5],
        cap=row[6],
        conditions=Conditions.from_json(_json(row[7]) or {}),
        priority=row[8],
    )


def _record_of(row: Sequence[Any]) -> RuleRecord:
    return RuleRecord(_rule_of(row), row[1], bool(row[9]), row[10], as_datetime(row[11]))


def _fields_of(record: RuleRecord) -> RuleFields:
    r = record.rule
    return RuleFields(record.name, r.label, r.kind, r.rate, r.points, r.cap, r.conditions,
                      r.priority)


async def _locked(conn: BaseDBAsyncClient, rule_id: int) -> RuleRecord:
    row = await fetchrow(conn, f"SELECT {_COLUMNS} FROM earn_rule WHERE id = $1 FOR UPDATE",
                         rule_id)
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such earn rule.", "id")
    return _record_of(row)


async def _audit(conn: BaseDBAsyncClient, rule_id: int, staff_id: int | None, action: str,
                 before: RuleRecord | None, after: RuleRecord, now: datetime) -> None:
    await execute(
        conn,
        'INSERT INTO earn_rule_change (rule_id, staff_id, action, "before", "after", '
        "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        rule_id,
        staff_id,
        action,
        None if before is None else json.dumps(before.snapshot()),
        json.dumps(after.snapshot()),
        now,
    )


async def create_rule(
    staff_id: int | None, *, name: str, label: str, kind: str, rate: str | None = None,
    points: int | None = None, cap: int | None = None, conditions: dict[str, Any] | None = None,
    priority: int = 0,
) -> RuleRecord:
    """A new active rule, effective at once in this process and within
    RULES_TTL_SECONDS in the others."""
    f = validated(name=name, label=label, kind=kind, rate=rate, points=points, cap=cap,
                  conditions=conditions, priority=priority)
    now = datetime.now(UTC)
    async with transaction() as conn:
        row = await fetchrow(
            conn,
            "INSERT INTO earn_rule (name, label, kind, rate, points, cap, conditions, priority, "
            "active, version, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, 1, $9, $10) "
            f"RETURNING {_COLUMNS}",
            *f.columns(), now, now,
        )
        assert row is not None
        record = _record_of(row)
        await _audit(conn, record.rule.id, staff_id, "create", None, record, now)
    invalidate_rules()
    return record


async def update_rule(
    staff_id: int | None, rule_id: int, *, name: str | _Keep = KEEP, label: str | _Keep = KEEP,
    kind: str | _Keep = KEEP, rate: str | None | _Keep = KEEP, points: int | None | _Keep = KEEP,
    cap: int | None | _Keep = KEEP, conditions: dict[str, Any] | None | _Keep = KEEP,
    priority: int | _Keep = KEEP, active: bool | _Keep = KEEP,
) -> RuleRecord:
    """Change the fields given (KEEP leaves one as it is, None clears it).
    A kind change drops a rate or points the new kind has no use for, unless
    given explicitly (then it is an error)."""
    now = datetime.now(UTC)
    async with transaction() as conn:
        before = await _locked(conn, rule_id)
        old = _fields_of(before)
        new_kind = old.kind.value if kind is KEEP else kind
        changed_kind = new_kind != old.kind.value
        f = validated(
            name=old.name if name is KEEP else name,
            label=old.label if label is KEEP else label,
            kind=new_kind,
            rate=(None if changed_kind else old.rate) if rate is KEEP else rate,
            points=(None if changed_kind else old.points) if points is KEEP else points,
            cap=old.cap if cap is KEEP else cap,
            conditions=old.conditions.to_json() if conditions is KEEP else conditions,
            priority=old.priority if priority is KEEP else priority,
            rate_given=rate is not KEEP,
            points_given=points is not KEEP,
        )
        if active is None:
            raise invalid("active may be true or false, not null.", "active")
        is_active = before.active if active is KEEP else bool(active)
        after = await _write(conn, rule_id, f, is_active, now)
        await _audit(conn, rule_id, staff_id, "update", before, after, now)
    invalidate_rules()
    return after


async def deactivate_rule(staff_id: int | None, rule_id: int) -> RuleRecord:
    """Stop a rule from firing; deactivating an inactive rule changes nothing."""
    now = datetime.now(UTC)
    async with transaction() as conn:
        before = await _locked(conn, rule_id)
        if not before.active:
            return before
        after = await _write(conn, rule_id, _fields_of(before), False, now)
        await _audit(conn, rule_id, staff_id, "deactivate", before, after, now)
    invalidate_rules()
    return after


async def _write(conn: BaseDBAsyncClient, rule_id: int, f: RuleFields, active: bool,
                 now: datetime) -> RuleRecord:
    row = await fetchrow(
        conn,
        "UPDATE earn_rule SET name = $1, label = $2, kind = $3, rate = $4, points = $5, "
        "cap = $6, conditions = $7, priority = $8, active = $9, version = version + 1, "
        f"updated_at = $10 WHERE id = $11 RETURNING {_COLUMNS}",
        *f.columns(), active, now, rule_id,
    )
    assert row is not None
    return _record_of(row)


async def list_rules(include_inactive: bool = False) -> list[RuleRecord]:
    where = "" if include_inactive else " WHERE active"
    rows = await fetch(connections.get("default"),
                       f"SELECT {_COLUMNS} FROM earn_rule{where} ORDER BY id")
    return [_record_of(r) for r in rows]


async def rule_changes(rule_id: int) -> list[RuleChange]:
    """A rule's audit trail, oldest first (empty for an unknown rule)."""
    rows = await fetch(
        connections.get("default"),
        'SELECT c.id, c.rule_id, c.staff_id, s.email, c.action, c."before", c."after", '
        "c.created_at FROM earn_rule_change c LEFT JOIN staff s ON s.id = c.staff_id "
        "WHERE c.rule_id = $1 ORDER BY c.id",
        rule_id,
    )
    return [RuleChange(r[0], r[1], r[2], r[3], r[4], _json(r[5]), _json(r[6]),
                       as_datetime(r[7])) for r in rows]


# Every purchase reads the active rules, so each process keeps them for a few
# seconds. A change is seen at once by the process that made it
# (invalidate_rules) and by the other processes (other servers, workers) only
# when their copy ages out: up to RULES_TTL_SECONDS later. Marketers change
# rules ahead of a campaign, so those seconds are acceptable; a purchase in
# that window earns under the rules as they were a moment before.
RULES_TTL_SECONDS = 5.0
_cache: tuple[float, tuple[Rule, ...]] | None = None
# Bumped on each invalidation, so that a load which started before a change
# does not store the rules as they were before it.
_generation = 0


def invalidate_rules() -> None:
    global _cache, _generation
    _cache = None
    _generation += 1


async def active_rules() -> tuple[Rule, ...]:
    """The active rules, by id, read with one query at most every few seconds.
    The same tuple is returned until it changes (the engine caches by it)."""
    global _cache
    cached = _cache
    if cached is not None and time.monotonic() < cached[0]:
        return cached[1]
    generation = _generation
    rows = await fetch(connections.get("default"),
                       f"SELECT {_COLUMNS} FROM earn_rule WHERE active ORDER BY id")
    loaded = []
    for row in rows:
        try:
            loaded.append(_rule_of(row))
        except (DomainError, ValueError, ArithmeticError):
            # A row written around the use cases must not stop every purchase.
            log.warning("earn rule %s is malformed and is ignored", row[0])
    rules = tuple(loaded)
    if cached is not None and cached[1] == rules:
        rules = cached[1]
    if generation == _generation:
        _cache = (time.monotonic() + RULES_TTL_SECONDS, rules)
    return rules


def survey_rule(rules: Sequence[Rule], purchase: PurchaseFacts | None = None,
                tier: str | None = None) -> Rule | None:
    """The SURVEY rule with the highest priority (tie: lowest id) among the
    active `rules`; with `purchase`, only one whose conditions it meets."""
    best: Rule | None = None
    for rule in rules:
        if rule.kind != RuleKind.SURVEY:
            continue
        if purchase is not None and not matches(rule.conditions, purchase, tier):
            continue
        if best is None or (-rule.priority, rule.id) < (-best.priority, best.id):
            best = rule
    return best

