"""Customer lifetime value: a customer's purchases summarised as the models'
(x, t_x, T, m), and the 12-month forecast (purchases, P(alive), spend and
discounted margin) from a fit on the whole population.

The models, BG/NBD for purchase counts and Gamma-Gamma for spend, with their
references and likelihoods, are audience/clv_models.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from audience.clv_models import (
    BgNbdParams,
    GammaGammaParams,
    expected_purchases,
    expected_spend,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)

Unit = Literal["weeks", "days"]
DAYS_PER_UNIT: dict[str, float] = {"weeks": 7.0, "days": 1.0}
# A month as a twelfth of the mean Gregorian year, to turn months into units.
DAYS_PER_MONTH = 365.2425 / 12


@dataclass(frozen=True)
class PurchaseSummary:
    """One customer's (x, t_x, T, m) in the model's unit.

    frequency: repeat purchase days (x); recency: time from first to last
    purchase day (t_x); age: time from first purchase day to the end of
    observation (T); monetary_minor: mean spend of the repeat days (0 if x = 0).
    """

    frequency: int
    recency: float
    age: float
    monetary_minor: float


def summarise_purchases(purchases: Sequence[tuple[datetime, int]], observed_until: datetime,
                        unit: Unit = "weeks") -> PurchaseSummary | None:
    """(x, t_x, T, m) from one customer's (timestamp, amount in minor units) list.

    Purchases on the same UTC calendar day count as one transaction with
    their amounts added: two receipts minutes apart are one visit, and the
    Poisson process of the model counts visits, not receipts. Times are whole
    days divided by the unit, so t_x <= T always. Purchases after
    `observed_until` are ignored (a calibration/hold-out split is one call
    each). None when the customer had bought nothing by then.
    """
    end = _utc_date(observed_until)
    by_day: dict[date, int] = {}
    for at, amount in purchases:
        day = _utc_date(at)
        if at <= observed_until:
            by_day[day] = by_day.get(day, 0) + amount
    if not by_day:
        return None
    days = sorted(by_day)
    per_unit = DAYS_PER_UNIT[unit]
    repeats = [by_day[d] for d in days[1:]]
    return PurchaseSummary(
        frequency=len(repeats),
        recency=(days[-1] - days[0]).days / per_unit,
        age=(end - days[0]).days / per_unit,
        monetary_minor=sum(repeats) / len(repeats) if repeats else 0.0,
    )


def _utc_date(at: datetime) -> date:
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return at.astimezone(UTC).date()


# ---- 12-month value ----------------------------------------------------------

# Below these the population fit is not trusted and no prediction is made.
# Judgement calls from simulations with the CDNOW parameters (100 seeds each,
# 26 to 78 weeks of history): with 500 buyers the predicted total of the next
# year is within -15%/+14% of what happens (10th/90th percentiles; +-10% with
# 1,000, -20%/+29% with 200) and no fit ran off to a common drop-out
# probability (a, b -> infinity; 3 in 100 did with 200 buyers). With 100
# repeat buyers the Gamma-Gamma mean spend is within +-10% (+-22% with 20).
MIN_CUSTOMERS = 500
MIN_REPEAT_BUYERS = 100


@dataclass(frozen=True)
class ValueModel:
    purchases: BgNbdParams
    spend: GammaGammaParams
    unit: Unit
    customers: int
    repeat_buyers: int


@dataclass(frozen=True)
class TwelveMonthForecast:
    expected_purchases: float       # repeat purchases in the next 12 months
    probability_alive: float
    expected_spend_minor: float     # per purchase, Gamma-Gamma's E[M | m, x]
    predicted_margin_minor: int     # discounted margin over the 12 months


def fit_value_model(summaries: Sequence[PurchaseSummary],
                    unit: Unit = "weeks") -> ValueModel | None:
    """Fit both models on a population; None when there is not enough history.

    Not enough: fewer than MIN_CUSTOMERS buyers, fewer than MIN_REPEAT_BUYERS
    repeat buyers, a fit that fails, or a spend fit with q <= 1 (no finite
    mean spend to fall back on for customers without repeat purchases).
    `summaries` must all be in `unit`.
    """
    repeat = [s for s in summaries if s.frequency > 0 and s.monetary_minor > 0]
    if len(summaries) < MIN_CUSTOMERS or len(repeat) < MIN_REPEAT_BUYERS:
        return None
    try:
        purchases = fit_bgnbd([s.frequency for s in summaries], [s.recency for s in summaries],
                              [s.age for s in summaries])
        spend = fit_gamma_gamma([s.frequency for s in repeat],
                                [s.monetary_minor for s in repeat])
    except ValueError:
        return None
    if spend.q <= 1:
        return None
    return ValueModel(purchases, spend, unit, len(summaries), len(repeat))


def predict_12_months(model: ValueModel | None, summary: PurchaseSummary | None, *,
                      margin_rate: float, monthly_discount_rate: float = 0.01,
                      ) -> TwelveMonthForecast | None:
    """Expected purchases, P(alive), spend and discounted margin over 12 months.

        margin = sum over months k = 1..12 of
                 margin_rate * E[M] * (E[Y(k)] - E[Y(k - 1)]) / (1 + d)^k

    E[Y(k)] is BG/NBD's expected purchases in the first k months after the
    end of observation; E[M] the Gamma-Gamma conditional mean spend, which for
    a customer without repeat purchases is the population mean. Spend and
    purchase count are independent in Gamma-Gamma, so their product is the
    expected revenue. `margin_rate` turns revenue into contribution margin
    (0.3 keeps 30% of the till total); `monthly_discount_rate` d discounts each
    month's margin at its end (0.01 a month is about 12.7% a year). A month is
    a twelfth of a year (DAYS_PER_MONTH). None when there is no model (not
    enough history, see fit_value_model) or the customer never bought.
    """
    if model is None or summary is None:
        return None
    if not 0 <= margin_rate <= 1 or monthly_discount_rate <= -1:
        raise ValueError("margin_rate must be in [0, 1] and monthly_discount_rate > -1")
    x, t_x, T = [summary.frequency], [summary.recency], [summary.age]
    month = DAYS_PER_MONTH / DAYS_PER_UNIT[model.unit]
    cumulative = [0.0] + [float(expected_purchases(model.purchases, k * month, x, t_x, T)[0])
                          for k in range(1, 13)]
    spend = float(expected_spend(model.spend, x, [summary.monetary_minor])[0])
    margin = sum(margin_rate * spend * (cumulative[k] - cumulative[k - 1])
                 / (1 + monthly_discount_rate) ** k for k in range(1, 13))
    return TwelveMonthForecast(
        expected_purchases=cumulative[12],
        probability_alive=float(probability_alive(model.purchases, x, t_x, T)[0]),
        expected_spend_minor=spend,
        predicted_margin_minor=round(margin),
    )
