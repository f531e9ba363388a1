"""A request id on every request (api/edge.py sets it): taken from
`X-Request-Id` when it is sane, made otherwise, echoed in the response, and
readable anywhere below through a context variable (error messages, log
lines)."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar, Token

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# What a client may send as its own id: short, and safe to print in a log line.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def current_request_id() -> str | None:
    return _request_id.get()


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE.fullmatch(text):
                return text
            break
    # 32 random hex digits, as uuid4().hex gave, in a fifth of its time.
    return os.urandom(16).hex()


def bind(rid: str) -> Token[str | None]:
    """Make `rid` the current request's id (api/edge.py), until `unbind`."""
    return _request_id.set(rid)


def unbind(token: Token[str | None]) -> None:
    _request_id.reset(token)
