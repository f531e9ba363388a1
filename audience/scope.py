"""Which customers a staff member may be shown in the 360 view, as SQL that
every read of customers for staff (audience.profiles, segment sizes) adds: a
franchise's manager sees the franchise's customers only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise import connections

from loyalty.identity.tokens import Principal
from loyalty.platform.sql import fetch, placeholders
from loyalty.programme.stores import staff_store_ids


@dataclass(frozen=True)
class CustomerScope:
    """The customers a staff member may be shown: every one (`stores` None),
    or those with a ledger posting (purchase, redemption, refund, visit
    reward) or a visit in one of `stores`."""

    stores: tuple[int, ...] | None = None

    def condition(self, args: list[Any]) -> str:
        """SQL true of the customers `c` in scope; its arguments go on `args`."""
        if self.stores is None:
            return "1 = 1"
        if not self.stores:
            return "1 = 0"
        first = len(args) + 1
        args.extend(self.stores)
        posted = placeholders(len(self.stores), first)
        args.extend(self.stores)
        visited = placeholders(len(self.stores), first + len(self.stores))
        return (f"(EXISTS (SELECT 1 FROM ledger_transaction t WHERE t.customer_id = c.id "
                f"AND t.store_id IN ({posted})) OR EXISTS (SELECT 1 FROM visit v "
                f"WHERE v.customer_id = c.id AND v.store_id IN ({visited})))")


EVERYONE = CustomerScope()


async def customer_scope(viewer: Principal) -> CustomerScope:
    """A franchise's MANAGER sees the customers of the stores they act in (the
    franchise's, read now, and any given them besides); other staff allowed
    the 360 view (ADMIN, SUPPORT, a manager of the programme's own stores) see
    every customer."""
    if not (viewer.is_staff and viewer.role == "MANAGER"):
        return EVERYONE
    conn = connections.get("default")
    row = await fetch(conn, "SELECT franchise_id FROM staff WHERE id = $1", viewer.subject_id)
    if not row or row[0][0] is None:
        return EVERYONE
    return CustomerScope(tuple(await staff_store_ids(conn, viewer.subject_id)))
