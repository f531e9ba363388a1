"""Who may read /metrics (the server's and the worker's): anyone, or only
`Authorization: Bearer <LOYALTY_METRICS_TOKEN>` when that is set."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

from api.errors import ApiCode
from loyalty.platform.config import Settings


def bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Constant time: the comparison must not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


def metrics_allowed(request: Request, settings: Settings) -> bool:
    return not settings.metrics_token or bearer_matches(request, settings.metrics_token)


def refused() -> JSONResponse:
    from api.observe import count_error

    count_error(ApiCode.UNAUTHENTICATED.value)
    response = JSONResponse(
        {"errors": [{"message": "Use `Authorization: Bearer <metrics token>`.",
                     "extensions": {"code": ApiCode.UNAUTHENTICATED.value}}]},
        status_code=401)
    response.headers["www-authenticate"] = "Bearer"
    return response
