"""A notebook-shaped example: sweep the pool fee, plot traders' return against it.

Cells are marked ``# %%`` (VS Code, PyCharm and Jupytext open them as a notebook); run as
a script it does the same top to bottom: ``python examples/sweep_notebook.py`` writes
``results/sweep-notebook-fees/...`` and ``results/fee_vs_return.png``. About half a
minute on two cores.
"""

# %% A small sweep: four fees x three paired repeats of a short default market
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import sim
from sim.compare.stats import mean_ci

REPO = Path(__file__).resolve().parents[1]
OUT = Path("results")

spec = {
    "name": "notebook-fees",
    "base": str(REPO / "scenarios" / "default.yaml"),
    "repeats": 3,
    "seed": 2,
    "duration_s": 0.3,
    "set": {"monitor.interval_ms": 20},
    "grid": {"product": {"fee_bps": [0, 30, 100, 300]}},
}
table = sim.sweep(spec, out=OUT)  # a local Dask cluster; pass scheduler="tcp://..." to share
print(table.head())


# %% Mean return per fee with a 95 % t-interval over the repeats
def summarise(table: pd.DataFrame, param: str, metric: str) -> pd.DataFrame:
    """Mean and 95 % interval of ``metric`` at each value of ``param``."""
    rows = []
    for value, group in table.groupby(param, sort=True):
        m, lo, hi = mean_ci(group[metric].astype(float).tolist())
        rows.append({param: value, "mean": m, "lo": lo if lo is not None else m,
                     "hi": hi if hi is not None else m, "runs": len(group)})
    return pd.DataFrame.from_records(rows)


stats = summarise(table, "fee_bps", "return")
print(stats.to_string(index=False))


# %% The figure: the mean as a line, the interval as a band
def plot_metric(stats: pd.DataFrame, param: str, label: str) -> Figure:
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    x = stats[param].to_numpy(dtype=float)
    ax.fill_between(x, stats["lo"] * 100, stats["hi"] * 100, alpha=0.25,
                    label="95 % interval")
    ax.plot(x, stats["mean"] * 100, marker="o", label="mean")
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xlabel(param)
    ax.set_ylabel(f"{label} (%)")
    ax.set_title(f"{label} against {param} ({int(stats['runs'].min())} runs per point)")
    ax.legend(loc="best")
    return fig


fig = plot_metric(stats, "fee_bps", "traders' return")
fig.savefig(OUT / "fee_vs_return.png", dpi=120)


# %% One run's own tables: the ledger and the monitor's samples as DataFrames
run = sim.run(REPO / "scenarios" / "default.yaml", out=OUT, duration_s=0.3, fee_bps=100)
print(run.summary["passed"], len(run.trades), "trades")
per_currency = run.trades.groupby("currency", observed=True)["qty"].agg(["count", "sum"])
print(per_currency)
print("final rates:", np.round(run.samples.filter(like="rate_").iloc[-1].to_numpy(), 4))
