"""Statistics of a book: spread, depth, volume, and the stylized facts of trade-time returns.

Pure functions of the arrays :mod:`sim.viz.book_data` reads, kept apart from the drawing
so that the run summary and the tests use them alone. Trade-time returns are log returns
between successive fills of one book (its ``cur_seq`` order), whatever the clock time
between them; their stylized facts reuse :mod:`sim.viz.returns`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from sim.viz.returns import acf_pooled, excess_kurtosis

if TYPE_CHECKING:
    # Types only: the tables' module imports pyarrow, which the run summary's importers
    # (the coordinator, before the first trade) must not pay for.
    from sim.viz.book_data import Depth, Fills, OrderCounts

__all__ = [
    "ACF_LAGS",
    "DEPTH_LEVELS",
    "Z95",
    "DepthSummary",
    "ReturnFacts",
    "SpreadSummary",
    "VolumeSummary",
    "best_quotes",
    "depth_summary",
    "mid_returns",
    "return_facts",
    "side_depth",
    "spread_series",
    "spread_summary",
    "trade_returns",
    "volume_summary",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

ACF_LAGS: Final = 10
DEPTH_LEVELS: Final = 10
# Two-sided 95 % quantile of the normal: the band of an uncorrelated series' ACF.
Z95: Final = 1.96
BPS: Final = 1e4


@dataclass(frozen=True)
class SpreadSummary:
    """The quoted spread over the samples with both sides (None: no such sample, or
    no tick size to count ticks with)."""

    samples: int
    both_sides: int
    median_ticks: float | None
    mean_ticks: float | None
    p90_ticks: float | None
    median_bps: float | None
    mean_bps: float | None
    p90_bps: float | None


@dataclass(frozen=True)
class DepthSummary:
    """Median units resting at the best level and within the best ``levels`` levels of
    each side, over the depth snapshots (an empty side counts as zero)."""

    snapshots: int
    levels: int
    bid_best: float | None
    bid_within: float | None
    ask_best: float | None
    ask_within: float | None


@dataclass(frozen=True)
class VolumeSummary:
    """Fills and what they moved (minor units, exact), and the order events (None: the
    run has no orders table)."""

    fills: int
    units: int
    cash: int
    placed: int | None
    cancelled: int | None


@dataclass(frozen=True)
class ReturnFacts:
    """Stylized facts of trade-time log returns: excess kurtosis (Fisher), ACF of returns
    and of absolute returns at lags 1..len(acf), and the 95 % band of an uncorrelated
    series (±1.96/√n). None and NaN: too few returns."""

    n: int
    excess_kurtosis: float | None
    acf: list[float | None]
    acf_abs: list[float | None]
    band: float | None


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def spread_series(bid: FloatArray, ask: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The spread (ask - bid, cash per unit) and the mid at every sample; NaN where a
    side is empty."""
    bid, ask = np.asarray(bid, dtype=np.float64), np.asarray(ask, dtype=np.float64)
    spread: FloatArray = ask - bid
    mid: FloatArray = (ask + bid) / 2.0
    return spread, mid


def _three(x: FloatArray) -> tuple[float | None, float | None, float | None]:
    if len(x) == 0:
        return None, None, None
    return (float(np.median(x)), float(np.mean(x)), float(np.percentile(x, 90.0)))


def spread_summary(bid: FloatArray, ask: FloatArray, tick: float | None) -> SpreadSummary:
    """Median, mean and 90th percentile of the spread in ticks and in bps of the mid.

    ``bid`` and ``ask`` are rates (cash per unit, NaN: that side empty); ``tick`` is the
    book's price step in the same unit. Ticks are whole: the quotes are prices on the
    ladder, so the float quotient is rounded to the integer it stands for.
    """
    spread, mid = spread_series(bid, ask)
    both = np.isfinite(spread) & (mid > 0)
    s, m = spread[both], mid[both]
    ticks: tuple[float | None, float | None, float | None] = (None, None, None)
    if tick is not None and tick > 0:
        ticks = _three(np.rint(s / tick))
    bps = _three(BPS * s / m)
    return SpreadSummary(samples=len(spread), both_sides=int(both.sum()),
                         median_ticks=ticks[0], mean_ticks=ticks[1], p90_ticks=ticks[2],
                         median_bps=bps[0], mean_bps=bps[1], p90_bps=bps[2])


def side_depth(depth: Depth, bid: bool, levels: int = DEPTH_LEVELS
               ) -> tuple[FloatArray, FloatArray]:
    """Units at the best level and within the best ``levels`` levels of one side, at
    each of the book's snapshot times (zero where that side was empty)."""
    times = depth.times
    on = (depth.bid == bid) & (depth.level < levels)
    at = np.searchsorted(times, depth.t[on])
    qty, level = depth.qty[on], depth.level[on]
    within: FloatArray = np.bincount(at, weights=qty, minlength=len(times)).astype(np.float64)
    best: FloatArray = np.bincount(at[level == 0], weights=qty[level == 0],
                                   minlength=len(times)).astype(np.float64)
    return best, within


def depth_summary(depth: Depth | None, levels: int = DEPTH_LEVELS) -> DepthSummary:
    """Median depth per side over a book's snapshots (None without snapshots)."""
    if depth is None or len(depth) == 0:
        return DepthSummary(snapshots=0, levels=levels, bid_best=None, bid_within=None,
                            ask_best=None, ask_within=None)
    bb, bw = side_depth(depth, True, levels)
    ab, aw = side_depth(depth, False, levels)
    return DepthSummary(snapshots=len(depth.times), levels=levels,
                        bid_best=float(np.median(bb)), bid_within=float(np.median(bw)),
                        ask_best=float(np.median(ab)), ask_within=float(np.median(aw)))


def volume_summary(fills: Fills | None, orders: OrderCounts | None,
                   has_orders: bool) -> VolumeSummary:
    """What a book's fills moved, exactly, and its order events.

    ``has_orders`` says whether the run has an orders table at all: a book with none of
    its events in it placed and cancelled nothing, while a run without the table cannot
    say (None).
    """
    placed = cancelled = None
    if has_orders:
        placed = orders.placed if orders is not None else 0
        cancelled = orders.cancelled if orders is not None else 0
    if fills is None:
        return VolumeSummary(fills=0, units=0, cash=0, placed=placed, cancelled=cancelled)
    return VolumeSummary(fills=len(fills), units=int(fills.qty.sum()),
                         cash=int(fills.cash.sum()), placed=placed, cancelled=cancelled)


def trade_returns(fills: Fills | None) -> FloatArray:
    """Log returns between successive fills of a book (trade time), in fill order."""
    if fills is None or len(fills) < 2:
        return np.zeros(0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r: FloatArray = np.diff(np.log(fills.price))
    r[~np.isfinite(r)] = np.nan
    return r


def mid_returns(bid: FloatArray, ask: FloatArray) -> FloatArray:
    """Log returns of the mid between consecutive samples where both quotes exist."""
    mid = (np.asarray(bid, dtype=np.float64) + np.asarray(ask, dtype=np.float64)) / 2
    mid = mid[np.isfinite(mid) & (mid > 0)]
    out: FloatArray = np.diff(np.log(mid))
    return out


def return_facts(r: FloatArray, max_lag: int = ACF_LAGS) -> ReturnFacts:
    """Excess kurtosis and the ACFs of returns and absolute returns at lags 1..max_lag."""
    r = np.asarray(r, dtype=np.float64)
    n = int(np.isfinite(r).sum())
    acf, _ = acf_pooled([r], max_lag)
    acf_abs, _ = acf_pooled([np.abs(r)], max_lag)
    return ReturnFacts(n=n, excess_kurtosis=_num(excess_kurtosis(r)),
                       acf=[_num(x) for x in acf], acf_abs=[_num(x) for x in acf_abs],
                       band=Z95 / math.sqrt(n) if n > 0 else None)


def best_quotes(samples: Mapping[str, np.ndarray[Any, Any]], name: str
                ) -> tuple[FloatArray, FloatArray] | None:
    """Best bid and ask of currency ``name`` at every sample (rates, NaN: that side
    empty); None when the samples carry no quotes (pool runs, older runs)."""
    bid, ask = samples.get("bid"), samples.get("ask")
    names = [str(n) for n in np.asarray(samples.get("names", np.zeros(0, dtype=str))).ravel()]
    if bid is None or ask is None or name not in names:
        return None
    bid, ask = np.asarray(bid, dtype=np.float64), np.asarray(ask, dtype=np.float64)
    j = names.index(name)
    if bid.ndim != 2 or ask.ndim != 2 or bid.shape[1] <= j or ask.shape[1] <= j:
        return None
    return bid[:, j], ask[:, j]
