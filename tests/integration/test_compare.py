"""``sim compare``: a tiny spec end to end, and specs that are refused with one line."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.compare import compare_command, max_drawdown, mean_ci, t_quantile_975
from sim.config.scenario import load_scenario
from sim.errors import BadInput

__all__: list[str] = []

COLUMNS = ["variant", "repeat", "seed", "strategy", "traders", "pnl", "return",
           "max_drawdown", "trades", "rejected"]
BASE: dict[str, Any] = {
    "name": "tiny",
    "seed": 1,
    "duration_s": 5.0,  # the spec's duration_s must win
    "currencies": [{"name": "EUR", "rate": 1.1, "reserve": 100000},
                   {"name": "USD", "rate": 1.0, "reserve": 100000}],
    "traders": [{"count": 1, "strategy": "random"},
                {"count": 1, "strategy": "momentum", "params": {"lookback": 5}}],
    "monitor": {"interval_ms": 20},
}
SPEC: dict[str, Any] = {
    "name": "tiny",
    "base": "base.yaml",
    "repeats": 2,
    "seed": 3,
    "duration_s": 0.5,
    "variants": [
        {"name": "mixed"},
        {"name": "value", "set": {
            "traders": [{"count": 1, "strategy": "random"},
                        {"count": 1, "strategy": "fundamentalist",
                         "params": {"threshold": 0.001}}],
            "fundamental.sigma": 0.002,
            "fundamental.interval_ms": 50}},
    ],
}


def write_spec(tmp: Path, spec: dict[str, Any] | str, base: dict[str, Any] | None = None
               ) -> Path:
    (tmp / "base.yaml").write_text(yaml.safe_dump(BASE if base is None else base))
    p = tmp / "spec.yaml"
    p.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
    return p


@pytest.mark.timeout(60)
def test_tiny_comparison_writes_every_file(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, SPEC)
    out = io.StringIO()
    status = compare_command(str(spec), 2, tmp_path / "out", out)
    assert status == 0, out.getvalue()
    folders = list((tmp_path / "out" / "compare-tiny").iterdir())
    assert len(folders) == 1
    root = folders[0]
    for name in ("compare.csv", "summary.json", "report.md", "pnl.png", "wealth.png",
                 "prices.png", "spec.yaml"):
        assert (root / name).stat().st_size > 0, name
    assert not (root / "INCOMPLETE").exists()
    assert "4/4 runs" in capsys.readouterr().err
    assert str(root) in out.getvalue()

    summary = json.loads((root / "summary.json").read_text())
    assert summary["passed"] is True
    # Every figure drawn, and without a warning (warnings are errors in this suite).
    assert "figure_errors" not in summary
    assert "mean PnL per trader" in out.getvalue()
    assert summary["spec"]["name"] == "tiny" and summary["spec"]["repeats"] == 2
    runs = summary["runs"]
    assert len(runs) == 4 and all(r["passed"] for r in runs)
    seeds = {(r["variant"], r["repeat"]): r["seed"] for r in runs}
    # Paired: the same seed for a repeat in every variant, a new one for each repeat.
    assert seeds[("mixed", 0)] == seeds[("value", 0)] != seeds[("mixed", 1)]
    assert seeds[("mixed", 1)] == seeds[("value", 1)] == summary["seeds"][1]
    run_summaries = {}
    for r in runs:
        run_dir = Path(r["run_dir"])
        assert run_dir.is_relative_to(root / "runs")
        s = json.loads((run_dir / "summary.json").read_text())
        assert s["seed"] == r["seed"] and s["duration_s"] < 3.0
        assert load_scenario(run_dir / "scenario.yaml").seed == r["seed"]
        run_summaries[(r["variant"], r["repeat"])] = s

    with open(root / "compare.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(root / "compare.csv", newline="") as f:
        assert next(csv.reader(f)) == COLUMNS
    assert len(rows) == 8  # 4 runs x 2 strategy groups
    assert {(r["variant"], r["strategy"]) for r in rows} == {
        ("mixed", "random"), ("mixed", "momentum"), ("value", "random"),
        ("value", "fundamentalist")}
    for r in rows:
        s = run_summaries[(r["variant"], int(r["repeat"]))]
        group = [t for t in s["traders"] if t["strategy"] == r["strategy"]]
        initial = sum(t["initial_wealth"] for t in group)
        pnl = sum(t["final_wealth"] - t["initial_wealth"] for t in group)
        assert int(r["traders"]) == len(group) == 1
        assert int(r["seed"]) == s["seed"]
        assert float(r["pnl"]) == pytest.approx(pnl, abs=1e-3)
        assert float(r["return"]) == pytest.approx(pnl / initial, abs=1e-7)
        assert 0.0 <= float(r["max_drawdown"]) < 1.0
        assert int(r["trades"]) == sum(t["trades"] for t in group)
        assert int(r["rejected"]) == sum(t["rejected"] for t in group)

    groups = summary["groups"]
    assert set(groups) == {"mixed", "value"}
    st = groups["mixed"]["momentum"]
    assert st["runs"] == 2 and st["traders"] == 1
    assert st["pnl_ci95"][0] <= st["mean_pnl"] <= st["pnl_ci95"][1]
    # Two strategies per run: one wins each pairing (or both tie), so the rates sum to 1.
    assert groups["mixed"]["momentum"]["win_rate"] + groups["mixed"]["random"]["win_rate"] \
        == pytest.approx(1.0)
    assert {"mean_trades", "mean_return", "mean_max_drawdown"} <= set(st)

    report = (root / "report.md").read_text()
    for heading in ("## random", "## momentum", "## fundamentalist"):
        assert heading in report
    for fig in ("(pnl.png)", "(wealth.png)", "(prices.png)"):
        assert fig in report


BAD_SPECS = [
    ({**{k: v for k, v in SPEC.items() if k != "variants"}, "varaints": SPEC["variants"]},
     ["variants: required", "varaints: unknown key (did you mean 'variants'?)"]),
    ({**SPEC, "repeats": 0}, ["repeats: must be >= 1 (found 0)"]),
    ({**SPEC, "base": "missing.yaml"}, ["base", "missing.yaml: no such file"]),
    ({**SPEC, "variants": [{"name": "a", "set": {"seed": 4}}]},
     ["variants[0].set.seed: not allowed in a variant"]),
    ({**SPEC, "variants": [{"name": "a"}, {"name": "a"}]},
     ["variants[1].name: duplicate variant 'a'"]),
    ({**SPEC, "variants": [{"name": "a"}, {"name": "b", "set": {
        "traders": [{"count": 1, "strategy": "nope"}]}}]},
     ["variants[1] 'b' applied to", "traders[0].strategy: unknown strategy 'nope'"]),
    ({**SPEC, "variants": [{"name": "a", "set": {"fee_bps": -1}}]},
     ["variants[0] 'a'", "fee_bps: must be >= 0 (found -1)"]),
    ("name: [unclosed\n", ["not valid YAML at line"]),
    ("- just\n- a list\n", ["top level must be a mapping"]),
]


@pytest.mark.parametrize(("spec", "expected"), BAD_SPECS)
def test_bad_spec_is_one_line_naming_file_and_field(tmp_path: Path, spec: Any,
                                                    expected: list[str]) -> None:
    path = write_spec(tmp_path, spec)
    with pytest.raises(BadInput) as info:
        compare_command(str(path), 1, tmp_path / "out", io.StringIO())
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(path))
    for part in expected:
        assert part in msg, msg
    assert not (tmp_path / "out").exists(), "nothing may be written for a refused spec"


def test_statistics() -> None:
    assert t_quantile_975(1) == 12.706 and t_quantile_975(30) == 2.042
    # Beyond the table the expansion continues it smoothly toward 1.96.
    assert 2.02 < t_quantile_975(40) < 2.03 and 1.96 < t_quantile_975(10_000) < 1.961
    m, lo, hi = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)
    assert (m, lo, hi) == pytest.approx((3.0, 3.0 - half, 3.0 + half))
    assert mean_ci([2.0])[1:] == (None, None)
    assert max_drawdown([110.0, 90.0, 120.0, 60.0, 100.0], 100.0) == pytest.approx(0.5)
    assert max_drawdown([101.0, 102.0], 100.0) == 0.0
