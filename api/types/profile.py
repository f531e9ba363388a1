"""The staff 360 view of a customer (CustomerProfile) and its connections."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.types.common import PageInfo, encode_cursor
from api.types.customer import PointsBalance
from audience.profiles import ProfileRow, profile_rows


@strawberry.type(description="A customer as staff see them: the 360 view (MANAGER, ADMIN, "
                             "SUPPORT; every read is audited).")
class CustomerProfile:
    id: strawberry.ID = strawberry.field(description="The customer's id.")
    first_name: str = strawberry.field(description="First name.")
    email: str = strawberry.field(description="Email, normalised to lower case.")
    card_number: str = strawberry.field(description="The printed card number (12 digits).")
    row: strawberry.Private[ProfileRow]

    @strawberry.field(description="The points balance.")
    async def points(self, info: Info[Context, Any]) -> PointsBalance:
        return PointsBalance.of(await info.context.balances.load(self.row.id))

    @staticmethod
    def of(row: ProfileRow) -> CustomerProfile:
        return CustomerProfile(id=strawberry.ID(str(row.id)), first_name=row.first_name,
                               email=row.email, card_number=row.card_number or "", row=row)


@strawberry.type(description="An edge of a list of customers.")
class CustomerProfileEdge:
    cursor: str = strawberry.field(description="Opaque position.")
    node: CustomerProfile = strawberry.field(description="The customer.")


@strawberry.type(description="A page of customers, by id.")
class CustomerProfileConnection:
    edges: list[CustomerProfileEdge] = strawberry.field(description="The customers.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")
    total_count: int = strawberry.field(description="How many customers match, in all pages.")


async def profile_connection(ids: list[int], size: int, total: int) -> CustomerProfileConnection:
    """`ids`: a page of `size` plus one when another page follows."""
    page = ids[:size]
    rows = await profile_rows(page)
    edges = [CustomerProfileEdge(cursor=encode_cursor("customer", i),
                                 node=CustomerProfile.of(rows[i])) for i in page if i in rows]
    return CustomerProfileConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=len(ids) > size,
                           end_cursor=edges[-1].cursor if edges else None),
        total_count=total,
    )
