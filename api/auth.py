"""Bearer-token authentication: checked once per HTTP request, once per socket."""

from __future__ import annotations

from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection

from loyalty.tokens import InvalidToken, Principal, decode_access_token


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


def principal_from_header(value: str | None) -> Principal | None:
    """None when no credentials were sent; BadToken when they are wrong, so that
    a forged or expired token is an error, never silently anonymous."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BadToken("Use `Authorization: Bearer <access token>`.")
    try:
        return decode_access_token(token.strip())
    except InvalidToken:
        raise BadToken("The access token is invalid or expired.") from None


class JWTBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        # WebSockets authenticate in connection_init (see api.view), not here.
        if conn.scope["type"] != "http":
            return None
        try:
            principal = principal_from_header(conn.headers.get("authorization"))
        except BadToken:
            conn.scope["auth_error"] = "The access token is invalid or expired."
            return None
        if principal is None:
            return None
        return AuthCredentials([principal.kind]), TokenUser(principal)
