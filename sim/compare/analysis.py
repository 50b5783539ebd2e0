"""What a comparison's runs say: per run and strategy group PnL, returns, drawdowns, wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.compare.runner import RunResult
from sim.compare.stats import max_drawdown, mean_ci
from sim.errors import BadInput
from sim.harness.summary import TraderResult
from sim.harness.tables import read_samples

__all__ = [
    "Analysis",
    "GroupRow",
    "Samples",
    "analyse",
    "group_stats",
    "win_rates",
]

@dataclass
class GroupRow:
    """One row of compare.csv: one strategy's traders in one run, summed."""

    variant: str
    repeat: int
    seed: int
    strategy: str
    traders: int
    pnl: float
    ret: float
    max_drawdown: float
    trades: int
    rejected: int
    initial: float
    run: int = -1  # index of the run's job

    def csv(self) -> list[str]:
        return [self.variant, str(self.repeat), str(self.seed), self.strategy,
                str(self.traders), _num(self.pnl, 4), _num(self.ret, 8),
                _num(self.max_drawdown, 8), str(self.trades), str(self.rejected)]


def _num(x: float, digits: int) -> str:
    # Empty, not "nan", is what spreadsheets and csv readers take as a missing value.
    return f"{x:.{digits}f}" if math.isfinite(x) else ""


@dataclass
class Samples:
    """The parts of a run's samples the figures need."""

    t: np.ndarray[Any, Any]
    rate: np.ndarray[Any, Any]
    names: list[str]
    wealth: np.ndarray[Any, Any]
    strategy: list[str]


@dataclass
class Analysis:
    """Everything read back from the runs: csv rows, wealth curves, price paths."""

    rows: list[GroupRow] = field(default_factory=list)
    # (variant, strategy) -> one (t, wealth change as a fraction) curve per repeat
    curves: dict[tuple[str, str], list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]] = \
        field(default_factory=dict)
    prices: dict[str, Samples | None] = field(default_factory=dict)
    strategies: list[str] = field(default_factory=list)


def _load_samples(run_dir: Path) -> Samples | None:
    try:
        z = read_samples(run_dir)
    except BadInput:
        return None
    t = np.asarray(z["t"], dtype=np.float64)
    rate = np.asarray(z["rate"], dtype=np.float64).reshape(len(t), -1)
    wealth = np.asarray(z["wealth"], dtype=np.float64).reshape(len(t), -1)
    return Samples(t, rate, [str(x) for x in z["names"]], wealth,
                   [str(x) for x in z["strategy"]])


def analyse(results: list[RunResult]) -> Analysis:
    """Per run and strategy: PnL, return, drawdown, counts; wealth curves; price paths."""
    a = Analysis()
    for res in results:
        s = res.summary
        job = res.job
        if s is None or res.run_dir is None:
            if job.repeat == 0:
                a.prices.setdefault(job.variant, None)
            continue
        samples = _load_samples(res.run_dir)
        if job.repeat == 0:
            a.prices[job.variant] = samples
        groups: dict[str, list[TraderResult]] = {}
        for tr in s.traders:
            groups.setdefault(tr.strategy, []).append(tr)
        for strat, members in groups.items():
            if strat not in a.strategies:
                a.strategies.append(strat)
            initial = float(sum(m.initial_wealth for m in members))
            final = float(sum(m.final_wealth for m in members))
            pnl = final - initial
            curve = np.zeros(0)
            t = np.zeros(0)
            if samples is not None and len(samples.t):
                cols = [i for i, name in enumerate(samples.strategy) if name == strat]
                if cols:
                    w = samples.wealth[:, cols]
                    ok = np.isfinite(w).all(axis=1)
                    t, curve = samples.t[ok], w[ok].sum(axis=1)
            dd = max_drawdown(curve, initial) if len(curve) else math.nan
            a.rows.append(GroupRow(
                variant=job.variant, repeat=job.repeat, seed=job.seed, strategy=strat,
                traders=sum(m.agents for m in members), pnl=pnl,
                ret=pnl / initial if initial else math.nan,
                max_drawdown=dd, trades=sum(m.trades for m in members),
                rejected=sum(m.rejected for m in members), initial=initial, run=job.index))
            if len(curve) and initial:
                a.curves.setdefault((job.variant, strat), []).append(
                    (t, curve / initial - 1.0))
    return a


def win_rates(rows: list[GroupRow]) -> dict[tuple[str, str], float | None]:
    """Share of pairings with another strategy of the same variant and repeat won on return.

    Returns, not PnL: groups differ in size and endowment, a return does not. A tie counts
    half.
    """
    by_run: dict[tuple[str, int], list[GroupRow]] = {}
    for r in rows:
        by_run.setdefault((r.variant, r.repeat), []).append(r)
    score: dict[tuple[str, str], list[float]] = {}
    for group in by_run.values():
        for r in group:
            for o in group:
                if o is r or not (math.isfinite(r.ret) and math.isfinite(o.ret)):
                    continue
                won = 1.0 if r.ret > o.ret else 0.5 if r.ret == o.ret else 0.0
                score.setdefault((r.variant, r.strategy), []).append(won)
    out: dict[tuple[str, str], float | None] = {}
    for r in rows:
        s = score.get((r.variant, r.strategy))
        out[(r.variant, r.strategy)] = float(np.mean(s)) if s else None
    return out


def group_stats(rows: list[GroupRow], variants: list[str]) -> dict[str, dict[str, Any]]:
    """variant -> strategy -> mean PnL with 95 % CI, win rate, mean trades and more."""
    wins = win_rates(rows)
    out: dict[str, dict[str, Any]] = {}
    for v in variants:
        per: dict[str, Any] = {}
        strategies = list(dict.fromkeys(r.strategy for r in rows if r.variant == v))
        for strat in strategies:
            rs = [r for r in rows if r.variant == v and r.strategy == strat]
            m, lo, hi = mean_ci([r.pnl for r in rs])
            mr, rlo, rhi = mean_ci([r.ret for r in rs])
            dd = [r.max_drawdown for r in rs if math.isfinite(r.max_drawdown)]
            per[strat] = {
                "runs": len(rs),
                "traders": round(float(np.mean([r.traders for r in rs]))),
                "mean_pnl": _json_num(m),
                "pnl_ci95": [_json_num(lo), _json_num(hi)] if lo is not None else None,
                "mean_return": _json_num(mr),
                "return_ci95": [_json_num(rlo), _json_num(rhi)] if rlo is not None else None,
                "win_rate": wins.get((v, strat)),
                "mean_trades": float(np.mean([r.trades for r in rs])),
                "mean_rejected": float(np.mean([r.rejected for r in rs])),
                "mean_max_drawdown": float(np.mean(dd)) if dd else None,
            }
        out[v] = per
    return out


def _json_num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
