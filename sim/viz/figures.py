"""Figures of a run folder: prices, traders' wealth and the market-behaviour panel.

Everything works from the run's sample arrays (and ``summary.json`` for the title). A run
that stopped early may hold zero or one sample; the figures are still written, with a note
saying why they are empty, because ``sim run`` draws them after every run and ``sim plot``
is what a user reaches for when a run went wrong.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through pyplot:
no global figure registry, no GUI backend, nothing left open after a call.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from sim.viz.bands import has_bands, plot_group_bands
from sim.viz.parallel import Job, draw_all
from sim.viz.returns import (
    MIN_ACF_PAIRS,
    MIN_KURTOSIS_N,
    acf_pooled,
    excess_kurtosis,
    log_returns,
    market_stats,
    pooled_z,
)
from sim.viz.style import colours as palette
from sim.viz.style import note, percentile_band, save

__all__ = [
    "excess_kurtosis",
    "log_returns",
    "market_stats",
    "plot_market",
    "plot_prices",
    "plot_run",
    "plot_wealth",
    "run_title",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# Below this many samples lines alone can be invisible (one sample is one point).
MARKER_BELOW: Final = 30
# A rate range wider than this factor is drawn on a log axis, or the small ones flatten.
LOG_RANGE: Final = 20.0
# Standardized returns beyond this are counted but not drawn: one 20-sigma return from a
# fat tail would otherwise squeeze the whole histogram into a few bins.
HIST_CLIP: Final = 8.0
TOO_SHORT: Final = "run too short"
# Small panels per row under price.png's rates: four stay legible at the figure's width.
PRICE_COLUMNS: Final = 4
MONITOR_GAP: Final = "the monitor fell behind"
RESUME_GAP: Final = "coordinator dead until resumed"
# A pause in the samples this many times the usual interval (and at least GAP_MIN_S) is
# a stretch when nothing ran: drawn as a shaded gap, never as a straight line across it.
GAP_FACTOR: Final = 20.0
GAP_MIN_S: Final = 0.5


# --------------------------------------------------------------------------- helpers


def _get(samples: Mapping[str, np.ndarray[Any, Any]], key: str,
         default: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    v = samples.get(key)
    return default if v is None else np.asarray(v)


def _time(samples: Mapping[str, np.ndarray[Any, Any]]) -> FloatArray:
    return np.asarray(_get(samples, "t", np.zeros(0)), dtype=np.float64).ravel()


def _matrix(samples: Mapping[str, np.ndarray[Any, Any]], key: str, s: int) -> FloatArray:
    m = np.asarray(_get(samples, key, np.zeros((s, 0))), dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != s:
        # One currency saved flat, or a truncated array: keep what lines up with t.
        m = m.reshape(s, -1) if s and m.size % s == 0 else np.zeros((s, 0))
    return m


def _names(samples: Mapping[str, np.ndarray[Any, Any]], key: str, n: int,
           fallback: str) -> list[str]:
    raw = [str(x) for x in _get(samples, key, np.zeros(0, dtype=str)).ravel()]
    return [raw[i] if i < len(raw) else f"{fallback}{i}" for i in range(n)]


def _rates(samples: Mapping[str, np.ndarray[Any, Any]]
           ) -> tuple[FloatArray, FloatArray, list[str], list[Any]]:
    """Sample times, the (S, C) rates, currency names and a colour per currency."""
    t = _time(samples)
    rate = _matrix(samples, "rate", len(t))
    c = rate.shape[1] if rate.ndim == 2 else 0
    return t, rate, _names(samples, "names", c, "cur"), palette(c)


def _legend_outside(ax: Axes, n_entries: int, **kw: Any) -> None:
    # Outside the axes so 8+ currencies never cover the data; columns keep it short.
    handles, labels = kw.pop("handles", None), kw.pop("labels", None)
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    ncol = max(1, math.ceil(n_entries / 16))
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0, fontsize=8, ncol=ncol, frameon=False, **kw)


def _target(out: Path, default_name: str) -> Path:
    out = Path(out)
    return out / default_name if out.is_dir() else out


def _short_note(s: int, why: str = TOO_SHORT) -> str:
    if s == 0:
        return f" (no samples: {why})"
    if s == 1:
        return f" (one sample only: {why})"
    return ""


def _gaps(t: FloatArray) -> list[tuple[float, float]]:
    """Stretches with no samples, far longer than the sampling interval: the time a
    resumed run's coordinator (and with it the monitor) was dead."""
    if len(t) < 3:
        return []
    dt = np.diff(t)
    limit = max(GAP_FACTOR * float(np.median(dt)), GAP_MIN_S)
    return [(float(t[i]), float(t[i + 1])) for i in np.flatnonzero(dt > limit)]


def _broken(t: FloatArray, m: FloatArray, gaps: list[tuple[float, float]]
            ) -> tuple[FloatArray, FloatArray]:
    """``t`` and the rows of ``m`` with a NaN row in each gap, so no line bridges it."""
    if not gaps:
        return t, m
    at = np.searchsorted(t, [g[1] for g in gaps])
    nan_rows = np.full((len(at), *m.shape[1:]), np.nan)
    return (np.insert(t, at, [(a + b) / 2 for a, b in gaps]),
            np.insert(m, at, nan_rows, axis=0))


def _mark_gaps(axes: Sequence[Axes], gaps: list[tuple[float, float]], label: str) -> None:
    for i, (a, b) in enumerate(gaps):
        for ax in axes:
            ax.axvspan(a, b, color="0.85", alpha=0.6, lw=0, zorder=0,
                       label=f"no samples: {label}" if i == 0 and ax is axes[0] else None)


# --------------------------------------------------------------------------- figures


def plot_prices(samples: Mapping[str, np.ndarray[Any, Any]], out: Path, title: str,
                why_empty: str = TOO_SHORT, gap: str = MONITOR_GAP) -> Path:
    """price.png: every currency's rate over time, above one small panel per currency of
    its change since the first sample, in percent, each on its own y scale.

    Small multiples rather than one shared relative panel: a currency that moves 60 %
    would flatten the others' 1 % moves into a line. ``out`` is the file to write (a
    folder gets ``price.png`` inside it). Samples with invariant violations are marked
    along the time axis.
    """
    out = _target(out, "price.png")
    t, rate, names, colours = _rates(samples)
    s, c = len(t), len(names)
    marker = "o" if s < MARKER_BELOW else None

    ncols = max(1, min(PRICE_COLUMNS, c))
    nrows = math.ceil(max(1, c) / ncols)
    fig = Figure(figsize=(11, 4.6 + 1.9 * nrows), layout="constrained")
    grid = fig.add_gridspec(1 + nrows, ncols, height_ratios=(3.0, *[1.6] * nrows))
    ax = fig.add_subplot(grid[0, :])
    small = [fig.add_subplot(grid[1 + k // ncols, k % ncols], sharex=ax)
             for k in range(max(1, c))]
    fig.suptitle(title + _short_note(s, why_empty))
    ax.set_title("rates")
    ax.set_ylabel("rate (home money per unit)")
    ax.grid(True, alpha=0.3)
    for k, a in enumerate(small):
        a.grid(True, alpha=0.3)
        if k % ncols == 0:
            a.set_ylabel("vs first (%)")
        if k >= len(small) - ncols:
            a.set_xlabel("time (s)")

    if s == 0 or c == 0:
        note(ax, f"no samples ({why_empty})" if s == 0 else "no currencies")
        note(small[0], "nothing to compare with a first sample")
        return save(fig, out)

    with np.errstate(invalid="ignore", divide="ignore"):
        finite = np.isfinite(rate)
        first = np.array([rate[np.flatnonzero(finite[:, j])[0], j]
                          if finite[:, j].any() else np.nan for j in range(c)])
        change = 100.0 * (rate / np.where(first > 0, first, np.nan) - 1.0)
    gaps = _gaps(t)
    tb, rate_b = _broken(t, rate, gaps)
    _, change_b = _broken(t, change, gaps)
    for j in range(c):
        ax.plot(tb, rate_b[:, j], color=colours[j], lw=1.2, marker=marker, ms=4,
                label=names[j])
        small[j].plot(tb, change_b[:, j], color=colours[j], lw=1.0, marker=marker, ms=3)
        small[j].axhline(0.0, color="0.5", lw=0.8, ls="--")
        small[j].set_title(names[j], color=colours[j], fontsize=9, loc="left")
    _mark_gaps([ax, *small], gaps, gap)

    pos = rate[finite & (rate > 0)]
    if len(pos) and pos.max() / pos.min() > LOG_RANGE:
        ax.set_yscale("log")
        ax.set_ylabel("rate (home money per unit, log scale)")

    violations = _get(samples, "violations", np.zeros(s, dtype=np.int64)).ravel()
    bad = t[violations[:s] > 0] if len(violations) >= s else np.zeros(0)
    if len(bad):
        ax.plot(bad, np.zeros_like(bad), "|", color="red", ms=10, mew=1.2,
                transform=ax.get_xaxis_transform(), clip_on=False,
                label=f"sample with violations ({len(bad)})")
    # Under the figure, across its width: beside the rates it would narrow every small panel.
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6),
               fontsize=8, frameon=False)
    # The small panels share this axis (and its ticks): few enough ticks for their width.
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6 if ncols < 3 else 4))
    return save(fig, out)


def plot_wealth(samples: Mapping[str, np.ndarray[Any, Any]], out: Path, title: str,
                why_empty: str = TOO_SHORT, gap: str = MONITOR_GAP) -> Path:
    """wealth.png: each group's profit and loss across its agents at every audit when the
    run recorded them (see :mod:`sim.viz.bands`); else each column's wealth over time,
    one panel per strategy.

    Thin lines are single traders; a strategy with several traders also gets its median
    (thick) and 10-90 % band, which stay legible when 32 thin lines overlap. Every panel
    has its own y scale, so a strategy endowed (or grown) ten times richer does not
    flatten the others; each panel's title gives its median change over the run.
    """
    out = _target(out, "wealth.png")
    if has_bands(samples):
        return plot_group_bands(samples, out, title)
    t = _time(samples)
    s = len(t)
    wealth = _matrix(samples, "wealth", s)
    n = wealth.shape[1] if wealth.ndim == 2 else 0
    strat = _names(samples, "strategy", n, "strategy ")
    groups = list(dict.fromkeys(strat)) or [""]
    colours = palette(len(groups), "Dark2")
    marker = "o" if s < MARKER_BELOW else None

    cols = 1 if len(groups) <= 3 else 2
    rows = math.ceil(len(groups) / cols)
    fig = Figure(figsize=(11 if cols == 1 else 14, 1.0 + 2.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False, sharex=True)).ravel()
    fig.suptitle(f"{title}{_short_note(s, why_empty)}\ntraders' wealth by strategy "
                 "(each panel has its own y scale)")
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    for ax in axes[max(0, len(groups) - cols):len(groups)]:
        ax.set_xlabel("time (s)")
        ax.xaxis.set_tick_params(labelbottom=True)
    if s == 0 or n == 0:
        axes[0].set_ylabel("wealth (home money)")
        note(axes[0], f"no samples ({why_empty})" if s == 0 else "no traders")
        return save(fig, out)

    thin = 0.6 if n > 8 else 1.2
    gaps = _gaps(t)
    tb, wb = _broken(t, wealth, gaps)
    for ax, g, colour in zip(axes, groups, colours, strict=False):
        cols_g = [i for i, name in enumerate(strat) if name == g]
        w = wb[:, cols_g]
        ax.set_ylabel("wealth (home money)")
        ax.grid(True, alpha=0.3)
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        alpha = 0.35 if len(cols_g) > 1 else 1.0
        for i in range(len(cols_g)):
            ax.plot(tb, w[:, i], color=colour, lw=thin, alpha=alpha, marker=marker, ms=3)
        lo, med, hi = percentile_band(w, axis=1)
        if len(cols_g) > 1:
            ax.fill_between(tb, lo, hi, color=colour, alpha=0.18, lw=0)
            ax.plot(tb, med, color=colour, lw=2.4, marker=marker, ms=5)
        what = (f"{g}: {len(cols_g)} traders, median and 10–90 %" if len(cols_g) > 1
                else f"{g}: 1 trader")
        ax.set_title(f"{what}{_change(med)}", color=colour, fontsize=10, loc="left")
        _mark_gaps([ax], gaps, gap)
    if gaps:
        axes[0].legend(fontsize=8, loc="upper right")
    return save(fig, out)


def _change(med: FloatArray) -> str:
    ok = med[np.isfinite(med)]
    if len(ok) < 2 or ok[0] == 0:
        return ""
    return f"; median {ok[0]:,.0f} → {ok[-1]:,.0f} ({100.0 * (ok[-1] / ok[0] - 1.0):+.2f} %)"


def _acf_panel(ax: Axes, per: Sequence[FloatArray], pooled: FloatArray, n: int,
               names: Sequence[str], colours: Sequence[Any], what: str) -> None:
    lags = np.arange(1, len(pooled) + 1)
    ax.set_title(f"autocorrelation of {what}")
    ax.set_xlabel("lag (samples)")
    ax.set_ylabel(f"autocorrelation of {what} (1)")
    ax.grid(True, alpha=0.3)
    if n < MIN_ACF_PAIRS + 1 or not np.isfinite(pooled).any():
        note(ax, f"too few returns (n={n})")
        return
    for acf, name, colour in zip(per, names, colours, strict=True):
        ax.plot(lags, acf, color=colour, lw=0.7, alpha=0.6, label=name)
    ax.vlines(lags, 0.0, np.nan_to_num(pooled), color="black", lw=2.0)
    ax.plot(lags, pooled, "o", color="black", ms=4, label="pooled")
    band = 1.96 / math.sqrt(n)
    ax.axhspan(-band, band, color="tab:blue", alpha=0.15, lw=0,
               label=f"95 % band of pooled, ±1.96/√n, n={n}")
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xlim(0.5, len(pooled) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_market(samples: Mapping[str, np.ndarray[Any, Any]], out: Path, title: str,
                max_lag: int = 20, why_empty: str = TOO_SHORT) -> Path:
    """market.png: return distribution against a normal, and return / |return| ACFs.

    The ACF panels show each currency thinly and the pooled estimate as stems, with the
    95 % band of an uncorrelated series; the pooled excess kurtosis is in the title.
    """
    out = _target(out, "market.png")
    max_lag = max(1, int(max_lag))
    t, rate, names, colours = _rates(samples)
    s, c = len(t), len(names)
    r = log_returns(rate)
    cols = [r[:, j] for j in range(c)]
    pooled_stats = market_stats(rate)["pooled"]
    n, kurt = int(pooled_stats["n"]), float(pooled_stats["excess_kurtosis"])

    fig = Figure(figsize=(16, 5))
    ax_h, ax_r, ax_a = fig.subplots(1, 3)
    k_text = (f"pooled excess kurtosis {kurt:.2f} (n={n})" if math.isfinite(kurt)
              else f"excess kurtosis n/a (n={n} returns, need ≥ {MIN_KURTOSIS_N})")
    fig.suptitle(f"{title}{_short_note(s, why_empty)}\n{k_text}")

    ax_h.set_title("standardized log returns, all currencies")
    ax_h.set_xlabel("standardized log return (σ)")
    ax_h.set_ylabel("density (1/σ)")
    ax_h.grid(True, alpha=0.3)
    z = pooled_z(cols)
    if len(z) >= MIN_KURTOSIS_N:
        shown = z[np.abs(z) <= HIST_CLIP]
        bins = int(np.clip(math.sqrt(len(shown)), 10, 80))
        # Density over all returns, so the clipped tail still counts in the normalisation.
        counts, edges = np.histogram(shown, bins=bins)
        dens = counts / (len(z) * np.diff(edges))
        hidden = len(z) - len(shown)
        label = "returns" + (f" ({hidden} beyond ±{HIST_CLIP:g}σ not drawn)" if hidden else "")
        ax_h.stairs(dens, edges, fill=True, color="tab:gray", alpha=0.6, label=label)
        x = np.linspace(edges[0], edges[-1], 400)
        # The returns are standardized, so the normal to hold them against is N(0, 1):
        # a "fit" would only print μ=0.00, σ=1.00 back.
        pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
        ax_h.plot(x, pdf, color="tab:red", lw=1.8, label="standard normal")
        # Below the panel: inside it, any corner can hold the tallest bars.
        ax_h.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
                    frameon=False)
    else:
        note(ax_h, f"too few returns (n={len(z)})")

    acf_r = [acf_pooled([col], max_lag)[0] for col in cols]
    acf_a = [acf_pooled([np.abs(col)], max_lag)[0] for col in cols]
    pooled_r, n_r = acf_pooled(cols, max_lag)
    pooled_a, n_a = acf_pooled([np.abs(col) for col in cols], max_lag)
    _acf_panel(ax_r, acf_r, pooled_r, n_r, names, colours, "returns")
    _acf_panel(ax_a, acf_a, pooled_a, n_a, names, colours, "|returns|")
    if ax_a.get_legend_handles_labels()[0]:
        _legend_outside(ax_a, c + 2, title="currency")
    return save(fig, out)


# --------------------------------------------------------------------------- a run


def run_title(run_dir: Path) -> str:
    summary: Any = None
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads((run_dir / "summary.json").read_text())
    if not isinstance(summary, dict):
        # A run that died wrote no summary: name it by its scenario all the same.
        return f"{_scenario_name(run_dir)} — run {run_dir.name} (did not finish)"
    scenario = summary.get("scenario", run_dir.parent.name)
    parts = [str(summary[k]) for k in ("sync",) if k in summary]
    if "n_traders" in summary:
        parts.append(f"{summary['n_traders']} traders")
    if summary.get("resumed"):
        parts.append(f"resumed {summary['resumed']}x")
    return f"{scenario} — {', '.join(parts)}" if parts else str(scenario)


def _scenario_name(run_dir: Path) -> str:
    try:
        data = yaml.safe_load((run_dir / "scenario.yaml").read_text())
    except (OSError, yaml.YAMLError):
        data = None
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name else run_dir.parent.name


def _why_empty(run_dir: Path) -> str:
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        enabled = summary["monitor"]["enabled"]
    except (OSError, ValueError, KeyError, TypeError):
        try:
            data = yaml.safe_load((run_dir / "scenario.yaml").read_text())
            enabled = data.get("monitor", {}).get("enabled", True)
        except (OSError, yaml.YAMLError, AttributeError):
            enabled = True
    return TOO_SHORT if enabled else "monitor disabled"


def plot_run(run_dir: Path, samples: Mapping[str, np.ndarray[Any, Any]],
             more: Sequence[Job] = ()) -> list[Path]:
    """Write price.png, wealth.png and market.png into a run folder, and whatever ``more``
    draws (a book run's figures), all at once; returns the run's three paths.

    ``samples`` are the run's sample arrays (``sim.harness.tables.read_samples``).
    """
    run_dir = Path(run_dir)
    title = run_title(run_dir)
    why = _why_empty(run_dir)
    gap = RESUME_GAP if (run_dir / "resumed").exists() else MONITOR_GAP
    jobs: list[Job] = [
        lambda: plot_prices(samples, run_dir / "price.png", title, why, gap),
        lambda: plot_market(samples, run_dir / "market.png", title, why_empty=why),
        *more,
        lambda: plot_wealth(samples, run_dir / "wealth.png", title, why, gap),
    ]
    draw_all(jobs)
    return [run_dir / "price.png", run_dir / "wealth.png", run_dir / "market.png"]
