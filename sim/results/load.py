"""Reading result folders into pandas: a run's tables, a sweep's or comparison's table."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Final

import pandas as pd

from sim.compare.sweep import SWEEP_TABLE
from sim.config.loading import one_line
from sim.errors import BadInput
from sim.harness.agents import AGENTS_FILE
from sim.harness.rundir import INCOMPLETE, SAMPLES, TRADES
from sim.harness.summary import SUMMARY_FILE, RunSummary, load_summary

__all__ = ["COMPARE_TABLE", "RunData", "load", "load_run", "load_table"]

COMPARE_TABLE: Final = "compare.csv"
SUMMARY: Final = SUMMARY_FILE


class RunData:
    """One run folder's results; the tables are read on first use."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    def __repr__(self) -> str:
        return f"RunData({str(self.run_dir)!r})"

    @cached_property
    def summary(self) -> RunSummary:
        """summary.json, typed: verdict, invariants, counts, per trader results."""
        return load_summary(self.run_dir / SUMMARY)

    @cached_property
    def trades(self) -> pd.DataFrame:
        """The ledger: one row per accepted trade, in global sequence order."""
        return _parquet(self.run_dir / TRADES)

    @cached_property
    def samples(self) -> pd.DataFrame:
        """The monitor's samples: t, consistent, violations, rate_<CUR>, wealth_<trader>."""
        return _parquet(self.run_dir / SAMPLES)

    @cached_property
    def traders(self) -> pd.DataFrame:
        """One row per agent (agents.parquet): id, group, strategy, process, initial and
        final wealth, trades, rejected."""
        return _parquet(self.run_dir / AGENTS_FILE)

    @cached_property
    def groups(self) -> pd.DataFrame:
        """One row per scenario group of the summary: strategy, agents, wealth, trades."""
        rows = [t.model_dump(exclude={"final_wealth_percentiles"})
                for t in self.summary.traders]
        return pd.DataFrame.from_records(rows)

    @property
    def passed(self) -> bool:
        return self.summary.passed


def _parquet(f: Path) -> pd.DataFrame:
    if not f.is_file():
        raise BadInput(f"{f.parent}: no {f.name} (expected a run folder)")
    try:
        return pd.read_parquet(f)
    except (OSError, ValueError) as e:
        raise BadInput(f"{f}: unreadable ({one_line(str(e))})") from None


def load_run(path: str | os.PathLike[str]) -> RunData:
    """A run folder (one with summary.json and trades.parquet)."""
    p = Path(path)
    if not (p / TRADES).is_file() and not (p / SUMMARY).is_file():
        raise BadInput(f"{p}: not a run folder (no {TRADES} or {SUMMARY})")
    return RunData(p)


def load_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A sweep's sweep.parquet or a comparison's compare.csv as a DataFrame."""
    p = _one_finished(Path(path))
    if (p / SWEEP_TABLE).is_file():
        return pd.read_parquet(p / SWEEP_TABLE)
    if (p / COMPARE_TABLE).is_file():
        return pd.read_csv(p / COMPARE_TABLE)
    raise BadInput(f"{p}: not a sweep or comparison folder (no {SWEEP_TABLE} or "
                   f"{COMPARE_TABLE})")


def load(path: str | os.PathLike[str]) -> RunData | pd.DataFrame:
    """A run folder as :class:`RunData`; a sweep or comparison folder as its table."""
    p = Path(path)
    if not p.is_dir():
        raise BadInput(f"{p}: no such folder")
    if (p / TRADES).is_file() or ((p / SUMMARY).is_file() and not _is_table(p)):
        return load_run(p)
    return load_table(p)


def _is_table(p: Path) -> bool:
    return (p / SWEEP_TABLE).is_file() or (p / COMPARE_TABLE).is_file()


def _one_finished(p: Path) -> Path:
    """``p``, or the one finished sweep/comparison inside a ``sweep-<name>`` folder."""
    if _is_table(p) or not p.is_dir():
        return p
    done = sorted(d for d in p.iterdir() if d.is_dir() and _is_table(d)
                  and not (d / INCOMPLETE).exists())
    if len(done) == 1:
        return done[0]
    if done:
        raise BadInput(f"{p}: holds {len(done)} finished sweeps; name one of them "
                       f"(the newest is {done[-1].name})")
    return p
