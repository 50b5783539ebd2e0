"""Statistics of a run's returns for the market figure: log returns, kurtosis, ACFs.

Pure functions of rate samples, NaN-aware (a NaN is a gap: an emptied pool, a missing
sample), kept apart from the drawing so that tests and comparisons use them alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

__all__ = [
    "MIN_ACF_PAIRS",
    "MIN_KURTOSIS_N",
    "acf_pooled",
    "excess_kurtosis",
    "log_returns",
    "market_stats",
    "pooled_z",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# Kurtosis needs four moments; fewer returns give a number that means nothing.
MIN_KURTOSIS_N: Final = 4
# Each lag of an autocorrelation needs two pairs at least: one pair is always -0.5 or so.
MIN_ACF_PAIRS: Final = 2
# A spread this small relative to the values is rounding noise of a constant series
# (e.g. equal returns recovered through exp and log), not variance worth standardizing.
FLAT_RTOL: Final = 1e-9


def log_returns(rate: np.ndarray[Any, Any]) -> FloatArray:
    """Log returns between consecutive samples, shape (S-1, C); NaN where a rate is unusable.

    A rate that is not finite or not positive has no logarithm; both returns touching it
    become NaN instead of being dropped, so that lags still line up in time.
    """
    r = np.asarray(rate, dtype=np.float64)
    if r.ndim == 1:
        r = r[:, None]
    if r.shape[0] < 2:
        return np.zeros((0, r.shape[1]), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        usable = np.isfinite(r) & (r > 0)
        lr = np.log(np.where(usable, r, np.nan))
    out: FloatArray = np.diff(lr, axis=0)
    out[~np.isfinite(out)] = np.nan
    return out


def _flat(v: FloatArray, var: float) -> bool:
    """Whether finite values v, of population variance var, are constant up to rounding."""
    return var <= 0.0 or math.sqrt(var) <= FLAT_RTOL * float(np.max(np.abs(v)))


def excess_kurtosis(x: np.ndarray[Any, Any]) -> float:
    """Fisher excess kurtosis, population (biased) estimator, of the finite values of x.

    NaN with fewer than four values or zero variance.
    """
    v = np.asarray(x, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if len(v) < MIN_KURTOSIS_N:
        return math.nan
    d = v - v.mean()
    m2 = float(np.mean(d * d))
    if _flat(v, m2):
        return math.nan
    m4 = float(np.mean(d**4))
    return m4 / (m2 * m2) - 3.0


def acf_pooled(columns: Sequence[FloatArray], max_lag: int) -> tuple[FloatArray, int]:
    """Autocorrelation at lags 1..max_lag pooled over columns, and the returns it used.

    Each column keeps its own mean and variance (currencies differ in volatility), so the
    pooled value is sum of products of standardized deviations over the number of
    standardized observations. NaN stands for a gap: a pair with a NaN is skipped.
    For a single column this is the usual estimator sum(d_t d_t+k) / sum(d_t^2).

    Written by hand rather than taken from statsmodels or pandas: their ACFs either
    reject NaN or fill it (both wrong for a monitor's gaps), neither pools columns with
    their own means and variances, and the figures need nothing else from them.
    """
    num = np.zeros(max_lag, dtype=np.float64)
    den = np.zeros(max_lag, dtype=np.float64)
    used = 0
    for col in columns:
        x = np.asarray(col, dtype=np.float64)
        ok = np.isfinite(x)
        n = int(ok.sum())
        if n < MIN_ACF_PAIRS + 1:
            continue
        d = np.where(ok, x - x[ok].mean(), np.nan)
        var = float(np.sum(d[ok] ** 2)) / n
        if _flat(x[ok], var):
            continue
        used += n
        for k in range(1, min(max_lag, len(x) - 1) + 1):
            prod = d[:-k] * d[k:]
            pairs = np.isfinite(prod)
            if int(pairs.sum()) < MIN_ACF_PAIRS:
                continue
            num[k - 1] += float(prod[pairs].sum()) / var
            den[k - 1] += n
    with np.errstate(invalid="ignore", divide="ignore"):
        acf: FloatArray = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return acf, used


def _standardized(col: FloatArray) -> FloatArray | None:
    v = col[np.isfinite(col)]
    if len(v) < 2:
        return None
    sd = float(v.std())
    if _flat(v, sd * sd):
        return None
    out: FloatArray = (v - v.mean()) / sd
    return out


def pooled_z(columns: Sequence[FloatArray]) -> FloatArray:
    parts = [z for z in (_standardized(c) for c in columns) if z is not None]
    return np.concatenate(parts) if parts else np.zeros(0)


def _stats(columns: Sequence[FloatArray], pooled: bool) -> dict[str, Any]:
    if pooled:
        z = pooled_z(columns)
        n, kurt = len(z), excess_kurtosis(z)
    else:
        n, kurt = sum(int(np.isfinite(c).sum()) for c in columns), excess_kurtosis(columns[0])
    acf, _ = acf_pooled(columns, 1)
    acf_abs, _ = acf_pooled([np.abs(c) for c in columns], 1)
    return {"n": int(n), "excess_kurtosis": float(kurt), "acf1_returns": float(acf[0]),
            "acf1_abs_returns": float(acf_abs[0])}


def market_stats(rate: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Stylised facts of the sampled rates, per currency and pooled.

    ``rate`` is (S, C). Returns are log returns between consecutive samples; a return
    touching a non-finite or non-positive rate is dropped. Each entry has ``n`` (returns
    used), ``excess_kurtosis`` (Fisher, population estimator; NaN below four returns or at
    zero variance), ``acf1_returns`` and ``acf1_abs_returns`` (lag-1 autocorrelation of
    returns and of absolute returns; NaN when too few). Pooled figures standardize each
    currency's returns first, so a volatile currency does not pass for fat tails; a
    currency whose rate never moved has no standardized returns and is left out of them.
    """
    r = log_returns(rate)
    cols = [r[:, c] for c in range(r.shape[1])]
    return {
        "per_currency": [{"index": c, **_stats([col], pooled=False)}
                         for c, col in enumerate(cols)],
        "pooled": _stats(cols, pooled=True),
    }
