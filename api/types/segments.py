"""Dynamic segments (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context
from api.types.common import UserError, clamp_first, decode_cursor, given
from api.types.profile import CustomerProfileConnection, profile_connection
from audience.profiles import search_customers
from audience.segments import SegmentView

_GRAMMAR = (
    "A JSON condition: {\"all\": [D]}, {\"any\": [D]}, {\"not\": D}, {\"tier\": [names]}, "
    "{\"rfm\": [RfmSegment]}, {\"engagement\": [\"A\"..\"D\"]}, {\"channels\": {\"gte\": n}}, "
    "{\"purchases\": {\"gte\": n, \"within\": \"P90D\", \"channel\": \"WEB\"}}, "
    "{\"spend\": {\"gte\": minor, \"within\": \"P365D\"}}, {\"event\": name, \"where\": "
    "{property: value}, \"gte\": n, \"within\": \"P7D\"}, {\"visited\": {\"storeId\": id, "
    "\"within\": \"P30D\"}}, {\"lastPurchase\": {\"olderThan\": \"P60D\"}}, "
    "{\"points\": {\"gte\": n}}, {\"segment\": id}, {\"marketingOptIn\": true}. Bounds: gte, "
    "gt, lte, lt, eq. A definition that does not validate is INVALID_DEFINITION with the path "
    "at fault in `field` (definition.all.1.purchases.within); segments naming each other in "
    "a cycle are refused."
)


@strawberry.type(description="A dynamic segment: who matches its definition now. Members are "
                             "re-evaluated within seconds of an event or a posting, in full on a "
                             "schedule; each entry and exit is a segment_entered / "
                             "segment_exited event.")
class Segment:
    id: strawberry.ID = strawberry.field(description="The segment's id.")
    name: str = strawberry.field(description="Its name, unique.")
    description: str | None = strawberry.field(description="What it is for.")
    definition: JSON = strawberry.field(description=_GRAMMAR)
    updated_at: datetime = strawberry.field(description="When it was last changed.")

    @strawberry.field(description="Members now, as last evaluated (those the viewer may "
                      "see: a franchise's manager counts the franchise's customers).")
    async def member_count(self, info: Info[Context, Any]) -> int:
        # Within the viewer's scope: a franchise's manager counts its own.
        scope = await info.context.customer_scope()
        return await info.context.audience.member_counts.load((scope, int(self.id)))

    @strawberry.field(description="The members, by customer id (each read is audited, as "
                      "the 360 view's).")
    async def members(
        self,
        info: Info[Context, Any],
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="A cursor.")
                         ] = strawberry.UNSET,
    ) -> CustomerProfileConnection:
        size = clamp_first(first)
        ids, total = await search_customers(None, int(self.id), size,
                                            decode_cursor("customer", given(after)),
                                            scope=await info.context.customer_scope())
        return await profile_connection(info, ids, size, total,
                                        {"query": "segment.members", "segmentId": self.id})

    @staticmethod
    def of(view: SegmentView) -> Segment:
        return Segment(id=strawberry.ID(str(view.id)), name=view.name,
                       description=view.description, definition=view.definition,
                       updated_at=view.updated_at)


@strawberry.input(description="A new segment.")
class CreateSegmentInput:
    name: str = strawberry.field(description="1 to 200 characters, unique.")
    description: str | None = strawberry.field(default=strawberry.UNSET,
                                               description="Up to 1000 characters.")
    definition: JSON = strawberry.field(description=_GRAMMAR)


@strawberry.input(description="Changes to a segment; omitted fields stay as they are.")
class UpdateSegmentInput:
    segment_id: strawberry.ID = strawberry.field(description="The segment.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    description: str | None = strawberry.field(default=strawberry.UNSET,
                                               description="A new description; null clears it.")
    definition: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new definition: the members are evaluated again at once.")


@strawberry.type(description="The result of createSegment and updateSegment.")
class SegmentPayload:
    segment: Segment | None = strawberry.field(description="The segment, when saved.")
    errors: list[UserError] = strawberry.field(description="Why it was not saved.")
