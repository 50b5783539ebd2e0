"""The longest pause in trading: the widest gap between consecutive trades of the ledger.

A stop-the-world stall (a lock holder descheduled or collecting garbage, every other
trader soon waiting for its currency) shows as a gap between two consecutive trades in
time order, far longer than the microseconds a trade takes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["Gap", "longest_gap"]


class Gap(NamedTuple):
    """The widest gap (ms) and when it began (s since the run's start)."""

    ms: float
    at_s: float


def longest_gap(t_ns: np.ndarray[Any, Any]) -> Gap:
    """The longest gap between consecutive trade times (ns since the start, any order);
    zero when there are fewer than two trades."""
    if len(t_ns) < 2:
        return Gap(0.0, 0.0)
    t = np.sort(np.asarray(t_ns, dtype=np.int64))
    d = np.diff(t)
    i = int(d.argmax())
    return Gap(round(int(d[i]) / 1e6, 3), round(int(t[i]) / 1e9, 4))
