"""What a customer may change about themselves in the app."""

from __future__ import annotations

from datetime import UTC, date, datetime

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity.phones import normalise_phone
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetchrow

MAX_FIRST_NAME = 100


def check_birth_date(birth: date | None, today: date | None = None) -> date | None:
    """A plausible birth date: only month and day matter to the birthday
    bonus, but a date in the future is surely a typing mistake."""
    if birth is None:
        return None
    today = today or datetime.now(UTC).date()
    if not isinstance(birth, date) or birth.year < 1900 or birth > today:
        raise invalid("birthDate must be a past date after 1900.", "birthDate")
    return birth


def check_first_name(first_name: str) -> str:
    first_name = first_name.strip() if isinstance(first_name, str) else ""
    if not 1 <= len(first_name) <= MAX_FIRST_NAME:
        raise invalid(f"firstName must be 1 to {MAX_FIRST_NAME} characters.", "firstName")
    return first_name


async def update_profile(
    customer_id: int, *, first_name: str | None = None, birth_date: date | None = None,
    phone: str | None = None,
) -> None:
    """Change the fields given (None leaves one as it is), all or nothing.
    A phone number is kept as loyalty.identity.phones normalises it ("" removes it).

    A birth date can be given once (at sign-up or here): changing it is
    refused, or anyone could move their birthday to today for its bonus;
    customer service corrects a wrong one."""
    sets: list[str] = []
    args: list[object] = []
    if first_name is not None:
        args.append(check_first_name(first_name))
        sets.append(f"first_name = ${len(args)}")
    if birth_date is not None:
        args.append(check_birth_date(birth_date))
        sets.append(f"birth_date = ${len(args)}")
    if phone is not None:
        # An empty string removes the number (no more SMS).
        args.append(normalise_phone(phone) if phone.strip() else None)
        sets.append(f"phone = ${len(args)}")
    if not sets:
        return
    args.append(customer_id)
    async with transaction() as conn:
        row = await fetchrow(
            conn, "SELECT birth_date FROM customer WHERE id = $1 FOR UPDATE", customer_id
        )
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such customer.", None)
        if birth_date is not None and row[0] is not None and str(row[0]) != birth_date.isoformat():
            raise invalid(
                "Your birth date is already set; customer service can correct it.", "birthDate"
            )
        await execute(
            conn, f"UPDATE customer SET {', '.join(sets)} WHERE id = ${len(args)}", *args
        )
    # The purchase path keeps a customer's context briefly; a new birth date
    # must count from the next purchase on in this process.
    from loyalty.points.purchase_context import forget

    forget(customer_id)
