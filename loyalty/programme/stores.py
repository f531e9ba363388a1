"""Stores and staff: who may act where."""

from __future__ import annotations

import time

from tortoise.backends.base.client import BaseDBAsyncClient

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity import passwords
from loyalty.identity.accounts import normalize_email
from loyalty.models import Staff, StaffRole, Store, StoreKind
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch
from loyalty.platform.timezones import check_timezone

_NAME_TTL_SECONDS = 60.0
_names: dict[int, tuple[float, str, str, str]] = {}


async def create_store(
    name: str, latitude: float | None, longitude: float | None, timezone: str,
    radius_meters: float = 150.0, kind: StoreKind = StoreKind.PHYSICAL,
    franchise_id: int | None = None,
) -> Store:
    """A PHYSICAL store has a position and a geofence around it; the web shop
    (ONLINE) and the phone (CALL_CENTRE) have neither."""
    name = name.strip()
    if not name or len(name) > 200:
        raise invalid("A store name is 1 to 200 characters.", "name")
    if kind != StoreKind.PHYSICAL:
        if latitude is not None or longitude is not None:
            raise invalid(f"An {kind.value} store has no position.", "latitude")
        check_timezone(timezone)
        async with transaction() as conn:
            await _check_franchise(conn, franchise_id)
            return await Store.create(name=name, timezone=timezone, kind=kind.value,
                                      franchise_id=franchise_id, using_db=conn)
    if latitude is None or longitude is None:
        raise invalid("A PHYSICAL store needs latitude and longitude.",
                      "latitude" if latitude is None else "longitude")
    if not -90.0 <= latitude <= 90.0:
        raise invalid("Latitude must be between -90 and 90.", "latitude")
    if not -180.0 <= longitude <= 180.0:
        raise invalid("Longitude must be between -180 and 180.", "longitude")
    if not 10.0 <= radius_meters <= 10_000.0:
        raise invalid("radiusMeters must be between 10 and 10000.", "radiusMeters")
    check_timezone(timezone)
    async with transaction() as conn:
        await _check_franchise(conn, franchise_id)
        store = await Store.create(
            name=name, latitude=latitude, longitude=longitude, timezone=timezone,
            kind=kind.value, franchise_id=franchise_id, using_db=conn
        )
        # The geofence table belongs to the geofence package, which the domain
        # core does not import; the row is written here so that a store never
        # exists without its fence.
        await execute(
            conn,
            "INSERT INTO geofence (store_id, latitude, longitude, radius_meters, "
            "active, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            store.id,
            latitude,
            longitude,
            radius_meters,
            True,
            store.created_at,
        )
    return store


async def _check_franchise(conn: BaseDBAsyncClient, franchise_id: int | None) -> None:
    if franchise_id is not None and not await fetch(
            conn, "SELECT 1 FROM franchise WHERE id = $1", franchise_id):
        raise DomainError(ErrorCode.NOT_FOUND, "Unknown franchise.", "franchiseId")


async def create_staff(
    email: str, password: str, role: StaffRole, store_ids: list[int],
    franchise_id: int | None = None,
) -> tuple[Staff, list[int]]:
    """A franchise's MANAGER acts in all of the franchise's stores (those it
    has when they log in); SUPPORT and ADMIN act on customers, in no store."""
    email = normalize_email(email)
    passwords.check_strength(password, email)
    if franchise_id is not None and role != StaffRole.MANAGER:
        raise invalid("Only a MANAGER is attached to a franchise.", "franchiseId")
    if role in (StaffRole.CASHIER, StaffRole.MANAGER) and not store_ids and franchise_id is None:
        raise invalid("A cashier or manager needs at least one store.", "storeIds")
    if role == StaffRole.SUPPORT and store_ids:
        # Customer service reads profiles; it never acts at a till.
        raise invalid("Support staff act in no store.", "storeIds")
    stores = await Store.filter(id__in=store_ids) if store_ids else []
    if len(stores) != len(set(store_ids)):
        raise DomainError(ErrorCode.NOT_FOUND, "Unknown store.", "storeIds")
    # Off the event loop, within the process's scrypt slots, and before the
    # transaction rather than inside it.
    password_hash = await passwords.hash_password_async(password)
    async with transaction() as conn:
        if await Staff.filter(email=email).exists():
            raise DomainError(ErrorCode.EMAIL_TAKEN, "This email is already in use.", "email")
        await _check_franchise(conn, franchise_id)
        staff = await Staff.create(email=email, password_hash=password_hash, role=role,
                                   franchise_id=franchise_id, using_db=conn)
        if stores:
            await staff.stores.add(*stores, using_db=conn)
        scoped = await staff_store_ids(conn, staff.id)
    return staff, scoped


async def staff_store_ids(conn: BaseDBAsyncClient, staff_id: int) -> list[int]:
    """The stores a staff member acts in: their own, and their franchise's."""
    rows = await fetch(
        conn,
        "SELECT store_id FROM staff_store WHERE staff_id = $1 UNION "
        "SELECT s.id FROM store s JOIN staff f ON f.franchise_id = s.franchise_id "
        "WHERE f.id = $2",
        staff_id,
        staff_id,
    )
    return sorted(r[0] for r in rows)


async def store_name(conn: BaseDBAsyncClient, store_id: int) -> str:
    """A store's name, cached briefly: every purchase needs it and stores are
    rarely renamed. Unknown store -> NOT_FOUND."""
    return (await store_info(conn, store_id))[0]


async def store_info(conn: BaseDBAsyncClient, store_id: int) -> tuple[str, str]:
    """(name, IANA timezone) of a store, cached like its name."""
    hit = await _store(conn, store_id)
    return hit[1], hit[2]


async def store_kind(conn: BaseDBAsyncClient, store_id: int) -> StoreKind:
    """Whether the store is a place, the web shop or the phone, cached like its
    name (a store's kind never changes). Unknown store -> NOT_FOUND."""
    return StoreKind((await _store(conn, store_id))[3])


async def _store(conn: BaseDBAsyncClient, store_id: int) -> tuple[float, str, str, str]:
    hit = _names.get(store_id)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit
    rows = await fetch(conn, "SELECT name, timezone, kind FROM store WHERE id = $1", store_id)
    if not rows:
        raise DomainError(ErrorCode.NOT_FOUND, "Unknown store.", "storeId")
    found = (now + _NAME_TTL_SECONDS, rows[0][0], rows[0][1], rows[0][2])
    _names[store_id] = found
    return found
