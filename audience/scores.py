"""RFM and ABCD engagement scores, computed set-based in SQL (docs/adr/0012):
one statement scores every customer and upserts `customer_score`; nothing
but counts crosses into Python, whatever the number of customers.

RFM: over the customers who bought in the last LOYALTY_RFM_WINDOW_DAYS, each
of recency (the last purchase), frequency (purchases) and monetary (spend net
of refunds) is cut in quintiles with ntile(5), 5 the best (the most recent).
Equal values share a score: each takes the highest tile any of them reached,
so two customers with the same purchases never differ in frequency. The
(recency, frequency) pair names the segment (RFM_SEGMENT_OF).

ABCD: over the last LOYALTY_ENGAGEMENT_WINDOW_DAYS, a customer "clicks" with
LOYALTY_ENGAGEMENT_MIN_CLICKS opens or clicks (push_opened, email_opened,
email_clicked, sms_clicked events, and inbox messages read) and "buys" with
LOYALTY_ENGAGEMENT_MIN_PURCHASES purchases: A clicks but buys little, B
clicks and buys, C neither (no row reads as C), D buys without clicking.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections

from audience.config import audience_settings
from audience.segment_grammar import RFM_SEGMENTS
from loyalty.errors import invalid
from loyalty.platform.db import transaction
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow, is_pg, placeholders

log = logging.getLogger(__name__)

CLICK_EVENTS = ("push_opened", "email_opened", "email_clicked", "sms_clicked")


def _segment_of(recency: int, frequency: int) -> str:
    """The usual R x F map: champions 5[4-5], loyal [3-4][4-5], potential
    loyalists [4-5][2-3], new 51, promising 41, need attention 33, about to
    sleep 3[1-2], at risk [1-2][3-4], can't lose [1-2]5, hibernating
    [1-2][1-2] but lost at 11."""
    r, f = recency, frequency
    if r == 5 and f >= 4:
        return "CHAMPIONS"
    if r in (3, 4) and f >= 4:
        return "LOYAL"
    if r >= 4 and f in (2, 3):
        return "POTENTIAL_LOYALISTS"
    if r == 5:
        return "NEW"
    if r == 4:
        return "PROMISING"
    if r == 3:
        return "NEED_ATTENTION" if f == 3 else "ABOUT_TO_SLEEP"
    if f == 5:
        return "CANT_LOSE"
    if f >= 3:
        return "AT_RISK"
    return "LOST" if (r, f) == (1, 1) else "HIBERNATING"


def rfm_segment_of() -> dict[tuple[int, int], str]:
    """SEAM for the math library: the 5 x 5 (recency, frequency) -> RfmSegment
    map. When audience/rfm.py lands with `segment_for(recency, frequency)`,
    its map is used (checked to name only RfmSegment values); until then,
    this module's. The scoring itself stays in SQL (ntile over a million
    customers without loading them)."""
    ours = {(r, f): _segment_of(r, f) for r in range(1, 6) for f in range(1, 6)}
    try:
        segment_for = importlib.import_module("audience.rfm").segment_for
        grid = {(r, f): str(segment_for(r, f)) for r in range(1, 6) for f in range(1, 6)}
    except (ImportError, AttributeError):
        return ours
    except Exception:  # noqa: BLE001 - another signature than the seam's: ours, said loudly
        log.exception("audience.rfm.segment_for failed; using audience.scores' map")
        return ours
    if not set(grid.values()) <= set(RFM_SEGMENTS):
        log.error("audience.rfm.segment_for names segments outside RfmSegment; using ours")
        return ours
    return grid


def _segment_case() -> str:
    whens = " ".join(f"WHEN {r * 10 + f} THEN '{name}'"
                     for (r, f), name in sorted(rfm_segment_of().items()))
    return f"CASE s.r * 10 + s.f {whens} END"


_RECOMPUTE = """WITH agg AS (
  SELECT customer_id, MAX(occurred_at) AS last_at, COUNT(*) AS n,
         SUM(total_minor - refunded_minor) AS spend
  FROM purchase WHERE occurred_at >= $1 GROUP BY customer_id),
tiles AS (
  SELECT customer_id, last_at, n, spend,
         ntile(5) OVER (ORDER BY last_at, customer_id) AS r0,
         ntile(5) OVER (ORDER BY n, customer_id) AS f0,
         ntile(5) OVER (ORDER BY spend, customer_id) AS m0
  FROM agg),
scored AS (
  SELECT customer_id, last_at, n, spend,
         MAX(r0) OVER (PARTITION BY last_at) AS r,
         MAX(f0) OVER (PARTITION BY n) AS f,
         MAX(m0) OVER (PARTITION BY spend) AS m
  FROM tiles),
clicks AS (
  SELECT customer_id, COUNT(*) AS k FROM (
    SELECT customer_id FROM customer_event
    WHERE occurred_at >= $2 AND name IN ({clicks}) AND customer_id IS NOT NULL
    UNION ALL SELECT customer_id FROM notification WHERE read_at >= $3) x
  GROUP BY customer_id),
recent AS (
  SELECT customer_id, COUNT(*) AS b FROM purchase WHERE occurred_at >= $4 GROUP BY customer_id),
people AS (
  SELECT customer_id FROM scored UNION SELECT customer_id FROM clicks
  UNION SELECT customer_id FROM recent)
INSERT INTO customer_score (customer_id, recency, frequency, monetary, rfm_segment, purchases,
                            spend_minor, last_purchase_at, clicks, recent_purchases,
                            engagement, computed_at)
SELECT p.customer_id, s.r, s.f, s.m, {segment}, COALESCE(s.n, 0), COALESCE(s.spend, 0),
       s.last_at, COALESCE(k.k, 0), COALESCE(b.b, 0),
       CASE WHEN COALESCE(k.k, 0) >= $5 THEN
              CASE WHEN COALESCE(b.b, 0) >= $6 THEN 'B' ELSE 'A' END
            WHEN COALESCE(b.b, 0) >= $7 THEN 'D' ELSE 'C' END,
       $8
FROM people p LEFT JOIN scored s ON s.customer_id = p.customer_id
LEFT JOIN clicks k ON k.customer_id = p.customer_id
LEFT JOIN recent b ON b.customer_id = p.customer_id
WHERE 1 = 1
ON CONFLICT (customer_id) DO UPDATE SET recency = excluded.recency,
  frequency = excluded.frequency, monetary = excluded.monetary,
  rfm_segment = excluded.rfm_segment, purchases = excluded.purchases,
  spend_minor = excluded.spend_minor, last_purchase_at = excluded.last_purchase_at,
  clicks = excluded.clicks, recent_purchases = excluded.recent_purchases,
  engagement = excluded.engagement, computed_at = excluded.computed_at"""


@dataclass(frozen=True)
class Recomputed:
    computed_at: datetime
    scored: int
    removed: int


async def recompute(now: datetime | None = None, rfm_window_days: int | None = None
                    ) -> Recomputed:
    """Score every customer again, in one transaction: readers see the old
    scores or the new, never a mix. Customers no longer buying or engaged
    lose their row."""
    settings = audience_settings()
    now = now or datetime.now(UTC)
    window = settings.rfm_window_days if rfm_window_days is None else rfm_window_days
    if not 1 <= window <= 3660:
        raise invalid("rfmWindowDays must be 1 to 3660.", "rfmWindowDays")
    since = now - timedelta(days=window)
    engaged_since = now - timedelta(days=settings.engagement_window_days)
    statement = _RECOMPUTE.format(clicks=", ".join(f"'{n}'" for n in CLICK_EVENTS),
                                  segment=_segment_case())
    async with transaction() as conn:
        if is_pg(conn):
            # One recomputation at a time; sorts of a million rows in memory.
            await fetch(conn, "SELECT pg_advisory_xact_lock(hashtext('audience scores'))")
            await execute(conn, "SET LOCAL work_mem = '256MB'")
        await execute(conn, statement, since, engaged_since, engaged_since, engaged_since,
                      settings.engagement_min_clicks, settings.engagement_min_purchases,
                      settings.engagement_min_purchases, now)
        removed = await execute(conn, "DELETE FROM customer_score WHERE computed_at <> $1", now)
        # Counted apart: the upsert's own count does not come back on both databases.
        scored = await fetchrow(conn, "SELECT COUNT(*) FROM customer_score")
    return Recomputed(now, int(scored[0]) if scored else 0, removed)


@dataclass(frozen=True)
class ScoreView:
    recency: int | None
    frequency: int | None
    monetary: int | None
    segment: str | None
    engagement: str | None
    computed_at: datetime


async def scores_of(customer_ids: list[int]) -> dict[int, ScoreView]:
    if not customer_ids:
        return {}
    marks = placeholders(len(customer_ids))
    rows = await fetch(
        connections.get("default"),
        "SELECT customer_id, recency, frequency, monetary, rfm_segment, engagement, computed_at "
        f"FROM customer_score WHERE customer_id IN ({marks})", *customer_ids)
    return {int(r[0]): ScoreView(r[1], r[2], r[3], r[4], r[5], as_datetime(r[6])) for r in rows}


async def last_computed() -> datetime | None:
    row = await fetchrow(connections.get("default"),
                         "SELECT MAX(computed_at) FROM customer_score")
    return None if row is None or row[0] is None else as_datetime(row[0])


async def rfm_grid() -> list[tuple[int, int, int]]:
    """(recency, frequency, customers) for all 25 cells, recency 5 first."""
    rows = await fetch(
        connections.get("default"),
        "SELECT recency, frequency, COUNT(*) FROM customer_score WHERE recency IS NOT NULL "
        "GROUP BY recency, frequency")
    counts = {(int(r[0]), int(r[1])): int(r[2]) for r in rows}
    return [(r, f, counts.get((r, f), 0)) for r in range(5, 0, -1) for f in range(1, 6)]


async def engagement_matrix() -> dict[str, int]:
    """Customers per quadrant; those without a score row count as C."""
    conn = connections.get("default")
    rows = await fetch(conn, "SELECT engagement, COUNT(*) FROM customer_score "
                             "WHERE engagement IN ('A', 'B', 'D') GROUP BY engagement")
    counts: dict[str, Any] = {q: 0 for q in "ABCD"}
    counts.update({r[0]: int(r[1]) for r in rows})
    total = await fetchrow(conn, "SELECT COUNT(*) FROM customer")
    counts["C"] = int(total[0] if total else 0) - counts["A"] - counts["B"] - counts["D"]
    return counts
