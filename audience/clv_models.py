"""BG/NBD for purchase counts, Gamma-Gamma for spend: the two models behind
customer lifetime value (audience/clv.py), fitted by maximum likelihood.

References
----------
* Fader, Hardie & Lee (2005a), "Counting Your Customers the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2). BG/NBD:
  while alive a customer buys as a Poisson process of rate lambda ~ Gamma(r,
  alpha); after each *repeat* purchase they drop out with probability
  p ~ Beta(a, b). Likelihood (their eq. 6) for a customer with x repeat
  purchases, the last at t_x, observed for T since the first purchase:

      L = A1 * A2 * (A3 + [x > 0] * A4)
      ln A1 = lnG(r + x) - lnG(r) + r ln(alpha)
      ln A2 = lnG(a + b) + lnG(b + x) - lnG(b) - lnG(a + b + x)
      ln A3 = -(r + x) ln(alpha + T)
      ln A4 = ln(a) - ln(b + x - 1) - (r + x) ln(alpha + t_x)

  A3 and A4 are added in the log domain (logaddexp): each alone underflows
  for heavy buyers long before their sum matters.
  Conditional expectation (eq. 10) and P(alive) (Fader, Hardie & Lee 2008,
  "Computing P(alive) using the BG/NBD model"):

      E[Y(t) | x, t_x, T] = (a + b + x - 1) / (a - 1)
          * [1 - ((alpha + T) / (alpha + T + t))^(r + x)
                 * 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t))]
          / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))
      P(alive | x, t_x, T) = 1 / (1 + [x > 0] * a / (b + x - 1)
                                      * ((alpha + T) / (alpha + t_x))^(r + x))

  so P(alive) = 1 for x = 0 by construction (no drop-out before a repeat).
* Fader, Hardie & Lee (2005b), "RFM and CLV: Using Iso-Value Curves for
  Customer Base Analysis", J. Marketing Research 42(4); Fader & Hardie (2013),
  "The Gamma-Gamma Model of Monetary Value". Each transaction value is
  Gamma(p, nu), nu ~ Gamma(q, gamma) across customers; for the mean m of x
  repeat transactions:

      ln L = lnG(p x + q) - lnG(p x) - lnG(q) + q ln(gamma)
             + (p x - 1) ln(m) + p x ln(x) - (p x + q) ln(gamma + m x)
      E[M | m, x] = p (gamma + m x) / (p x + q - 1)   (needs q > 1)

  which at x = 0 is the population mean p gamma / (q - 1).

Both are fitted by maximum likelihood on log-parameters with L-BFGS-B and
analytic gradients. Time is in weeks by default (as in the papers); days are
allowed, and alpha then scales by 7. Money is in minor units; the spend model
is scale-equivariant (gamma carries the unit, p and q do not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1, logsumexp

# log-parameters are boxed so that a flat direction cannot walk exp() to inf.
_LOG_BOUND = 15.0
Floats = NDArray[np.float64]
# The mean log-likelihood is flat along the (a, b) ridge; scipy's default
# stopping tolerance (relative 2e-9) stops a few thousandths short on it.
_TIGHT = {"ftol": 1e-14, "gtol": 1e-10, "maxiter": 1000}


# ---- BG/NBD ------------------------------------------------------------------

@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


def _arrays(*columns: ArrayLike) -> list[Floats]:
    return [np.asarray(c, dtype=np.float64) for c in columns]


def bgnbd_log_likelihood(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike,
                         T: ArrayLike) -> Floats:
    """Per-customer log-likelihood (eq. 6 of FHL 2005a, in logs)."""
    ll, _ = _bgnbd_ll_and_grad(np.log([params.r, params.alpha, params.a, params.b]),
                               *_arrays(x, t_x, T))
    return ll


def _bgnbd_ll_and_grad(theta: Floats, x: Floats, t_x: Floats,
                       T: Floats) -> tuple[Floats, Floats]:
    """Log-likelihood per customer and its gradient w.r.t. the log-parameters."""
    r, alpha, a, b = np.exp(theta)
    buyer = x > 0
    ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    ln_a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    ln_a3 = -(r + x) * np.log(alpha + T)
    # b + x - 1 > 0 whenever x >= 1; for x = 0 the term is masked out below.
    ln_a4 = np.where(buyer, np.log(a) - np.log(np.where(buyer, b + x - 1, 1.0))
                     - (r + x) * np.log(alpha + t_x), -np.inf)
    ln_mix = np.logaddexp(ln_a3, ln_a4)
    ll = ln_a1 + ln_a2 + ln_mix
    # Shares of A3 and A4 in their sum weigh the derivatives of each branch.
    w3 = np.exp(ln_a3 - ln_mix)
    w4 = np.exp(ln_a4 - ln_mix)
    d_r = (digamma(r + x) - digamma(r) + np.log(alpha)
           - w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x))
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
    d_b = (digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x)
           - w4 / np.where(buyer, b + x - 1, 1.0))
    grad = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return ll, grad


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters for a population of customers.

    Identical (x, t_x, T) rows are merged with a count first: with day-level
    times most non-repeaters share a handful of rows, and the fit then costs
    per distinct row, not per customer.
    """
    x_, tx_, T_ = _arrays(x, t_x, T)
    if x_.size == 0:
        raise ValueError("no customers to fit")
    if not (np.isfinite(x_).all() and np.isfinite(tx_).all() and np.isfinite(T_).all()):
        raise ValueError("x, t_x and T must be finite")
    if np.any(x_ < 0) or np.any(tx_ < 0) or np.any(tx_ > T_) or np.any((x_ == 0) & (tx_ != 0)):
        raise ValueError("need x >= 0 and 0 <= t_x <= T, with t_x = 0 when x = 0")
    rows, counts = np.unique(np.stack([x_, tx_, T_], axis=1), axis=0, return_counts=True)
    xu, txu, Tu = rows.T
    weight = counts / counts.sum()

    def objective(theta: Floats) -> tuple[float, Floats]:
        ll, grad = _bgnbd_ll_and_grad(theta, xu, txu, Tu)
        return -float(weight @ ll), -(grad @ weight)

    # Start at a rate of about mean(x) / mean(T) and a mean drop-out of 1/2.
    alpha0 = (float(T_.mean()) + 1.0) / (float(x_.mean()) + 1.0)
    start = np.log([1.0, alpha0, 1.0, 1.0])
    result = minimize(objective, start, jac=True, method="L-BFGS-B",
                      bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4, options=_TIGHT)
    r, alpha, a, b = np.exp(result.x)
    if not np.isfinite(result.fun):
        raise ValueError(f"BG/NBD fit failed: {result.message}")
    return BgNbdParams(float(r), float(alpha), float(a), float(b))


def _log_odds_dead(params: BgNbdParams, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """ln of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x); -inf for x = 0."""
    p = params
    buyer = x > 0
    safe = np.where(buyer, p.b + x - 1, 1.0)
    out = np.log(p.a) - np.log(safe) + (p.r + x) * (np.log(p.alpha + T) - np.log(p.alpha + t_x))
    return np.where(buyer, out, -np.inf)


def probability_alive(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike,
                      T: ArrayLike) -> Floats:
    """P(still alive at T | x, t_x, T) (FHL 2008); exactly 1 when x = 0."""
    x_, tx_, T_ = _arrays(x, t_x, T)
    return np.asarray(expit(-_log_odds_dead(params, x_, tx_, T_)), dtype=np.float64)


def expected_purchases(params: BgNbdParams, t: float, x: ArrayLike, t_x: ArrayLike,
                       T: ArrayLike) -> Floats:
    """E[purchases in (T, T + t] | x, t_x, T] (eq. 10 of FHL 2005a).

    The 2F1 is evaluated after Euler's transformation (Abramowitz & Stegun
    15.3.3): with z = t / (alpha + T + t),
        ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)
          = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),
    whose upper parameters no longer grow with x: accurate for heavy buyers.
    When a and b are huge (a fit on few customers can send them off towards
    a drop-out probability common to all) that form overflows inside scipy;
    those entries are summed from the paper's form instead (_tail_by_series).
    a = 1 is a removable singularity; it is evaluated a hair away.
    """
    if t < 0:
        raise ValueError("the horizon t must not be negative")
    x_, tx_, T_ = _arrays(x, t_x, T)
    p = params
    a = p.a if abs(p.a - 1) > 1e-7 else 1 + 1e-7
    x_, z = np.broadcast_arrays(x_, t / (p.alpha + T_ + t))
    with np.errstate(all="ignore"):
        tail = (1 - z) ** (a - 1) * hyp2f1(a + p.b - 1 - p.r, a - 1, a + p.b + x_ - 1, z)
    bad = ~np.isfinite(tail)
    if bad.any():
        tail = np.where(bad, 0.0, tail)
        tail[bad] = [_tail_by_series(p, xi, zi) for xi, zi in zip(x_[bad], z[bad], strict=True)]
    given_alive = (a + p.b + x_ - 1) / (a - 1) * (1 - tail)
    return np.asarray(given_alive * expit(-_log_odds_dead(p, x_, tx_, T_)), dtype=np.float64)


def _tail_by_series(p: BgNbdParams, x: float, z: float) -> float:
    """(1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z), summed in logs.

    Every term is positive (z in [0, 1)), so the sum has no cancellation;
    the ratio of successive terms tends to z, so it converges geometrically.
    """
    A, B, C = p.r + x, p.b + x, p.a + p.b + x - 1
    terms = 256
    while True:
        k = np.arange(terms, dtype=np.float64)
        log_terms = (gammaln(A + k) - gammaln(A) + gammaln(B + k) - gammaln(B)
                     - gammaln(C + k) + gammaln(C) - gammaln(k + 1) + k * np.log(z))
        if log_terms[-1] < log_terms.max() - 40 or terms >= 1 << 20:
            break
        terms *= 2
    return float(np.exp(A * np.log1p(-z) + logsumexp(log_terms)))


def expected_purchases_new(params: BgNbdParams, t: float) -> float:
    """E[X(t)], repeat purchases in (0, t] of a customer just acquired (eq. 7):
    the conditional expectation at x = t_x = T = 0."""
    return float(expected_purchases(params, t, [0], [0], [0])[0])


# ---- Gamma-Gamma ---------------------------------------------------------------

@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float  # in the money unit of the data (minor units here)

    @property
    def population_mean(self) -> float:
        """E[M] = p gamma / (q - 1); infinite when q <= 1."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")


def _gg_ll_and_grad(theta: Floats, x: Floats, m: Floats) -> tuple[Floats, Floats]:
    p, q, g = np.exp(theta)
    px = p * x
    ln_gm = np.log(g + m * x)
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
          + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * ln_gm)
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - ln_gm)
    d_q = digamma(px + q) - digamma(q) + np.log(g) - ln_gm
    d_g = q / g - (px + q) / (g + m * x)
    return ll, np.stack([d_p * p, d_q * q, d_g * g])


def gamma_gamma_log_likelihood(params: GammaGammaParams, x: ArrayLike,
                               m: ArrayLike) -> Floats:
    """Per-customer log-likelihood of the mean spend m of x >= 1 repeat purchases."""
    ll, _ = _gg_ll_and_grad(np.log([params.p, params.q, params.gamma]), *_arrays(x, m))
    return ll


def fit_gamma_gamma(x: ArrayLike, m: ArrayLike) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from repeat buyers.

    Rows with x = 0 or m <= 0 are dropped: a customer without repeat
    purchases has no repeat spend to average, and the model has no mass at 0.
    The model assumes spend independent of frequency (FHL 2005b check it with
    the correlation of x and m; it is about 0.11 in their data).
    """
    x_, m_ = _arrays(x, m)
    keep = (x_ > 0) & (m_ > 0)
    x_, m_ = x_[keep], m_[keep]
    if x_.size == 0:
        raise ValueError("no repeat buyers to fit")

    def objective(theta: Floats) -> tuple[float, Floats]:
        ll, grad = _gg_ll_and_grad(theta, x_, m_)
        return -float(ll.mean()), -grad.mean(axis=1)

    # p = 1, q = 2 puts the prior mean spend at gamma; start it at the data's mean.
    start = np.log([1.0, 2.0, float(m_.mean())])
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * 2 + [(start[2] - _LOG_BOUND, start[2] + _LOG_BOUND)]
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                      options=_TIGHT)
    if not np.isfinite(result.fun):
        raise ValueError(f"Gamma-Gamma fit failed: {result.message}")
    p, q, g = np.exp(result.x)
    return GammaGammaParams(float(p), float(q), float(g))


def expected_spend(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> Floats:
    """E[M | m, x] = p (gamma + m x) / (p x + q - 1): a credibility-weighted mix
    of the population mean and the customer's own mean (weight p x / (p x + q - 1))."""
    x_, m_ = _arrays(x, m)
    m_ = np.where(x_ > 0, m_, 0.0)
    return np.asarray(params.p * (params.gamma + m_ * x_) / (params.p * x_ + params.q - 1),
                      dtype=np.float64)

