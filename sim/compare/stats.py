"""Small statistics for comparisons: t-intervals of means and drawdowns.

The t quantiles are a table plus the Cornish-Fisher expansion rather than a scipy call:
the one function needed does not justify a dependency of that size, and a test pins it
against the exact values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

__all__ = [
    "T_975",
    "Z_975",
    "max_drawdown",
    "mean_ci",
    "t_quantile_975",
]

# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom.
T_975: Final = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


Z_975: Final = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (df >= 1).

    A table up to 30, beyond it the Cornish-Fisher expansion around the normal quantile,
    which is within 1e-4 of the exact value there.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2))


def mean_ci(values: Sequence[float]) -> tuple[float, float | None, float | None]:
    """Mean and 95 % t-interval of finite ``values``; no interval below two values."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return math.nan, None, None
    m = float(v.mean())
    if len(v) < 2:
        return m, None, None
    half = t_quantile_975(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return m, m - half, m + half


def max_drawdown(wealth: np.ndarray[Any, Any], start: float) -> float:
    """Largest peak-to-trough fall as a fraction of the peak, starting from ``start``."""
    w = np.asarray(wealth, dtype=np.float64)
    w = np.concatenate([[start], w[np.isfinite(w)]])
    if not np.isfinite(w).all() or len(w) < 2:
        return math.nan
    peak = np.maximum.accumulate(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, (peak - w) / peak, 0.0)
    return float(dd.max())
