"""What a customer is worth, and what the points owed are worth (docs/adr/0012).

Lifetime value, in minor units of LOYALTY_CURRENCY (purchases in another
currency are left out):

- historical margin: net spend (total less refunds) times LOYALTY_MARGIN_RATE,
  less the discounts given (offers and reward coupons applied at the till);
- acquisition cost: what the customer's source (and campaign) cost in the
  month they signed up (`recordAcquisitionCost`), shared equally by the
  customers it brought that month; a cost recorded for the source as a whole
  (no campaign) is shared by all its customers of the month;
- retention cost: points issued (net of refunds) at LOYALTY_POINT_COST_MINOR
  each, plus messages sent at their channel's cost (LOYALTY_MESSAGE_COSTS: a
  pushed notification is PUSH, an inbox-only one INBOX);
- the 12-month prediction: BG/NBD and Gamma-Gamma (audience/clv.py), with
  the programme's newest fit (audience/value_model.py) applied to the
  customer's purchase days as of now, at LOYALTY_MARGIN_RATE; null, with the
  reason in `status`, before a fit, when the programme had too little history
  at the last fit, or when the customer has bought nothing.

`lifetime_values` reads a page of customers in two statements;
`value_by_channel_count` computes the same figures for every customer in
one set-based statement (a test keeps the two equal).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tortoise import connections

from audience import clv, value_model
from audience.config import audience_settings
from audience.profiles import ProfileRow
from audience.segment_sql import CHANNEL_COUNT_SQL
from audience.value_model import PredictionStatus
from loyalty.errors import DomainError, ErrorCode, invalid
from loyalty.money import parse_money
from loyalty.platform.db import transaction
from loyalty.platform.sql import execute, fetch, fetchrow, is_pg, placeholders

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Prediction:
    predicted_12_months_minor: int | None
    expected_purchases_12_months: float | None
    probability_alive: float | None
    status: PredictionStatus = PredictionStatus.NOT_FITTED


NO_PREDICTION = Prediction(None, None, None)


@dataclass(frozen=True)
class LifetimeValueView:
    currency: str
    historical_margin_minor: int
    acquisition_cost_minor: int
    retention_cost_minor: int
    prediction: Prediction


def _minor(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first instant of a YYYY-MM month (UTC) and of the next."""
    year, mon = int(month[:4]), int(month[5:7])
    return (datetime(year, mon, 1, tzinfo=UTC),
            datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC))


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


_PER_CUSTOMER = (
    "SELECT c.id, "
    "(SELECT COALESCE(SUM(p.total_minor - p.refunded_minor), 0) FROM purchase p "
    " WHERE p.customer_id = c.id AND p.currency = $1), "
    "(SELECT COALESCE(SUM(ab.discount_minor), 0) FROM applied_benefit ab "
    " JOIN ledger_transaction t ON t.id = ab.transaction_id WHERE t.customer_id = c.id), "
    "(SELECT COALESCE(SUM(t.points), 0) FROM ledger_transaction t WHERE t.customer_id = c.id "
    " AND t.kind IN ('EARN', 'BONUS', 'REFUND')), "
    "(SELECT COUNT(*) FROM notification n WHERE n.customer_id = c.id AND n.status = 'sent'), "
    "(SELECT COUNT(*) FROM notification n WHERE n.customer_id = c.id AND n.status = 'inbox') "
    "FROM customer c WHERE c.id IN ({marks})"
)


async def _cohort_costs(rows: list[ProfileRow]) -> dict[int, Decimal]:
    """Each customer's share of their source's and campaign's cost for their
    sign-up month: one statement for all the cohorts of `rows`."""
    cohorts = sorted({(r.acquisition_source, r.acquisition_campaign or "",
                       month_of(r.created_at)) for r in rows if r.acquisition_source})
    if not cohorts:
        return {}
    parts: list[str] = []
    args: list[Any] = []
    for source, campaign, month in cohorts:
        start, end = month_bounds(month)
        n = len(args)
        # The source's customers of the month, then those of the campaign too;
        # the source's cost, then the campaign's.
        parts.append(
            f"SELECT ${n + 1}, ${n + 2}, ${n + 3}, "
            f"(SELECT COUNT(*) FROM customer x WHERE x.acquisition_source = ${n + 4} "
            f"AND x.created_at >= ${n + 5} AND x.created_at < ${n + 6}), "
            f"(SELECT COUNT(*) FROM customer x WHERE x.acquisition_source = ${n + 7} "
            f"AND x.created_at >= ${n + 8} AND x.created_at < ${n + 9} "
            f"AND COALESCE(x.acquisition_campaign, '') = ${n + 10}), "
            f"(SELECT amount_minor FROM acquisition_cost WHERE source = ${n + 11} "
            f"AND campaign = '' AND month = ${n + 12}), "
            f"(SELECT amount_minor FROM acquisition_cost WHERE source = ${n + 13} "
            f"AND campaign = ${n + 14} AND campaign <> '' AND month = ${n + 15})")
        args += [source, campaign, month, source, start, end, source, start, end, campaign,
                 source, month, source, campaign, month]
    found = await fetch(connections.get("default"), " UNION ALL ".join(parts), *args)
    share: dict[tuple[str, str, str], Decimal] = {}
    for source, campaign, month, of_source, of_campaign, source_cost, campaign_cost in found:
        value = Decimal(0)
        if source_cost and of_source:
            value += Decimal(source_cost) / of_source
        if campaign_cost and of_campaign:
            value += Decimal(campaign_cost) / of_campaign
        share[(source, campaign, month)] = value
    return {r.id: share.get((r.acquisition_source or "", r.acquisition_campaign or "",
                             month_of(r.created_at)), Decimal(0))
            for r in rows if r.acquisition_source}


async def lifetime_values(rows: list[ProfileRow]) -> dict[int, LifetimeValueView]:
    if not rows:
        return {}
    settings = audience_settings()
    marks = placeholders(len(rows), 2)
    found = await fetch(connections.get("default"), _PER_CUSTOMER.format(marks=marks),
                        settings.currency, *[r.id for r in rows])
    acquisition = await _cohort_costs(rows)
    costs = settings.message_cost_minor
    values = {}
    for customer_id, spend, discounts, points, pushed, inbox in found:
        margin = Decimal(spend) * settings.margin_rate - Decimal(discounts)
        retention = (Decimal(max(0, int(points))) * settings.point_cost_minor
                     + pushed * costs["PUSH"] + inbox * costs["INBOX"])
        values[int(customer_id)] = LifetimeValueView(
            settings.currency, _minor(margin), _minor(acquisition.get(int(customer_id),
                                                                      Decimal(0))),
            _minor(retention), NO_PREDICTION)
    return await _predicted(values)


async def _predicted(values: dict[int, LifetimeValueView],
                     now: datetime | None = None) -> dict[int, LifetimeValueView]:
    """Each customer's 12-month prediction under the newest fit: two
    statements for the page (the fit, the customers' purchase days)."""
    now = now or datetime.now(UTC)
    stored = await value_model.latest()
    summaries = {}
    if stored is not None and stored.model is not None:
        summaries = await value_model.summaries_of(now, list(values))
    margin_rate = float(audience_settings().margin_rate)
    out = {}
    for i, view in values.items():
        out[i] = replace(view, prediction=_prediction(stored, summaries.get(i), margin_rate))
    return out


def _prediction(stored: value_model.StoredModel | None, summary: clv.PurchaseSummary | None,
                margin_rate: float) -> Prediction:
    if stored is None:
        return NO_PREDICTION
    if stored.model is None:
        return Prediction(None, None, None, PredictionStatus.NOT_ENOUGH_HISTORY)
    if summary is None:
        return Prediction(None, None, None, PredictionStatus.NO_PURCHASES)
    try:
        forecast = clv.predict_12_months(stored.model, summary, margin_rate=margin_rate)
    except (ValueError, ArithmeticError):  # a degenerate fit: no figure rather than a crash
        log.exception("CLV prediction failed")
        return Prediction(None, None, None, PredictionStatus.NOT_ENOUGH_HISTORY)
    if forecast is None:
        return Prediction(None, None, None, PredictionStatus.NO_PURCHASES)
    return Prediction(forecast.predicted_margin_minor, round(forecast.expected_purchases, 6),
                      round(forecast.probability_alive, 6), PredictionStatus.PREDICTED)


def _month_sql(column: str, pg: bool) -> str:
    return (f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM')" if pg
            else f"substr({column}, 1, 7)")


_BY_CHANNELS = """WITH base AS (
  SELECT c.id, c.acquisition_source AS src, COALESCE(c.acquisition_campaign, '') AS camp,
         {month} AS month, {channels} AS channels
  FROM customer c),
spend AS (
  SELECT customer_id, SUM(total_minor - refunded_minor) AS s FROM purchase
  WHERE currency = $1 GROUP BY customer_id),
disc AS (
  SELECT t.customer_id, SUM(ab.discount_minor) AS d FROM applied_benefit ab
  JOIN ledger_transaction t ON t.id = ab.transaction_id GROUP BY t.customer_id),
pts AS (
  SELECT customer_id, SUM(points) AS n FROM ledger_transaction
  WHERE kind IN ('EARN', 'BONUS', 'REFUND') GROUP BY customer_id),
msgs AS (
  SELECT customer_id, SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) AS pushed,
         SUM(CASE WHEN status = 'inbox' THEN 1 ELSE 0 END) AS inbox
  FROM notification GROUP BY customer_id),
of_source AS (
  SELECT src, month, COUNT(*) AS n FROM base WHERE src IS NOT NULL GROUP BY src, month),
of_campaign AS (
  SELECT src, camp, month, COUNT(*) AS n FROM base WHERE src IS NOT NULL
  GROUP BY src, camp, month),
acq AS (
  SELECT b.id,
    COALESCE((SELECT a.amount_minor * 1.0 / o.n FROM acquisition_cost a JOIN of_source o
              ON o.src = a.source AND o.month = a.month
              WHERE a.source = b.src AND a.campaign = '' AND a.month = b.month), 0)
  + COALESCE((SELECT a.amount_minor * 1.0 / o.n FROM acquisition_cost a JOIN of_campaign o
              ON o.src = a.source AND o.camp = a.campaign AND o.month = a.month
              WHERE a.source = b.src AND a.campaign = b.camp AND a.campaign <> ''
              AND a.month = b.month), 0) AS cost
  FROM base b WHERE b.src IS NOT NULL),
value AS (
  SELECT b.channels,
    ROUND(COALESCE(s.s, 0) * $2 - COALESCE(d.d, 0)) - ROUND(COALESCE(q.cost, 0))
    - ROUND(CASE WHEN COALESCE(p.n, 0) > 0 THEN p.n ELSE 0 END * $3
            + COALESCE(m.pushed, 0) * $4 + COALESCE(m.inbox, 0) * $5) AS ltv
  FROM base b LEFT JOIN spend s ON s.customer_id = b.id LEFT JOIN disc d ON d.customer_id = b.id
  LEFT JOIN pts p ON p.customer_id = b.id LEFT JOIN msgs m ON m.customer_id = b.id
  LEFT JOIN acq q ON q.id = b.id)
SELECT channels, COUNT(*), SUM(ltv) FROM value GROUP BY channels ORDER BY channels"""


async def value_by_channel_count() -> list[tuple[int, int, int]]:
    """(channels used, customers, average lifetime value in minor units):
    are customers on three channels worth more than those on one? Lifetime
    value here is margin less acquisition and retention costs."""
    settings = audience_settings()
    conn = connections.get("default")
    pg = is_pg(conn)
    statement = _BY_CHANNELS.format(month=_month_sql("c.created_at", pg),
                                    channels=CHANNEL_COUNT_SQL)
    costs = settings.message_cost_minor
    numbers: list[Any] = [settings.margin_rate, settings.point_cost_minor, costs["PUSH"],
                          costs["INBOX"]]
    if not pg:
        numbers = [float(n) for n in numbers]
    rows = await fetch(conn, statement, settings.currency, *numbers)
    return [(int(r[0]), int(r[1]), _minor(Decimal(str(r[2])) / int(r[1])) if r[1] else 0)
            for r in rows]


def net_value(view: LifetimeValueView) -> int:
    """Margin less acquisition and retention costs: the figure averaged by
    lifetimeValueByChannelCount."""
    return (view.historical_margin_minor - view.acquisition_cost_minor
            - view.retention_cost_minor)


async def record_acquisition_cost(*, source: str, campaign: str | None, month: str,
                                  amount_minor: int, currency: str, staff_id: int | None,
                                  now: datetime | None = None) -> None:
    """Set (not add to) what `source` (and `campaign`) cost in `month` (YYYY-MM)."""
    settings = audience_settings()
    source = source.strip() if isinstance(source, str) else ""
    if not 1 <= len(source) <= 100:
        raise invalid("source must be 1 to 100 characters.", "source")
    campaign = (campaign or "").strip()
    if len(campaign) > 100:
        raise invalid("campaign must be at most 100 characters.", "campaign")
    try:
        if len(month) != 7 or month[4] != "-":
            raise ValueError(month)
        month_bounds(month)
    except (ValueError, IndexError):
        raise invalid("month must be YYYY-MM.", "month") from None
    money = parse_money(amount_minor, currency, "amount", allow_zero=True)
    if money.currency != settings.currency:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"Costs are recorded in the programme's currency, "
                          f"{settings.currency}.", "amount.currency")
    now = now or datetime.now(UTC)
    async with transaction() as conn:
        await execute(
            conn,
            "INSERT INTO acquisition_cost (source, campaign, month, amount_minor, currency, "
            "recorded_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (source, campaign, month) DO UPDATE SET "
            "amount_minor = excluded.amount_minor, currency = excluded.currency, "
            "recorded_by = excluded.recorded_by, updated_at = excluded.updated_at",
            source, campaign, month, money.amount_minor, money.currency, staff_id, now,
        )


@dataclass(frozen=True)
class Liability:
    outstanding_points: int
    pending_points: int
    value_minor: int
    currency: str
    breakage_rate: float


async def points_liability() -> Liability:
    """Points owed (available on positive balances, and pending), their value
    at the programme's cost per point, and breakage: the share of points
    issued that expired unspent."""
    settings = audience_settings()
    conn = connections.get("default")
    owed = await fetchrow(
        conn,
        "SELECT COALESCE(SUM(CASE WHEN available > 0 THEN available ELSE 0 END), 0), "
        "COALESCE(SUM(pending), 0) FROM account WHERE kind = 'customer'")
    flows = await fetchrow(
        conn,
        "SELECT COALESCE(SUM(CASE WHEN kind IN ('EARN', 'BONUS') THEN points ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN kind = 'EXPIRE' THEN -points ELSE 0 END), 0) "
        "FROM ledger_transaction")
    outstanding, pending = (int(owed[0]), int(owed[1])) if owed else (0, 0)
    issued, expired = (int(flows[0]), int(flows[1])) if flows else (0, 0)
    return Liability(
        outstanding_points=outstanding,
        pending_points=pending,
        value_minor=_minor(Decimal(outstanding + pending) * settings.point_cost_minor),
        currency=settings.currency,
        breakage_rate=round(expired / issued, 6) if issued > 0 else 0.0,
    )
