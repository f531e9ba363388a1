"""What every request goes through before the routes, as one ASGI middleware.

In order, on HTTP: its request id (api/request_id.py), the body-size limit
(api/limits.py), authentication (api/auth.py's backend, as Starlette's
AuthenticationMiddleware applied it); as the response starts, the security
headers (api/security_headers.py), the request id header and the API
client's audit line (api/client_audit.py); when it ends, its metrics and log
line (api/observe.py). On a WebSocket: the request id and the limit on every
message.

One middleware rather than one per concern: each wrapped `send` and
`receive` and added a coroutine to every request, and together they were a
tenth of a purchase's server CPU (py-spy on bench/pos_bench.py). The
concerns stay in their own modules; this is only their order.
"""

from __future__ import annotations

import time

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    UnauthenticatedUser,
)
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import client_audit, observe, request_id
from api.limits import BodyLimits, BodyTooLarge
from api.security_headers import SecurityHeaders


class Edge:
    """Outermost of the app's middleware (inside Starlette's error handler)."""

    def __init__(self, app: ASGIApp, *, headers: SecurityHeaders, limits: BodyLimits,
                 backend: AuthenticationBackend) -> None:
        self.app = app
        self.headers = headers
        self.limits = limits
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._socket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        rid = request_id.request_id_from(scope["headers"])
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id.bind(rid)
        id_header = (b"x-request-id", rid.encode())
        status = 500  # what the client sees if the app raises before answering
        answered = False

        async def edge_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                status = message["status"]
                headers = [*message.get("headers", []), id_header]
                self.headers.add_to(headers)
                message = {**message, "headers": headers}
                client_audit.note_call(scope, status)
            await send(message)

        try:
            limit, too_big = await self.limits.limit_of(scope)
            if too_big:
                await self.limits.refuse(edge_send, limit)
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise BodyTooLarge
                return message

            if not await self._authenticate(scope, receive, edge_send):
                return
            try:
                await self.app(scope, limited_receive, edge_send)
            except BodyTooLarge:
                if not answered:
                    await self.limits.refuse(edge_send, limit)
        finally:
            if not answered:  # the app raised before answering
                client_audit.note_call(scope, status)
            observe.request_done(scope, status, time.perf_counter() - started)
            request_id.unbind(token)

    async def _authenticate(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Sets scope["auth"] and scope["user"] as Starlette's
        AuthenticationMiddleware does; False when it answered the request."""
        conn = HTTPConnection(scope)
        try:
            result = await self.backend.authenticate(conn)
        except AuthenticationError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            else:
                await PlainTextResponse(str(exc), status_code=400)(scope, receive, send)
            return False
        scope["auth"], scope["user"] = result or (AuthCredentials(), UnauthenticatedUser())
        return True

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id.request_id_from(scope["headers"])
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id.bind(rid)
        id_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "websocket.accept":
                message = {**message, "headers": [*message.get("headers", []), id_header]}
            await send(message)

        try:
            if await self._authenticate(scope, receive, send_with_id):
                await self.app(scope, self.limits.socket_receive(receive, send_with_id),
                               send_with_id)
        finally:
            request_id.unbind(token)
