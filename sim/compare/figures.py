"""A comparison's figures: PnL per trader, wealth bands over time, price paths.

Figures are drawn on :class:`~matplotlib.figure.Figure` objects, never through pyplot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.compare.analysis import Analysis, GroupRow
from sim.viz.style import colours as palette
from sim.viz.style import note, percentile_band, save

__all__ = [
    "plot_pnl",
    "plot_prices",
    "plot_wealth",
]

GRID_POINTS: Final = 200


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(1, n))
    return math.ceil(n / cols), cols


def plot_pnl(rows: list[GroupRow], variants: list[str], strategies: list[str],
             out: Path, title: str) -> Path:
    """pnl.png: one panel per strategy; per variant a box and the single repeats of its
    PnL per trader.

    Per trader (group PnL / group size), so a group of 8 is not 4 times "better" than a
    group of 2. Each strategy keeps its own PnL scale: one that gains thousands would
    otherwise flatten the others' differences between variants to a line at zero.
    """
    colours = dict(zip(strategies, palette(len(strategies), "Dark2"), strict=True))
    k = max(1, len(strategies))
    rows_n, cols_n = _grid(k)
    fig = Figure(figsize=(max(4.2, 1.2 + 1.0 * len(variants)) * cols_n, 4.2 * rows_n + 0.8),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows_n, cols_n, squeeze=False)).ravel()
    fig.suptitle(f"{title}\nPnL per trader, one panel (and y scale) per strategy "
                 "(box: quartiles; dots: repeats)")
    for ax, strat in zip(axes, strategies or [""], strict=False):
        c = colours.get(strat, "0.4")
        ax.set_title(strat or "no strategy", color=c)
        ax.set_ylabel("PnL per trader (home money)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.axhline(0.0, color="0.4", lw=0.8)
        drawn = False
        for i, v in enumerate(variants):
            vals = np.array([r.pnl / r.traders for r in rows
                             if r.variant == v and r.strategy == strat and r.traders
                             and math.isfinite(r.pnl)])
            if not len(vals):
                continue
            bp = ax.boxplot([vals], positions=[i], widths=0.5, patch_artist=True,
                            showfliers=False, manage_ticks=False)
            for box in bp["boxes"]:
                box.set_facecolor((*c[:3], 0.25))
                box.set_edgecolor(c)
            for part in ("whiskers", "caps", "medians"):
                for line in bp[part]:
                    line.set_color(c)
            # Fixed offsets instead of random jitter: the figure is the same every time.
            jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(1)
            ax.plot(i + jitter, vals, "o", color=c, ms=4, alpha=0.85, mec="white", mew=0.5)
            drawn = True
        # Three variant names already collide in a panel a third of the width.
        ax.set_xticks(range(len(variants)), variants,
                      rotation=25 if len(variants) > 2 else 0,
                      ha="right" if len(variants) > 2 else "center")
        ax.set_xlim(-0.6, len(variants) - 0.4)
        ax.set_xlabel("variant")
        if not drawn:
            note(ax, "no finished runs" if strat else "no strategies")
    for ax in axes[max(1, k):]:
        ax.set_visible(False)
    return save(fig, out)


def _band(curves: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
          grid: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
    # Outside its samples a curve holds its end values: wealth is frozen once a run
    # stopped, and runs of one comparison end a sample or two apart, which would otherwise
    # show as a jump where the median loses a member.
    m = np.array([np.interp(grid, t, y) for t, y in curves if len(t)])
    if not len(m):
        nan = np.full(len(grid), np.nan)
        return nan, nan, nan
    return percentile_band(m, axis=0)


def plot_wealth(a: Analysis, variants: list[str], out: Path, title: str) -> Path:
    """wealth.png: one panel per strategy; its wealth change over time in each variant.

    Every repeat is resampled onto a common time grid; the line is the median across
    repeats and the band spans their 10th to 90th percentiles. A panel per strategy (on
    its own scale) shows how that strategy fares as the others come and go, and one
    strategy's bubble never flattens another's curves.
    """
    colours = dict(zip(variants, palette(len(variants), "tab10"), strict=True))
    strategies = a.strategies or [""]
    rows, cols = _grid(len(strategies))
    fig = Figure(figsize=(5.2 * cols + 1.8, 3.8 * rows + 0.8), layout="constrained")
    # Not sharex: a column whose bottom panel is unused would lose its tick labels.
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    fig.suptitle(f"{title}\nwealth change of each strategy's traders, per variant: median "
                 "and 10–90 % band across repeats (each panel has its own y scale)")
    ends = [float(t[-1]) for cs in a.curves.values() for t, _ in cs if len(t)]
    grid = np.linspace(0.0, max(ends) if ends else 1.0, GRID_POINTS)
    for ax, strat in zip(axes, strategies, strict=False):
        ax.set_title(strat or "no strategy")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("wealth change (% of initial)")
        ax.grid(True, alpha=0.3)
        ax.axhline(0.0, color="0.4", lw=0.8)
        any_curve = False
        for v in variants:
            curves = a.curves.get((v, strat), [])
            if not curves:
                continue
            lo, med, hi = _band(curves, grid)
            c = colours[v]
            ax.fill_between(grid, 100 * lo, 100 * hi, color=c, alpha=0.2, lw=0)
            ax.plot(grid, 100 * med, color=c, lw=2.0)
            any_curve = True
        if not any_curve:
            note(ax, "no samples")
    for ax in axes[len(strategies):]:
        ax.set_visible(False)
    # A (band, line) tuple per entry draws both in the key, as they appear in the panels.
    handles: list[Any] = [(Patch(color=colours[v], alpha=0.2),
                           Line2D([], [], color=colours[v], lw=2.0)) for v in variants]
    if handles:
        fig.legend(handles, variants, title="variant", loc="outside right upper",
                   fontsize=8, frameon=False)
    return save(fig, out)


def plot_prices(a: Analysis, variants: list[str], out: Path, title: str) -> Path:
    """prices.png: repeat 0 of each variant; a row per currency, a column per variant.

    Each panel shows one rate relative to its first sample, in percent, on its own y
    scale: a bubble in one currency or one variant would otherwise flatten every other
    path to a line. The shared time axis and the dashed zero keep panels comparable.
    """
    names: list[str] = []
    for s in a.prices.values():
        if s is not None:
            names += [n for n in s.names if n not in names]
    n_rows = max(1, len(names))
    cols = max(1, len(variants))
    fig = Figure(figsize=(3.6 * cols + 1.2, 1.9 * n_rows + 1.2), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_rows, cols, squeeze=False, sharex=True))
    fig.suptitle(f"{title}\nprice paths of repeat 0 (same seed in every variant); "
                 "each panel has its own y scale")
    ends = [float(s.t[-1]) for s in a.prices.values() if s is not None and len(s.t)]
    colours = palette(n_rows, "tab10")
    for j, v in enumerate(variants):
        s = a.prices.get(v)
        axes[0, j].set_title(v)
        axes[-1, j].set_xlabel("time (s)")
        for i in range(n_rows):
            ax = axes[i, j]
            ax.grid(True, alpha=0.3)
            if ends:
                ax.set_xlim(0.0, max(ends))
            if j == 0:
                ax.set_ylabel(f"{names[i] if names else ''} vs first (%)")
            if s is None or len(s.t) < 1 or not names or names[i] not in s.names:
                note(ax, "no samples")
                continue
            col = s.names.index(names[i])
            first = s.rate[0, col]
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = 100.0 * (s.rate[:, col] / (first if first > 0 else np.nan) - 1.0)
            marker = "o" if len(s.t) < 30 else None
            ax.plot(s.t, rel, color=colours[i], lw=1.0, marker=marker, ms=3)
            ax.axhline(0.0, color="0.4", lw=0.8, ls="--")
    return save(fig, out)
