"""In-process fan-out of what other processes must hear at once: "this
customer's balance changed" to live subscribers, and "this log-in session was
revoked" to the sockets opened in it.

On PostgreSQL every server process feeds both from LISTEN (`points_changed`,
`session_ended`): the writer NOTIFYs inside its transaction, so only committed
changes are heard, by every process. On SQLite the writer publishes after
commit, in its own process, which is the only one.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

CHANNEL = "points_changed"
SESSION_CHANNEL = "session_ended"


class BalanceBus:
    def __init__(self) -> None:
        self._subscribers: dict[int, set[asyncio.Queue[int]]] = defaultdict(set)

    def publish(self, customer_id: int) -> None:
        for queue in self._subscribers.get(customer_id, ()):
            # A slow subscriber only needs to know "changed"; one pending
            # signal is as good as many.
            if queue.empty():
                queue.put_nowait(customer_id)

    def resync(self) -> None:
        """Changes may have gone unheard (the listener reconnected): every
        subscriber re-reads its balance and sends it, changed or not."""
        for customer_id in list(self._subscribers):
            self.publish(customer_id)

    @asynccontextmanager
    async def subscribe(self, customer_id: int) -> AsyncIterator[asyncio.Queue[int]]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        self._subscribers[customer_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[customer_id].discard(queue)
            if not self._subscribers[customer_id]:
                del self._subscribers[customer_id]

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())


@dataclass(frozen=True)
class EndedSession:
    """A log-in session (a refresh-token family) revoked by a log-out or a
    leaked refresh token; the NOTIFY payload is `kind:subject_id:family`."""

    kind: str
    subject_id: int
    family: str

    def payload(self) -> str:
        return f"{self.kind}:{self.subject_id}:{self.family}"

    @classmethod
    def parse(cls, payload: str) -> EndedSession:
        kind, subject_id, family = payload.split(":", 2)
        return cls(kind, int(subject_id), family)


SessionListener = Callable[[EndedSession], None]


class SessionBus:
    def __init__(self) -> None:
        self._listeners: list[SessionListener] = []

    def publish(self, ended: EndedSession) -> None:
        for listener in list(self._listeners):
            listener(ended)

    def listen(self, listener: SessionListener) -> Callable[[], None]:
        """Add a listener; returns what removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)


bus = BalanceBus()
sessions = SessionBus()
