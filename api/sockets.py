"""graphql-transport-ws sockets that live no longer than their session.

A socket authenticates once, in `connection_init`, but may stay open for
hours. The session it opened ends when its access token expires, or when the
log-in is revoked (`logOut`, or a refresh token presented twice); then the
server completes the socket's operations and closes it with 4401 and the
reason `TOKEN_EXPIRED` (refresh, then reconnect) or `UNAUTHENTICATED` (log in
again). Every message is checked too, so that nothing runs on an ended
session even in the instant before the close.
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
)

from api.context import Context
from api.errors import ApiCode
from loyalty.bus import EndedSession, sessions
from loyalty.identity import revoked_sessions
from loyalty.tokens import Principal

# graphql-transport-ws's "Unauthorized": the app must not simply reconnect.
CLOSE_SESSION_ENDED = 4401


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

    def admit(self, socket: LiveSocket, principal: Principal) -> None:
        socket.principal = principal
        self._live[(principal.kind, principal.subject_id)].add(socket)

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
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._watch is None:
            self._watch = asyncio.create_task(self._end_with_session())

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
