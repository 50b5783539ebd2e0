"""Strategy comparisons and parameter sweeps: specs, the Dask runner, analysis, tables.

Names are imported on first use: a run's guard process (``sim.compare.guard``) starts
inside this package and must not pay for pandas, Dask or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

__all__ = [
    "Analysis",
    "CompareSpec",
    "GroupRow",
    "Plan",
    "Variant",
    "analyse",
    "compare_command",
    "group_stats",
    "load_spec",
    "max_drawdown",
    "mean_ci",
    "paired_seeds",
    "t_quantile_975",
    "win_rates",
]

_HOME: Final = {
    "Analysis": "analysis", "GroupRow": "analysis", "analyse": "analysis",
    "group_stats": "analysis", "win_rates": "analysis",
    "compare_command": "command",
    "CompareSpec": "spec", "Plan": "spec", "Variant": "spec", "load_spec": "spec",
    "paired_seeds": "spec",
    "max_drawdown": "stats", "mean_ci": "stats", "t_quantile_975": "stats",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'sim.compare' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sim.compare.{home}"), name)
