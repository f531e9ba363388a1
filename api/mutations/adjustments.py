"""Customer service: adjustPoints (SUPPORT and ADMIN staff)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from api.client_permissions import IsSupport
from api.context import Context
from api.convert import parse_id
from api.mutations.base import user_errors
from api.types.common import UserError
from api.types.pos import LedgerTransaction
from loyalty.points.adjustments import adjust_points


@strawberry.input(description="A correction of a customer's balance.")
class AdjustPointsInput:
    idempotency_key: str = strawberry.field(
        description="Client-generated; a retry with it posts nothing twice.")
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    points: int = strawberry.field(
        description="Signed: positive credits (a lot that expires like earned points), "
        "negative debits what is available and never more (INSUFFICIENT_POINTS). At most "
        "LOYALTY_ADJUST_MAX_POINTS_SUPPORT / _ADMIN either way (FORBIDDEN beyond).")
    reason: str = strawberry.field(
        description="Why (1 to 300 characters): audited, and shown to the customer in "
        "their history as 'Adjustment: <reason>'.")


@strawberry.type(description="The result of adjustPoints.")
class AdjustPointsPayload:
    transaction: LedgerTransaction | None = strawberry.field(description="The posting.")
    errors: list[UserError] = strawberry.field(description="Why nothing was posted.")


@strawberry.type
class AdjustmentMutations:
    @strawberry.mutation(
        description="Customer service: post a signed ADJUST with a reason (SUPPORT or ADMIN).",
        permission_classes=[IsSupport])
    @user_errors
    async def adjust_points(self, info: Info[Context, Any],
                            input: AdjustPointsInput) -> AdjustPointsPayload:
        assert info.context.principal is not None
        txn = await adjust_points(
            info.context.principal, idempotency_key=input.idempotency_key,
            customer_id=parse_id(input.customer_id, "customerId"), points=input.points,
            reason=input.reason)
        return AdjustPointsPayload(transaction=LedgerTransaction.of(txn), errors=[])
