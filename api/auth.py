"""Bearer-token authentication: checked once per HTTP request, once per socket."""

from __future__ import annotations

from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection

from api.errors import ApiCode, ApiError
from loyalty.identity import api_clients
from loyalty.identity.tokens import ExpiredToken, InvalidToken, Principal, decode_access_token
from loyalty.platform.attribution import acting_client


class TokenUser(BaseUser):
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return f"{self.principal.kind}:{self.principal.subject_id}"


class BadToken(Exception):
    """An Authorization header was sent but is not a valid token."""

    def __init__(self, code: ApiCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_error(self) -> ApiError:
        return ApiError(self.code, self.message)


def principal_from_header(value: str | None) -> Principal | None:
    """None when no credentials were sent; BadToken when they are wrong, so that
    a forged or expired token is an error, never silently anonymous."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BadToken(ApiCode.UNAUTHENTICATED, "Use `Authorization: Bearer <access token>`.")
    try:
        return decode_access_token(token.strip())
    except ExpiredToken:
        raise BadToken(ApiCode.TOKEN_EXPIRED,
                       "The access token has expired: refresh it and retry.") from None
    except InvalidToken:
        raise BadToken(ApiCode.UNAUTHENTICATED, "The access token is invalid.") from None


async def client_principal(value: str | None) -> Principal | None:
    """An API client's principal when the bearer is a client secret (`lk_...`),
    None for anything else; a secret that is unknown, wrong or revoked is
    UNAUTHENTICATED. Its postings are attributed to it (loyalty/platform/attribution.py)."""
    scheme, _, token = (value or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not api_clients.looks_like_client_secret(token):
        return None
    try:
        principal = await api_clients.authenticate(token)
    except api_clients.UnknownClient:
        raise BadToken(ApiCode.UNAUTHENTICATED,
                       "This API key is unknown or was revoked.") from None
    acting_client.set(principal.subject_id)
    return principal


async def may_send_bulk(value: str | None) -> bool:
    """Whether this bearer may send a bulk body (recordPurchases' 500 items):
    a valid staff token or API key; never an anonymous or customer request."""
    try:
        principal = await client_principal(value)
        if principal is None:
            principal = principal_from_header(value)
    except BadToken:
        return False
    return principal is not None and (principal.is_staff or principal.is_client)


class JWTBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        # WebSockets authenticate in connection_init (see api.view), not here.
        if conn.scope["type"] != "http":
            return None
        try:
            header = conn.headers.get("authorization")
            principal = await client_principal(header)
            if principal is None:
                principal = principal_from_header(header)
        except BadToken as bad:
            conn.scope["auth_error"] = bad
            return None
        if principal is None:
            return None
        return AuthCredentials([principal.kind]), TokenUser(principal)
