"""Bearer-token authentication: checked once per HTTP request, once per socket."""

from __future__ import annotations

from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection

from api.errors import ApiCode, ApiError
from loyalty.tokens import ExpiredToken, InvalidToken, Principal, decode_access_token


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


class JWTBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        # WebSockets authenticate in connection_init (see api.view), not here.
        if conn.scope["type"] != "http":
            return None
        try:
            principal = principal_from_header(conn.headers.get("authorization"))
        except BadToken as bad:
            conn.scope["auth_error"] = bad
            return None
        if principal is None:
            return None
        return AuthCredentials([principal.kind]), TokenUser(principal)
