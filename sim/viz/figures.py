"""Figures of a run folder: prices, traders' wealth and the market-behaviour panel.

Everything works from ``samples.npz`` (and ``summary.json`` for the title). A run that
stopped early may hold zero or one sample; the figures are still written, with a note
saying why they are empty, because ``sim run`` draws them after every run and ``sim plot``
is what a user reaches for when a run went wrong.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through pyplot:
no global figure registry, no GUI backend, nothing left open after a call.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sim.errors import BadInput
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
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# Below this many samples lines alone can be invisible (one sample is one point).
MARKER_BELOW: Final = 30
# A rate range wider than this factor is drawn on a log axis, or the small ones flatten.
LOG_RANGE: Final = 20.0
# Kurtosis needs four moments; fewer returns give a number that means nothing.
MIN_KURTOSIS_N: Final = 4
# Each lag of an autocorrelation needs two pairs at least: one pair is always -0.5 or so.
MIN_ACF_PAIRS: Final = 2
# A spread this small relative to the values is rounding noise of a constant series
# (e.g. equal returns recovered through exp and log), not variance worth standardizing.
FLAT_RTOL: Final = 1e-9
# Standardized returns beyond this are counted but not drawn: one 20-sigma return from a
# fat tail would otherwise squeeze the whole histogram into a few bins.
HIST_CLIP: Final = 8.0


# --------------------------------------------------------------------------- statistics


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


def _acf_pooled(columns: Sequence[FloatArray], max_lag: int) -> tuple[FloatArray, int]:
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


def _pooled_z(columns: Sequence[FloatArray]) -> FloatArray:
    parts = [z for z in (_standardized(c) for c in columns) if z is not None]
    return np.concatenate(parts) if parts else np.zeros(0)


def _stats(columns: Sequence[FloatArray], pooled: bool) -> dict[str, Any]:
    if pooled:
        z = _pooled_z(columns)
        n, kurt = len(z), excess_kurtosis(z)
    else:
        n, kurt = sum(int(np.isfinite(c).sum()) for c in columns), excess_kurtosis(columns[0])
    acf, _ = _acf_pooled(columns, 1)
    acf_abs, _ = _acf_pooled([np.abs(c) for c in columns], 1)
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


def _short_note(s: int) -> str:
    if s == 0:
        return " (no samples: run too short)"
    if s == 1:
        return " (one sample only: run too short)"
    return ""


# --------------------------------------------------------------------------- figures


def plot_prices(samples: Mapping[str, np.ndarray[Any, Any]], out: Path, title: str) -> Path:
    """price.png: every currency's rate over time, above the same rates / initial rate.

    ``out`` is the file to write (a folder gets ``price.png`` inside it). Samples with
    invariant violations are marked along the time axis.
    """
    out = _target(out, "price.png")
    t = _time(samples)
    s = len(t)
    rate = _matrix(samples, "rate", s)
    c = rate.shape[1] if rate.ndim == 2 else 0
    names = _names(samples, "names", c, "cur")
    colours = palette(c)
    marker = "o" if s < MARKER_BELOW else None

    fig = Figure(figsize=(11, 7.5))
    ax, axn = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    fig.suptitle(title + _short_note(s))
    ax.set_title("rates")
    axn.set_title("rates relative to their first sample")
    axn.set_xlabel("time (s)")  # shared with the upper panel, whose tick labels are hidden
    for a in (ax, axn):
        a.grid(True, alpha=0.3)
    ax.set_ylabel("rate (home money per unit)")
    axn.set_ylabel("rate / first rate (1)")

    if s == 0 or c == 0:
        note(ax, "no samples (run too short)" if s == 0 else "no currencies")
        note(axn, "nothing to normalise")
        return save(fig, out)

    with np.errstate(invalid="ignore", divide="ignore"):
        finite = np.isfinite(rate)
        first = np.array([rate[np.flatnonzero(finite[:, j])[0], j]
                          if finite[:, j].any() else np.nan for j in range(c)])
        norm = rate / np.where(first > 0, first, np.nan)
    for j in range(c):
        ax.plot(t, rate[:, j], color=colours[j], lw=1.2, marker=marker, ms=4, label=names[j])
        axn.plot(t, norm[:, j], color=colours[j], lw=1.0, marker=marker, ms=3)
    axn.axhline(1.0, color="0.5", lw=0.8, ls="--")

    pos = rate[finite & (rate > 0)]
    if len(pos) and pos.max() / pos.min() > LOG_RANGE:
        ax.set_yscale("log")
        ax.set_ylabel("rate (home money per unit, log scale)")

    violations = _get(samples, "violations", np.zeros(s, dtype=np.int64)).ravel()
    bad = t[violations[:s] > 0] if len(violations) >= s else np.zeros(0)
    if len(bad):
        for a in (ax, axn):
            a.plot(bad, np.zeros_like(bad), "|", color="red", ms=10, mew=1.2,
                   transform=a.get_xaxis_transform(), clip_on=False,
                   label=f"sample with violations ({len(bad)})" if a is ax else None)
    _legend_outside(ax, c + (1 if len(bad) else 0), title="currency")
    return save(fig, out)


def plot_wealth(samples: Mapping[str, np.ndarray[Any, Any]], out: Path, title: str) -> Path:
    """wealth.png: each trader's wealth over time, grouped by strategy.

    Thin lines are single traders; a strategy with several traders also gets its median
    (thick) and 10-90 % band, which stay legible when 32 thin lines overlap.
    """
    out = _target(out, "wealth.png")
    t = _time(samples)
    s = len(t)
    wealth = _matrix(samples, "wealth", s)
    n = wealth.shape[1] if wealth.ndim == 2 else 0
    strat = _names(samples, "strategy", n, "strategy ")
    groups = list(dict.fromkeys(strat))
    colours = palette(len(groups), "Dark2")
    marker = "o" if s < MARKER_BELOW else None

    fig = Figure(figsize=(11, 6))
    ax = fig.subplots()
    ax.set_title(f"{title}{_short_note(s)}\ntraders' wealth by strategy")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("wealth (home money)")
    ax.grid(True, alpha=0.3)
    if s == 0 or n == 0:
        note(ax, "no samples (run too short)" if s == 0 else "no traders")
        return save(fig, out)

    thin = 0.6 if n > 8 else 1.2
    handles: list[Any] = []
    labels: list[str] = []
    for g, colour in zip(groups, colours, strict=True):
        cols = [i for i, name in enumerate(strat) if name == g]
        w = wealth[:, cols]
        alpha = 0.35 if len(cols) > 1 else 1.0
        for i in range(len(cols)):
            ax.plot(t, w[:, i], color=colour, lw=thin, alpha=alpha, marker=marker, ms=3)
        if len(cols) == 1:
            handles.append(Line2D([], [], color=colour, lw=thin))
            labels.append(f"{g} (1 trader)")
            continue
        lo, med, hi = percentile_band(w, axis=1)
        ax.fill_between(t, lo, hi, color=colour, alpha=0.18, lw=0)
        ax.plot(t, med, color=colour, lw=2.4, marker=marker, ms=5)
        handles.append((Patch(color=colour, alpha=0.18), Line2D([], [], color=colour, lw=2.4)))
        labels.append(f"{g}: median and 10–90 % of {len(cols)}")
    _legend_outside(ax, len(labels), handles=handles, labels=labels, title="strategy")
    return save(fig, out)


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
                max_lag: int = 20) -> Path:
    """market.png: return distribution against a normal, and return / |return| ACFs.

    The ACF panels show each currency thinly and the pooled estimate as stems, with the
    95 % band of an uncorrelated series; the pooled excess kurtosis is in the title.
    """
    out = _target(out, "market.png")
    max_lag = max(1, int(max_lag))
    t = _time(samples)
    s = len(t)
    rate = _matrix(samples, "rate", s)
    c = rate.shape[1] if rate.ndim == 2 else 0
    names = _names(samples, "names", c, "cur")
    colours = palette(c)
    r = log_returns(rate)
    cols = [r[:, j] for j in range(c)]
    pooled_stats = market_stats(rate)["pooled"]
    n, kurt = int(pooled_stats["n"]), float(pooled_stats["excess_kurtosis"])

    fig = Figure(figsize=(16, 5))
    ax_h, ax_r, ax_a = fig.subplots(1, 3)
    k_text = (f"pooled excess kurtosis {kurt:.2f} (n={n})" if math.isfinite(kurt)
              else f"excess kurtosis n/a (n={n} returns, need ≥ {MIN_KURTOSIS_N})")
    fig.suptitle(f"{title}{_short_note(s)}\n{k_text}")

    ax_h.set_title("standardized log returns, all currencies")
    ax_h.set_xlabel("standardized log return (σ)")
    ax_h.set_ylabel("density (1/σ)")
    ax_h.grid(True, alpha=0.3)
    z = _pooled_z(cols)
    if len(z) >= MIN_KURTOSIS_N:
        mu, sd = float(z.mean()), float(z.std())
        shown = z[np.abs(z) <= HIST_CLIP]
        bins = int(np.clip(math.sqrt(len(shown)), 10, 80))
        # Density over all returns, so the clipped tail still counts in the normalisation.
        counts, edges = np.histogram(shown, bins=bins)
        dens = counts / (len(z) * np.diff(edges))
        hidden = len(z) - len(shown)
        label = "returns" + (f" ({hidden} beyond ±{HIST_CLIP:g}σ not drawn)" if hidden else "")
        ax_h.stairs(dens, edges, fill=True, color="tab:gray", alpha=0.6, label=label)
        x = np.linspace(edges[0], edges[-1], 400)
        pdf = np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2.0 * math.pi))
        ax_h.plot(x, pdf, color="tab:red", lw=1.8,
                  label=f"normal fit μ={mu:.2f}, σ={sd:.2f}")
        ax_h.legend(fontsize=8, loc="upper right")
    else:
        note(ax_h, f"too few returns (n={len(z)})")

    acf_r = [_acf_pooled([col], max_lag)[0] for col in cols]
    acf_a = [_acf_pooled([np.abs(col)], max_lag)[0] for col in cols]
    pooled_r, n_r = _acf_pooled(cols, max_lag)
    pooled_a, n_a = _acf_pooled([np.abs(col) for col in cols], max_lag)
    _acf_panel(ax_r, acf_r, pooled_r, n_r, names, colours, "returns")
    _acf_panel(ax_a, acf_a, pooled_a, n_a, names, colours, "|returns|")
    if ax_a.get_legend_handles_labels()[0]:
        _legend_outside(ax_a, c + 2, title="currency")
    return save(fig, out)


# --------------------------------------------------------------------------- a run


def _run_title(run_dir: Path) -> str:
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return run_dir.name
    if not isinstance(summary, dict):
        return run_dir.name
    scenario = summary.get("scenario", run_dir.parent.name)
    parts = [str(summary[k]) for k in ("sync",) if k in summary]
    if "n_traders" in summary:
        parts.append(f"{summary['n_traders']} traders")
    return f"{scenario} — {', '.join(parts)}" if parts else str(scenario)


def plot_run(run_dir: Path) -> list[Path]:
    """Write price.png, wealth.png and market.png into a run folder; returns their paths."""
    run_dir = Path(run_dir)
    f = run_dir / "samples.npz"
    if not f.is_file():
        raise BadInput(f"{run_dir}: no samples.npz (expected a run folder)")
    try:
        with np.load(f, allow_pickle=False) as z:
            samples = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise BadInput(f"{f}: unreadable ({e})") from e
    title = _run_title(run_dir)
    return [
        plot_prices(samples, run_dir / "price.png", title),
        plot_wealth(samples, run_dir / "wealth.png", title),
        plot_market(samples, run_dir / "market.png", title),
    ]
