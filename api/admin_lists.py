"""Admin: everything an administrator creates, listed a page at a time, so
that a back office can be built on the API (admin token).

Cursor-paginated connections like `me.history`: `first` (1-100, default 20)
and `after` (a cursor of the previous page). Catalogues come oldest first,
campaigns and survey responses newest first. Each list costs a fixed number
of statements whatever the page's size (tests/api/test_admin_lists.py pins
them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from api.mutations.admin import Staff, Store
from api.permissions import IsAdmin
from api.types.checkins import Beacon, LatLng, outline_of
from api.types.common import PageInfo, StaffRole, clamp_first, decode_cursor, encode_cursor, given
from api.types.programme import OfferDetails, Reward
from geofence import admin_reads as fences
from geofence.admin import FenceView
from loyalty.programme import admin_reads
from notifications.campaign_reads import campaigns_page

N = TypeVar("N")


@strawberry.type(description="An item of an admin list, with its position.")
class Edge(Generic[N]):
    cursor: str = strawberry.field(description="Pass as `after` for the items after this one.")
    node: N = strawberry.field(description="The item.")


@strawberry.type(description="A page of an admin list.")
class Connection(Generic[N]):
    edges: list[Edge[N]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


@strawberry.type(description="A geofence as the admin list shows it, retired ones too.")
class GeofenceDetails:
    id: strawberry.ID = strawberry.field(description="The geofence's id.")
    store_id: strawberry.ID = strawberry.field(description="Its store.")
    store_name: str = strawberry.field(description="Its store's name.")
    latitude: float = strawberry.field(description="Centre latitude.")
    longitude: float = strawberry.field(description="Centre longitude.")
    radius_meters: float = strawberry.field(description="Radius in metres.")
    vertices: list[LatLng] | None = strawberry.field(
        description="A polygon fence's outline; null for a circular fence.")
    active: bool = strawberry.field(description="False once retired.")

    @staticmethod
    def of(f: FenceView) -> GeofenceDetails:
        return GeofenceDetails(id=_id(f.id), store_id=_id(f.store_id), store_name=f.store_name,
                            latitude=f.latitude, longitude=f.longitude,
                            radius_meters=f.radius_meters, vertices=outline_of(f.vertices),
                            active=f.active)


@strawberry.type(description="A campaign sent with sendCampaign.")
class SentCampaign:
    id: strawberry.ID = strawberry.field(description="The campaign's id.")
    title: str = strawberry.field(description="Its title.")
    tier: str | None = strawberry.field(description="The tier it targeted, if it did.")
    targeted: int = strawberry.field(description="Customers it was queued for.")
    sent_at: datetime = strawberry.field(description="When it was sent.")


@strawberry.type(description="A customer's answer to the survey about a purchase.")
class SurveyResponse:
    id: strawberry.ID = strawberry.field(description="The answer's id.")
    customer_id: strawberry.ID = strawberry.field(description="Who answered.")
    purchase_id: strawberry.ID = strawberry.field(description="The purchase it is about.")
    rating: int = strawberry.field(description="The rating given, 1 to 5.")
    comment: str | None = strawberry.field(description="The comment, if any.")
    bonus_transaction_id: strawberry.ID | None = strawberry.field(
        description="The survey bonus's ledger transaction; null when none was posted.")
    answered_at: datetime = strawberry.field(description="When it was answered.")


def _id(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


async def _page(kind: str, first: int | None, after: str | None,
                read: Callable[[int | None, int], Awaitable[Sequence[Any]]],
                node: Callable[[Any], Any]) -> Any:
    size = clamp_first(first)
    items = await read(decode_cursor(kind, given(after)), size + 1)
    edges = [Edge(cursor=encode_cursor(kind, item.id), node=node(item)) for item in items[:size]]
    return Connection(edges=edges, page_info=PageInfo(
        has_next_page=len(items) > size, end_cursor=edges[-1].cursor if edges else None))


First = Annotated[int | None, strawberry.argument(description="Page size, 1-100.")]
After = Annotated[str | None, strawberry.argument(description="A cursor of the previous page.")]


@strawberry.type
class AdminListQueries:
    @strawberry.field(description="Admin: every offer, deactivated ones too, oldest first.",
                      permission_classes=[IsAdmin])
    async def admin_offers(self, first: First = 20,
                           after: After = strawberry.UNSET) -> Connection[OfferDetails]:
        return await _page("offer", first, after, admin_reads.offers_page, OfferDetails.of)

    @strawberry.field(description="Admin: every reward, inactive ones too, oldest first.",
                      permission_classes=[IsAdmin])
    async def admin_rewards(self, first: First = 20,
                            after: After = strawberry.UNSET) -> Connection[Reward]:
        return await _page("reward", first, after, admin_reads.rewards_page, Reward.of)

    @strawberry.field(description="Admin: the stores, oldest first.",
                      permission_classes=[IsAdmin])
    async def admin_stores(self, first: First = 20,
                           after: After = strawberry.UNSET) -> Connection[Store]:
        return await _page("store", first, after, admin_reads.stores_page, lambda s: Store(
            id=_id(s.id), name=s.name, latitude=s.latitude, longitude=s.longitude,
            timezone=s.timezone))

    @strawberry.field(description="Admin: the staff, admins and cashiers, oldest first.",
                      permission_classes=[IsAdmin])
    async def admin_staff(self, first: First = 20,
                          after: After = strawberry.UNSET) -> Connection[Staff]:
        return await _page("staff", first, after, admin_reads.staff_page, lambda s: Staff(
            id=_id(s.id), email=s.email, role=StaffRole(s.role),
            store_ids=[_id(i) for i in s.store_ids]))

    @strawberry.field(description="Admin: the campaigns sent, newest first.",
                      permission_classes=[IsAdmin])
    async def admin_campaigns(self, first: First = 20,
                              after: After = strawberry.UNSET) -> Connection[SentCampaign]:
        return await _page("campaign", first, after, campaigns_page, lambda c: SentCampaign(
            id=_id(c.id), title=c.title, tier=c.tier, targeted=c.targeted,
            sent_at=c.created_at))

    @strawberry.field(description="Admin: every geofence, retired ones too, oldest first.",
                      permission_classes=[IsAdmin])
    async def admin_geofences(self, first: First = 20,
                              after: After = strawberry.UNSET) -> Connection[GeofenceDetails]:
        return await _page("geofence", first, after, fences.fences_page, GeofenceDetails.of)

    @strawberry.field(description="Admin: every beacon, retired ones too, oldest first.",
                      permission_classes=[IsAdmin])
    async def admin_beacons(self, first: First = 20,
                            after: After = strawberry.UNSET) -> Connection[Beacon]:
        return await _page("beacon", first, after, fences.beacons_page, Beacon.of)

    @strawberry.field(description="Admin: the survey answers, newest first.",
                      permission_classes=[IsAdmin])
    async def admin_survey_responses(
            self, first: First = 20,
            after: After = strawberry.UNSET) -> Connection[SurveyResponse]:
        return await _page("survey", first, after, admin_reads.survey_responses_page,
                           lambda r: SurveyResponse(
                               id=_id(r.id), customer_id=_id(r.customer_id),
                               purchase_id=_id(r.purchase_id), rating=r.rating,
                               comment=r.comment,
                               bonus_transaction_id=None if r.transaction_id is None
                               else _id(r.transaction_id),
                               answered_at=r.created_at))
