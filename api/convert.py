"""Input conversions every part of the schema shares: ids, money, the store a
staff member acts in, receipt lines. Each refuses bad input with a
DomainError naming the field, which the mutation base answers as a UserError."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from api.context import Context
from api.types.common import MoneyInput, given
from api.types.pos import PurchaseLineInput
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity.tokens import Principal
from loyalty.money import Money, parse_money
from loyalty.programme.rules import Line

MAX_ID = 2**63 - 1


def parse_id(value: str, field: str) -> int:
    try:
        parsed = int(value)
    except (TypeError, ValueError):
        raise invalid("Not a valid id.", field) from None
    if parsed <= 0 or parsed > MAX_ID:
        raise invalid("Not a valid id.", field)
    return parsed


def store_in_scope(info: Info[Context, Any], store_id: str) -> int:
    """The store, if the signed-in staff member may act in it."""
    return store_for(info.context.principal, store_id)


def store_for(principal: Principal | None, store_id: str) -> int:
    """The store, if `principal` may act in it."""
    parsed = parse_id(store_id, "storeId")
    if principal is None or not principal.may_act_in(parsed):
        raise DomainError(ErrorCode.STORE_NOT_ALLOWED, "You may not act in this store.", "storeId")
    return parsed


def money(value: MoneyInput, field: str) -> Money:
    return parse_money(value.amount_minor, value.currency, field)


def purchase_lines(lines: list[PurchaseLineInput] | None, currency: str) -> tuple[Line, ...]:
    """Receipt lines, each priced in the total's currency."""
    found = []
    for i, line in enumerate(given(lines) or []):
        if line.quantity <= 0:
            raise invalid("quantity must be positive.", f"lines.{i}.quantity")
        price = parse_money(
            line.unit_price.amount_minor,
            line.unit_price.currency,
            f"lines.{i}.unitPrice",
            allow_zero=True,
        )
        if price.currency != currency:
            raise invalid("A line's currency must be the total's.", f"lines.{i}.unitPrice")
        found.append(Line(line.sku, given(line.category), line.quantity, price.amount_minor))
    return tuple(found)
