"""What the 1 kHz monitor costs, measured inside one run: windows with and without it.

Back-to-back runs on this kind of machine differ by up to 30 % in trades/s, far more than
the 5 % the monitor may cost, so pairs of whole runs give wide quartiles however many
there are. With ``monitor.alternate_ms`` the monitor samples only in every other window
of the run (100 ms here) and sleeps in the rest; the trades of each window come from the
run's trades table. Each sampled window is held against the mean of the two idle windows
beside it, so a drift of the machine's speed over the run cancels, and each run gives
tens of such triples. The first sampled window (processes still warming up) and a
window cut short by the stop are left out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from sim import arrow
from sim.harness.rundir import TRADES

__all__ = ["ALTERNATE_MS", "alternation_cost", "window_counts"]

ALTERNATE_MS: Final = 100.0


def window_counts(run_dir: Path, duration_s: float, alternate_ms: float) -> list[int]:
    """Trades in each whole window of ``alternate_ms`` from the run's start (even
    windows sampled, odd ones idle)."""
    t_ns = arrow.numpy(arrow.read_parquet(Path(run_dir) / TRADES, ["t_ns"]).column("t_ns"))
    width = round(alternate_ms * 1e6)
    whole = int(duration_s * 1e9) // width
    counts = np.bincount(t_ns[t_ns >= 0] // width, minlength=whole)[:whole]
    return [int(c) for c in counts]


def _sampled(counts: Sequence[int]) -> range:
    """The sampled windows held against two idle ones: every even one after the first
    whose next window is whole."""
    return range(2, len(counts) - 1, 2)


def _costs(counts: Sequence[int]) -> list[float]:
    """Per sampled window: its cost in % against its idle neighbours."""
    out = []
    for i in _sampled(counts):
        idle = (counts[i - 1] + counts[i + 1]) / 2
        if idle > 0:
            out.append(100.0 * (1.0 - counts[i] / idle))
    return out


def _median_ci(xs: Sequence[float]) -> list[float]:
    """A distribution-free 95 % interval of the median: the order statistics at ranks
    n/2 -+ 1.96 sqrt(n)/2 (the sign test's normal approximation)."""
    s = sorted(xs)
    half = 1.96 * math.sqrt(len(s)) / 2
    lo = max(0, math.floor(len(s) / 2 - half))
    hi = min(len(s) - 1, math.ceil(len(s) / 2 + half) - 1)
    return [round(s[lo], 2), round(s[hi], 2)]


def alternation_cost(runs: Sequence[Sequence[int]], alternate_ms: float = ALTERNATE_MS
                     ) -> dict[str, Any]:
    """The median cost over every window triple of every run, with its quartiles, and
    the cost from the mean trades of each kind of window."""
    costs = [c for counts in runs for c in _costs(counts)]
    if not costs:
        return {}
    q = statistics.quantiles(costs, n=4) if len(costs) >= 2 else [costs[0]] * 3
    on = [c[i] for c in runs for i in _sampled(c)]
    idle = [c[j] for c in runs if _sampled(c) for j in range(1, _sampled(c)[-1] + 2, 2)]
    ratio = statistics.mean(on) / statistics.mean(idle) if on and idle else None
    return {"window_ms": alternate_ms, "runs": len(runs), "windows": len(costs),
            "cost_percent": round(statistics.median(costs), 2),
            "cost_percent_iqr": [round(x, 2) for x in q],
            "median_ci95": _median_ci(costs),
            # From the mean trades of each kind of window, over every run.
            "cost_percent_of_means": None if not ratio else round(100.0 * (1.0 - ratio), 2)}
