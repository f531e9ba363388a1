"""Multi-touch attribution: credit for conversions and revenue per touchpoint.

One pure function, `attribute(paths, model)`, for the contract's six models:

* FIRST_TOUCH / LAST_TOUCH: all credit to the first / last touchpoint.
* LINEAR: 1/n to each of the n touchpoints.
* TIME_DECAY: weight 2^(-(conversion time - touch time) / half_life),
  normalised over the path (Google Analytics' time-decay model).
* POSITION_BASED ("U-shaped"): 40% first, 40% last, 20% shared evenly by
  the middle; one touchpoint gets 100%, two get 50/50.
* MARKOV: first-order Markov chain over states START, each touchpoint, CONV
  and NULL, estimated from converting AND non-converting paths (Anderl,
  Becker, von Wangenheim & Schumann 2016, "Mapping the customer journey:
  Lessons learned from graph-based online attribution modeling", IJRM 33(3)).
  P(conversion) is the absorption probability into CONV from START, solved
  exactly from the absorbing chain: with Q the transient-to-transient block
  and c the transient-to-CONV column, (I - Q) v = c and P = v[START].
  The removal effect of touchpoint k is RE_k = 1 - P(conv without k) / P(conv),
  where removing k sends every transition into k to NULL. Credits are the
  conversions times RE_k / sum(RE). Revenue follows the same shares.

A touchpoint is any label the caller chooses ("email", "push/spring-sale").
Touchpoints older than the lookback window before the conversion, or after
it, are dropped; a conversion left without touchpoints is credited to
DIRECT. A non-converting path (used by MARKOV only) keeps the touchpoints
within one window of its last one. Revenue is in integer minor units and the
rows' revenue adds up to the input total exactly (largest remainder).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np

from audience.stats import largest_remainder

DIRECT = "(direct)"
DEFAULT_LOOKBACK = timedelta(days=30)
DEFAULT_HALF_LIFE = timedelta(days=7)


class AttributionModel(StrEnum):
    FIRST_TOUCH = "FIRST_TOUCH"
    LAST_TOUCH = "LAST_TOUCH"
    LINEAR = "LINEAR"
    TIME_DECAY = "TIME_DECAY"
    POSITION_BASED = "POSITION_BASED"
    MARKOV = "MARKOV"


@dataclass(frozen=True)
class Touch:
    touchpoint: str
    at: datetime


@dataclass(frozen=True)
class ConversionPath:
    """One customer journey; `converted_at` None means it did not convert."""

    touches: Sequence[Touch]
    converted_at: datetime | None = None
    revenue_minor: int = 0


@dataclass(frozen=True)
class AttributionRow:
    touchpoint: str
    conversions: float
    revenue_minor: int


def attribute(paths: Sequence[ConversionPath], model: AttributionModel, *,
              lookback: timedelta = DEFAULT_LOOKBACK,
              half_life: timedelta = DEFAULT_HALF_LIFE) -> list[AttributionRow]:
    """Rows for every touchpoint seen within the window, most credited first."""
    if lookback <= timedelta(0) or half_life <= timedelta(0):
        raise ValueError("lookback and half_life must be positive")
    if any(p.revenue_minor < 0 for p in paths):
        raise ValueError("revenue must not be negative")
    windowed = [(_window(p, lookback), p) for p in paths]
    converting = [(touches, p.converted_at, p.revenue_minor)
                  for touches, p in windowed if p.converted_at is not None]
    credit: dict[str, float] = defaultdict(float)
    revenue: dict[str, float] = defaultdict(float)
    for touches, _, value in converting:
        if not touches:
            credit[DIRECT] += 1.0
            revenue[DIRECT] += value
    if model is AttributionModel.MARKOV:
        shares = markov_shares([[t.touchpoint for t in touches] for touches, _ in windowed],
                               [p.converted_at is not None for _, p in windowed])
        touched = [value for touches, _, value in converting if touches]
        for name, share in shares.items():
            credit[name] += len(touched) * share
            revenue[name] += sum(touched) * share
    else:
        for touches, converted_at, value in converting:
            for name, weight in _weights(touches, converted_at, model, half_life):
                credit[name] += weight
                revenue[name] += weight * value
    seen = {t.touchpoint for touches, _ in windowed for t in touches}
    names = sorted(seen | set(credit), key=lambda n: (-credit.get(n, 0.0), n))
    total = sum(value for _, _, value in converting)
    # Every unit of revenue went to some weight above, so the weights are not
    # all zero whenever the total is not.
    split = (largest_remainder(total, [revenue.get(n, 0.0) for n in names]) if total
             else [0] * len(names))
    return [AttributionRow(n, credit.get(n, 0.0), r) for n, r in zip(names, split, strict=True)]


def _window(path: ConversionPath, lookback: timedelta) -> list[Touch]:
    """The path's touches inside its window, oldest first (ties keep input order)."""
    ordered = sorted(path.touches, key=lambda t: t.at)
    if path.converted_at is not None:
        end = path.converted_at
    elif ordered:
        end = ordered[-1].at
    else:
        return []
    return [t for t in ordered if end - lookback <= t.at <= end]


def _weights(touches: Sequence[Touch], converted_at: datetime, model: AttributionModel,
             half_life: timedelta) -> list[tuple[str, float]]:
    """(touchpoint, share) for one converting path; shares sum to 1."""
    n = len(touches)
    if n == 0:
        return []
    names = [t.touchpoint for t in touches]
    if model is AttributionModel.FIRST_TOUCH:
        weights = [1.0] + [0.0] * (n - 1)
    elif model is AttributionModel.LAST_TOUCH:
        weights = [0.0] * (n - 1) + [1.0]
    elif model is AttributionModel.LINEAR:
        weights = [1.0 / n] * n
    elif model is AttributionModel.TIME_DECAY:
        raw = [2.0 ** -((converted_at - t.at) / half_life) for t in touches]
        weights = [w / sum(raw) for w in raw]
    elif model is AttributionModel.POSITION_BASED:
        if n <= 2:
            weights = [1.0 / n] * n
        else:
            weights = [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
    else:
        raise ValueError(f"no per-path weights for {model}")
    return list(zip(names, weights, strict=True))


def markov_shares(paths: Sequence[Sequence[str]], converted: Sequence[bool]) -> dict[str, float]:
    """Each touchpoint's normalised removal effect RE_k / sum(RE); {} if nothing converts.

    `paths` are touchpoint sequences (oldest first), `converted` says which
    ended in a conversion. Empty paths carry no transitions and are skipped.
    Self-loops (the same touchpoint twice in a row) are kept: they change no
    absorption probability, since a state's other exits keep their ratios.
    """
    names = sorted({name for path in paths for name in path})
    if not names:
        return {}
    index = {name: i + 1 for i, name in enumerate(names)}   # 0 is START
    size = len(names) + 1
    counts = np.zeros((size, size + 2))                      # + CONV, NULL columns
    conv, null = size, size + 1
    for path, ok in zip(paths, converted, strict=True):
        if not path:
            continue
        states = [0] + [index[name] for name in path] + [conv if ok else null]
        for here, there in zip(states, states[1:], strict=False):
            counts[here, there] += 1
    transitions = counts / counts.sum(axis=1, keepdims=True)
    base = _p_conversion(transitions, conv)
    if base <= 0:
        return {}
    effects = {}
    for name, i in index.items():
        removed = transitions.copy()
        removed[:, null] += removed[:, i]                    # entering k now means NULL
        removed[:, i] = 0.0
        effects[name] = 1.0 - _p_conversion(removed, conv) / base
    total = sum(effects.values())
    return {name: effect / total for name, effect in effects.items()}


def _p_conversion(transitions: np.ndarray, conv: int) -> float:
    """Absorption probability into CONV from START: solve (I - Q) v = c."""
    size = transitions.shape[0]
    q = transitions[:, :size]
    v = np.linalg.solve(np.eye(size) - q, transitions[:, conv])
    return float(v[0])
