"""Scalars, errors, money and pagination shared by every part of the schema."""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

import strawberry
from strawberry.types.unset import UnsetType

from loyalty.errors import DomainError, DomainErrors
from loyalty.errors import ErrorCode as DomainErrorCode
from loyalty.ledger import Channel as DomainChannel
from loyalty.ledger import Kind as DomainKind
from loyalty.models import StaffRole as DomainStaffRole

strawberry.enum(
    DomainErrorCode,
    name="ErrorCode",
    description="Stable codes clients branch on. Extended over time; never renamed.",
)
ErrorCode = DomainErrorCode  # the same class, now a GraphQL enum too
strawberry.enum(
    DomainChannel, name="Channel", description="Where a ledger transaction came from."
)
Channel = DomainChannel  # the same class, now a GraphQL enum too
strawberry.enum(
    DomainKind, name="LedgerKind", description="What a ledger transaction did."
)
LedgerKind = DomainKind  # the same class, now a GraphQL enum too
strawberry.enum(
    DomainStaffRole, name="StaffRole", description="What a staff member may do."
)
StaffRole = DomainStaffRole  # the same class, now a GraphQL enum too


@strawberry.type(description="A refusal the client can act on; branch on `code`.")
class UserError:
    code: ErrorCode = strawberry.field(description="Stable machine-readable code.")
    field: str | None = strawberry.field(
        description="The input field at fault, as a dotted path, when there is one."
    )
    message: str = strawberry.field(description="Human-readable explanation (English).")
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="With RATE_LIMITED: seconds to wait before trying again. Null otherwise.",
    )

    @staticmethod
    def of(error: DomainError) -> UserError:
        return UserError(code=error.code, field=error.field, message=error.message,
                         retry_after_seconds=getattr(error, "retry_after_seconds", None))


@strawberry.type(description="A payload with nothing to return but its errors.")
class OkPayload:
    errors: list[UserError] = strawberry.field(description="Why nothing was done; empty on "
                                               "success.")


def errors_of(error: DomainError) -> list[UserError]:
    if isinstance(error, DomainErrors):
        return [UserError.of(e) for e in error.errors]
    return [UserError.of(error)]


@strawberry.type(description="An amount of money in integer minor units (cents).")
class Money:
    amount_minor: int = strawberry.field(description="Amount in minor units, e.g. 1299.")
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR.")


@strawberry.input(description="An amount of money in integer minor units (cents).")
class MoneyInput:
    amount_minor: int = strawberry.field(description="Amount in minor units, e.g. 1299.")
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR.")


@strawberry.type(description="Where a page of a connection ends.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` to fetch the next page.")


T = TypeVar("T")

MAX_PAGE = 100
MAX_ID = 2**63 - 1


class BadArgument(Exception):
    """A field argument the client got wrong (a cursor, a page size): shown to
    the client even in production, unlike unexpected exceptions."""


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def encode_cursor(kind: str, value: int) -> str:
    # base64.urlsafe_b64encode, spelled out: a history page makes 20 of them.
    return binascii.b2a_base64(f"{kind}:{value}".encode(), newline=False).translate(
        _URLSAFE).decode()


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """The id a cursor points at; a cursor from elsewhere is a bad input."""
    if cursor is None:
        return None
    try:
        prefix, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != kind or not (value.isascii() and value.isdigit()):
            raise ValueError(prefix)
        parsed = int(value)
    except (ValueError, UnicodeError) as exc:
        raise BadArgument("Invalid cursor.") from exc
    # A database id: a bigger number is no cursor of ours (and overflows the
    # driver's 64-bit parameter).
    if not 0 <= parsed <= MAX_ID:
        raise BadArgument("Invalid cursor.")
    return parsed


def clamp_first(first: int | None) -> int:
    if first is None:
        return 20
    if first < 1 or first > MAX_PAGE:
        raise BadArgument(f"`first` must be between 1 and {MAX_PAGE}.")
    return first


def given(value: T | UnsetType | None) -> T | None:
    """An optional input field as a plain value: omitted (UNSET) becomes None.
    Optional inputs default to UNSET so the schema shows no `= null` default."""
    return None if isinstance(value, UnsetType) else value
