"""The app reports geofence and beacon events (customer token)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from api.context import Context
from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsCustomer
from api.types.checkins import CheckInInput, CheckInPayload, Visit
from api.types.common import given
from geofence.checkins import BeaconSighting, check_in
from geofence.models import CheckInKind


@strawberry.type
class CheckInMutations:
    @strawberry.mutation(
        description="App: a geofence or beacon event (customer token).",
        permission_classes=[IsCustomer],
    )
    @user_errors
    async def check_in(self, info: Info[Context, Any], input: CheckInInput) -> CheckInPayload:
        assert info.context.principal is not None
        fence = given(input.geofence_id)
        beacon = given(input.beacon)
        result = await check_in(
            info.context.principal.subject_id,
            idempotency_key=input.idempotency_key,
            kind=CheckInKind(input.kind),
            occurred_at=input.occurred_at,
            geofence_id=None if fence is None else parse_id(fence, "geofenceId"),
            latitude=given(input.latitude),
            longitude=given(input.longitude),
            accuracy_meters=given(input.accuracy_meters),
            beacon=None if beacon is None else BeaconSighting(
                beacon.uuid, beacon.major, beacon.minor, given(beacon.rssi)
            ),
        )
        return CheckInPayload(
            visit=None if result.visit is None else Visit.of(result.visit), errors=[]
        )
