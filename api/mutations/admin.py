"""Administration: stores and staff (admin token)."""

from __future__ import annotations

import strawberry

from api.convert import parse_id
from api.mutations.base import user_errors
from api.permissions import IsAdmin
from api.types.common import StaffRole, UserError, given
from api.types.integrations import StoreKind
from geofence import nearby
from loyalty.models import StaffRole as DomainStaffRole
from loyalty.programme import stores


@strawberry.input(description="A new store.")
class CreateStoreInput:
    name: str = strawberry.field(description="The store's name, shown to customers.")
    latitude: float | None = strawberry.field(
        default=strawberry.UNSET, description="WGS 84 latitude; PHYSICAL stores only (required).")
    longitude: float | None = strawberry.field(
        default=strawberry.UNSET,
        description="WGS 84 longitude; PHYSICAL stores only (required).")
    timezone: str = strawberry.field(description="IANA timezone, e.g. Europe/Paris.")
    radius_meters: float | None = strawberry.field(
        default=150.0,
        description="A circular geofence of this radius is created around a PHYSICAL store.",
    )
    kind: StoreKind | None = strawberry.field(
        default=StoreKind.PHYSICAL,
        description="PHYSICAL (a place, with a geofence), ONLINE or CALL_CENTRE (neither).",
    )
    franchise_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="The franchise that owns it, if any.")


@strawberry.type(description="A store.")
class Store:
    id: strawberry.ID = strawberry.field(description="The store's id.")
    name: str = strawberry.field(description="Name.")
    latitude: float | None = strawberry.field(
        description="WGS 84 latitude; null for ONLINE and CALL_CENTRE stores.")
    longitude: float | None = strawberry.field(
        description="WGS 84 longitude; null for ONLINE and CALL_CENTRE stores.")
    timezone: str = strawberry.field(description="IANA timezone.")
    kind: StoreKind = strawberry.field(default=StoreKind.PHYSICAL,
                                       description="PHYSICAL, ONLINE or CALL_CENTRE.")
    franchise_id: strawberry.ID | None = strawberry.field(
        default=None, description="The franchise that owns it, if any.")


@strawberry.type(description="The result of createStore.")
class CreateStorePayload:
    store: Store | None = strawberry.field(description="The new store.")
    errors: list[UserError] = strawberry.field(description="Why it was not created.")


@strawberry.input(description="A new staff member.")
class CreateStaffInput:
    email: str = strawberry.field(description="Email; unique among staff.")
    password: str = strawberry.field(
        description="10 to 256 characters, not blank, not among the most common passwords, "
        "not the email; otherwise INVALID_INPUT on `password`."
    )
    role: StaffRole = strawberry.field(description="What they may do.")
    store_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Stores a cashier or manager may act in; admins act everywhere.",
    )
    franchise_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="A MANAGER of this franchise acts in all of its stores (storeIds may "
        "then be omitted).",
    )


@strawberry.type(description="A staff member.")
class Staff:
    id: strawberry.ID = strawberry.field(description="The staff member's id.")
    email: str = strawberry.field(description="Email.")
    role: StaffRole = strawberry.field(description="Role.")
    store_ids: list[strawberry.ID] = strawberry.field(description="Stores in scope.")


@strawberry.type(description="The result of createStaff.")
class CreateStaffPayload:
    staff: Staff | None = strawberry.field(description="The new staff member.")
    errors: list[UserError] = strawberry.field(description="Why it was not created.")


@strawberry.type
class AdminMutations:
    @strawberry.mutation(
        description="Admin: create a store and its geofence.", permission_classes=[IsAdmin]
    )
    @user_errors
    async def create_store(self, input: CreateStoreInput) -> CreateStorePayload:
        franchise = given(input.franchise_id)
        store = await stores.create_store(
            input.name,
            given(input.latitude),
            given(input.longitude),
            input.timezone,
            150.0 if input.radius_meters is None else input.radius_meters,
            kind=input.kind or StoreKind.PHYSICAL,
            franchise_id=None if franchise is None else parse_id(franchise, "franchiseId"),
        )
        nearby.invalidate()
        return CreateStorePayload(
            store=Store(
                id=strawberry.ID(str(store.id)),
                name=store.name,
                latitude=store.latitude,
                longitude=store.longitude,
                timezone=store.timezone,
                kind=StoreKind(store.kind),
                franchise_id=None if store.franchise_id is None  # type: ignore[attr-defined]
                else strawberry.ID(str(store.franchise_id)),  # type: ignore[attr-defined]
            ),
            errors=[],
        )

    @strawberry.mutation(description="Admin: create a staff member.", permission_classes=[IsAdmin])
    @user_errors
    async def create_staff(self, input: CreateStaffInput) -> CreateStaffPayload:
        store_ids = [parse_id(s, "storeIds") for s in given(input.store_ids) or []]
        franchise = given(input.franchise_id)
        staff, scoped = await stores.create_staff(
            input.email,
            input.password,
            DomainStaffRole(input.role.value),
            store_ids,
            None if franchise is None else parse_id(franchise, "franchiseId"),
        )
        return CreateStaffPayload(
            staff=Staff(
                id=strawberry.ID(str(staff.id)),
                email=staff.email,
                role=StaffRole(staff.role.value),
                store_ids=[strawberry.ID(str(s)) for s in scoped],
            ),
            errors=[],
        )
