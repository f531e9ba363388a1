"""The staff 360 view: customer(id) and customers(search, segmentId) (MANAGER,
ADMIN, SUPPORT; every profile read is written to the audit log)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.convert import parse_id
from api.errors import from_domain
from api.permissions import MayReadCustomers
from api.types.common import clamp_first, decode_cursor, given
from api.types.profile import CustomerProfile, CustomerProfileConnection, profile_connection
from audience.audit import record_reads
from audience.profiles import profile_rows, search_customers
from loyalty.errors import DomainError


@strawberry.type
class ProfileQueries:
    @strawberry.field(description="Staff 360 view of one customer, or null (MANAGER, ADMIN, "
                      "SUPPORT; the read is audited).", permission_classes=[MayReadCustomers])
    async def customer(self, info: Info[Context, Any], id: strawberry.ID
                       ) -> CustomerProfile | None:
        try:
            customer_id = parse_id(id, "id")
        except DomainError:
            return None
        assert info.context.principal is not None
        # The read is recorded (even of an id that turns out unknown) while
        # the customer is read: both before the answer goes out.
        scope = await info.context.customer_scope()
        rows, _ = await asyncio.gather(
            profile_rows([customer_id], scope=scope),
            record_reads(info.context.principal.subject_id, [customer_id],
                         {"query": "customer"}))
        # Out of the caller's scope reads as unknown: a franchise's manager
        # learns nothing of another's customers, not even that they exist.
        if customer_id not in rows:
            return None
        return CustomerProfile.of(rows[customer_id])

    @strawberry.field(description="Staff search by email (prefix), card number, or first name "
                      "(prefix); or a segment's members; by id (MANAGER, ADMIN, SUPPORT; each "
                      "profile listed is audited). There is no phone number to search yet.",
                      permission_classes=[MayReadCustomers])
    async def customers(
        self,
        info: Info[Context, Any],
        search: Annotated[str | None, strawberry.argument(
            description="An email or its start, a 12-digit card number (spaces and dashes "
            "allowed), or the start of a first name or email.")] = strawberry.UNSET,
        segment_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only this segment's members.")] = strawberry.UNSET,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = 20,
        after: Annotated[str | None, strawberry.argument(description="A cursor.")
                         ] = strawberry.UNSET,
    ) -> CustomerProfileConnection:
        size = clamp_first(first)
        segment = given(segment_id)
        try:
            parsed = None if segment is None else parse_id(segment, "segmentId")
            ids, total = await search_customers(given(search), parsed, size,
                                                decode_cursor("customer", given(after)),
                                                scope=await info.context.customer_scope())
        except DomainError as e:
            raise from_domain(e) from None
        how: dict[str, Any] = {"query": "customers"}
        if given(search) is not None:
            how["search"] = given(search)
        if parsed is not None:
            how["segmentId"] = str(parsed)
        return await profile_connection(info, ids, size, total, how)
