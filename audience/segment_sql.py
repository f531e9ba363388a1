"""A segment definition compiled to ONE SQL predicate over `customer c`, the
same text on PostgreSQL and SQLite but for JSON property matching.

Every condition is a correlated subquery on an indexed (customer_id, time)
column, so that checking a few touched customers costs a few index probes;
the full refresh runs the same predicate over every customer. Another
segment (`{"segment": "12"}`) is compiled inline from its definition, so a
membership never depends on the order segments are refreshed in (cycles are
refused when a definition is saved).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audience.segment_grammar import (
    COMPARISONS,
    All,
    AnyOf,
    Channels,
    Comparison,
    Engagement,
    Event,
    LastPurchase,
    MarketingOptIn,
    Node,
    Not,
    Points,
    Purchases,
    Rfm,
    SegmentRef,
    Spend,
    Tier,
    Visited,
    bad,
)
from loyalty.programme.tiers import TierInfo, qualifying

# A definition inlining others is capped, so that refs cannot multiply it.
MAX_INLINED_NODES = 2000
# The channels a customer bought or engaged on (the server's own SYSTEM
# events aside): the `channels` condition, the 360 view's list and the value
# by channel count all count these.
CHANNELS_OF_SQL = (
    "SELECT p.channel FROM purchase p WHERE p.customer_id = c.id "
    "UNION SELECT e.channel FROM customer_event e WHERE e.customer_id = c.id "
    "AND e.channel <> 'SYSTEM'"
)
CHANNEL_COUNT_SQL = f"(SELECT COUNT(*) FROM ({CHANNELS_OF_SQL}) ch)"


class Params:
    """Values of a statement's `$n` placeholders, numbered in the order the
    text names them (SQLite's `?` are positional)."""

    def __init__(self, start: int = 1) -> None:
        self.start = start
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${self.start + len(self.values) - 1}"


@dataclass(frozen=True)
class Context:
    now: datetime
    pg: bool
    # Parsed definitions of every segment, by id (for {"segment": id}).
    definitions: Mapping[int, Node]
    tiers: tuple[TierInfo, ...]


def compile_predicate(node: Node, context: Context, params: Params) -> str:
    compiler = _Compiler(context, params)
    return compiler.node(node, ())


class _Compiler:
    def __init__(self, context: Context, params: Params) -> None:
        self.c = context
        self.p = params
        self.nodes = 0

    def node(self, node: Node, inlining: tuple[int, ...]) -> str:
        self.nodes += 1
        if self.nodes > MAX_INLINED_NODES:
            raise bad(node.path, f"With the segments it names, a definition has at most "
                      f"{MAX_INLINED_NODES} conditions.")
        handler: Callable[[Any], str] | None = getattr(self, f"_{type(node).__name__}", None)
        if isinstance(node, All | AnyOf):
            joiner = " AND " if isinstance(node, All) else " OR "
            return "(" + joiner.join(self.node(i, inlining) for i in node.items) + ")"
        if isinstance(node, Not):
            return f"NOT ({self.node(node.item, inlining)})"
        if isinstance(node, SegmentRef):
            if node.segment_id in inlining:
                raise bad(node.path, "Segments may not name each other in a cycle.")
            target = self.c.definitions.get(node.segment_id)
            if target is None:
                raise bad(node.path, f"No segment {node.segment_id}.")
            return self.node(target, (*inlining, node.segment_id))
        assert handler is not None, type(node)
        return handler(node)

    def _compare(self, expression: str, compare: Comparison) -> str:
        parts = [f"{expression} {COMPARISONS[op]} {self.p.add(value)}" for op, value in compare]
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def _since(self, column: str, within: Any) -> str:
        return "" if within is None else f" AND {column} >= {self.p.add(self.c.now - within)}"

    def _property(self, alias: str, pairs: tuple[tuple[str, Any], ...]) -> str:
        if not pairs:
            return ""
        if self.c.pg:
            return f" AND {alias}.properties @> {self.p.add(json.dumps(dict(pairs)))}::jsonb"
        return "".join(f" AND json_extract({alias}.properties, '$.{key}') = {self.p.add(value)}"
                       for key, value in pairs)

    def _Tier(self, node: Tier) -> str:
        wanted = {n.strip().casefold() for n in node.names}
        ids = [t.id for t in self.c.tiers if t.name.casefold() in wanted]
        if not ids:
            return "1 = 0"
        marks = ", ".join(self.p.add(i) for i in ids)
        sql = ("EXISTS (SELECT 1 FROM customer_tier ct WHERE ct.customer_id = c.id "
               f"AND ct.tier_id IN ({marks}))")
        base = qualifying(self.c.tiers, 0)
        if base is not None and base.id in ids:
            # No tier yet reads as the tier of threshold 0 (loyalty.programme.tiers.tier_of).
            sql = (f"({sql} OR NOT EXISTS (SELECT 1 FROM customer_tier ct "
                   "WHERE ct.customer_id = c.id AND ct.tier_id IS NOT NULL))")
        return sql

    def _Rfm(self, node: Rfm) -> str:
        marks = ", ".join(self.p.add(s) for s in node.segments)
        return ("EXISTS (SELECT 1 FROM customer_score s WHERE s.customer_id = c.id "
                f"AND s.rfm_segment IN ({marks}))")

    def _Engagement(self, node: Engagement) -> str:
        marks = ", ".join(self.p.add(q) for q in node.quadrants)
        return ("COALESCE((SELECT s.engagement FROM customer_score s WHERE s.customer_id = c.id), "
                f"'C') IN ({marks})")

    def _Channels(self, node: Channels) -> str:
        return self._compare(CHANNEL_COUNT_SQL, node.compare)

    def _Purchases(self, node: Purchases) -> str:
        where = "p.customer_id = c.id" + self._since("p.occurred_at", node.within)
        if node.channel is not None:
            where += f" AND p.channel = {self.p.add(node.channel)}"
        if node.compare == (("gte", 1),):
            return f"EXISTS (SELECT 1 FROM purchase p WHERE {where})"
        return self._compare(f"(SELECT COUNT(*) FROM purchase p WHERE {where})", node.compare)

    def _Spend(self, node: Spend) -> str:
        where = "p.customer_id = c.id" + self._since("p.occurred_at", node.within)
        return self._compare(
            f"(SELECT COALESCE(SUM(p.total_minor - p.refunded_minor), 0) FROM purchase p "
            f"WHERE {where})", node.compare)

    def _Event(self, node: Event) -> str:
        where = (f"e.customer_id = c.id AND e.name = {self.p.add(node.name)}"
                 + self._since("e.occurred_at", node.within) + self._property("e", node.where))
        if node.compare == (("gte", 1),):
            return f"EXISTS (SELECT 1 FROM customer_event e WHERE {where})"
        return self._compare(f"(SELECT COUNT(*) FROM customer_event e WHERE {where})",
                             node.compare)

    def _Visited(self, node: Visited) -> str:
        store = () if node.store_id is None else (("storeId", str(node.store_id)),)
        checkin = ("EXISTS (SELECT 1 FROM customer_event e WHERE e.customer_id = c.id "
                   f"AND e.name = 'checkin'{self._since('e.occurred_at', node.within)}"
                   f"{self._property('e', store)})")
        in_store = ("EXISTS (SELECT 1 FROM purchase p WHERE p.customer_id = c.id "
                    f"AND p.channel = 'STORE'{self._since('p.occurred_at', node.within)}")
        if node.store_id is not None:
            in_store += f" AND p.store_id = {self.p.add(node.store_id)}"
        return f"({checkin} OR {in_store}))"

    def _LastPurchase(self, node: LastPurchase) -> str:
        if node.within is not None:
            return ("EXISTS (SELECT 1 FROM purchase p WHERE p.customer_id = c.id"
                    f"{self._since('p.occurred_at', node.within)})")
        return ("(EXISTS (SELECT 1 FROM purchase p WHERE p.customer_id = c.id) AND NOT EXISTS "
                "(SELECT 1 FROM purchase p WHERE p.customer_id = c.id"
                f"{self._since('p.occurred_at', node.older_than)}))")

    def _Points(self, node: Points) -> str:
        return self._compare(
            "COALESCE((SELECT a.available FROM account a WHERE a.customer_id = c.id), 0)",
            node.compare)

    def _MarketingOptIn(self, node: MarketingOptIn) -> str:
        return f"c.marketing_opt_in = {self.p.add(node.value)}"
