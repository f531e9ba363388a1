"""An audit line for every call made with an API client's key (who, what,
when, how it ended, the request id), written when the response starts: the
operation has run by then (its root field and outcome are in the scope, from
api/observe.py), and the client's answer waits for one insert, so that a test
or an auditor reading the log after the answer finds the line.

A line that cannot be written is logged and the answer goes out anyway: the
operation has committed, and refusing its answer would make the client retry
what was done. Customers' and staff's calls are not written here: staff
reads and changes of a customer have their own audit (audience/audit.py,
loyalty/audit.py), and customers' own calls are their business.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tortoise import connections

from api.observe import OPERATION, OUTCOME
from api.request_id import current_request_id
from loyalty import audit

log = logging.getLogger(__name__)


def _outcome(scope: Scope, status: int) -> str:
    found = scope.get(OUTCOME)
    if found is not None:
        return str(found)
    return "ok" if status < 400 else "error"


async def _write(scope: Scope, client_id: int, status: int) -> None:
    try:
        await audit.record_client_call(
            connections.get("default"), client_id, operation=scope.get(OPERATION),
            outcome=_outcome(scope, status), status=status, request_id=current_request_id())
    except Exception:  # noqa: BLE001 - see the module's docstring
        log.exception("could not write the audit line of an API client's call",
                      extra={"client_id": client_id})


class AuditClientCalls:
    """ASGI middleware, outside the authentication (which sets scope["user"])."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        written = False

        async def send_audited(message: Message) -> None:
            nonlocal written
            if message["type"] == "http.response.start" and not written:
                written = True
                principal = getattr(scope.get("user"), "principal", None)
                if principal is not None and principal.is_client:
                    await _write(scope, principal.subject_id, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        finally:
            if not written:  # the app raised before answering
                principal = getattr(scope.get("user"), "principal", None)
                if principal is not None and principal.is_client:
                    await _write(scope, principal.subject_id, 500)
