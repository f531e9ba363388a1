"""Access tokens (JWT, short-lived) and refresh tokens (opaque, rotated)."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt

from loyalty.platform.config import get_settings

ALGORITHM = "HS256"  # pinned: the decoder accepts nothing else, never "none"
AUDIENCE = "loyalty-api"
ISSUER = "loyalty"


@dataclass(frozen=True)
class Principal:
    """Who a valid access token speaks for."""

    kind: str  # "customer" | "staff" | "client" (an API client, loyalty/identity/api_clients.py)
    subject_id: int
    role: str | None = None  # staff only
    store_ids: tuple[int, ...] = ()  # staff and API clients
    # When the access token this principal came from expires (unix seconds).
    expires_at: float = field(default=0.0, compare=False)
    # The log-in session (refresh-token family) the token was issued in: what
    # a log-out or a leaked refresh token revokes, and the sockets with it.
    session_id: str | None = field(default=None, compare=False)
    # An API client's scopes (loyalty.models.ApiScope values).
    scopes: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def is_customer(self) -> bool:
        return self.kind == "customer"

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def is_admin(self) -> bool:
        return self.kind == "staff" and self.role == "ADMIN"

    @property
    def is_client(self) -> bool:
        return self.kind == "client"

    def has_scope(self, scope: str) -> bool:
        return self.is_client and scope in self.scopes

    def may_act_in(self, store_id: int) -> bool:
        return self.is_admin or ((self.is_staff or self.is_client) and store_id in self.store_ids)


class InvalidToken(Exception):
    pass


class ExpiredToken(InvalidToken):
    """A token of ours, well signed, past its expiry: the client should refresh."""


def issue_access_token(principal: Principal, now: datetime | None = None,
                       session_id: str | None = None) -> tuple[str, datetime]:
    settings = get_settings()
    now = now or datetime.now(UTC)
    expires = now + timedelta(seconds=settings.access_token_seconds)
    claims: dict[str, object] = {
        "sub": str(principal.subject_id),
        "typ": principal.kind,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    if session_id is not None:
        claims["sid"] = session_id
    if principal.is_staff:
        claims["role"] = principal.role
        claims["stores"] = list(principal.store_ids)
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), expires


# Verified tokens, so that a client's every request does not redo the HMAC and
# claim checks; an entry is used only until the token's own expiry.
_verified: dict[str, tuple[float, Principal]] = {}
_VERIFIED_MAX = 100_000


def decode_access_token(token: str) -> Principal:
    hit = _verified.get(token)
    if hit is not None and hit[0] > time.time():
        return hit[1]
    principal, expires = _decode(token)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[token] = (expires, principal)
    return principal


def _decode(token: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            get_settings().secret_key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
        kind = claims["typ"]
        if kind not in ("customer", "staff"):
            raise InvalidToken("unknown token type")
        expires = float(claims["exp"])
        sid = claims.get("sid")
        if sid is not None and not isinstance(sid, str):
            raise InvalidToken("bad session id")
        if kind == "staff":
            staff = Principal(
                "staff",
                int(claims["sub"]),
                str(claims["role"]),
                tuple(int(s) for s in claims.get("stores", [])),
                expires,
                sid,
            )
            return staff, expires
        return Principal("customer", int(claims["sub"]), expires_at=expires,
                         session_id=sid), expires
    except jwt.ExpiredSignatureError as exc:
        raise ExpiredToken(str(exc)) from None
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None


def new_refresh_token() -> tuple[str, str]:
    """(token for the client, hash to store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
