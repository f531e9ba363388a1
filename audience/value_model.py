"""The lifetime-value prediction's model: fitted on the whole programme's
purchases (audience/clv_models.py: BG/NBD for how often, Gamma-Gamma for how much),
stored as a row of `value_model_fit`, and applied to each customer when the
360 view reads their lifetime value.

Fitted with the scores (`audience.jobs.recompute_now`: the worker every
LOYALTY_SCORES_INTERVAL_SECONDS, and the admin's `recomputeScores`), in a
thread so that the event loop keeps serving. A programme with too little
history (clv.MIN_CUSTOMERS buyers, clv.MIN_REPEAT_BUYERS repeat buyers) gets
a row without parameters: predictions are then null and say why.

The customers' (x, t_x, T, m) are computed in SQL, one row per customer
(their purchase days grouped first), so that the fit reads one row per
buyer, not one per purchase; `summaries_of` is checked against
clv.summarise_purchases by a test.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

import orjson
from tortoise import connections

from audience import clv, clv_models
from audience.config import audience_settings
from loyalty.platform.sql import as_datetime, execute, fetch, fetchrow, is_pg, placeholders

UNIT: clv.Unit = "weeks"
log = logging.getLogger(__name__)


class PredictionStatus(StrEnum):
    PREDICTED = "PREDICTED"
    NOT_FITTED = "NOT_FITTED"  # no fit yet (the worker's first scoring is to come)
    NOT_ENOUGH_HISTORY = "NOT_ENOUGH_HISTORY"  # the programme's, at the last fit
    NO_PURCHASES = "NO_PURCHASES"  # the customer's: nothing bought yet


@dataclass(frozen=True)
class StoredModel:
    fitted_at: datetime
    customers: int
    repeat_buyers: int
    model: clv.ValueModel | None  # None: too little history at fitted_at


def _day_sql(pg: bool) -> str:
    return ("to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if pg
            else "substr(occurred_at, 1, 10)")


# Per customer: first and last purchase day, how many days, spend in all and
# on the first day (which the repeat purchases' mean leaves out).
_SUMMARIES = """WITH days AS (
  SELECT customer_id, {day} AS day, SUM(total_minor - refunded_minor) AS spend
  FROM purchase WHERE currency = $1 AND occurred_at <= $2 {only} GROUP BY customer_id, {day}),
per AS (
  SELECT customer_id, MIN(day) AS first_day, MAX(day) AS last_day, COUNT(*) AS n,
         SUM(spend) AS total FROM days GROUP BY customer_id)
SELECT p.customer_id, p.first_day, p.last_day, p.n, p.total, d.spend
FROM per p JOIN days d ON d.customer_id = p.customer_id AND d.day = p.first_day
ORDER BY p.customer_id"""


async def summaries_of(now: datetime, customer_ids: list[int] | None = None
                       ) -> dict[int, clv.PurchaseSummary]:
    """Each buyer's (x, t_x, T, m) as of `now`, as clv.summarise_purchases
    computes it (purchases on one UTC day are one transaction); only
    `customer_ids` when given."""
    conn = connections.get("default")
    pg = is_pg(conn)
    args: list[object] = [audience_settings().currency, now]
    only = ""
    if customer_ids is not None:
        if not customer_ids:
            return {}
        marks = placeholders(len(customer_ids), 3)
        only = f"AND customer_id IN ({marks})"
        args += customer_ids
    day = _day_sql(pg)
    rows = await fetch(conn, _SUMMARIES.format(day=day, only=only), *args)
    end = now.astimezone(UTC).date()
    per_unit = clv.DAYS_PER_UNIT[UNIT]
    found = {}
    for customer_id, first, last, n, total, first_spend in rows:
        first_day, last_day = date.fromisoformat(str(first)), date.fromisoformat(str(last))
        repeats = int(n) - 1
        found[int(customer_id)] = clv.PurchaseSummary(
            frequency=repeats,
            recency=(last_day - first_day).days / per_unit,
            age=(end - first_day).days / per_unit,
            monetary_minor=(int(total) - int(first_spend)) / repeats if repeats else 0.0,
        )
    return found


def _params(model: clv.ValueModel) -> dict[str, float]:
    b, s = model.purchases, model.spend
    return {"r": b.r, "alpha": b.alpha, "a": b.a, "b": b.b, "p": s.p, "q": s.q,
            "gamma": s.gamma}


async def fit(now: datetime | None = None) -> StoredModel:
    """Fit both models on every buyer's history and store the result (a row
    without parameters when there is too little history)."""
    now = now or datetime.now(UTC)
    summaries = list((await summaries_of(now)).values())
    try:
        model = await asyncio.to_thread(clv.fit_value_model, summaries, UNIT)
    except Exception:  # noqa: BLE001 - a fit that breaks is stored as no model, not a crash
        log.exception("the lifetime-value model could not be fitted")
        model = None
    repeat = sum(1 for s in summaries if s.frequency > 0 and s.monetary_minor > 0)
    await execute(
        connections.get("default"),
        "INSERT INTO value_model_fit (fitted_at, customers, repeat_buyers, unit, params) "
        "VALUES ($1, $2, $3, $4, $5)",
        now, len(summaries), repeat, UNIT,
        None if model is None else orjson.dumps(_params(model)).decode())
    return StoredModel(now, len(summaries), repeat, model)


async def latest() -> StoredModel | None:
    """The newest fit, or None before the first."""
    row = await fetchrow(
        connections.get("default"),
        "SELECT fitted_at, customers, repeat_buyers, unit, params FROM value_model_fit "
        "ORDER BY fitted_at DESC, id DESC LIMIT 1")
    if row is None:
        return None
    fitted_at, customers, repeat, unit, params = row
    model = None
    if params is not None:
        p = orjson.loads(params) if isinstance(params, str | bytes) else params
        model = clv.ValueModel(
            purchases=clv_models.BgNbdParams(p["r"], p["alpha"], p["a"], p["b"]),
            spend=clv_models.GammaGammaParams(p["p"], p["q"], p["gamma"]),
            unit=unit, customers=int(customers), repeat_buyers=int(repeat))
    return StoredModel(as_datetime(fitted_at), int(customers), int(repeat), model)


async def prune(keep: int = 30) -> int:
    """Forget all but the newest `keep` fits (kept to compare them)."""
    conn = connections.get("default")
    row = await fetchrow(conn, "SELECT id FROM value_model_fit ORDER BY id DESC LIMIT 1 "
                               f"OFFSET {int(keep)}")
    if row is None:
        return 0
    return await execute(conn, "DELETE FROM value_model_fit WHERE id <= $1", row[0])
