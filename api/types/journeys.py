"""Journeys and experiments (admin): definitions, versions, stats, reports."""

from __future__ import annotations

from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context
from api.types.common import UserError
from journeys.experiments import ArmReport
from journeys.models import JourneyStatus as DomainJourneyStatus
from journeys.service import JourneyView
from journeys.stats import JourneyStats as StatsView
from journeys.stats import experiment_report

strawberry.enum(
    DomainJourneyStatus, name="JourneyStatus",
    description="DRAFT: never published. LIVE: customers enter and messages go out. PAUSED: no "
                "entries and no sends; runs resume where they stood when it is published "
                "again. ARCHIVED: ended for good, its runs left.")
JourneyStatus = DomainJourneyStatus

GRAMMAR = (
    "The journey as JSON: {\"trigger\": {\"event\": name, \"where\": {property: value}} | "
    "{\"segmentEntered\": segmentId} | {\"schedule\": \"RRULE:...\"}, \"audience\": "
    "segment condition (optional), \"reentry\": \"never\" | \"afterExit\" | {\"after\": "
    "\"P30D\"}, \"holdoutPercent\": 0-50, \"goal\": {\"event\": name, \"where\": {...}}, "
    "\"start\": stepId, \"steps\": {id: step}}. Steps: message (channel EMAIL, PUSH, INBOX, "
    "SMS or PREFERRED, fallback, content per language fr/en with title and body in Jinja "
    "syntax), wait (duration ISO 8601 such as P14D or PT5S, or until {\"localTime\": "
    "\"10:00\"}), waitFor (event, match, timeout, next, timeoutNext), issueCoupon "
    "(percentOff or amountOff, validFor, channels STORE/WEB/PHONE, remindBefore), "
    "awardPoints (points, reason), branch (if, then, else), split (arms with name, percent, "
    "next), exit. Placeholders: customer.first_name, points.available, "
    "points.to_next_reward, next_reward, tier, coupon.code, coupon.expires_at, store.name, "
    "trigger.<property>, survey_url, unsubscribe_url. A definition that does not validate "
    "is INVALID_DEFINITION, one error per fault, each with its path in `field` "
    "(definition.steps.s3.timeout)."
)


@strawberry.type(description="What a journey's runs are doing, now.")
class JourneyStats:
    entered: int = strawberry.field(description="Runs started, every version.")
    active: int = strawberry.field(description="Runs under way (running or waiting).")
    completed: int = strawberry.field(description="Runs that reached an exit step.")
    converted: int = strawberry.field(description="Runs that reached the goal.")
    exited: int = strawberry.field(description="Runs taken out (journey archived, customer "
                                   "erased).")
    failed: int = strawberry.field(description="Runs stopped by a fault in their version.")
    by_step: JSON = strawberry.field(description="Customers per step id, now: "
                                     "{\"wait14\": 120, ...}.")

    @staticmethod
    def of(stats: StatsView) -> JourneyStats:
        return JourneyStats(entered=stats.entered, active=stats.active,
                            completed=stats.completed, converted=stats.converted,
                            exited=stats.exited, failed=stats.failed,
                            by_step=cast(JSON, stats.by_step))


@strawberry.type(description="One arm of an experiment, or the holdout.")
class ExperimentArm:
    name: str = strawberry.field(description="The split arm's name; \"holdout\" for the "
                                 "control group; \"journey\" for runs in no arm.")
    customers: int = strawberry.field(description="Customers who entered in this arm.")
    conversions: int = strawberry.field(description="Of them, those who reached the goal.")
    conversion_rate: float = strawberry.field(description="conversions / customers.")
    revenue_minor: int = strawberry.field(description="Their purchases since they entered, "
                                          "net of refunds, in minor units.")
    uplift_vs_holdout: float | None = strawberry.field(
        description="(rate - holdout rate) / holdout rate; null for the holdout itself or "
                    "when the holdout converted nobody.")
    p_value: float | None = strawberry.field(
        description="Two-sided p-value of a two-proportion z-test against the holdout; null "
                    "without a holdout or when undefined.")

    @staticmethod
    def of(arm: ArmReport) -> ExperimentArm:
        return ExperimentArm(name=arm.name, customers=arm.customers,
                             conversions=arm.conversions, conversion_rate=arm.conversion_rate,
                             revenue_minor=arm.revenue_minor,
                             uplift_vs_holdout=arm.uplift_vs_holdout, p_value=arm.p_value)


@strawberry.type(description="Per arm (and the holdout): who entered, who converted, revenue "
                             "after entry, uplift against the holdout, and its significance.")
class ExperimentReport:
    arms: list[ExperimentArm] = strawberry.field(description="The arms, the holdout last.")


@strawberry.type(description="A journey: a versioned graph of steps that customers run "
                             "through, one run each per entry.")
class Journey:
    id: strawberry.ID = strawberry.field(description="The journey's id.")
    name: str = strawberry.field(description="Its name.")
    status: JourneyStatus = strawberry.field(description="DRAFT, LIVE, PAUSED or ARCHIVED.")
    version: int = strawberry.field(description="The newest version: a draft when it differs "
                                    "from liveVersion.")
    live_version: int | None = strawberry.field(description="The version new runs start on; "
                                                "null before the first publish.")
    definition: JSON = strawberry.field(description="The newest version's definition. "
                                        + GRAMMAR)
    template_key: str | None = strawberry.field(description="The template it was made from.")

    @strawberry.field(description="Runs per status and customers per step, now.")
    async def stats(self, info: Info[Context, Any]) -> JourneyStats:
        return JourneyStats.of(await info.context.audience.journey_stats.load(int(self.id)))

    @strawberry.field(description="The experiment report, or null for a journey with no "
                      "split and no holdout.")
    async def experiment(self) -> ExperimentReport | None:
        arms = await experiment_report(int(self.id))
        return None if arms is None else ExperimentReport(arms=[ExperimentArm.of(a)
                                                                for a in arms])

    @staticmethod
    def of(view: JourneyView) -> Journey:
        return Journey(id=strawberry.ID(str(view.id)), name=view.name, status=view.status,
                       version=view.version, live_version=view.live_version,
                       definition=view.definition, template_key=view.template_key)


@strawberry.type(description="A journey shipped with the programme, to copy and edit.")
class JourneyTemplate:
    key: str = strawberry.field(description="Pass as createJourney's templateKey.")
    name: str = strawberry.field(description="Its name.")
    description: str = strawberry.field(description="What it does.")
    definition: JSON = strawberry.field(description="Its definition, ready to save.")


@strawberry.input(description="A new journey (saved as a draft: publish it to start it).")
class CreateJourneyInput:
    name: str = strawberry.field(description="1 to 200 characters.")
    definition: JSON = strawberry.field(description=GRAMMAR)
    template_key: str | None = strawberry.field(default=None, description="The template it "
                                                "was copied from, if any.")


@strawberry.input(description="Changes to a journey; omitted fields stay. Changing the "
                              "definition of a published version writes a new draft version: "
                              "customers under way finish on theirs.")
class UpdateJourneyInput:
    journey_id: strawberry.ID = strawberry.field(description="The journey.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    definition: JSON | None = strawberry.field(default=strawberry.UNSET,
                                               description="A new definition. " + GRAMMAR)


@strawberry.input(description="A journey to act on.")
class JourneyIdInput:
    journey_id: strawberry.ID = strawberry.field(description="The journey.")


@strawberry.type(description="The journey as saved, or why nothing was saved.")
class JourneyPayload:
    journey: Journey | None = strawberry.field(description="The journey; null on error.")
    errors: list[UserError] = strawberry.field(description="Why nothing was done (every fault "
                                               "of a definition); empty on success.")


@strawberry.type(description="A message step as it would be sent to one customer now.")
class JourneyPreview:
    channel: str | None = strawberry.field(description="The channel it would go on first "
                                           "(PUSH, INBOX, EMAIL, SMS); null if none can "
                                           "carry it.")
    # Empty, not null, when refused: the field is non-null (api/mutations/base.py: refused).
    channels: list[str] = strawberry.field(default_factory=list,
                                           description="Every channel the sender would try, "
                                           "in order.")
    language: str | None = strawberry.field(description="The language chosen (fr, en).")
    title: str | None = strawberry.field(description="The rendered title.")
    body: str | None = strawberry.field(description="The rendered body (HTML for EMAIL).")
    problem: str | None = strawberry.field(description="Why it would not be sent (a value "
                                           "the template prints is missing for this "
                                           "customer, no channel); null if it would be.")
    errors: list[UserError] = strawberry.field(description="Why there is no preview (no such "
                                               "journey, step or customer).")
