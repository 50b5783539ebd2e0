"""The runner's task outside Dask (time limit, process group) and ``sim sweep`` refusals."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml

from sim.compare.runner import execute
from tests.integration.dask_cluster import processes_under
from tests.integration.harness import scenario, sim


@pytest.mark.timeout(60)
def test_a_run_past_its_time_limit_is_killed_with_its_traders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = tmp_path / "node"
    node.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(node))
    text = yaml.safe_dump(scenario(duration_s=60.0, monitor={"interval_ms": 50}))
    p = execute(text, 3, timeout_s=4.0)
    assert p.error == "timed out after 4 s" and p.exit_status is None
    assert p.seconds < 20.0
    assert processes_under(node) == [], "a trader or monitor outlived the killed run"
    assert list(node.iterdir()) == []
    assert "run.log" in p.files and "summary.json" not in p.files


@pytest.mark.timeout(60)
def test_a_short_run_comes_back_as_bytes(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    p = execute(yaml.safe_dump(scenario(duration_s=0.3)), 3, timeout_s=60.0)
    assert p.exit_status == 0 and not p.error
    assert {"summary.json", "trades.parquet", "samples.parquet", "scenario.yaml",
            "run.log"} <= set(p.files)
    assert "INCOMPLETE" not in p.files
    assert json.loads(p.files["summary.json"])["seed"] == 3
    assert list(tmp_path.iterdir()) == []


def test_sweep_cli_refusals_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    r = sim("sweep", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "missing.yaml" in r.stderr
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(scenario()))
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "base": "base.yaml", "repeats": 1,
                                    "grid": {"product": {"fee_bps": [1]}}}))
    r = sim("sweep", str(spec), "--jobs", "0", "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "--jobs: expected a whole number >= 1" in r.stderr
    r = sim("sweep", str(spec), "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1",
            "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "--jobs sizes the local cluster" in r.stderr
    assert not (tmp_path / "out").exists()
