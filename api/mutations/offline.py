"""recordPurchases: a till that was offline sends what it recorded, in order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import strawberry
from strawberry.types import Info

from api.client_permissions import StaffOrPurchasesClient
from api.context import Context
from api.mutations.pos import record_one
from api.types.common import UserError
from api.types.pos import RecordPurchaseInput, RecordPurchasePayload
from loyalty.errors import ErrorCode
from loyalty.platform.config import get_settings

MAX_BATCH = 500


@strawberry.input(description="A till that was offline sends what it recorded, in order; "
                  "each item succeeds or fails alone.")
class RecordPurchasesInput:
    purchases: list[RecordPurchaseInput] = strawberry.field(
        description="Up to 500, in the order they happened. Each has its own idempotency "
        "key: the whole batch can be sent again safely (posted items replay).")


@strawberry.type(description="The result of recordPurchases.")
class RecordPurchasesPayload:
    results: list[RecordPurchasePayload] = strawberry.field(
        description="One per purchase sent, in the same order, each with its own errors.")
    errors: list[UserError] = strawberry.field(
        description="Why the batch as a whole was refused (nothing was recorded then).")


@strawberry.type
class OfflineMutations:
    @strawberry.mutation(
        description="Record up to 500 purchases made while offline (staff token, or an API "
        "key with scope PURCHASES), in order, each as recordPurchase would. occurredAt may "
        "be up to LOYALTY_OFFLINE_MAX_AGE_DAYS (default 7) old; earn rules apply as of its "
        "day in the store's timezone.",
        permission_classes=[StaffOrPurchasesClient],
    )
    async def record_purchases(self, info: Info[Context, Any],
                               input: RecordPurchasesInput) -> RecordPurchasesPayload:
        if len(input.purchases) > MAX_BATCH:
            return RecordPurchasesPayload(results=[], errors=[UserError(
                code=ErrorCode.INVALID_INPUT, field="purchases",
                message=f"At most {MAX_BATCH} purchases per batch.")])
        max_age = timedelta(days=get_settings().offline_max_age_days)
        # One after the other: a customer's purchases post in the order made
        # (first-purchase bonus, tier upgrades, debts repaid).
        principal = info.context.principal
        results = [await record_one(principal, item, max_age) for item in input.purchases]
        return RecordPurchasesPayload(results=results, errors=[])
