"""Managing earn rules against the real database: CRUD, audit trail, the cache."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from loyalty.errors import DomainError, ErrorCode
from loyalty.identity.accounts import create_admin
from loyalty.platform.sql import execute
from loyalty.programme import earn_rules
from loyalty.programme.earn_rules import (
    KEEP,
    active_rules,
    create_rule,
    deactivate_rule,
    list_rules,
    rule_changes,
    survey_rule,
    update_rule,
)
from loyalty.programme.rules import Conditions, RuleKind
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("database")


async def _admin() -> int:
    return (await create_admin("marketing@shop.test", PASSWORD)).id


async def test_create_update_deactivate_writes_the_audit_trail():
    # given an admin
    admin = await _admin()
    # when they create, change and deactivate a rule
    created = await create_rule(admin, name="Coffee double", label="x2 on coffee",
                                kind="MULTIPLIER", rate="2.00",
                                conditions={"categories": ["coffee"], "daysOfWeek": [1]})
    updated = await update_rule(admin, created.rule.id, rate="3", cap=100)
    gone = await deactivate_rule(admin, created.rule.id)
    again = await deactivate_rule(admin, created.rule.id)
    # then each change bumps the version and leaves one audit row
    assert created.rule.rate == Decimal(2) and created.version == 1
    assert created.rule.conditions == Conditions(categories=frozenset({"coffee"}),
                                                 days_of_week=frozenset({1}))
    assert (updated.rule.rate, updated.rule.cap, updated.version) == (Decimal(3), 100, 2)
    assert updated.rule.label == "x2 on coffee"  # KEEP by default
    assert (gone.active, gone.version) == (False, 3)
    assert again == gone
    changes = await rule_changes(created.rule.id)
    assert [c.action for c in changes] == ["create", "update", "deactivate"]
    assert {c.staff_email for c in changes} == {"marketing@shop.test"}
    assert changes[0].before is None
    assert changes[0].after["rate"] == "2" and changes[0].after["conditions"] == {
        "categories": ["coffee"], "daysOfWeek": [1]}
    assert changes[1].before == changes[0].after
    assert (changes[1].after["rate"], changes[1].after["cap"]) == ("3", 100)
    assert (changes[2].before["active"], changes[2].after["active"]) == (True, False)
    assert await rule_changes(999) == []


async def test_list_rules_hides_inactive_ones_unless_asked():
    admin = await _admin()
    a = await create_rule(admin, name="Base app", label="app points", kind="BASE_RATE",
                          rate="2", conditions={"channels": ["APP"]})
    b = await create_rule(admin, name="Welcome", label="+50 first purchase",
                          kind="FIRST_PURCHASE", points=50)
    await deactivate_rule(admin, b.rule.id)
    assert [r.rule.id for r in await list_rules()] == [a.rule.id]
    assert [r.rule.id for r in await list_rules(include_inactive=True)] == [a.rule.id, b.rule.id]


@pytest.mark.parametrize(("fields", "field"), [
    ({"kind": "DOUBLE", "rate": "2"}, "kind"),
    ({"kind": "MULTIPLIER"}, "rate"),
    ({"kind": "MULTIPLIER", "rate": "0"}, "rate"),
    ({"kind": "MULTIPLIER", "rate": "two"}, "rate"),
    ({"kind": "MULTIPLIER", "rate": "-1"}, "rate"),
    ({"kind": "MULTIPLIER", "rate": "1.00001"}, "rate"),
    ({"kind": "MULTIPLIER", "rate": "2", "points": 5}, "points"),
    ({"kind": "BONUS"}, "points"),
    ({"kind": "BONUS", "points": -1}, "points"),
    ({"kind": "BONUS", "points": 5, "rate": "2"}, "rate"),
    ({"kind": "BONUS", "points": 5, "cap": -1}, "cap"),
    ({"kind": "CAP", "points": 5, "cap": 3}, "cap"),
    ({"kind": "BONUS", "points": 5, "label": ""}, "label"),
    ({"kind": "BONUS", "points": 5, "label": "x" * 121}, "label"),
    ({"kind": "BONUS", "points": 5, "name": " "}, "name"),
    ({"kind": "BONUS", "points": 5, "conditions": {"daysOfWeek": [0]}}, "conditions.daysOfWeek"),
    ({"kind": "BIRTHDAY", "points": 5, "conditions": {"skus": ["A"]}}, "conditions.skus"),
    ({"kind": "BONUS", "points": 5, "priority": 10**7}, "priority"),
])
async def test_invalid_rules_are_refused_naming_the_field(fields, field):
    admin = await _admin()
    args = {"name": "A rule", "label": "a label", **fields}
    with pytest.raises(DomainError) as err:
        await create_rule(admin, **args)
    assert (err.value.code, err.value.field) == (ErrorCode.INVALID_INPUT, field)
    assert await list_rules(include_inactive=True) == []


async def test_base_rate_may_be_zero_and_a_kind_change_drops_the_old_rate():
    admin = await _admin()
    rule = await create_rule(admin, name="No points by phone", label="phone", kind="BASE_RATE",
                             rate="0", conditions={"channels": ["PHONE"]})
    assert rule.rule.rate == Decimal(0)
    bonus = await update_rule(admin, rule.rule.id, kind="BONUS", points=10)
    assert (bonus.rule.kind, bonus.rule.rate, bonus.rule.points) == (RuleKind.BONUS, None, 10)
    with pytest.raises(DomainError) as err:
        await update_rule(admin, rule.rule.id, kind="MULTIPLIER")
    assert err.value.field == "rate"
    with pytest.raises(DomainError) as err:
        await update_rule(admin, 12345, label="x")
    assert err.value.code == ErrorCode.NOT_FOUND
    cleared = await update_rule(admin, rule.rule.id, conditions=None, priority=KEEP)
    assert cleared.rule.conditions == Conditions()


async def test_the_cache_serves_one_load_and_forgets_it_after_a_change():
    # given a rule, loaded once
    admin = await _admin()
    first = await create_rule(admin, name="Bonus", label="+5", kind="BONUS", points=5)
    loaded = await active_rules()
    assert [r.id for r in loaded] == [first.rule.id]
    # when a row changes behind the use cases' back, the cached copy stays
    await execute(_conn(), "UPDATE earn_rule SET points = 7 WHERE id = $1", first.rule.id)
    assert await active_rules() is loaded
    # and when a use case changes a rule, this process sees it at once
    second = await create_rule(admin, name="Bonus 2", label="+6", kind="BONUS", points=6)
    fresh = await active_rules()
    assert [(r.id, r.points) for r in fresh] == [(first.rule.id, 7), (second.rule.id, 6)]
    await deactivate_rule(admin, second.rule.id)
    assert [r.id for r in await active_rules()] == [first.rule.id]


async def test_the_cache_expires_after_its_ttl(monkeypatch):
    await active_rules()  # empty, cached
    await execute(_conn(), "INSERT INTO earn_rule (name, label, kind, points, conditions, "
                  "priority, active, version, created_at, updated_at) VALUES "
                  "('x', '+1', 'BONUS', 1, '{}', 0, TRUE, 1, CURRENT_TIMESTAMP, "
                  "CURRENT_TIMESTAMP)")
    assert await active_rules() == ()
    monkeypatch.setattr(earn_rules, "RULES_TTL_SECONDS", 0.0)
    earn_rules.invalidate_rules()
    await active_rules()
    assert len(await active_rules()) == 1


async def test_concurrent_updates_each_bump_the_version_once():
    admin = await _admin()
    rule = await create_rule(admin, name="Bonus", label="+5", kind="BONUS", points=5)
    await asyncio.gather(*[update_rule(admin, rule.rule.id, points=p) for p in range(1, 6)])
    changes = await rule_changes(rule.rule.id)
    assert [c.after["version"] for c in changes] == [1, 2, 3, 4, 5, 6]
    assert (await list_rules())[0].version == 6


async def test_survey_rule_is_the_active_one_with_the_highest_priority():
    admin = await _admin()
    low = await create_rule(admin, name="Survey", label="+10 for your feedback", kind="SURVEY",
                            points=10)
    high = await create_rule(admin, name="Survey+", label="+20 for your feedback",
                             kind="SURVEY", points=20, priority=5)
    await create_rule(admin, name="Other", label="+1", kind="BONUS", points=1, priority=9)
    assert survey_rule(await active_rules()) == high.rule
    await deactivate_rule(admin, high.rule.id)
    assert survey_rule(await active_rules()) == low.rule
    await deactivate_rule(admin, low.rule.id)
    assert survey_rule(await active_rules()) is None


def _conn():
    from tortoise import connections

    return connections.get("default")
