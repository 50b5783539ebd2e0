"""The deterministic schedule: the same seed gives the same trades and the same accounts,
whatever the number of processes that host the agents.

Under ``schedule: deterministic`` agents act one at a time in one global, seeded order of
turns, and each agent draws from its own generator (seeded by its id), so a run is a pure
function of its seed. Only wall-clock and per-process facts may differ between two runs:
ledger times, which writer hosted an agent, process ids, heartbeats, and the opaque bytes
of the pthread mutexes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.harness.coordinator import RunOutcome
from tests.integration.harness import run

__all__: list[str] = []

TURNS = 600
TRADERS = [
    {"count": 30, "strategy": "random", "params": {"min_qty": 1, "max_qty": 50}},
    # A short lookback and no threshold, so momentum trades within a few turns and its
    # decisions depend on the prices the random agents made.
    {"count": 10, "strategy": "momentum", "params": {"lookback": 3, "threshold": 0.0}},
]
# What an account holds beyond the writer that hosts it: all of it must match.
ACCOUNT_SKIP = ("writer",)


def _run(tmp: Path, seed: int, processes: int) -> RunOutcome:
    out = run(tmp, seed=seed, schedule="deterministic", max_trades=TURNS, processes=processes,
              duration_s=60.0,  # only a guard: the trade budget ends the run
              currencies=[{"name": "EUR", "rate": 1.1, "reserve": 2000},
                          {"name": "USD", "rate": 1.0, "reserve": 2000}],
              traders=TRADERS, monitor={"interval_ms": 20})
    assert out.exit_status == 0, out.summary.final_violations
    assert out.summary.stopped_by == "trade budget"
    assert out.summary.n_processes == processes
    return out


def _tables(out: RunOutcome) -> tuple[Any, Any, int]:
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        cur, _wri, acc = ex.copy_all()
        return cur.copy(), acc.copy(), ex.header_int("turns")


@pytest.mark.timeout(120)
def test_same_seed_same_trades_and_accounts_on_one_two_and_four_processes(
        tmp_path: Path) -> None:
    runs = {p: _run(tmp_path / f"p{p}", seed=5, processes=p) for p in (1, 2, 4)}
    logs = {p: pd.read_parquet(o.run_dir / "trades.parquet") for p, o in runs.items()}
    ta = logs[1]
    assert TURNS // 3 < len(ta) <= TURNS
    assert ta["trader"].nunique() > 20, "most agents should have traded"
    tables = {p: _tables(o) for p, o in runs.items()}
    cur_a, acc_a, turns_a = tables[1]
    assert turns_a == TURNS
    for p in (2, 4):
        tb = logs[p]
        assert len(tb) == len(ta), f"P={p}: {len(tb)} trades, P=1: {len(ta)}"
        for name in ta.columns:
            if name != "t_ns":
                assert ta[name].equals(tb[name]), f"P={p}: trades column {name}"
        cur_b, acc_b, turns_b = tables[p]
        assert turns_b == TURNS
        for f in L.CURRENCY.fields:
            if f.kind != "lock":  # opaque pthread state, not market state
                assert cur_a[f.name].tobytes() == cur_b[f.name].tobytes(), f"currency {f.name}"
        for f in L.ACCOUNT.fields:
            if f.name not in ACCOUNT_SKIP:
                assert acc_a[f.name].tobytes() == acc_b[f.name].tobytes(), f"account {f.name}"
        assert len(np.unique(acc_b["writer"][:40])) == p


@pytest.mark.timeout(60)
def test_a_different_seed_gives_a_different_log(tmp_path: Path) -> None:
    a = pd.read_parquet(_run(tmp_path / "a", seed=5, processes=2).run_dir / "trades.parquet")
    c = pd.read_parquet(_run(tmp_path / "c", seed=6, processes=2).run_dir / "trades.parquet")
    fields = [n for n in a.columns if n != "t_ns"]
    same = len(c) == len(a) and all(a[n].equals(c[n]) for n in fields)
    assert not same, "a different seed gave the same trade log"
