"""Finding customers for staff: search by email, card number or name, or a
segment's members; one page of ids and the total, keyset-paginated by id.

Every read here takes the viewer's `CustomerScope` (audience/scope.py): a franchise's manager is
shown only the franchise's customers, whichever way a profile is reached (by
id, a search, a segment, a segment's members)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tortoise import connections

from audience.scope import CustomerScope
from loyalty.errors import invalid
from loyalty.identity.phones import looks_like_phone, normalise_phone
from loyalty.platform.sql import as_datetime, fetch, placeholders

MAX_SEARCH = 254
_CARD = re.compile(r"[0-9][0-9 -]{10,20}[0-9]")


@dataclass(frozen=True)
class ProfileRow:
    """What one statement reads of a customer for the 360 view."""

    id: int
    first_name: str
    email: str
    card_number: str | None
    marketing_opt_in: bool
    created_at: Any
    acquisition_source: str | None
    acquisition_medium: str | None
    acquisition_campaign: str | None


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _filters(search: str | None, segment_id: int | None, scope: CustomerScope
             ) -> tuple[str, str, list[Any]]:
    """(joins, where, args) selecting the customers asked for."""
    joins: str = ""
    where: list[str] = []
    args: list[Any] = []
    if segment_id is not None:
        args.append(segment_id)
        joins += f" JOIN segment_member m ON m.customer_id = c.id AND m.segment_id = ${len(args)}"
    if search is not None:
        text = search.strip()
        if not 1 <= len(text) <= MAX_SEARCH:
            raise invalid(f"search must be 1 to {MAX_SEARCH} characters.", "search")
        digits = re.sub(r"[ -]", "", text)
        if _CARD.fullmatch(text) and len(digits) == 12:
            args.append(digits)
            where.append(f"EXISTS (SELECT 1 FROM card k WHERE k.customer_id = c.id "
                         f"AND k.number = ${len(args)})")
        elif looks_like_phone(text):
            args.append(normalise_phone(text))
            where.append(f"c.phone = ${len(args)}")
        elif "@" in text:
            args.append(_like(text))
            where.append(f"LOWER(c.email) LIKE ${len(args)} ESCAPE '\\'")
        else:
            args.append(_like(text))
            first = len(args)
            args.append(_like(text))
            where.append(f"(LOWER(c.first_name) LIKE ${first} ESCAPE '\\' "
                         f"OR LOWER(c.email) LIKE ${len(args)} ESCAPE '\\')")
    if scope.stores is not None:
        where.append(scope.condition(args))
    return joins, (" AND ".join(where) or "1 = 1"), args


async def search_customers(search: str | None, segment_id: int | None, first: int,
                           after_id: int | None, *, scope: CustomerScope
                           ) -> tuple[list[int], int]:
    """A page of `first` + 1 customer ids after `after_id` (the extra one says
    another page follows), and how many match in all, within `scope`."""
    joins, where, args = _filters(search, segment_id, scope)
    conn = connections.get("default")
    total = await fetch(conn, f"SELECT COUNT(*) FROM customer c{joins} WHERE {where}", *args)
    page_args = list(args)
    cursor = ""
    if after_id is not None:
        page_args.append(after_id)
        cursor = f" AND c.id > ${len(page_args)}"
    page_args.append(first + 1)
    rows = await fetch(conn, f"SELECT c.id FROM customer c{joins} WHERE {where}{cursor} "
                             f"ORDER BY c.id LIMIT ${len(page_args)}", *page_args)
    return [int(r[0]) for r in rows], int(total[0][0])


async def profile_rows(customer_ids: list[int], *, scope: CustomerScope
                       ) -> dict[int, ProfileRow]:
    """The customers of `customer_ids` that `scope` allows; the others are
    absent, as unknown ids are."""
    if not customer_ids:
        return {}
    args: list[Any] = list(customer_ids)
    marks = placeholders(len(customer_ids))
    within = "" if scope.stores is None else f" AND {scope.condition(args)}"
    rows = await fetch(
        connections.get("default"),
        "SELECT c.id, c.first_name, c.email, k.number, c.marketing_opt_in, c.created_at, "
        "c.acquisition_source, c.acquisition_medium, c.acquisition_campaign "
        f"FROM customer c LEFT JOIN card k ON k.customer_id = c.id WHERE c.id IN ({marks})"
        f"{within}",
        *args,
    )
    return {int(r[0]): ProfileRow(int(r[0]), r[1], r[2], r[3], bool(r[4]), as_datetime(r[5]),
                                  r[6], r[7], r[8]) for r in rows}
