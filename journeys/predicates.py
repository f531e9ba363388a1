"""Segment-grammar conditions (a journey's `audience`, a branch's `if`)
evaluated for one customer now, with the audience package's compiler: the
same SQL a segment's membership is computed with, restricted to one
customer, so that a journey and a segment never disagree on a condition.

The step machine asks its `Facts.condition` synchronously; the worker
answers from what it evaluated before, and an unknown condition stops the
machine (`Unknown`), is evaluated here, and the machine runs again from the
stored state (it is pure, so running it again costs nothing but time).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from audience.membership import context, stored_segments
from audience.segment_grammar import parse
from audience.segment_sql import Context, Params, compile_predicate
from journeys.steps import thaw
from loyalty.platform.sql import fetchrow


class Unknown(Exception):  # noqa: N818 - a signal, not an error
    """A condition the worker has not evaluated yet for this run."""

    def __init__(self, condition: Mapping[str, Any]) -> None:
        super().__init__("condition not evaluated yet")
        self.condition = condition


def key_of(condition: Any) -> str:
    return json.dumps(condition, sort_keys=True, separators=(",", ":"), default=str)


class Conditions:
    """Evaluates conditions for the customers of one worker pass: the
    segments and tiers that conditions refer to are read once per pass."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._context: Context | None = None

    async def _ctx(self, conn: BaseDBAsyncClient) -> Context:
        if self._context is None:
            self._context = await context(conn, await stored_segments(conn), self.now)
        return self._context

    async def holds(self, conn: BaseDBAsyncClient, condition: Any, customer_id: int) -> bool:
        """Whether the customer meets `condition` now. One that no longer
        compiles (a segment it names was deleted) holds for nobody."""
        ctx = await self._ctx(conn)
        params = Params()
        try:
            predicate = compile_predicate(parse(thaw(condition), "condition"), ctx, params)
        except Exception:  # noqa: BLE001 - DomainError from the grammar: false, not a crash
            return False
        marks = params.add(customer_id)
        row = await fetchrow(conn, f"SELECT 1 FROM customer c WHERE ({predicate}) "
                                   f"AND c.id = {marks}", *params.values)
        return row is not None


def answer(known: Mapping[str, bool]) -> Any:
    """A `Facts.condition` answering from `known`, raising Unknown otherwise."""
    def condition(resolved: Mapping[str, Any]) -> bool:
        found = known.get(key_of(resolved))
        if found is None:
            raise Unknown(resolved)
        return found
    return condition
