"""Franchises: franchisees owning stores, whose managers act only in them."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import connections
from tortoise.exceptions import IntegrityError

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity import audit
from loyalty.identity.tokens import Principal
from loyalty.platform.db import transaction
from loyalty.platform.sql import fetch, fetchrow


@dataclass(frozen=True)
class FranchiseView:
    id: int
    name: str
    store_ids: tuple[int, ...]


async def create_franchise(actor: Principal, name: str) -> FranchiseView:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise invalid("name must be 1 to 200 characters.", "name")
    try:
        async with transaction() as conn:
            row = await fetchrow(conn, "INSERT INTO franchise (name, created_at) "
                                 "VALUES ($1, CURRENT_TIMESTAMP) RETURNING id", name)
            assert row is not None
            await audit.record(conn, actor, "franchise.created", target_kind="franchise",
                               target_id=row[0])
    except IntegrityError:
        raise DomainError(ErrorCode.INVALID_INPUT, "A franchise has this name already.",
                          "name") from None
    return FranchiseView(row[0], name, ())


async def list_franchises(viewer: Principal) -> list[FranchiseView]:
    """Every franchise for an admin; a franchise's manager sees only theirs."""
    conn = connections.get("default")
    where, args = "", []
    if not viewer.is_admin:
        where, args = "WHERE f.id = (SELECT franchise_id FROM staff WHERE id = $1)", \
            [viewer.subject_id]
    rows = await fetch(conn, f"SELECT f.id, f.name, s.id FROM franchise f "
                       f"LEFT JOIN store s ON s.franchise_id = f.id {where} ORDER BY f.id, s.id",
                       *args)
    found: dict[int, FranchiseView] = {}
    for franchise_id, name, store_id in rows:
        view = found.get(franchise_id) or FranchiseView(franchise_id, name, ())
        if store_id is not None:
            view = FranchiseView(franchise_id, name, (*view.store_ids, store_id))
        found[franchise_id] = view
    return list(found.values())
