"""In-process fan-out of "this customer's balance changed" to live subscribers.

On PostgreSQL every server process feeds it from LISTEN on `points_changed`
(the ledger NOTIFYs inside the posting transaction, so only committed changes
are heard, by every process). On SQLite the ledger publishes after commit.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

CHANNEL = "points_changed"


class BalanceBus:
    def __init__(self) -> None:
        self._subscribers: dict[int, set[asyncio.Queue[int]]] = defaultdict(set)

    def publish(self, customer_id: int) -> None:
        for queue in self._subscribers.get(customer_id, ()):
            # A slow subscriber only needs to know "changed"; one pending
            # signal is as good as many.
            if queue.empty():
                queue.put_nowait(customer_id)

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


bus = BalanceBus()
