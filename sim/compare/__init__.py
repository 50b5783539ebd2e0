"""Strategy comparisons: variants of a scenario x paired repeats, run, analysed, reported."""

from __future__ import annotations

from sim.compare.analysis import Analysis, GroupRow, analyse, group_stats, win_rates
from sim.compare.command import compare_command
from sim.compare.spec import CompareSpec, Plan, Variant, load_spec, paired_seeds
from sim.compare.stats import max_drawdown, mean_ci, t_quantile_975

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
