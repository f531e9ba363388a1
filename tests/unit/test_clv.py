"""BG/NBD and Gamma-Gamma: hand-worked values, parameter recovery from
simulation, hold-out predictions, monotonicity, and the 12-month forecast."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from scipy import integrate, special
from scipy.optimize import approx_fprime

from audience.clv import (
    DAYS_PER_MONTH,
    MIN_CUSTOMERS,
    PurchaseSummary,
    fit_value_model,
    predict_12_months,
    summarise_purchases,
)
from audience.clv_models import (
    BgNbdParams,
    GammaGammaParams,
    _bgnbd_ll_and_grad,
    _gg_ll_and_grad,
    bgnbd_log_likelihood,
    expected_purchases,
    expected_purchases_new,
    expected_spend,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    probability_alive,
)

# CDNOW estimates: BG/NBD from FHL 2005a, Gamma-Gamma from FHL 2005b (dollars).
CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
SPEND = GammaGammaParams(p=6.25, q=3.74, gamma=15.44 * 100)  # in cents
HOLDOUT_WEEKS = 52.0


@dataclass
class Population:
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    holdout: np.ndarray      # purchases in (T, T + HOLDOUT_WEEKS]
    m: np.ndarray            # mean repeat spend in cents (0 when x = 0)


def simulate(seed: int, n: int, truth: BgNbdParams, spend: GammaGammaParams) -> Population:
    """Draw customers from the two models (time 0 = first purchase, weeks).

    Each customer buys at rate lambda ~ Gamma(r, alpha) and, after each repeat
    purchase, drops out with probability p ~ Beta(a, b): the same story as
    the likelihood, simulated event by event and vectorised over customers.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(truth.r, 1 / truth.alpha, n)
    drop = rng.beta(truth.a, truth.b, n)
    T = rng.uniform(26, 78, n)
    end = T + HOLDOUT_WEEKS
    now, x, t_x, hold = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    live = np.arange(n)
    while live.size:
        now[live] += rng.exponential(1 / lam[live])
        live = live[now[live] <= end[live]]
        cal = now[live] <= T[live]
        x[live[cal]] += 1
        t_x[live[cal]] = now[live[cal]]
        hold[live[~cal]] += 1
        live = live[rng.random(live.size) >= drop[live]]
    # The sum of x Gamma(p, nu) spends is Gamma(p x, nu); rounded to whole cents.
    nu = rng.gamma(spend.q, 1 / spend.gamma, n)
    total = rng.gamma(spend.p * np.maximum(x, 1), 1 / nu)
    m = np.where(x > 0, np.round(total / np.maximum(x, 1)), 0.0)
    return Population(x, t_x, T, hold, m)


@pytest.fixture(scope="module")
def population() -> Population:
    return simulate(seed=20240601, n=10_000, truth=CDNOW, spend=SPEND)


# ---- hand-worked values ----------------------------------------------------------

def test_log_likelihood_matches_hand_worked_values():
    # x = 0: L = (alpha / (alpha + T))^r, the NBD zero term; no drop-out possible.
    p = BgNbdParams(r=0.5, alpha=2.0, a=1.5, b=3.0)
    assert bgnbd_log_likelihood(p, [0], [0], [6])[0] == pytest.approx(0.5 * math.log(2 / 8))
    # r = alpha = a = b = 1, x = 1, t_x = 1, T = 3:
    # L = r alpha^r b/(a+b) [(alpha+T)^-(r+1) + a/b (alpha+t_x)^-(r+1)]
    #   = 1/2 [1/16 + 1/4] = 5/32
    ones = BgNbdParams(1, 1, 1, 1)
    assert bgnbd_log_likelihood(ones, [1], [1], [3])[0] == pytest.approx(math.log(5 / 32))
    # Gamma-Gamma, p = 1, q = 2, gamma = 1, one spend of 1:
    # integral of nu e^-nu * nu e^-nu dnu = 2/8 = 1/4.
    gg = GammaGammaParams(1, 2, 1)
    assert gamma_gamma_log_likelihood(gg, [1], [1])[0] == pytest.approx(math.log(1 / 4))


def test_probability_alive_hand_worked_and_one_without_repeat():
    ones = BgNbdParams(1, 1, 1, 1)
    # 1 / (1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) = 1 / (1 + 1 * (4/2)^2) = 1/5
    assert probability_alive(ones, [1], [1], [3])[0] == pytest.approx(0.2)
    assert probability_alive(CDNOW, [0, 0, 0], [0, 0, 0], [0, 10, 500]).tolist() == [1, 1, 1]


def test_expected_purchases_of_a_new_customer_closed_form_and_quadrature():
    # r = alpha = 1, a = 2, b = 1, t = 1: E[X(t)] = E_p[t / (1 + p t)] with p ~ Beta(2, 1)
    # = integral of 2p / (1 + p) over [0, 1] = 2 (1 - ln 2).
    p = BgNbdParams(1, 1, 2, 1)
    assert expected_purchases_new(p, 1.0) == pytest.approx(2 * (1 - math.log(2)))
    # General parameters: E[X(t)] = E_p[(1 - (alpha / (alpha + p t))^r) / p] by quadrature.
    t = 39.0
    density = special.beta(CDNOW.a, CDNOW.b)
    value, _ = integrate.quad(
        lambda q: (1 - (CDNOW.alpha / (CDNOW.alpha + q * t)) ** CDNOW.r) / q
        * q ** (CDNOW.a - 1) * (1 - q) ** (CDNOW.b - 1) / density, 0, 1)
    assert expected_purchases_new(CDNOW, t) == pytest.approx(value, rel=1e-7)
    # A customer just acquired (x = 0, T = 0) is the unconditional case.
    assert expected_purchases(CDNOW, t, [0], [0], [0])[0] == pytest.approx(value, rel=1e-7)


def test_euler_transformed_expectation_equals_the_papers_form():
    x, t_x, T, t = np.array([0, 1, 3, 12.0]), np.array([0, 5, 20, 30.0]), 40.0, 26.0
    p = CDNOW
    direct = ((p.a + p.b + x - 1) / (p.a - 1)
              * (1 - ((p.alpha + T) / (p.alpha + T + t)) ** (p.r + x)
                 * special.hyp2f1(p.r + x, p.b + x, p.a + p.b + x - 1, t / (p.alpha + T + t)))
              / (1 + (x > 0) * p.a / (p.b + np.maximum(x, 1) - 1)
                 * ((p.alpha + T) / (p.alpha + t_x)) ** (p.r + x)))
    assert expected_purchases(p, t, x, t_x, [T] * 4) == pytest.approx(direct, rel=1e-9)


def test_huge_a_and_b_reach_the_common_dropout_limit_without_nan():
    # A fit on few customers may send a, b to infinity at a fixed a / (a + b):
    # then p = 1/4 for everyone and, given alive, lambda ~ Gamma(r + x, alpha + T):
    # E[Y(t) | alive] = (1 - ((alpha+T) / (alpha+T+p t))^(r+x)) / p,
    # P(alive) = 1 / (1 + p/(1-p) ((alpha+T) / (alpha+t_x))^(r+x)).
    # scipy's 2F1 overflows there (t = 200 > alpha + T); the series fallback does not.
    limit = BgNbdParams(r=0.24, alpha=4.41, a=3e6, b=9e6)
    p, r, alpha = 0.25, 0.24, 4.41
    x, t_x, T, t = np.array([0, 2, 3.0]), np.array([0, 5, 30.0]), np.array([30, 5, 40.0]), 200.0
    given_alive = (1 - ((alpha + T) / (alpha + T + p * t)) ** (r + x)) / p
    alive = 1 / (1 + (x > 0) * p / (1 - p) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    assert expected_purchases(limit, t, x, t_x, T) == pytest.approx(given_alive * alive, rel=1e-4)
    # a = 1 is a removable singularity of (a + b + x - 1) / (a - 1) * (...).
    near = [expected_purchases(BgNbdParams(0.24, 4.41, a, 2.43), 52, [3], [30], [40])[0]
            for a in (1 - 1e-5, 1.0, 1 + 1e-5)]
    assert near == pytest.approx([near[1]] * 3, rel=1e-4)


def test_gradients_match_finite_differences():
    x, t_x, T = np.array([0, 1, 4, 20.0]), np.array([0, 3, 10, 30.0]), np.array([10, 12, 40, 31.0])
    theta = np.log([0.3, 4.0, 0.8, 2.5])
    analytic = _bgnbd_ll_and_grad(theta, x, t_x, T)[1].sum(axis=1)
    numeric = approx_fprime(theta, lambda th: _bgnbd_ll_and_grad(th, x, t_x, T)[0].sum(), 1e-7)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    m, xs = np.array([12.0, 30.0, 7.5]), np.array([1, 3, 8.0])
    theta = np.log([6.0, 3.5, 15.0])
    analytic = _gg_ll_and_grad(theta, xs, m)[1].sum(axis=1)
    numeric = approx_fprime(theta, lambda th: _gg_ll_and_grad(th, xs, m)[0].sum(), 1e-7)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-6)


# ---- monotonicity ----------------------------------------------------------------

def test_longer_silence_lowers_p_alive_and_expected_purchases():
    T = np.arange(20.0, 80.0, 5.0)
    alive = probability_alive(CDNOW, [4] * T.size, [20] * T.size, T)
    future = expected_purchases(CDNOW, 26, [4] * T.size, [20] * T.size, T)
    assert np.all(np.diff(alive) < 0) and np.all(np.diff(future) < 0)
    # Even just after a purchase (t_x = T) the BG/NBD customer may have
    # dropped out at that very purchase: P(alive) = 1 / (1 + a / (b + x - 1)).
    assert alive[0] == pytest.approx(1 / (1 + CDNOW.a / (CDNOW.b + 3)))


def test_more_recent_and_more_frequent_buyers_are_worth_more():
    t_x = np.arange(0.0, 40.0, 4.0)
    x = np.ones_like(t_x) * 3
    assert np.all(np.diff(probability_alive(CDNOW, x, t_x, [40] * t_x.size)) > 0)
    xs = np.arange(1.0, 15.0)
    assert np.all(np.diff(expected_purchases(CDNOW, 26, xs, [40] * xs.size, [40] * xs.size)) > 0)
    horizons = [expected_purchases(CDNOW, t, [3], [30], [40])[0] for t in (1, 4, 13, 26, 52)]
    assert horizons == sorted(horizons) and horizons[0] > 0


def test_expected_spend_shrinks_towards_the_population_mean():
    mean = SPEND.population_mean
    assert expected_spend(SPEND, [0], [0])[0] == pytest.approx(mean)
    own = 10_000.0
    spends = expected_spend(SPEND, [1, 2, 5, 20, 200], [own] * 5)
    assert np.all((spends > mean) & (spends < own)) and np.all(np.diff(spends) > 0)
    assert spends[-1] == pytest.approx(own, rel=0.01)


# ---- recovery from simulation ----------------------------------------------------
# 10,000 customers observed 26 to 78 weeks (CDNOW: 2,357 over 27 to 39). The
# tolerances are about three standard deviations of the relative error over
# 40 seeds of this very simulation: r 2.1%, alpha 3.8%, a 8.3%, b 10.3%,
# p 7.6%, q 3.3%, gamma 10.4%, the mean spend 1.2%, the hold-out total 3.1%.
# a and b sit on a ridge (their ratio, the mean drop-out probability, is well
# determined; each alone is not), so they get the wide tolerances; p and gamma
# likewise trade off against each other at a fixed mean spend.

def _rel(fitted: float, true: float) -> float:
    return abs(fitted / true - 1)


def test_bgnbd_recovers_the_cdnow_parameters(population):
    fitted = fit_bgnbd(population.x, population.t_x, population.T)
    assert _rel(fitted.r, CDNOW.r) < 0.08
    assert _rel(fitted.alpha, CDNOW.alpha) < 0.12
    assert _rel(fitted.a, CDNOW.a) < 0.25
    assert _rel(fitted.b, CDNOW.b) < 0.32
    assert _rel(fitted.a / (fitted.a + fitted.b), CDNOW.a / (CDNOW.a + CDNOW.b)) < 0.10


def test_bgnbd_predicts_the_holdout_year(population):
    fitted = fit_bgnbd(population.x, population.t_x, population.T)
    predicted = expected_purchases(fitted, HOLDOUT_WEEKS, population.x, population.t_x,
                                   population.T)
    assert _rel(predicted.sum(), population.holdout.sum()) < 0.10
    # Also per frequency group, where the conditioning on x, t_x does the work.
    for low, high in ((0, 0), (1, 2), (3, 6), (7, 1_000)):
        group = (population.x >= low) & (population.x <= high)
        assert _rel(predicted[group].sum(), population.holdout[group].sum()) < 0.15


def test_gamma_gamma_recovers_the_cdnow_parameters(population):
    fitted = fit_gamma_gamma(population.x, population.m)
    assert _rel(fitted.p, SPEND.p) < 0.25
    assert _rel(fitted.q, SPEND.q) < 0.10
    assert _rel(fitted.gamma, SPEND.gamma) < 0.32
    assert _rel(fitted.population_mean, SPEND.population_mean) < 0.04


def test_fit_is_the_same_in_days_with_alpha_times_seven(population):
    weeks = fit_bgnbd(population.x, population.t_x, population.T)
    days = fit_bgnbd(population.x, population.t_x * 7, population.T * 7)
    assert days.alpha == pytest.approx(weeks.alpha * 7, rel=1e-3)
    assert (days.r, days.a, days.b) == pytest.approx((weeks.r, weeks.a, weeks.b), rel=1e-3)


def test_fit_rejects_impossible_rows():
    with pytest.raises(ValueError):
        fit_bgnbd([1], [5], [3])                # last purchase after the end
    with pytest.raises(ValueError):
        fit_bgnbd([], [], [])
    with pytest.raises(ValueError):
        fit_gamma_gamma([0, 0], [0, 0])


# ---- data preparation ------------------------------------------------------------

def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)


def test_summary_merges_same_day_receipts_and_drops_the_first_purchase_from_spend():
    purchases = [(_at(0), 1_000), (_at(14, 9), 2_000), (_at(14, 18), 500), (_at(28), 3_500),
                 (_at(60), 9_999)]      # after the end: ignored
    summary = summarise_purchases(purchases, observed_until=_at(42))
    assert summary == PurchaseSummary(frequency=2, recency=4.0, age=6.0, monetary_minor=3_000)
    in_days = summarise_purchases(purchases, observed_until=_at(42), unit="days")
    assert in_days == PurchaseSummary(frequency=2, recency=28.0, age=42.0, monetary_minor=3_000)


def test_summary_days_are_utc_days_and_naive_times_are_refused():
    late = datetime(2024, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 UTC Jan 2
    summary = summarise_purchases([(_at(1, 1), 100), (late, 200)], observed_until=_at(7))
    assert summary is not None and summary.frequency == 0 and summary.monetary_minor == 0
    assert summarise_purchases([], observed_until=_at(7)) is None
    assert summarise_purchases([(_at(9), 100)], observed_until=_at(7)) is None
    # The end is a moment, not a day: later the same day is after it.
    assert summarise_purchases([(_at(7, 15), 100)], observed_until=_at(7, 9)) is None
    with pytest.raises(ValueError):
        summarise_purchases([(datetime(2024, 1, 1), 100)], observed_until=_at(7))


# ---- the 12-month forecast -------------------------------------------------------

def _summaries(pop: Population, count: int) -> list[PurchaseSummary]:
    return [PurchaseSummary(int(pop.x[i]), float(pop.t_x[i]), float(pop.T[i]), float(pop.m[i]))
            for i in range(count)]


def test_no_forecast_without_enough_history(population):
    assert fit_value_model(_summaries(population, MIN_CUSTOMERS - 1)) is None
    only_one_timers = [PurchaseSummary(0, 0.0, 30.0, 0.0)] * 5_000
    assert fit_value_model(only_one_timers) is None
    assert predict_12_months(None, PurchaseSummary(2, 10, 20, 500), margin_rate=0.3) is None


def test_forecast_combines_purchases_spend_margin_and_discount(population):
    model = fit_value_model(_summaries(population, MIN_CUSTOMERS))
    assert model is not None
    loyal = PurchaseSummary(frequency=6, recency=30.0, age=32.0, monetary_minor=4_000.0)
    flat = predict_12_months(model, loyal, margin_rate=0.3, monthly_discount_rate=0.0)
    assert flat is not None
    year = 12 * DAYS_PER_MONTH / 7
    purchases = expected_purchases(model.purchases, year, [6], [30], [32])[0]
    assert flat.expected_purchases == pytest.approx(purchases)
    assert flat.predicted_margin_minor == round(0.3 * flat.expected_spend_minor * purchases)
    discounted = predict_12_months(model, loyal, margin_rate=0.3, monthly_discount_rate=0.01)
    assert discounted is not None
    assert flat.predicted_margin_minor * 0.93 < discounted.predicted_margin_minor
    assert discounted.predicted_margin_minor < flat.predicted_margin_minor
    # No repeat purchase: the population's mean spend, and P(alive) = 1.
    newcomer = predict_12_months(model, PurchaseSummary(0, 0.0, 4.0, 0.0), margin_rate=0.3)
    assert newcomer is not None and newcomer.probability_alive == 1.0
    assert newcomer.expected_spend_minor == pytest.approx(model.spend.population_mean)
    # Long silent: worth less than the loyal buyer.
    lapsed = predict_12_months(model, PurchaseSummary(6, 5.0, 70.0, 4_000.0), margin_rate=0.3)
    assert lapsed is not None and lapsed.probability_alive < 0.2
    assert lapsed.predicted_margin_minor < discounted.predicted_margin_minor
