"""Admin: shape the earn rules, read their audit trail, simulate a purchase."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UnsetType
from tortoise import connections

from api.context import Context
from api.convert import parse_id
from api.errors import from_domain
from api.mutations.base import user_errors
from api.permissions import IsAdmin
from api.types.common import given
from api.types.earn_rules import (
    CreateEarnRuleInput,
    DeactivateEarnRuleInput,
    EarnRule,
    EarnRuleChange,
    EarnRuleConditionsInput,
    EarnRulePayload,
    SimulatedPurchase,
    SimulatePurchaseInput,
    UpdateEarnRuleInput,
)
from api.types.pos import PurchaseLineInput
from loyalty.errors import DomainError, invalid
from loyalty.money import Money, parse_money
from loyalty.points.purchase_context import evaluate_purchase
from loyalty.programme import earn_rules, rules
from loyalty.programme.stores import store_info
from wallet.cards import resolve_card


def _staff(info: Info[Context, Any]) -> int:
    assert info.context.principal is not None
    return info.context.principal.subject_id


def conditions_of(c: EarnRuleConditionsInput | None) -> dict[str, Any] | None:
    """The camelCase object the domain stores (it validates it)."""
    if c is None:
        return None
    out: dict[str, Any] = {
        "skus": given(c.skus), "categories": given(c.categories), "storeIds": given(c.store_ids),
        "channels": None if not given(c.channels) else [ch.value for ch in c.channels or []],
        "tiers": given(c.tiers), "daysOfWeek": given(c.days_of_week),
        "startsOn": given(c.starts_on), "endsOn": given(c.ends_on),
        "minBasketMinor": given(c.min_basket_minor),
    }
    return {k: v for k, v in out.items() if v is not None}


def _keep(value: Any) -> Any:
    """Omitted stays as it is; null clears."""
    return earn_rules.KEEP if isinstance(value, UnsetType) else value


def lines_of(lines: list[PurchaseLineInput] | None, total: Money) -> tuple[rules.Line, ...]:
    out = []
    for i, line in enumerate(lines or []):
        if line.quantity <= 0:
            raise invalid("quantity must be positive.", f"lines.{i}.quantity")
        price = parse_money(line.unit_price.amount_minor, line.unit_price.currency,
                            f"lines.{i}.unitPrice", allow_zero=True)
        if price.currency != total.currency:
            raise invalid("Lines must be in the total's currency.", f"lines.{i}.unitPrice")
        out.append(rules.Line(line.sku, given(line.category), line.quantity, price.amount_minor))
    return tuple(out)


async def _simulate(input: SimulatePurchaseInput) -> SimulatedPurchase:
    store_id = parse_id(input.store_id, "storeId")
    total = parse_money(input.total.amount_minor, input.total.currency, "total")
    lines = lines_of(given(input.lines), total)
    when = given(input.occurred_at) or datetime.now(UTC)
    if when.tzinfo is None:
        raise invalid("occurredAt needs a UTC offset.", "occurredAt")
    number = given(input.card_number)
    customer_id = None if number is None else (await resolve_card(None, number)).customer_id
    conn = connections.get("default")
    name, _ = await store_info(conn, store_id)
    evaluation = await evaluate_purchase(
        conn, customer_id=customer_id, store_id=store_id, total=total, lines=lines,
        channel="STORE" if input.channel is None else input.channel.value,
        occurred_at=when.astimezone(UTC),
    )
    return SimulatedPurchase.of(evaluation, f"Purchase at {name}")


@strawberry.type
class EarnRuleQueries:
    @strawberry.field(description="Admin: the earn rules, by id.", permission_classes=[IsAdmin])
    async def earn_rules(self, include_inactive: bool = False) -> list[EarnRule]:
        return [EarnRule.of(r) for r in await earn_rules.list_rules(include_inactive)]

    @strawberry.field(description="Admin: a rule's changes, oldest first.",
                      permission_classes=[IsAdmin])
    async def earn_rule_changes(self, rule_id: strawberry.ID) -> list[EarnRuleChange]:
        try:
            parsed = parse_id(rule_id, "ruleId")
        except DomainError as e:
            raise from_domain(e) from None
        return [EarnRuleChange.of(c) for c in await earn_rules.rule_changes(parsed)]

    @strawberry.field(
        description="Admin: what a purchase would earn under the active rules; posts nothing.",
        permission_classes=[IsAdmin],
    )
    async def simulate_purchase(self, input: SimulatePurchaseInput) -> SimulatedPurchase:
        try:
            return await _simulate(input)
        except DomainError as e:
            raise from_domain(e) from None


@strawberry.type
class EarnRuleMutations:
    @strawberry.mutation(description="Admin: add an earn rule (effective at once).",
                         permission_classes=[IsAdmin])
    @user_errors
    async def create_earn_rule(self, info: Info[Context, Any],
                               input: CreateEarnRuleInput) -> EarnRulePayload:
        record = await earn_rules.create_rule(
            _staff(info), name=input.name, label=input.label, kind=input.kind.value,
            rate=given(input.rate), points=given(input.points), cap=given(input.cap),
            conditions=conditions_of(given(input.conditions)),
            priority=0 if input.priority is None else input.priority,
        )
        return EarnRulePayload(rule=EarnRule.of(record), errors=[])

    @strawberry.mutation(description="Admin: change an earn rule.", permission_classes=[IsAdmin])
    @user_errors
    async def update_earn_rule(self, info: Info[Context, Any],
                               input: UpdateEarnRuleInput) -> EarnRulePayload:
        kind = _keep(input.kind)
        conditions = _keep(input.conditions)
        record = await earn_rules.update_rule(
            _staff(info), parse_id(input.id, "id"), name=_keep(input.name),
            label=_keep(input.label), kind=kind if kind in (earn_rules.KEEP, None)
            else kind.value, rate=_keep(input.rate), points=_keep(input.points),
            cap=_keep(input.cap), priority=_keep(input.priority),
            conditions=conditions if conditions is earn_rules.KEEP
            else conditions_of(conditions),
            active=_keep(input.active),
        )
        return EarnRulePayload(rule=EarnRule.of(record), errors=[])

    @strawberry.mutation(description="Admin: stop an earn rule from firing (kept for the "
                         "audit trail).", permission_classes=[IsAdmin])
    @user_errors
    async def deactivate_earn_rule(self, info: Info[Context, Any],
                                   input: DeactivateEarnRuleInput) -> EarnRulePayload:
        record = await earn_rules.deactivate_rule(_staff(info), parse_id(input.id, "id"))
        return EarnRulePayload(rule=EarnRule.of(record), errors=[])
