"""Single-use, expiring, hashed tokens sent by email: a password reset (which
is also how an imported customer claims their account) and an email
verification. The raw token exists only in the email; the table keeps its
SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import connections

from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.identity import passwords
from loyalty.identity.accounts import normalize_email
from loyalty.platform.bus import SESSION_CHANNEL, EndedSession, sessions
from loyalty.platform.config import get_settings
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, fetchrow, is_pg

RESET = "reset"
VERIFY = "verify"
# One link per customer and purpose per this long: asking again and again
# must not flood their mailbox.
_RESEND_AFTER = timedelta(seconds=60)
# An imported customer has no password until they claim the account.
UNCLAIMED = "!"


@dataclass(frozen=True)
class Issued:
    customer_id: int
    email: str
    first_name: str
    locale: str
    token: str
    # The account came from an import and has no password yet.
    claim: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(customer_id: int, purpose: str) -> Issued | None:
    """A new token for a live customer, or None (unknown, erased, or one sent
    less than a minute ago)."""
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    async with transaction() as conn:
        row = await fetchrow(conn, "SELECT email, first_name, locale, password_hash FROM "
                             "customer WHERE id = $1 AND erased_at IS NULL FOR UPDATE",
                             customer_id)
        if row is None:
            return None
        recent = await fetchrow(conn, "SELECT 1 FROM email_token WHERE customer_id = $1 AND "
                                "purpose = $2 AND created_at > $3", customer_id, purpose,
                                now - _RESEND_AFTER)
        if recent is not None:
            return None
        await execute(conn, "INSERT INTO email_token (customer_id, purpose, token_hash, "
                      "expires_at, created_at) VALUES ($1, $2, $3, $4, $5)", customer_id,
                      purpose, _hash(token), now + timedelta(
                          minutes=get_settings().email_token_minutes), now)
    return Issued(customer_id, row[0], row[1], row[2], token, row[3] == UNCLAIMED)


async def issue_for_email(email: str, purpose: str) -> Issued | None:
    try:
        email = normalize_email(email)
    except DomainError:
        return None
    row = await fetchrow(connections.get("default"),
                         "SELECT id FROM customer WHERE email = $1 AND erased_at IS NULL", email)
    return None if row is None else await issue(row[0], purpose)


async def _spend(conn: object, token: str, purpose: str, now: datetime) -> int:
    """Mark the token used, once: the customer it was for. A second use, an
    expired or unknown token: INVALID_INPUT on `token`."""
    row = await fetchrow(
        conn,  # type: ignore[arg-type]
        "UPDATE email_token SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 "
        "AND used_at IS NULL AND expires_at > $4 RETURNING customer_id",
        now, _hash(token or ""), purpose, now)
    if row is None:
        raise invalid("This link is invalid, expired or already used.", "token")
    return int(row[0])


async def reset_password(token: str, password: str) -> int:
    """Set a new password from a reset link; every session of the account ends
    (the link proves the mailbox, so the email counts as verified too)."""
    if not isinstance(password, str):
        raise invalid("A password is required.", "password")
    now = datetime.now(UTC)
    # Checked and hashed before the token is spent: a weak password leaves
    # the link usable.
    async with transaction() as conn:
        row = await fetchrow(conn, "SELECT c.email FROM email_token t JOIN customer c ON "
                             "c.id = t.customer_id WHERE t.token_hash = $1 AND t.purpose = $2 "
                             "AND t.used_at IS NULL AND t.expires_at > $3",
                             _hash(token or ""), RESET, now)
    if row is None:
        raise invalid("This link is invalid, expired or already used.", "token")
    passwords.check_strength(password, row[0])
    password_hash = await passwords.hash_password_async(password)
    async with transaction() as conn:
        customer_id = await _spend(conn, token, RESET, now)
        await execute(conn, "UPDATE customer SET password_hash = $1, email_verified_at = "
                      "COALESCE(email_verified_at, $2) WHERE id = $3 AND erased_at IS NULL",
                      password_hash, now, customer_id)
        families = await fetch(conn, "SELECT DISTINCT family FROM refresh_token WHERE "
                               "subject_kind = 'customer' AND subject_id = $1 AND "
                               "revoked_at IS NULL", customer_id)
        await execute(conn, "UPDATE refresh_token SET revoked_at = $1 WHERE subject_kind = "
                      "'customer' AND subject_id = $2 AND revoked_at IS NULL", now, customer_id)
        ended = [EndedSession("customer", customer_id, str(f[0])) for f in families]
        pg = is_pg(conn)
        if pg:
            for session in ended:
                await fetch(conn, "SELECT pg_notify($1, $2)", SESSION_CHANNEL,
                            session.payload())
    if not pg:
        for session in ended:
            sessions.publish(session)
    return customer_id


async def verify_email(token: str) -> int:
    now = datetime.now(UTC)
    async with transaction() as conn:
        customer_id = await _spend(conn, token, VERIFY, now)
        await execute(conn, "UPDATE customer SET email_verified_at = $1 WHERE id = $2",
                      now, customer_id)
    return customer_id


async def is_unclaimed(email: str) -> int | None:
    """The id of an imported customer with this email who has no password yet."""
    row = await fetchrow(connections.get("default"),
                         "SELECT id FROM customer WHERE email = $1 AND password_hash = $2 "
                         "AND erased_at IS NULL", email, UNCLAIMED)
    return None if row is None else int(row[0])


def claim_error() -> DomainError:
    return DomainError(ErrorCode.CLAIM_LINK_SENT,
                       "This email has an account from the previous programme: we sent a "
                       "link to it to set a password and claim it.", "email")
