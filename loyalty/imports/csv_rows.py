"""The CSV files `loyalty import` reads: their columns and the checks of each
row (pure: no database). A row either becomes a `Staged` row or is rejected
with its line number and the reason.

customers:    email, first_name (required); locale, timezone, phone,
              external_id, marketing_opt_in, points, points_expire_at
balances:     email or external_id; points (> 0); expires_at
transactions: email or external_id; transaction_id, points (signed, not 0),
              occurred_at (required); description, expires_at

Dates are ISO 8601: `2027-06-30` (the end of that day, UTC) or a time with
its offset. Booleans are 1/0, true/false, yes/no. The first line names the
columns, in any order; an unknown column rejects the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from loyalty.errors import DomainError
from loyalty.identity.accounts import normalize_email
from loyalty.identity.phones import normalise_phone
from loyalty.platform.timezones import check_timezone

COLUMNS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required, optional)
    "customers": (frozenset({"email", "first_name"}),
                  frozenset({"locale", "timezone", "phone", "external_id", "marketing_opt_in",
                             "points", "points_expire_at"})),
    "balances": (frozenset({"points"}), frozenset({"email", "external_id", "expires_at"})),
    "transactions": (frozenset({"transaction_id", "points", "occurred_at"}),
                     frozenset({"email", "external_id", "description", "expires_at"})),
}
MAX_POINTS = 1_000_000_000


class Rejected(Exception):
    """A row that cannot be imported, and why."""


@dataclass(frozen=True)
class Staged:
    line: int
    email: str | None = None
    first_name: str | None = None
    locale: str | None = None
    timezone: str | None = None
    phone: str | None = None
    external_id: str | None = None
    marketing: bool | None = None
    points: int | None = None
    expires_at: datetime | None = None
    reference: str | None = None
    occurred_at: datetime | None = None
    description: str | None = None


def _text(value: str | None, name: str, limit: int, required: bool = False) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise Rejected(f"{name} is required")
        return None
    if len(value) > limit or "\x00" in value:
        raise Rejected(f"{name} is longer than {limit} characters")
    return value


def _points(value: str | None, *, positive: bool, signed: bool = False) -> int:
    raw = (value or "").strip()
    if not raw:
        if positive and not signed:
            raise Rejected("points is required")
        return 0
    try:
        points = int(raw)
    except ValueError:
        raise Rejected(f"points is not a whole number: {raw[:20]!r}") from None
    if abs(points) > MAX_POINTS:
        raise Rejected("points is out of range")
    if signed and points == 0:
        raise Rejected("points must not be 0")
    if not signed and (points < 0 or (positive and points == 0)):
        raise Rejected("points must be positive" if positive else "points must not be negative")
    return points


def _when(value: str | None, name: str, *, end_of_day: bool) -> datetime | None:
    raw = (value or "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, time.min, UTC)
            return moment + timedelta(days=1) - timedelta(microseconds=1) if end_of_day \
                else moment
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(f"{name} is not an ISO 8601 date: {raw[:30]!r}") from None
    if parsed.tzinfo is None:
        raise Rejected(f"{name} needs a UTC offset")
    return parsed.astimezone(UTC)


def _bool(value: str | None, name: str) -> bool:
    raw = (value or "").strip().lower()
    if raw in ("", "0", "false", "no", "n"):
        return False
    if raw in ("1", "true", "yes", "y"):
        return True
    raise Rejected(f"{name} is not a boolean: {raw[:10]!r}")


def _email(value: str | None) -> str:
    try:
        return normalize_email(value or "")
    except DomainError:
        raise Rejected("email is not a valid email address") from None


def _locale(value: str | None) -> str | None:
    raw = _text(value, "locale", 35)
    if raw is None:
        return None
    parts = raw.replace("_", "-").split("-")
    if not (2 <= len(parts[0]) <= 3 and parts[0].isalpha()):
        raise Rejected("locale is not a BCP 47 tag such as fr-FR")
    return "-".join([parts[0].lower(), *parts[1:]])


def _phone(value: str | None) -> str | None:
    raw = _text(value, "phone", 32)
    if raw is None:
        return None
    try:
        return normalise_phone(raw)
    except DomainError:
        raise Rejected("phone is not a phone number") from None


def _who(row: dict[str, str | None]) -> tuple[str | None, str | None]:
    email = row.get("email")
    external = _text(row.get("external_id"), "external_id", 64)
    if (email or "").strip():
        if external:
            raise Rejected("give email or external_id, not both")
        return _email(email), None
    if not external:
        raise Rejected("email or external_id is required")
    return None, external


def check_row(kind: str, line: int, row: dict[str, str | None], now: datetime) -> Staged:
    if kind == "customers":
        timezone = _text(row.get("timezone"), "timezone", 64)
        if timezone is not None:
            try:
                check_timezone(timezone)
            except DomainError:
                raise Rejected(f"timezone is not an IANA zone: {timezone[:30]!r}") from None
        points = _points(row.get("points"), positive=False)
        expires = _when(row.get("points_expire_at"), "points_expire_at", end_of_day=True)
        if points and expires is not None and expires <= now:
            raise Rejected("points_expire_at is in the past")
        return Staged(line, email=_email(row.get("email")),
                      first_name=_text(row.get("first_name"), "first_name", 100, True),
                      locale=_locale(row.get("locale")), timezone=timezone,
                      phone=_phone(row.get("phone")),
                      external_id=_text(row.get("external_id"), "external_id", 64),
                      marketing=_bool(row.get("marketing_opt_in"), "marketing_opt_in"),
                      points=points, expires_at=expires)
    email, external = _who(row)
    if kind == "balances":
        expires = _when(row.get("expires_at"), "expires_at", end_of_day=True)
        if expires is not None and expires <= now:
            raise Rejected("expires_at is in the past")
        return Staged(line, email=email, external_id=external,
                      points=_points(row.get("points"), positive=True), expires_at=expires)
    occurred = _when(row.get("occurred_at"), "occurred_at", end_of_day=False)
    if occurred is None:
        raise Rejected("occurred_at is required")
    if occurred > now + timedelta(minutes=5):
        raise Rejected("occurred_at is in the future")
    return Staged(line, email=email, external_id=external,
                  points=_points(row.get("points"), positive=True, signed=True),
                  reference=_text(row.get("transaction_id"), "transaction_id", 64, True),
                  occurred_at=occurred,
                  expires_at=_when(row.get("expires_at"), "expires_at", end_of_day=True),
                  description=_text(row.get("description"), "description", 200))


def read(kind: str, lines: Iterable[str], now: datetime | None = None
         ) -> Iterator[Staged | tuple[int, str]]:
    """Each data row as `Staged`, or (line, reason) when it is rejected. A bad
    header rejects line 1 and ends the file."""
    now = now or datetime.now(UTC)
    required, optional = COLUMNS[kind]
    reader = csv.DictReader(lines)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = sorted(required - set(header))
    unknown = sorted(set(header) - required - optional)
    if missing or unknown or len(set(header)) != len(header):
        yield 1, ("missing columns: " + ", ".join(missing) if missing else
                  "unknown columns: " + ", ".join(unknown) if unknown else "a column repeats")
        return
    reader.fieldnames = header
    for row in reader:
        line = reader.line_num
        if None in row:
            yield line, "more values than columns"
            continue
        try:
            yield check_row(kind, line, row, now)
        except Rejected as reason:
            yield line, str(reason)
