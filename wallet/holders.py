"""The holder of a card named by the customer rather than by the card: an API
client with scope CUSTOMERS_READ (a web shop knows its customer's email, a
call-centre tool the customer's id)."""

from __future__ import annotations

from tortoise import connections

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity.accounts import normalize_email
from loyalty.platform.sql import fetchrow
from wallet.cards import CardHolder

_BY = (
    "SELECT c.customer_id, a.id, u.first_name, c.number, a.available FROM customer u "
    "JOIN card c ON c.customer_id = u.id JOIN account a ON a.customer_id = u.id "
    "WHERE {where} AND u.erased_at IS NULL"
)


async def holder_of(customer_id: int | None, email: str | None) -> CardHolder:
    """Exactly one of the two; an unknown or erased customer is CARD_NOT_FOUND,
    as an unknown card is."""
    if (customer_id is None) == (email is None):
        raise invalid("Give exactly one of customerId or email.", "card")
    conn = connections.get("default")
    if customer_id is not None:
        row = await fetchrow(conn, _BY.format(where="u.id = $1"), customer_id)
        field = "card.customerId"
    else:
        row = await fetchrow(conn, _BY.format(where="u.email = $1"), normalize_email(email or ""))
        field = "card.email"
    if row is None:
        raise DomainError(ErrorCode.CARD_NOT_FOUND, "No such customer.", field)
    return CardHolder(row[0], row[1], row[2], row[3], int(row[4]))
