"""Every shipped scenario runs as the README says, briefly, and draws its figures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.harness import C_TRADER, ROOT, sim

SCENARIOS = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_runs_and_draws(tmp_path: Path, name: str) -> None:
    if name == "c_traders.yaml" and not C_TRADER.exists():
        pytest.skip("C trader not built (make c)")
    # Warnings are errors here too: a figure that warns is a plot_error in the summary.
    r = sim("run", f"scenarios/{name}", "--out", str(tmp_path), "--duration", "0.5",
            env={**os.environ, "PYTHONWARNINGS": "error"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""
    (run_dir,) = tmp_path.glob("*/*/")
    s = json.loads((run_dir / "summary.json").read_text())
    assert "plot_error" not in s
    for png in ("price.png", "wealth.png", "market.png"):
        assert (run_dir / png).stat().st_size > 10_000
    if name == "c_traders.yaml":
        # Endowed to outlast their fees: the headline counts trades, not refusals.
        assert s["rejected"] < s["trades"] // 10, s["rejected"]
