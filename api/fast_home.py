"""A fast path for the app's persisted home-screen document (ADR 0009).

The app polls one fixed document (`HOME_DOCUMENT`) far more than anything
else. Through the generic executor it costs ~220 resolved fields; here the
same `data` is built directly from one SQL statement (the history page, the
customer with card, balance and next expiry) and `tier_status` (no statement
while the programme has no tiers, one otherwise). The view serves
it only for that exact document (whitespace aside), over POST, with no
variables and a valid customer token; anything else, and any surprise on the
way (no such customer), goes through the normal executor. The response is
encoded by the same view code, and tests/api/test_home_fast_path.py proves the
bytes equal the normal execution's for varied customers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from api.types.common import encode_cursor
from loyalty.identity.tokens import Principal
from loyalty.ledger import Channel, Kind
from loyalty.ledger.balances import HISTORY_SQL
from loyalty.platform.sql import as_datetime, fetch
from loyalty.programme.tiers import tier_status
from wallet.qr import make_qr

PAGE = 20
# Its root field: what metrics and logs call it, as they would through the executor.
OPERATION = "me"
# A request body longer than this is not the home document (it is ~400 bytes).
MAX_BODY = 2048

HOME_DOCUMENT = (
    "query { me { firstName card { number qr { payload expiresAt } } "
    "points { available pending lifetimeEarned nextExpiry { points expiresAt } } "
    "tier { name pointsToNextTier nextTier } "
    "history(first: 20) { edges { cursor node { id occurredAt kind points balanceAfter "
    "channel storeName description } } pageInfo { hasNextPage endCursor } } } }"
)


# GraphQL's ignored tokens between lexical tokens: white space, line ends and
# commas. str.split() would also take Unicode spaces, which GraphQL refuses.
_IGNORED = re.compile(r"[ \t\r\n,]+")


def _normal(text: str) -> str:
    return _IGNORED.sub(" ", text).strip()


_DOCUMENTS = frozenset({_normal(HOME_DOCUMENT)})

# One round trip: the history page (loyalty.ledger.balances.HISTORY_SQL, rows with
# k = 1), then one row (k = 0) with the customer, the card, the balance and the
# next expiry as loyalty.ledger.balances.balances_for computes it: the earliest expiry
# date of lots still holding points, and the points left in lots then.
_HOME_SQL = (
    "SELECT 1 AS k, h.*, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
    f"FROM ({HISTORY_SQL}ORDER BY e.id DESC LIMIT $2) h "
    "UNION ALL "
    "SELECT 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "u.first_name, c.number, c.qr_secret, a.available, a.pending, a.lifetime_earned, "
    "(SELECT MIN(f.expires_at) FROM lot f WHERE f.account_id = a.id AND f.remaining > 0), "
    "(SELECT SUM(l.remaining) FROM lot l WHERE l.account_id = a.id AND l.remaining > 0 "
    "AND l.expires_at = (SELECT MIN(m.expires_at) FROM lot m "
    "WHERE m.account_id = a.id AND m.remaining > 0)) "
    "FROM customer u JOIN card c ON c.customer_id = u.id "
    "LEFT JOIN account a ON a.customer_id = u.id WHERE u.id = $3 "
    "ORDER BY 1, 2 DESC"
)


_KINDS = {k.value: k.name for k in Kind}
_CHANNELS = {c.value: c.name for c in Channel}


def _edge(row: Any) -> dict[str, Any]:
    """A history row (k, then loyalty.ledger.balances.HISTORY_SQL's columns) as the
    executor serialises a LedgerEntryEdge; an unknown kind or channel raises,
    and the executor answers."""
    entry_id = row[1]
    return {
        "cursor": encode_cursor("entry", entry_id),
        "node": {
            "id": str(entry_id),
            "occurredAt": as_datetime(row[2]).isoformat(),
            "kind": _KINDS[row[3]],
            "points": int(row[4]),
            "balanceAfter": int(row[5]),
            "channel": _CHANNELS[row[6]],
            "storeName": row[7],
            "description": row[8],
        },
    }


def matches(query: str | None, variables: dict[str, Any] | None,
            operation_name: str | None) -> bool:
    """Whether a request is the persisted home document, as the app sends it."""
    if not isinstance(query, str) or variables not in (None, {}) or operation_name is not None:
        return False
    # A cheap length test first: most documents are not this one.
    return len(query) >= len(HOME_DOCUMENT) and _normal(query) in _DOCUMENTS


async def home_data(principal: Principal) -> dict[str, Any] | None:
    """The `data` of the home document for this customer, or None to let the
    normal executor answer (no such customer)."""
    conn = connections.get("default")
    customer_id = principal.subject_id
    rows = await fetch(conn, _HOME_SQL, customer_id, PAGE + 1, customer_id)
    if not rows or rows[0][0] != 0:
        return None
    me = rows[0]
    first_name, number, secret, available, pending, lifetime, first, first_points = (
        me[9], me[10], me[11], me[12], me[13], me[14], me[15], me[16])
    code = make_qr(number, secret)
    next_expiry = None
    if first is not None and first_points:
        next_expiry = {"points": int(first_points),
                       "expiresAt": as_datetime(first).isoformat()}
    status = await tier_status(conn, customer_id, datetime.now(UTC))
    tier = None if status is None else {
        "name": status.name,
        "pointsToNextTier": status.points_to_next_tier,
        "nextTier": None if status.next_tier is None else status.next_tier.name,
    }
    history = rows[1:]
    edges = [_edge(r) for r in history[:PAGE]]
    return {"me": {
        "firstName": first_name,
        "card": {"number": number,
                 "qr": {"payload": code.payload, "expiresAt": code.expires_at.isoformat()}},
        "points": {
            "available": 0 if available is None else int(available),
            "pending": 0 if pending is None else int(pending),
            "lifetimeEarned": 0 if lifetime is None else int(lifetime),
            "nextExpiry": next_expiry,
        },
        "tier": tier,
        "history": {
            "edges": edges,
            "pageInfo": {"hasNextPage": len(history) > PAGE,
                         "endCursor": edges[-1]["cursor"] if edges else None},
        },
    }}
