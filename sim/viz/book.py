"""book.png and depth.png: a limit order book's quotes, fills, spread and depth over time.

``book.png`` has, per book currency, the best bid, best ask and mid at every monitor
sample with the spread shaded between them and the fills as dots sized by quantity, above
a panel of the spread over time. ``depth.png`` has, per book currency, the resting
quantity at each price level at every depth snapshot as a heat map, bids and asks in two
colours on one scale, with the mid overlaid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.viz.book_data import Depth, Fills
from sim.viz.book_stats import best_quotes, spread_series
from sim.viz.style import note, save

__all__ = ["MAX_PRINTS", "infer_tick", "plot_book", "plot_depth"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# Fills drawn per book at most: beyond this, every k-th, so a long run's figure stays a
# picture (and is drawn in seconds) rather than a solid smear of a million dots.
MAX_PRINTS: Final = 20_000
# Price rows of a depth heat map at most: a wider range is binned several ticks a row.
MAX_ROWS: Final = 400
BID: Final = "tab:blue"
ASK: Final = "tab:red"
MID: Final = "black"
# Dot area (points²) of the smallest and of the largest fill.
DOT_MIN: Final = 4.0
DOT_MAX: Final = 80.0
# A heat map shows the levels up to this quantile of the distances from their side's
# best, and at least this many ticks from it.
NEAR_SHARE: Final = 0.95
NEAR_MIN_TICKS: Final = 10.0
FILL_ALPHA: Final = 0.35
# A panel's y range leaves out this share of the values at each end when the full range
# would be more than OUTLIER_SPAN times wider (one sweep through a thin book at the start
# would otherwise flatten the rest of the run into a line).
OUTLIER_SHARE: Final = 0.005
OUTLIER_SPAN: Final = 3.0
# A rate's float rounding is far below this share of a tick.
TICK_RTOL: Final = 1e-6


def _prints(ax: Axes, fills: Fills, scale: int) -> tuple[list[Any], str]:
    """The fills as dots, sized by quantity and coloured by the taker's side; the legend
    handles and how many of the fills were drawn."""
    n = len(fills)
    every = max(1, math.ceil(n / MAX_PRINTS))
    idx = np.arange(0, n, every)
    qty = fills.qty[idx].astype(np.float64)
    top = float(qty.max())
    size = DOT_MIN + (DOT_MAX - DOT_MIN) * qty / top
    price = fills.price[idx]
    buy = fills.buy[idx]
    drawn = f"every {every}th of {n:,} fills" if every > 1 else f"{n:,} fills"
    handles = []
    for mask, colour, who in ((buy, "tab:green", "taker bought"),
                              (~buy, "tab:purple", "taker sold")):
        if mask.any():
            # Under the quotes, and light: a busy book's fills would hide them.
            ax.scatter(fills.t[idx][mask], price[mask], s=size[mask], color=colour,
                       alpha=FILL_ALPHA, lw=0, zorder=1.5)
            handles.append(Line2D([], [], ls="", marker="o", ms=5, color=colour,
                                  alpha=FILL_ALPHA,
                                  label=f"fill, {who} (area ∝ qty, largest "
                                        f"{top / scale:,.4g} units)"))
    return handles, drawn


def _limits(values: FloatArray) -> tuple[float, float] | None:
    """A y range for ``values`` without their extreme outliers; None: they have none."""
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return None
    # Nearest, not interpolated: between the last two of a few hundred values, an
    # interpolated quantile would reach halfway to the outlier it is meant to leave out.
    lo, hi = (float(x) for x in np.quantile(v, [OUTLIER_SHARE, 1.0 - OUTLIER_SHARE],
                                            method="nearest"))
    full = float(v.max() - v.min())
    if hi <= lo or full <= OUTLIER_SPAN * (hi - lo):
        return None
    pad = 0.1 * (hi - lo)
    return lo - pad, hi + pad


def _clip(ax: Axes, values: FloatArray, what: str) -> str:
    """Narrow ``ax`` to the bulk of ``values``; says how many were left outside."""
    lim = _limits(values)
    if lim is None:
        return ""
    ax.set_ylim(*lim)
    out = int(((values < lim[0]) | (values > lim[1])).sum())
    return f"; {out:,} outlying {what} beyond the view"


def _quotes_panel(ax: Axes, t: FloatArray, quotes: tuple[FloatArray, FloatArray] | None,
                  fills: Fills | None, scale: int, name: str) -> None:
    ax.set_ylabel("rate (home money per unit)")
    ax.grid(True, alpha=0.3)
    handles: list[Any] = []
    drawn = "no fills"
    # A run recorded before books, or a book no one quoted, has NaN quotes only.
    if quotes is not None and len(t) and np.isfinite(np.concatenate(quotes)).any():
        bid, ask = quotes
        _, mid = spread_series(bid, ask)
        both = np.isfinite(bid) & np.isfinite(ask)
        ax.fill_between(t, bid, ask, where=both, step="post", color="0.6", alpha=0.35,
                        lw=0, label="spread")
        ax.step(t, bid, where="post", color=BID, lw=1.0, label="best bid", zorder=3)
        ax.step(t, ask, where="post", color=ASK, lw=1.0, label="best ask", zorder=3)
        ax.step(t, mid, where="post", color=MID, lw=0.8, label="mid", zorder=3)
    values = [np.concatenate(quotes)] if quotes is not None else []
    if fills is not None and len(fills):
        handles, drawn = _prints(ax, fills, scale)
        values.append(fills.price)
    clipped = _clip(ax, np.concatenate(values), "quotes and fills") if values else ""
    ax.set_title(f"{name}: best bid, best ask and mid at each sample, and the fills "
                 f"({drawn}{clipped})", loc="left", fontsize=10)
    own, labels = ax.get_legend_handles_labels()
    if not own and not handles:
        note(ax, "no quotes sampled and no fills")
        return
    if not own:
        # At the top, not over the fills in the middle.
        ax.text(0.5, 0.97, "no quotes sampled (the monitor recorded no best bid or ask)",
                transform=ax.transAxes, ha="center", va="top", fontsize=8, color="0.35")
    ax.legend([*own, *handles], [*labels, *(h.get_label() for h in handles)], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)


def _spread_panel(ax: Axes, t: FloatArray, quotes: tuple[FloatArray, FloatArray] | None,
                  tick: float | None) -> None:
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("time (s)")
    in_ticks = tick is not None and tick > 0
    ax.set_ylabel("spread (ticks)" if in_ticks else "spread (bps of mid)")
    if quotes is None or not len(t):
        ax.set_title("spread", loc="left", fontsize=10)
        note(ax, "no quotes sampled")
        return
    spread, mid = spread_series(*quotes)
    y = np.rint(spread / tick) if in_ticks and tick else 1e4 * spread / mid
    ok = np.isfinite(y)
    what = "ticks" if in_ticks else "bps of mid"
    if not ok.any():
        ax.set_title("spread", loc="left", fontsize=10)
        note(ax, "never both sides at once")
        return
    ax.step(t, y, where="post", color="0.25", lw=0.9)
    med = float(np.median(y[ok]))
    unit = "tick" if in_ticks and med == 1 else what
    ax.axhline(med, color="tab:orange", lw=1.0, ls="--", label=f"median {med:g} {unit}")
    clipped = _clip(ax, y[ok], "samples")
    ax.set_ylim(bottom=0.0)
    ax.set_title(f"spread over time ({ok.sum():,} of {len(y):,} samples with both "
                 f"sides{clipped})", loc="left", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              frameon=False)


def plot_book(samples: Mapping[str, np.ndarray[Any, Any]], fills: Mapping[str, Fills],
              books: Sequence[str], out: Path, title: str, *, scale: int,
              ticks: Mapping[str, float] | None = None) -> Path:
    """book.png: per book currency, the quotes and fills above the spread over time.

    ``samples`` as :func:`sim.harness.tables.read_samples` returns them (``bid`` and
    ``ask`` S x C rates), ``fills`` per currency name, ``books`` the book currencies in
    order, ``scale`` minor units per unit, ``ticks`` each book's price step (cash per
    unit) to count the spread in (else it is drawn in bps of the mid).
    """
    t = np.asarray(samples.get("t", np.zeros(0)), dtype=np.float64).ravel()
    rows = max(1, len(books))
    fig = Figure(figsize=(12, 0.8 + 4.6 * rows), layout="constrained")
    grid = fig.add_gridspec(2 * rows, 1, height_ratios=[3.0, 1.3] * rows)
    fig.suptitle(f"{title}\nlimit order books: quotes, fills and spread")
    if not books:
        ax = fig.add_subplot(grid[0])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("rate (home money per unit)")
        note(ax, "no currency trades on a book")
        return save(fig, out)
    first: Axes | None = None
    for k, name in enumerate(books):
        ax = fig.add_subplot(grid[2 * k], sharex=first)
        first = first or ax
        sp = fig.add_subplot(grid[2 * k + 1], sharex=first)
        quotes = best_quotes(samples, name)
        _quotes_panel(ax, t, quotes, fills.get(name), scale, name)
        _spread_panel(sp, t, quotes, (ticks or {}).get(name))
        ax.set_xlabel("time (s)")
    return save(fig, out)


def infer_tick(rate: FloatArray) -> float:
    """The price step of a set of ladder prices: their smallest positive difference."""
    u = np.unique(np.asarray(rate, dtype=np.float64)[np.isfinite(rate)])
    d = np.diff(u)
    d = d[d > TICK_RTOL * max(1.0, float(np.abs(u).max()) if len(u) else 1.0)]
    return float(d.min()) if len(d) else 1.0


def _edges(x: FloatArray) -> FloatArray:
    """Cell edges around sorted centres ``x``, halfway between neighbours."""
    if len(x) == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mids = (x[1:] + x[:-1]) / 2.0
    out: FloatArray = np.concatenate([[2 * x[0] - mids[0]], mids, [2 * x[-1] - mids[-1]]])
    return out


def _near(depth: Depth, step: float) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """The level readings a heat map shows: every best level, and the levels behind
    them no farther from their own side's best than most are (one order resting far
    from the touch would otherwise squeeze the book into a line)."""
    times = depth.times
    col = np.searchsorted(times, depth.t)
    top = depth.level == 0
    best = np.full((2, len(times)), np.nan)
    for k, side in enumerate((depth.bid, ~depth.bid)):
        best[k, col[top & side]] = depth.rate[top & side]
    own = np.where(depth.bid, best[0, col], best[1, col])
    far = np.abs(depth.rate - own) / step
    usual = float(np.nanquantile(far, NEAR_SHARE)) if np.isfinite(far).any() else 0.0
    # Half a tick more: distances between float rates are whole ticks give or take.
    out: np.ndarray[Any, np.dtype[np.bool_]] = top | (far <= max(usual, NEAR_MIN_TICKS) + 0.5)
    return out


def _depth_panel(ax: Axes, depth: Depth | None, name: str, tick: float | None,
                 norm: LogNorm | None) -> dict[str, Any]:
    """One book's heat maps on ``ax``; the mesh drawn for each side, by side."""
    ax.set_title(f"{name}: resting quantity at each price level, at each depth snapshot",
                 loc="left", fontsize=10)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("rate (home money per unit)")
    meshes: dict[str, Any] = {}
    if depth is None or len(depth) == 0:
        note(ax, "no depth snapshots")
        return meshes
    times = depth.times
    step = tick if tick is not None and tick > 0 else infer_tick(depth.rate)
    seen = _near(depth, step)
    lo = float(depth.rate[seen].min())
    row = np.rint((depth.rate - lo) / step).astype(np.int64)
    per_row = max(1, math.ceil((int(row[seen].max()) + 1) / MAX_ROWS))
    row //= per_row
    n_rows = int(row[seen].max()) + 1
    col = np.searchsorted(times, depth.t)
    y_edges = lo + (np.arange(n_rows + 1) * per_row - 0.5) * step
    x_edges = _edges(times)
    for is_bid, cmap, label in ((True, "Blues", "bid"), (False, "Reds", "ask")):
        grid = np.zeros((n_rows, len(times)))
        on = (depth.bid == is_bid) & seen
        np.add.at(grid, (row[on], col[on]), depth.qty[on])
        if not (grid > 0).any():
            continue
        meshes[label] = ax.pcolormesh(x_edges, y_edges, np.ma.masked_less_equal(grid, 0.0),
                                      cmap=cmap, norm=norm, shading="flat")
    best_bid = np.full(len(times), np.nan)
    best_ask = np.full(len(times), np.nan)
    top = depth.level == 0
    best_bid[col[top & depth.bid]] = depth.rate[top & depth.bid]
    best_ask[col[top & ~depth.bid]] = depth.rate[top & ~depth.bid]
    ax.plot(times, (best_bid + best_ask) / 2.0, color=MID, lw=1.0, label="mid")
    binned = f", {per_row} ticks per row" if per_row > 1 else ""
    off = int((~seen).sum())
    hidden = f"\n{off:,} far level{'s' if off > 1 else ''} not shown" if off else ""
    ax.legend(fontsize=7, loc="upper left", title=f"{len(times):,} snapshots{binned}{hidden}",
              title_fontsize=7)
    return meshes


def plot_depth(depth: Mapping[str, Depth], books: Sequence[str], out: Path, title: str,
               ticks: Mapping[str, float] | None = None) -> Path:
    """depth.png: per book currency, a heat map of the resting quantity per price level
    over time (bids blue, asks red, one logarithmic scale for every book, so colours
    compare across books) with the mid overlaid."""
    rows = max(1, len(books))
    fig = Figure(figsize=(12, 0.8 + 3.8 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, 1, squeeze=False)).ravel()
    fig.suptitle(f"{title}\ndepth: the top levels of each side over time")
    if not books:
        axes[0].set_xlabel("time (s)")
        axes[0].set_ylabel("rate (home money per unit)")
        note(axes[0], "no currency trades on a book")
        return save(fig, out)
    qty = [d.qty[d.qty > 0] for name in books if (d := depth.get(name)) is not None]
    pos = np.concatenate(qty) if qty else np.zeros(0)
    norm = LogNorm(vmin=float(pos.min()), vmax=float(pos.max())) if len(pos) else None
    meshes: dict[str, Any] = {}
    for ax, name in zip(axes, books, strict=True):
        meshes = {**_depth_panel(ax, depth.get(name), name, (ticks or {}).get(name), norm),
                  **meshes}
    # One colour bar per side for all the books: they share the scale (and four log
    # colour bars took half the time of drawing the figure).
    for label, mesh in meshes.items():
        fig.colorbar(mesh, ax=list(axes), pad=0.01, fraction=0.03, aspect=40,
                     label=f"{label} quantity (units, log scale)")
    return save(fig, out)
