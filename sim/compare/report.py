"""A comparison's tables: compare.csv, report.md and the terminal table.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import IO, Any, Final

from sim.compare.analysis import GroupRow
from sim.compare.runner import RunResult
from sim.compare.spec import Plan
from sim.viz.terminal import console, indented, table

__all__ = [
    "CSV_COLUMNS",
    "print_table",
    "write_csv",
    "write_report",
]

CSV_COLUMNS: Final = ("variant", "repeat", "seed", "strategy", "traders", "pnl", "return",
                      "max_drawdown", "trades", "rejected")


def write_csv(path: Path, rows: list[GroupRow]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow(r.csv())


def _fmt(x: Any, digits: int = 2, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    v = float(x) * (100.0 if pct else 1.0)
    return f"{v:,.{digits}f}" + (" %" if pct else "")


def write_report(path: Path, plan: Plan, stats: dict[str, dict[str, Any]],
                 results: list[RunResult], strategies: list[str], root: Path) -> None:
    spec = plan.spec
    n_ok = sum(r.passed for r in results)
    lines = [f"# Comparison: {spec.name}", ""]
    if spec.description:
        lines += [spec.description, ""]
    dur = f"{spec.duration_s:g} s" if spec.duration_s is not None else "as in the base"
    lines += [
        f"Spec `{plan.spec_path}`, base scenario `{plan.base_path}`; "
        f"{len(spec.variants)} variants × {spec.repeats} repeats, duration {dur}, "
        f"base seed {spec.seed}. Repeat *r* runs with the same seed in every variant "
        f"(paired): {', '.join(str(s) for s in plan.seeds)}.",
        "",
        f"Runs: {len(results)}, passed: {n_ok}.",
        "",
        "PnL is final minus initial wealth (cash plus holdings at pool rates, home money), "
        "summed over the strategy's traders (PnL per trader divides it by their number, as "
        "the terminal table and pnl.png show it); return is PnL / initial wealth. The 95 % "
        "interval is a t-interval over repeats. Win rate: share of pairings with each other "
        "strategy of the same variant and repeat that had the higher return (ties count "
        "half). Max drawdown: largest peak-to-trough fall of the group's summed wealth, as "
        "a fraction of the peak.",
        "",
    ]
    for strat in strategies:
        lines += [f"## {strat}", "",
                  "| variant | runs | traders | mean PnL | 95 % CI of PnL | mean PnL per trader "
                  "| mean return | win rate | mean trades | mean rejected | mean max drawdown |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for v in (var.name for var in spec.variants):
            st = stats.get(v, {}).get(strat)
            if st is None:
                continue  # this strategy does not trade in that variant
            ci = st["pnl_ci95"]
            ci_text = f"{_fmt(ci[0])} … {_fmt(ci[1])}" if ci else "–"
            lines.append(
                f"| {v} | {st['runs']} | {st['traders']} | {_fmt(st['mean_pnl'])} | "
                f"{ci_text} | {_fmt(_per_trader(st['mean_pnl'], int(st['traders'])))} | "
                f"{_fmt(st['mean_return'], 3, pct=True)} | "
                f"{_fmt(st['win_rate'], 0, pct=True)} | {_fmt(st['mean_trades'], 0)} | "
                f"{_fmt(st['mean_rejected'], 0)} | "
                f"{_fmt(st['mean_max_drawdown'], 2, pct=True)} |")
        lines.append("")
    lines += ["## Figures", "",
              "- [pnl.png](pnl.png): PnL per trader, a panel per strategy, per variant",
              "- [wealth.png](wealth.png): wealth change over time, a panel per strategy, "
              "a line (median) and 10–90 % band per variant",
              "- [prices.png](prices.png): price paths of repeat 0, a panel per currency "
              "and variant", "",
              "![PnL per trader](pnl.png)", "", "![wealth over time](wealth.png)", "",
              "![price paths](prices.png)", "", "## Runs", "",
              "| variant | repeat | seed | result | seconds | folder |",
              "| --- | ---: | ---: | --- | ---: | --- |"]
    for r in results:
        verdict = "passed" if r.passed else ("FAILED" if r.summary else f"error: {r.error}")
        rel = os.path.relpath(r.run_dir, root) if r.run_dir else ""
        link = f"[{rel}]({rel})" if rel else "–"
        lines.append(f"| {r.job.variant} | {r.job.repeat} | {r.job.seed} | {verdict} | "
                     f"{r.seconds:.1f} | {link} |")
    path.write_text("\n".join(lines) + "\n")


def _per_trader(x: Any, traders: int) -> Any:
    return None if x is None or not traders else float(x) / traders


def print_table(out: IO[str], stats: dict[str, dict[str, Any]]) -> None:
    """The terminal table: PnL per trader, as pnl.png draws it (report.md has both)."""
    rows = []
    for v, per in stats.items():
        for strat, st in per.items():
            n = int(st["traders"])
            ci = st["pnl_ci95"]
            rows.append([v, strat, str(n), _fmt(_per_trader(st["mean_pnl"], n)),
                         f"{_fmt(_per_trader(ci[0], n))} … {_fmt(_per_trader(ci[1], n))}"
                         if ci else "–",
                         _fmt(st["win_rate"], 0, pct=True)])
    console(out).print(indented(table(
        ["variant", "strategy", "traders", "mean PnL per trader", "95 % CI", "win rate"],
        rows, right={2, 3, 4, 5})))
