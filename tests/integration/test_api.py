"""The Python API: ``sim.run`` and ``sim.results.load`` round-trip, ``sim.sweep``'s table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.errors import BadScenario
from sim.harness.summary import load_summary
from sim.harness.tables import read_samples
from sim.results import RunData
from tests.integration.harness import scenario


@pytest.mark.timeout(90)
def test_run_and_load_round_trip(tmp_path: Path) -> None:
    r = sim.run(scenario(), out=tmp_path / "out", duration_s=0.3, monitor__interval_ms=20,
                overrides={"fee_bps": 10})
    assert isinstance(r, RunData) and r.passed
    assert r.run_dir.parent == tmp_path / "out" / "t"
    s = json.loads((r.run_dir / "summary.json").read_text())
    assert r.summary == load_summary(r.run_dir / "summary.json")
    assert r.summary.as_json() == s and r.summary.duration_s < 1.0
    assert not (r.run_dir / "INCOMPLETE").exists()
    assert not (r.run_dir / "price.png").exists()  # figures only when asked

    back = sim.results.load(r.run_dir)
    assert isinstance(back, RunData)
    assert back.trades.equals(pd.read_parquet(r.run_dir / "trades.parquet"))
    assert back.trades.equals(r.trades) and len(r.trades) == s["trades"] > 0
    assert back.samples.equals(r.samples)
    z = read_samples(r.run_dir)
    assert np.array_equal(r.samples["t"].to_numpy(), z["t"])
    assert np.array_equal(r.samples[["rate_EUR", "rate_USD"]].to_numpy(), z["rate"])
    assert np.array_equal(r.samples[["wealth_0", "wealth_1"]].to_numpy(), z["wealth"])
    assert r.traders["trades"].sum() == len(r.trades)
    assert list(r.traders["strategy"]) == ["random", "random"]
    # Every agent's trades in the ledger match its own count in the agents table.
    counts = r.trades.groupby("trader").size()
    assert {int(k): int(v) for k, v in counts.items()} == {
        int(a.id): int(a.trades) for a in r.traders.itertuples() if a.trades}
    assert list(r.groups["agents"]) == [2] and r.groups["trades"].sum() == len(r.trades)


def test_bad_override_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(BadScenario, match="fee_bps: must be >= 0"):
        sim.run(scenario(), out=tmp_path / "out", fee_bps=-1)
    assert not (tmp_path / "out").exists()


@pytest.mark.timeout(120)
def test_sweep_returns_the_table_load_reads(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(json.dumps(scenario(duration_s=0.3, monitor={"interval_ms": 20})))
    spec = {"name": "api", "base": str(base), "repeats": 1, "seed": 4,
            "grid": {"product": {"fee_bps": [0, 30]}}}
    table = sim.sweep(spec, out=tmp_path / "out", jobs=2)
    assert len(table) == 2 and table["passed"].all()
    assert sorted(zip(table["fee_bps"], table["repeat"], strict=True)) == [(0, 0), (30, 0)]
    loaded = sim.results.load(tmp_path / "out" / "sweep-api")
    assert isinstance(loaded, pd.DataFrame)
    pd.testing.assert_frame_equal(loaded, table)


def test_import_sim_stays_light() -> None:
    code = ("import sys, sim; heavy = [m for m in ('pandas', 'distributed', 'pyarrow', "
            "'matplotlib') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == ""
