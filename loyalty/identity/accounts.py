"""Sign-up, log-in and sessions for customers and staff."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from loyalty import ledger
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.events import CustomerSignedUp
from loyalty.identity import consents, login_throttle, passwords
from loyalty.identity.profile import check_birth_date
from loyalty.identity.tokens import (
    Principal,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from loyalty.models import Account, AccountKind, Customer, RefreshToken, Staff
from loyalty.platform.bus import SESSION_CHANNEL, EndedSession, sessions
from loyalty.platform.config import get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, fetchrow, is_pg, placeholders


@dataclass(frozen=True)
class Session:
    access_token: str
    refresh_token: str
    expires_at: datetime
    principal: Principal


# RFC 5321's limit, and the email columns' length.
MAX_EMAIL = 254


def normalize_email(email: str) -> str:
    email = email.strip().lower() if isinstance(email, str) else ""
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > MAX_EMAIL or any(c.isspace() for c in email):
        raise invalid("This is not a valid email address.", "email")
    return email


def _check_locale(locale: str | None) -> str:
    if locale is None:
        return "en"
    parts = locale.replace("_", "-").split("-")
    if not (2 <= len(parts[0]) <= 3 and parts[0].isalpha()) or len(locale) > 35:
        raise invalid("locale must be a BCP 47 tag such as fr-FR.", "locale")
    return "-".join([parts[0].lower(), *parts[1:]])


CardIssuer = Callable[[BaseDBAsyncClient, Customer], Awaitable[object]]


@dataclass(frozen=True)
class Acquisition:
    """Where a customer came from: a source (a partner, "instagram", a store
    flyer), optionally the medium and the campaign, as UTM tags name them."""

    source: str
    medium: str | None = None
    campaign: str | None = None


ACQUISITION_MAX = 100


def check_acquisition(value: Acquisition | None) -> Acquisition | None:
    if value is None:
        return None
    parts = {}
    for name in ("source", "medium", "campaign"):
        text = getattr(value, name)
        text = text.strip() if isinstance(text, str) else text
        if (name == "source" and not text) or (text is not None and len(text) > ACQUISITION_MAX):
            raise invalid(f"{name} must be 1 to {ACQUISITION_MAX} characters.",
                          f"acquisition.{name}")
        parts[name] = text or None
    return Acquisition(**parts)  # type: ignore[arg-type]


async def sign_up(
    *,
    email: str,
    password: str,
    first_name: str,
    locale: str | None = None,
    timezone: str | None = None,
    marketing_opt_in: bool | None = None,
    issue_card: CardIssuer | None = None,
    birth_date: date | None = None,
    acquisition: Acquisition | None = None,
) -> Session:
    """Create a customer, their points account and (through `issue_card`, which
    the wallet supplies) their card, all in one transaction."""
    from loyalty.platform.timezones import check_timezone

    email = normalize_email(email)
    passwords.check_strength(password, email)
    first_name = first_name.strip() if isinstance(first_name, str) else ""
    if not first_name or len(first_name) > 100:
        raise invalid("firstName must be 1 to 100 characters.", "firstName")
    locale = _check_locale(locale)
    timezone = check_timezone(timezone) if timezone else "UTC"
    birth_date = check_birth_date(birth_date)
    acquisition = check_acquisition(acquisition)
    password_hash = await passwords.hash_password_async(password)
    try:
        async with transaction() as conn:
            customer = await Customer.create(
                email=email,
                password_hash=password_hash,
                first_name=first_name,
                locale=locale,
                timezone=timezone,
                marketing_opt_in=bool(marketing_opt_in),
                birth_date=birth_date,
                acquisition_source=acquisition.source if acquisition else None,
                acquisition_medium=acquisition.medium if acquisition else None,
                acquisition_campaign=acquisition.campaign if acquisition else None,
                using_db=conn,
            )
            await Account.create(kind=AccountKind.CUSTOMER, customer=customer, using_db=conn)
            await consents.record(conn, customer.id, {
                "marketing_opt_in": bool(marketing_opt_in), "push_opt_in": True,
                "location_opt_in": False}, "signup")
            if issue_card is not None:
                await issue_card(conn, customer)
            # The stream's `signed_up` (audience.domain_events), which welcome
            # journeys start from; no push or points of its own.
            await ledger.emit(conn, customer.id, CustomerSignedUp(
                customer_id=customer.id, source=acquisition.source if acquisition else None))
    except IntegrityError:
        raise DomainError(
            ErrorCode.EMAIL_TAKEN, "This email is already registered.", "email"
        ) from None
    return await _open_session(Principal("customer", customer.id))


async def log_in(*, email: str, password: str, client: str | None = None) -> Session:
    """`client`: the address the attempt came from, for throttling (None
    outside HTTP). Too many failures: RATE_LIMITED (loyalty/identity/login_throttle.py)."""
    customer = await _authenticate("customer", Customer, email, password, client)
    return await _open_session(Principal("customer", customer.id))


async def staff_log_in(*, email: str, password: str, client: str | None = None) -> Session:
    staff = await _authenticate("staff", Staff, email, password, client)
    return await _open_session(await staff_principal(staff))


Who = TypeVar("Who", Customer, Staff)


async def _authenticate(kind: str, model: type[Who], email: str, password: str,
                        client: str | None) -> Who:
    """The account `email` names, if `password` is its own. An unknown email
    costs the same scrypt run and counts as the same failure as a wrong
    password, so neither timing nor throttling tells which emails exist."""
    settings = get_settings()
    keys = login_throttle.keys_for(kind, email, client, settings)
    who = await model.get_or_none(email=_email_or_blank(email))
    # Before any scrypt work, a refused guess costs two indexed reads. Nothing
    # is awaited between this check and taking a free slot.
    await login_throttle.check(keys, time.time())
    async with passwords.scrypt_slot() as slot:
        if slot.waited:
            # A burst of guesses queued for the slot; those ahead of this one
            # may have locked the key meanwhile.
            await login_throttle.check(keys, time.time())
        encoded = who.password_hash if who is not None else passwords.dummy_hash()
        if not await slot.verify(password, encoded) or who is None:
            # Counted while the slot is held, so that the next guess in the
            # queue sees it.
            await login_throttle.count_failure(keys, time.time(), settings)
            raise _bad_credentials()
    await login_throttle.forget(keys)
    return who


async def staff_principal(staff: Staff) -> Principal:
    from loyalty.programme.stores import staff_store_ids

    async with transaction() as conn:
        store_ids = await staff_store_ids(conn, staff.id)
    return Principal("staff", staff.id, staff.role.value, tuple(store_ids))


async def refresh_session(*, refresh_token: str) -> Session:
    """Rotate: the presented token is spent and a new one issued in its family.
    A token presented twice has leaked: the whole family is revoked."""
    now = datetime.now(UTC)
    token_hash = hash_refresh_token(refresh_token or "")
    row = await RefreshToken.get_or_none(token_hash=token_hash)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise _bad_credentials("This session has ended; log in again.")
    if row.subject_kind == "staff":
        staff = await Staff.get_or_none(id=row.subject_id)
        if staff is None:
            raise _bad_credentials()
        principal = await staff_principal(staff)
    else:
        principal = Principal("customer", row.subject_id)
    async with transaction() as conn:
        # Of two concurrent uses only one rotates, and never in a family that
        # was revoked meanwhile; its successor is written in the same
        # transaction, so a revocation that follows the claim also covers it.
        claimed = await execute(
            conn,
            "UPDATE refresh_token SET used_at = $1 WHERE id = $2 AND used_at IS NULL "
            "AND revoked_at IS NULL",
            now,
            row.id,
        )
        if claimed:
            return await _open_session(principal, family=row.family, conn=conn)
    await _revoke_family(row, now)
    raise _bad_credentials("This session has ended; log in again.")


async def log_out(*, refresh_token: str) -> None:
    """Revoke the session's whole family; unknown tokens are ignored (log-out
    must always succeed from the app's point of view)."""
    row = await RefreshToken.get_or_none(token_hash=hash_refresh_token(refresh_token or ""))
    if row is not None:
        await _revoke_family(row, datetime.now(UTC))


async def _revoke_family(row: RefreshToken, now: datetime) -> None:
    """Every revocation comes through here, and is announced: the sockets
    opened in the session close, in every server process."""
    ended = EndedSession(row.subject_kind, row.subject_id, row.family)
    async with transaction() as conn:
        await execute(
            conn,
            "UPDATE refresh_token SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
            now,
            row.family,
        )
        pg = is_pg(conn)
        if pg:
            # Heard by every listening process at commit, never on rollback.
            await fetch(conn, "SELECT pg_notify($1, $2)", SESSION_CHANNEL, ended.payload())
    if not pg:
        sessions.publish(ended)


async def revoked_sessions(families: Iterable[str]) -> set[str]:
    """Those of `families` that were revoked (a family is revoked whole, and
    nothing is added to it after)."""
    wanted = sorted(set(families))
    conn = connections.get("default")
    revoked: set[str] = set()
    # In slices: SQLite and asyncpg both cap the parameters of a statement.
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = placeholders(len(chunk))
        rows = await fetch(
            conn,
            f"SELECT DISTINCT family FROM refresh_token WHERE family IN ({marks}) "
            "AND revoked_at IS NOT NULL",
            *chunk,
        )
        revoked.update(str(r[0]) for r in rows)
    return revoked


async def _open_session(
    principal: Principal, family: str | None = None, conn: BaseDBAsyncClient | None = None
) -> Session:
    settings = get_settings()
    family = family or secrets.token_hex(16)
    principal = replace(principal, session_id=family)
    access, expires = issue_access_token(principal, session_id=family)
    token, token_hash = new_refresh_token()
    await RefreshToken.create(
        token_hash=token_hash,
        family=family,
        subject_kind=principal.kind,
        subject_id=principal.subject_id,
        expires_at=datetime.now(UTC) + timedelta(days=settings.refresh_token_days),
        using_db=conn,
    )
    return Session(access, token, expires, principal)


def _email_or_blank(email: str) -> str:
    """The email to look an account up by. One longer than any account may
    have (normalize_email) names nobody: blank, since the ORM would refuse
    the lookup itself (ValidationError) instead of finding no one."""
    email = email.strip().lower() if isinstance(email, str) else ""
    return email if len(email) <= MAX_EMAIL else ""


def _bad_credentials(message: str = "Wrong email or password.") -> DomainError:
    return DomainError(ErrorCode.INVALID_CREDENTIALS, message)


async def create_admin(email: str, password: str) -> Staff:
    from loyalty.models import StaffRole
    from loyalty.programme.stores import create_staff

    staff, _ = await create_staff(email, password, StaffRole.ADMIN, [])
    return staff


__all__ = ["Acquisition", "Session", "log_in", "log_out", "refresh_session", "revoked_sessions",
           "sign_up", "staff_log_in"]


async def principal_exists(kind: str, subject_id: int) -> bool:
    """Whether the customer or staff member a token names still exists."""
    # An erased customer's row stays (the ledger points at it) but is nobody.
    sql = ("SELECT 1 FROM customer WHERE id = $1 AND erased_at IS NULL" if kind == "customer"
           else "SELECT 1 FROM staff WHERE id = $1")
    row = await fetchrow(connections.get("default"), sql, subject_id)
    return row is not None
