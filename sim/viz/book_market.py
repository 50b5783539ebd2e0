"""book_market.png: the stylized facts of trade-time returns on the books.

Trade time: the returns are log returns between successive fills of one book, however
long the wait between them (Cont 2001 looks at heavy tails, no linear autocorrelation
of returns and slowly decaying autocorrelation of absolute returns). Three panels: the
standardized returns of every book against the standard normal, and the ACFs of returns
and of absolute returns at lags 1..10 fills, each book thin and the pooled estimate as
stems, with the 95 % band of an uncorrelated series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.viz.book_data import Fills
from sim.viz.book_stats import ACF_LAGS, Z95, trade_returns
from sim.viz.returns import MIN_ACF_PAIRS, MIN_KURTOSIS_N, acf_pooled, excess_kurtosis, pooled_z
from sim.viz.style import colours, note, save

__all__ = ["plot_trade_returns"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# Standardized returns beyond this are counted but not drawn (as in market.png).
HIST_CLIP: Final = 8.0
# Standardized returns closer than this many decimals are one value (the same move of
# whole ticks, from slightly different prices); a tick this wide (in standard
# deviations) or wider gets a bin of its own.
DISCRETE_DIGITS: Final = 3
COARSE_TICK: Final = 0.2


def _bins(per_book: Sequence[FloatArray], z: FloatArray) -> Any:
    """Histogram bins for standardized returns ``z`` (each book's in ``per_book``).

    Prices on a ladder move by whole ticks, so a book's returns take a few values a
    tick apart; regular bins narrower than that comb them into spikes and gaps. When a
    tick is a sizeable part of a standard deviation, the bins are one (the widest
    book's) tick wide and centred on whole ticks; else regular.
    """
    steps = []
    for zb in per_book:
        gaps = np.diff(np.unique(zb))
        gaps = gaps[gaps > 10.0 ** -DISCRETE_DIGITS]
        if len(gaps):
            steps.append(float(gaps.min()))
    width = max(steps, default=0.0)
    if width < COARSE_TICK:
        return int(np.clip(math.sqrt(len(z)), 10, 80))
    k = math.ceil(float(np.abs(z).max()) / width)
    return (np.arange(-k, k + 2) - 0.5) * width


def _hist(ax: Axes, cols: Sequence[FloatArray]) -> None:
    ax.set_title("standardized trade-time log returns, all books")
    ax.set_xlabel("standardized log return between fills (σ)")
    ax.set_ylabel("density (1/σ)")
    ax.grid(True, alpha=0.3)
    per_book = [pooled_z([c]) for c in cols]
    z = np.concatenate(per_book) if per_book else np.zeros(0)
    if len(z) < MIN_KURTOSIS_N:
        note(ax, f"too few returns (n={len(z)})")
        return
    shown = z[np.abs(z) <= HIST_CLIP]
    counts, edges = np.histogram(shown, bins=_bins(per_book, shown))
    # Over all returns, so the clipped tail still counts in the normalisation.
    dens = counts / (len(z) * np.diff(edges))
    hidden = len(z) - len(shown)
    ax.stairs(dens, edges, fill=True, color="tab:gray", alpha=0.6,
              label="returns" + (f" ({hidden} beyond ±{HIST_CLIP:g}σ not drawn)"
                                 if hidden else ""))
    x = np.linspace(edges[0], edges[-1], 400)
    ax.plot(x, np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi), color="tab:red", lw=1.8,
            label="standard normal")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)


def _acf(ax: Axes, cols: Sequence[FloatArray], names: Sequence[str], what: str,
         max_lag: int) -> None:
    ax.set_title(f"autocorrelation of {what}")
    ax.set_xlabel("lag (fills)")
    ax.set_ylabel(f"autocorrelation of {what} (1)")
    ax.grid(True, alpha=0.3)
    pooled, n = acf_pooled(cols, max_lag)
    if n < MIN_ACF_PAIRS + 1 or not np.isfinite(pooled).any():
        note(ax, f"too few returns (n={n})")
        return
    lags = np.arange(1, max_lag + 1)
    for col, name, colour in zip(cols, names, colours(len(cols)), strict=True):
        ax.plot(lags, acf_pooled([col], max_lag)[0], color=colour, lw=0.8, alpha=0.7,
                label=name)
    ax.vlines(lags, 0.0, np.nan_to_num(pooled), color="black", lw=2.0)
    ax.plot(lags, pooled, "o", color="black", ms=4, label="pooled")
    band = Z95 / math.sqrt(n)
    ax.axhspan(-band, band, color="tab:blue", alpha=0.15, lw=0,
               label=f"95 % band, ±1.96/√n, n={n:,}")
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xlim(0.5, max_lag + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # Below the panel: inside it, any corner can hold a stem.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4,
              frameon=False)


def plot_trade_returns(fills: Mapping[str, Fills], books: Sequence[str], out: Path,
                       title: str, max_lag: int = ACF_LAGS) -> Path:
    """book_market.png: trade-time return distribution and ACFs of the book currencies."""
    cols = [trade_returns(fills.get(name)) for name in books]
    kurt = [excess_kurtosis(c) for c in cols]
    fig = Figure(figsize=(17, 5.2))
    ax_h, ax_r, ax_a = fig.subplots(1, 3)
    facts = "; ".join(f"{name} {k:.2f} (n={int(np.isfinite(c).sum()):,})"
                      if math.isfinite(k) else f"{name} n/a (n={int(np.isfinite(c).sum())})"
                      for name, c, k in zip(books, cols, kurt, strict=True))
    fig.suptitle(f"{title}\ntrade-time returns (between successive fills); excess kurtosis: "
                 f"{facts or 'no book'}")
    _hist(ax_h, cols)
    _acf(ax_r, cols, books, "returns", max_lag)
    _acf(ax_a, [np.abs(c) for c in cols], books, "|returns|", max_lag)
    return save(fig, out)
