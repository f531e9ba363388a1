"""Journeys (admin token): createJourney, updateJourney, publishJourney,
pauseJourney, archiveJourney, journeys, journey, journeyTemplates."""

from __future__ import annotations

from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types.unset import UnsetType

from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsAdmin
from api.types.journeys import (
    CreateJourneyInput,
    Journey,
    JourneyIdInput,
    JourneyPayload,
    JourneyPreview,
    JourneyTemplate,
    UpdateJourneyInput,
)
from journeys import service
from journeys.preview import preview_step
from journeys.templates import journey_templates
from loyalty.errors import DomainError


def _kept(value: Any) -> Any:
    return service.UNCHANGED if isinstance(value, UnsetType) else value


def _saved(view: service.JourneyView) -> JourneyPayload:
    return JourneyPayload(journey=Journey.of(view), errors=[])


@strawberry.type
class JourneyQueries:
    @strawberry.field(description="Every journey, newest first (admin token).",
                      permission_classes=[IsAdmin])
    async def journeys(self) -> list[Journey]:
        return [Journey.of(v) for v in await service.list_journeys()]

    @strawberry.field(description="One journey, or null (admin token).",
                      permission_classes=[IsAdmin])
    async def journey(self, id: strawberry.ID) -> Journey | None:
        try:
            journey_id = parse_id(id, "id")
        except DomainError:
            return None
        view = await service.get_journey(journey_id)
        return None if view is None else Journey.of(view)

    @strawberry.field(description="A message step rendered for one customer as it would be "
                      "sent now, with their points, tier and name (a coupon not yet issued "
                      "shows a sample code). Nothing is written (admin token).",
                      permission_classes=[IsAdmin])
    @user_errors
    async def journey_preview(
        self, journey_id: strawberry.ID, step_id: str, customer_id: strawberry.ID,
        trigger: JSON | None = None, version: int | None = None,
    ) -> JourneyPreview:
        found = await preview_step(parse_id(journey_id, "journeyId"), step_id,
                                   parse_id(customer_id, "customerId"), trigger, version)
        return JourneyPreview(channel=found.channel, channels=list(found.channels),
                              language=found.language, title=found.title, body=found.body,
                              problem=found.problem, errors=[])

    @strawberry.field(description="The journeys shipped with the programme: post-purchase "
                      "(thank-you, survey, coupon, reminder), cart abandonment, second product "
                      "view, welcome series, win-back (admin token).",
                      permission_classes=[IsAdmin])
    def journey_templates(self) -> list[JourneyTemplate]:
        return [JourneyTemplate(key=t.key, name=t.name, description=t.description,
                                definition=cast(JSON, t.definition)) for t in journey_templates()]


@strawberry.type
class JourneyMutations:
    @strawberry.mutation(description="Admin: save a new journey as a draft (validated: every "
                         "fault is an INVALID_DEFINITION error with its path).",
                         permission_classes=[IsAdmin])
    @user_errors
    async def create_journey(self, input: CreateJourneyInput) -> JourneyPayload:
        return _saved(await service.create_journey(
            name=input.name, definition=input.definition, template_key=input.template_key))

    @strawberry.mutation(description="Admin: rename a journey or change its definition. A "
                         "published version is frozen: the change becomes a new draft version, "
                         "live once published, and customers under way finish on theirs. "
                         "JOURNEY_NOT_EDITABLE for an archived journey.",
                         permission_classes=[IsAdmin])
    @user_errors
    async def update_journey(self, input: UpdateJourneyInput) -> JourneyPayload:
        return _saved(await service.update_journey(
            parse_id(input.journey_id, "journeyId"), name=_kept(input.name),
            definition=_kept(input.definition)))

    @strawberry.mutation(description="Admin: freeze the newest version and make it live (new "
                         "entries start on it); resumes a paused journey.",
                         permission_classes=[IsAdmin])
    @user_errors
    async def publish_journey(self, input: JourneyIdInput) -> JourneyPayload:
        return _saved(await service.publish_journey(parse_id(input.journey_id, "journeyId")))

    @strawberry.mutation(description="Admin: stop entries and sends; runs stay where they "
                         "stand until the journey is published again.",
                         permission_classes=[IsAdmin])
    @user_errors
    async def pause_journey(self, input: JourneyIdInput) -> JourneyPayload:
        return _saved(await service.pause_journey(parse_id(input.journey_id, "journeyId")))

    @strawberry.mutation(description="Admin: end a journey for good: no entries, its runs "
                         "leave, and it can no longer be edited.",
                         permission_classes=[IsAdmin])
    @user_errors
    async def archive_journey(self, input: JourneyIdInput) -> JourneyPayload:
        return _saved(await service.archive_journey(parse_id(input.journey_id, "journeyId")))
