"""The deterministic schedule: the same seed gives the same trades and the same final file.

Under ``schedule: deterministic`` traders act one at a time in a seeded order, so a run is
a pure function of its seed. Only wall-clock facts may differ between two runs: ledger
times, process ids, heartbeats, and the opaque bytes of the pthread mutexes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.harness.coordinator import RunOutcome
from tests.integration.harness import run

__all__: list[str] = []

TURNS = 300
# Per-process or wall-clock fields: expected to differ between two identical runs.
ACCOUNT_SKIP = ("pid", "heartbeat_ns")
TRADERS = [
    {"count": 2, "strategy": "random", "params": {"min_qty": 1, "max_qty": 50}},
    # A short lookback and no threshold, so momentum trades within a few turns and its
    # decisions depend on the prices the random traders made.
    {"count": 1, "strategy": "momentum", "params": {"lookback": 3, "threshold": 0.0}},
]


def _run(tmp: Path, seed: int) -> RunOutcome:
    out = run(tmp, seed=seed, schedule="deterministic", max_trades=TURNS,
              duration_s=60.0,  # only a guard: the trade budget ends the run
              currencies=[{"name": "EUR", "rate": 1.1, "reserve": 2000},
                          {"name": "USD", "rate": 1.0, "reserve": 2000}],
              traders=TRADERS, monitor={"interval_ms": 20})
    assert out.exit_status == 0, out.summary.final_violations
    assert out.summary.stopped_by == "trade budget"
    return out


def _tables(out: RunOutcome) -> tuple[Any, Any, int]:
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        cur, acc = ex.copy_tables()
        return cur.copy(), acc.copy(), ex.header_int("turns")


@pytest.mark.timeout(60)
def test_same_seed_same_trades_and_same_file(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", seed=5)
    b = _run(tmp_path / "b", seed=5)
    ta = pd.read_parquet(a.run_dir / "trades.parquet")
    tb = pd.read_parquet(b.run_dir / "trades.parquet")
    assert len(ta) == len(tb) > TURNS // 2
    for name in ta.columns:
        if name != "t_ns":
            assert ta[name].equals(tb[name]), f"trades.parquet column {name} differs"
    assert ta["trader"].nunique() == 3, "every trader should have traded"

    cur_a, acc_a, turns_a = _tables(a)
    cur_b, acc_b, turns_b = _tables(b)
    assert turns_a == turns_b == TURNS
    for f in L.CURRENCY.fields:
        if f.kind != "lock":  # opaque pthread state, not market state
            assert cur_a[f.name].tobytes() == cur_b[f.name].tobytes(), f"currency {f.name}"
    for f in L.ACCOUNT.fields:
        if f.name not in ACCOUNT_SKIP:
            assert acc_a[f.name].tobytes() == acc_b[f.name].tobytes(), f"account {f.name}"

    c = _run(tmp_path / "c", seed=6)
    tc = pd.read_parquet(c.run_dir / "trades.parquet")
    fields = [n for n in ta.columns if n != "t_ns"]
    same = len(tc) == len(ta) and all(ta[n].equals(tc[n]) for n in fields)
    assert not same, "a different seed gave the same trade log"
