"""graphql-transport-ws sockets that live no longer than their session.

A socket authenticates once, in `connection_init`, but may stay open for
hours. The session it opened ends when its access token expires, or when the
log-in is revoked (`logOut`, or a refresh token presented twice); then the
server completes the socket's operations and closes it with 4401 and the
reason `TOKEN_EXPIRED` (refresh, then reconnect) or `UNAUTHENTICATED` (log in
again). Every message is checked too, so that nothing runs on an ended
session even in the instant before the close.

A principal has at most so many sockets in a process (more are closed with
4429 `LIMIT_REACHED`), and so many live operations on one socket and on all
of its sockets together (more are refused with a `LIMIT_REACHED` error).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Sized
from dataclasses import dataclass, field
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from api.context import Context
from api.errors import ApiCode, ApiError, log_errors
from loyalty.identity.accounts import revoked_sessions
from loyalty.identity.tokens import Principal
from loyalty.platform.bus import EndedSession, sessions
from loyalty.platform.config import Settings

# graphql-transport-ws's "Unauthorized": the app must not simply reconnect.
CLOSE_SESSION_ENDED = 4401
# "Too many": the protocol's own code for one init too many; graphql-ws
# clients treat it as fatal rather than reconnect in a loop.
CLOSE_LIMIT_REACHED = 4429


@dataclass(frozen=True)
class SocketLimits:
    sockets_per_principal: int
    subscriptions_per_socket: int
    subscriptions_per_principal: int

    @classmethod
    def of(cls, settings: Settings) -> SocketLimits:
        return cls(settings.ws_max_sockets_per_principal,
                   settings.ws_max_subscriptions_per_socket,
                   settings.ws_max_subscriptions_per_principal)


class SocketRefused(Exception):
    """Raised by the view's on_ws_connect: the socket is closed with this."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(eq=False)
class LiveSocket:
    """One socket, admitted once its token was accepted."""

    operations: Sized
    principal: Principal | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    why: ApiCode = ApiCode.UNAUTHENTICATED

    def end(self, why: ApiCode) -> None:
        if not self.ended.is_set():
            self.why = why
            self.ended.set()

    def over(self) -> ApiCode | None:
        """Why the session is over, or None while it lasts."""
        if self.ended.is_set():
            return self.why
        if self.principal is not None and self.principal.expires_at <= time.time():
            return ApiCode.TOKEN_EXPIRED
        return None


class SocketRegistry:
    """This process's admitted sockets, by principal."""

    def __init__(self) -> None:
        self._live: dict[tuple[str, int], set[LiveSocket]] = defaultdict(set)
        sessions.listen(self._session_ended)

    def admit(self, socket: LiveSocket, principal: Principal, limits: SocketLimits) -> None:
        key = (principal.kind, principal.subject_id)
        if len(self._live.get(key, ())) >= limits.sockets_per_principal:
            raise SocketRefused(CLOSE_LIMIT_REACHED, ApiCode.LIMIT_REACHED.value)
        socket.principal = principal
        self._live[key].add(socket)

    def operations_of(self, principal: Principal) -> int:
        """Live operations on all the principal's sockets in this process."""
        live = self._live.get((principal.kind, principal.subject_id), ())
        return sum(len(socket.operations) for socket in live)

    def release(self, socket: LiveSocket) -> None:
        if socket.principal is None:
            return
        key = (socket.principal.kind, socket.principal.subject_id)
        self._live[key].discard(socket)
        if not self._live[key]:
            del self._live[key]

    async def recheck(self) -> None:
        """Revocations may have gone unheard (the listener reconnected): end the
        sockets of the sessions revoked meanwhile. A token that names no
        session cannot be checked; it still ends when it expires."""
        live = [socket for group in self._live.values() for socket in group]
        revoked = await revoked_sessions(
            s.principal.session_id for s in live
            if s.principal is not None and s.principal.session_id is not None)
        for socket in live:
            if socket.principal is not None and socket.principal.session_id in revoked:
                socket.end(ApiCode.UNAUTHENTICATED)

    def _session_ended(self, ended: EndedSession) -> None:
        for socket in list(self._live.get((ended.kind, ended.subject_id), ())):
            assert socket.principal is not None
            # A token issued before sessions were named in it cannot be told
            # apart: any revocation of its principal ends it.
            if socket.principal.session_id in (None, ended.family):
                socket.end(ApiCode.UNAUTHENTICATED)


sockets = SocketRegistry()


class SessionSocket(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits: SocketLimits = self.view.socket_limits  # type: ignore[attr-defined]
        self.live = LiveSocket(self.operations)
        self.context.socket = self.live
        self._watch: asyncio.Task[None] | None = None
        self._closing = False

    async def handle_message(self, message: Message) -> None:
        why = self.live.over() if self.connection_acknowledged else None
        if why is not None:
            await self.end_session(why)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except SocketRefused as refused:
            await self.websocket.close(code=refused.code, reason=refused.reason)
            return
        if self.connection_acknowledged and self._watch is None:
            self._watch = asyncio.create_task(self._end_with_session())

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Strawberry's own cap (off in the view) answers with an error that
        # carries no code; this one says LIMIT_REACHED, per socket and per principal.
        principal = self.live.principal
        if principal is not None and message["id"] not in self.operations:
            if len(self.operations) >= self.limits.subscriptions_per_socket:
                await self._refuse(message["id"], "Too many live operations on this socket.")
                return
            if sockets.operations_of(principal) >= self.limits.subscriptions_per_principal:
                await self._refuse(message["id"], "Too many live operations for this sign-in.")
                return
        await super().handle_subscribe(message)

    async def _refuse(self, operation_id: str, message: str) -> None:
        error = ApiError(ApiCode.LIMIT_REACHED, message)
        log_errors([error], None)
        await self.send_message({"id": operation_id, "type": "error",
                                 "payload": [error.formatted]})

    async def _end_with_session(self) -> None:
        principal = self.live.principal
        assert principal is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.live.ended.wait(),
                                   max(0.0, principal.expires_at - time.time()))
        await self.end_session(self.live.over() or ApiCode.TOKEN_EXPIRED)

    async def end_session(self, why: ApiCode) -> None:
        """Complete every operation (subscriptions end as if the server had
        finished them), then close the socket, saying why."""
        if self._closing:
            return
        self._closing = True
        for operation in list(self.operations.values()):
            if operation.task is not None:
                operation.task.cancel()
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
        with contextlib.suppress(Exception):
            await self.websocket.close(code=CLOSE_SESSION_ENDED, reason=why.value)

    async def shutdown(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        try:
            await super().shutdown()
        finally:
            sockets.release(self.live)
