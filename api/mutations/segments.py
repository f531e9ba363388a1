"""Segments (admin token): createSegment, updateSegment, segments, segment."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UnsetType

from api.context import Context
from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsAdmin
from api.types.common import given
from api.types.segments import CreateSegmentInput, Segment, SegmentPayload, UpdateSegmentInput
from audience import segments
from loyalty.errors import DomainError


def _kept(value: Any) -> Any:
    return segments.UNCHANGED if isinstance(value, UnsetType) else value


@strawberry.type
class SegmentQueries:
    @strawberry.field(description="Every segment, oldest first (admin token).",
                      permission_classes=[IsAdmin])
    async def segments(self) -> list[Segment]:
        return [Segment.of(v) for v in await segments.list_segments()]

    @strawberry.field(description="One segment, or null (admin token).",
                      permission_classes=[IsAdmin])
    async def segment(self, id: strawberry.ID) -> Segment | None:
        try:
            segment_id = parse_id(id, "id")
        except DomainError:
            return None
        found = await segments.get_segments([segment_id])
        return Segment.of(found[segment_id]) if segment_id in found else None


@strawberry.type
class SegmentMutations:
    @strawberry.mutation(description="Admin: save a new segment; its members are evaluated "
                         "within seconds by the worker.", permission_classes=[IsAdmin])
    @user_errors
    async def create_segment(self, info: Info[Context, Any],
                             input: CreateSegmentInput) -> SegmentPayload:
        assert info.context.principal is not None
        view = await segments.create_segment(
            name=input.name, description=given(input.description),
            definition=input.definition, staff_id=info.context.principal.subject_id)
        return SegmentPayload(segment=Segment.of(view), errors=[])

    @strawberry.mutation(description="Admin: change a segment's name, description or "
                         "definition.", permission_classes=[IsAdmin])
    @user_errors
    async def update_segment(self, input: UpdateSegmentInput) -> SegmentPayload:
        view = await segments.update_segment(
            parse_id(input.segment_id, "segmentId"), name=_kept(input.name),
            description=_kept(input.description), definition=_kept(input.definition))
        return SegmentPayload(segment=Segment.of(view), errors=[])
