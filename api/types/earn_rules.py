"""Earn rules as admins see and shape them, and what a simulated purchase earns."""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from api.types.common import Channel, MoneyInput, UserError
from api.types.pos import PurchaseLineInput
from loyalty.programme.earn_rules import RuleChange, RuleRecord
from loyalty.programme.rules import Evaluation, RuleKind

strawberry.enum(
    RuleKind,
    name="EarnRuleKind",
    description="BASE_RATE: points per currency unit (`rate`); MULTIPLIER: a factor on the "
    "base rate (`rate`, 2 = double; several add up); BONUS, FIRST_PURCHASE, BIRTHDAY, SURVEY: "
    "fixed `points`; CAP: the most `points` one purchase may earn.",
)
EarnRuleKind = RuleKind  # the same class, now a GraphQL enum too


@strawberry.input(description="When a rule applies; every condition given must hold.")
class EarnRuleConditionsInput:
    skus: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="MULTIPLIER/BONUS only: these lines' SKUs.")
    categories: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="MULTIPLIER/BONUS only: these lines' categories.")
    store_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Only in these stores.")
    channels: list[Channel] | None = strawberry.field(
        default=strawberry.UNSET, description="Only through these channels.")
    tiers: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Only for customers in these tiers (names).")
    days_of_week: list[int] | None = strawberry.field(
        default=strawberry.UNSET, description="ISO weekdays, 1 = Monday to 7 = Sunday.")
    starts_on: date | None = strawberry.field(
        default=strawberry.UNSET, description="First day, inclusive, in the store's timezone.")
    ends_on: date | None = strawberry.field(
        default=strawberry.UNSET, description="Last day, inclusive, in the store's timezone.")
    min_basket_minor: int | None = strawberry.field(
        default=strawberry.UNSET, description="Least purchase total, in minor units.")


@strawberry.type(description="When a rule applies.")
class EarnRuleConditions:
    skus: list[str] = strawberry.field(description="SKUs (empty: any).")
    categories: list[str] = strawberry.field(description="Categories (empty: any).")
    store_ids: list[strawberry.ID] = strawberry.field(description="Stores (empty: any).")
    channels: list[Channel] = strawberry.field(description="Channels (empty: any).")
    tiers: list[str] = strawberry.field(description="Tier names (empty: any).")
    days_of_week: list[int] = strawberry.field(description="ISO weekdays (empty: any).")
    starts_on: date | None = strawberry.field(description="First day, inclusive.")
    ends_on: date | None = strawberry.field(description="Last day, inclusive.")
    min_basket_minor: int | None = strawberry.field(description="Least purchase total.")


@strawberry.type(description="A rule of the earning programme.")
class EarnRule:
    id: strawberry.ID = strawberry.field(description="The rule's id.")
    name: str = strawberry.field(description="Internal name.")
    label: str = strawberry.field(description="What the customer reads when it fires.")
    kind: EarnRuleKind = strawberry.field(description="What it does.")
    rate: str | None = strawberry.field(description="Decimal rate or factor, e.g. \"1.5\".")
    points: int | None = strawberry.field(description="Fixed points, or a CAP's maximum.")
    cap: int | None = strawberry.field(description="At most this many points from this rule.")
    priority: int = strawberry.field(description="Higher first; decides the base rate.")
    conditions: EarnRuleConditions = strawberry.field(description="When it applies.")
    active: bool = strawberry.field(description="Whether it fires.")
    version: int = strawberry.field(description="Bumped by every change.")
    updated_at: datetime = strawberry.field(description="Last change.")

    @staticmethod
    def of(record: RuleRecord) -> EarnRule:
        r, c = record.rule, record.rule.conditions
        return EarnRule(
            id=strawberry.ID(str(r.id)), name=record.name, label=r.label, kind=r.kind,
            rate=None if r.rate is None else str(r.rate), points=r.points, cap=r.cap,
            priority=r.priority, active=record.active, version=record.version,
            updated_at=record.updated_at,
            conditions=EarnRuleConditions(
                skus=sorted(c.skus), categories=sorted(c.categories),
                store_ids=[strawberry.ID(str(s)) for s in sorted(c.store_ids)],
                channels=[Channel(ch) for ch in sorted(c.channels)], tiers=sorted(c.tiers),
                days_of_week=sorted(c.days_of_week), starts_on=c.starts_on, ends_on=c.ends_on,
                min_basket_minor=c.min_basket_minor,
            ),
        )


@strawberry.type(description="One change to a rule: who, what, the rule before and after.")
class EarnRuleChange:
    id: strawberry.ID = strawberry.field(description="The change's id.")
    who: str | None = strawberry.field(description="The staff member's email.")
    action: str = strawberry.field(description="create, update or deactivate.")
    before: JSON | None = strawberry.field(description="The rule before (null on create).")
    after: JSON = strawberry.field(description="The rule after.")
    at: datetime = strawberry.field(description="When.")

    @staticmethod
    def of(change: RuleChange) -> EarnRuleChange:
        return EarnRuleChange(id=strawberry.ID(str(change.id)), who=change.staff_email,
                              action=change.action, before=cast(JSON | None, change.before),
                              after=cast(JSON, change.after),
                              at=change.at)


@strawberry.input(description="A new earn rule.")
class CreateEarnRuleInput:
    name: str = strawberry.field(description="Internal name, 1 to 200 characters.")
    label: str = strawberry.field(description="Customer-facing line, 1 to 120 characters.")
    kind: EarnRuleKind = strawberry.field(description="What it does.")
    rate: str | None = strawberry.field(
        default=strawberry.UNSET, description="BASE_RATE (>= 0) and MULTIPLIER (> 0) only.")
    points: int | None = strawberry.field(
        default=strawberry.UNSET, description="The other kinds only; >= 0.")
    cap: int | None = strawberry.field(
        default=strawberry.UNSET, description="At most this many points from this rule.")
    priority: int | None = strawberry.field(default=0, description="Higher first.")
    conditions: EarnRuleConditionsInput | None = strawberry.field(
        default=strawberry.UNSET, description="When it applies; always when omitted.")


@strawberry.input(description="Changes to a rule: omitted fields stay, null clears.")
class UpdateEarnRuleInput:
    id: strawberry.ID = strawberry.field(description="The rule.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Internal name.")
    label: str | None = strawberry.field(default=strawberry.UNSET, description="Label.")
    kind: EarnRuleKind | None = strawberry.field(default=strawberry.UNSET, description="Kind.")
    rate: str | None = strawberry.field(default=strawberry.UNSET, description="Rate.")
    points: int | None = strawberry.field(default=strawberry.UNSET, description="Points.")
    cap: int | None = strawberry.field(default=strawberry.UNSET, description="Cap.")
    priority: int | None = strawberry.field(default=strawberry.UNSET, description="Priority.")
    conditions: EarnRuleConditionsInput | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces all the conditions.")
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Reactivate (true) or deactivate (false).")


@strawberry.input(description="The rule to deactivate.")
class DeactivateEarnRuleInput:
    id: strawberry.ID = strawberry.field(description="The rule.")


@strawberry.type(description="The result of a change to an earn rule.")
class EarnRulePayload:
    rule: EarnRule | None = strawberry.field(description="The rule as it now is.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.input(description="A purchase to run the rules on, without posting anything.")
class SimulatePurchaseInput:
    store_id: strawberry.ID = strawberry.field(description="The store.")
    total: MoneyInput = strawberry.field(description="The amount paid.")
    lines: list[PurchaseLineInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Receipt lines.")
    channel: Channel | None = strawberry.field(
        default=Channel.STORE,
        description="Where it would be bought.")
    occurred_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When (any date, to try a campaign); now if omitted.")
    card_number: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="A customer, for tier, first-purchase and birthday rules.")


@strawberry.type(description="One rule that fired.")
class SimulatedLine:
    rule_id: strawberry.ID | None = strawberry.field(
        description="The rule; null for the default base rate and the tier multiplier.")
    label: str = strawberry.field(description="The customer-facing line.")
    points: int = strawberry.field(description="Its points (negative for a CAP).")


@strawberry.type(description="What a purchase would earn.")
class SimulatedPurchase:
    points: int = strawberry.field(description="The total: the sum of the lines.")
    description: str = strawberry.field(description="The ledger entry's description.")
    lines: list[SimulatedLine] = strawberry.field(description="One per rule that fired.")

    @staticmethod
    def of(evaluation: Evaluation, prefix: str) -> SimulatedPurchase:
        return SimulatedPurchase(
            points=evaluation.points, description=evaluation.description(prefix),
            lines=[SimulatedLine(
                rule_id=None if f.rule_id is None else strawberry.ID(str(f.rule_id)),
                label=f.label, points=f.points) for f in evaluation.lines],
        )
