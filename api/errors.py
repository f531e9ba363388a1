"""Top-level GraphQL errors: one documented list of codes, one place that
assigns them, and a log line per error that carries no query text.

Every top-level error leaves the server with `extensions.code`:

| code | meaning | what the app does |
|---|---|---|
| `UNAUTHENTICATED` | no token, or one that is not ours | sign in |
| `TOKEN_EXPIRED` | a token of ours past its expiry | refresh, then retry |
| `FORBIDDEN` | a valid token that may not do this | nothing: it is not allowed |
| `INVALID_INPUT` | a bad argument (a cursor, a page size, a NUL byte, ...) | fix the request |
| `RATE_LIMITED` | too many attempts (see below) | wait |
| `TOO_EXPENSIVE` | the request costs more than a request may | ask for less |
| `LIMIT_REACHED` | too many sockets or live subscriptions for this sign-in | close one first |
| `GRAPHQL_PARSE_FAILED` | the document does not parse | fix the document |
| `GRAPHQL_VALIDATION_FAILED` | not valid for the schema or its limits | fix the document |
| `BAD_REQUEST` | the HTTP body is not a GraphQL request | fix the client |
| `REQUEST_TOO_LARGE` | the body is over `LOYALTY_MAX_BODY_BYTES` | send less |
| `INTERNAL` | a bug; masked in production, with the request id to quote to support | report it |

The throttled operations (logIn, staffLogIn, checkIn) answer `RATE_LIMITED`
in their payload: a `UserError` whose `retryAfterSeconds` says when to retry.

On a WebSocket, a session that ends closes the socket with 4401 and the
reason `TOKEN_EXPIRED` or `UNAUTHENTICATED`; too many sockets close the new one
with 4429 and `LIMIT_REACHED`; a message over `LOYALTY_MAX_BODY_BYTES` closes
it with 1009 (api/sockets.py, api/limits.py).

A query that refuses an argument as a mutation would carries the schema's
`ErrorCode` of that refusal instead (`NOT_FOUND`, ...), with `extensions.field`.
Refusals that are part of an operation's normal answer (a spent QR code, too
few points) are not top-level errors: they are `UserError`s in the payload.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from graphql import GraphQLError

from api.observe import count_error
from api.request_id import current_request_id
from loyalty.errors import DomainError

log = logging.getLogger("api.graphql")


class ApiCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    INVALID_INPUT = "INVALID_INPUT"
    RATE_LIMITED = "RATE_LIMITED"
    TOO_EXPENSIVE = "TOO_EXPENSIVE"
    LIMIT_REACHED = "LIMIT_REACHED"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    BAD_REQUEST = "BAD_REQUEST"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    INTERNAL = "INTERNAL"


# Codes a client causes: logged without a traceback.
CLIENT_CODES = frozenset(ApiCode) - {ApiCode.INTERNAL}


class ApiError(GraphQLError):
    """A top-level error with its code; raise it from a resolver or a permission."""

    def __init__(self, code: ApiCode, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code.value, **extensions})
        self.code = code


def unauthenticated(message: str = "An access token is required.") -> ApiError:
    return ApiError(ApiCode.UNAUTHENTICATED, message)


def forbidden(message: str) -> ApiError:
    return ApiError(ApiCode.FORBIDDEN, message)


def bad_input(message: str) -> ApiError:
    return ApiError(ApiCode.INVALID_INPUT, message)


def from_domain(error: DomainError) -> GraphQLError:
    """A domain refusal raised where there is no payload to carry it (a query):
    its own code (the schema's ErrorCode: INVALID_INPUT, NOT_FOUND, ...)."""
    extensions: dict[str, Any] = {"code": error.code.value}
    if error.field:
        extensions["field"] = error.field
    return GraphQLError(error.message, extensions=extensions)


def classify(error: GraphQLError) -> ApiCode:
    """The code of an error that does not carry one yet."""
    from api.types.common import BadArgument

    original = error.original_error
    if original is None:
        if error.message.startswith("Syntax Error"):
            return ApiCode.GRAPHQL_PARSE_FAILED
        if error.message.startswith("Variable '$"):
            return ApiCode.INVALID_INPUT
        return ApiCode.GRAPHQL_VALIDATION_FAILED
    if isinstance(original, ApiError):
        return original.code
    if isinstance(original, BadArgument):
        return ApiCode.INVALID_INPUT
    if isinstance(original, DomainError):
        return ApiCode.INVALID_INPUT
    if isinstance(original, PermissionError):
        return ApiCode.FORBIDDEN
    if isinstance(original, GraphQLError):
        code = str((original.extensions or {}).get("code"))
        return ApiCode(code) if code in ApiCode.__members__ else ApiCode.INVALID_INPUT
    if type(original).__name__ == "StrawberryGraphQLError":
        return ApiCode.FORBIDDEN
    # Scalars refuse bad literals and variables with ValueError/TypeError;
    # graphql-core wraps them into an error that has no path.
    if isinstance(original, ValueError | TypeError) and not error.path:
        return ApiCode.INVALID_INPUT
    return ApiCode.INTERNAL


def with_code(error: GraphQLError, mask: bool) -> GraphQLError:
    """`error` with `extensions.code` set; a bug's message masked when `mask`."""
    extensions = dict(error.extensions or {})
    code = extensions.get("code")
    if code is None:
        code = classify(error).value
        extensions["code"] = code
    message = error.message
    if code == ApiCode.INTERNAL and mask:
        message = f"Unexpected error (request id {current_request_id() or 'unknown'})."
    if message == error.message and extensions == error.extensions:
        return error
    return GraphQLError(message, error.nodes, error.source, error.positions, error.path,
                        error.original_error, extensions)


def log_errors(errors: list[GraphQLError], operation_name: str | None) -> None:
    """One line per error (fields for api/logs.py): the request id, the
    operation's name, the code and where it happened. Never the error's text
    or the query: both can carry a password, a refresh token or a card number
    given as a literal. A bug adds its traceback; a client's error has none."""
    rid = current_request_id()
    for error in errors:
        # Strawberry logs before the guard's result hook assigns codes.
        code = (error.extensions or {}).get("code") or classify(error).value
        count_error(code)
        where = ".".join(str(p) for p in error.path) if error.path else "-"
        original = error.original_error
        kind = type(original).__name__ if original is not None else "GraphQLError"
        fields = {"request_id": rid, "operation_name": operation_name, "code": code,
                  "path": where, "error_type": kind}
        if code in CLIENT_CODES:
            log.info("graphql error", extra=fields)
        else:
            log.error("graphql error", extra=fields,
                      exc_info=(type(original), original, original.__traceback__)
                      if original is not None else None)
