"""Sweep specs: grid expansion (product, zip, ranges), pairing, one-line refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.compare.grid import load_sweep
from sim.compare.spec import paired_seeds
from sim.errors import BadInput

BASE: dict[str, Any] = {
    "name": "b", "seed": 1, "duration_s": 5.0,
    "currencies": [{"name": "EUR", "rate": 1.1, "reserve": 100000}],
    "traders": [{"count": 2, "strategy": "random"}],
}
SPEC: dict[str, Any] = {
    "name": "s", "base": "base.yaml", "repeats": 3, "seed": 9, "duration_s": 0.5,
    "set": {"monitor.interval_ms": 20},
    "grid": {"product": {"fee_bps": {"from": 0, "to": 100, "step": 50},
                         "sync": ["per_currency", "global"]},
             "zip": {"race_window_us": [0, 10], "faults.pause_prob": [0.0, 0.5]}},
}


def write(tmp: Path, spec: dict[str, Any] | str) -> Path:
    (tmp / "base.yaml").write_text(yaml.safe_dump(BASE))
    p = tmp / "sweep.yaml"
    p.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
    return p


def test_points_are_product_times_zip_in_order(tmp_path: Path) -> None:
    plan = load_sweep(write(tmp_path, SPEC))
    assert len(plan.points) == 3 * 2 * 2 and plan.variants == ["base"]
    assert plan.n_runs == 36
    assert plan.points[0].params == {"fee_bps": 0, "sync": "per_currency",
                                     "race_window_us": 0, "faults.pause_prob": 0.0}
    assert plan.points[1].params["race_window_us"] == 10
    assert plan.points[1].params["faults.pause_prob"] == 0.5  # zipped, not crossed
    assert [p.params["fee_bps"] for p in plan.points[::4]] == [0, 50, 100]
    assert all(isinstance(p.params["fee_bps"], int) for p in plan.points)
    assert [p.id for p in plan.points[:3]] == ["p0", "p1", "p2"]
    scn = plan.scenarios[("p6", "base")]
    assert scn["fee_bps"] == 50 and scn["sync"] == "global" and scn["duration_s"] == 0.5
    assert scn["monitor"]["interval_ms"] == 20 and scn["name"] == "s"
    assert plan.seeds == paired_seeds(9, 3)
    assert plan.timeout_s == pytest.approx(65.0)


def test_num_range_and_variants(tmp_path: Path) -> None:
    spec = {**SPEC, "grid": {"product": {"fundamental.sigma": {"from": 0, "to": 0.01,
                                                               "num": 3}}},
            "variants": [{"name": "a"}, {"name": "b", "set": {"fee_bps": 7}}]}
    plan = load_sweep(write(tmp_path, spec))
    assert [p.params["fundamental.sigma"] for p in plan.points] == [0.0, 0.005, 0.01]
    assert plan.variants == ["a", "b"] and plan.n_runs == 3 * 2 * 3
    assert plan.scenarios[("p0", "b")]["fee_bps"] == 7
    assert plan.scenarios[("p0", "b")]["name"] == "b"


BAD = [
    ({**SPEC, "grid": {"product": {"fee_bps": []}}}, "grid.product.fee_bps",
     "expected at least one value"),
    ({**SPEC, "grid": {"zip": {"fee_bps": [1, 2], "sync": ["global"]}}}, "grid.zip",
     "expected lists of one length"),
    ({**SPEC, "grid": {"product": {"seed": [1, 2]}}}, "grid.product.seed", "not allowed"),
    ({**SPEC, "grid": {"product": {"pnl": [1, 2]}}}, "grid.product.pnl", "a column"),
    ({**SPEC, "grid": {"product": {"fee_bps": {"from": 0, "to": 10}}}}, "grid.product",
     "exactly one of step or num"),
    ({**SPEC, "grid": {"product": {"fee_bps": {"from": 10, "to": 0, "step": 1}}}},
     "grid.product", "never gets from 10 to 0"),
    ({**SPEC, "grid": {"product": {"fee_bps": [0, -5]}}}, "point p1 (fee_bps=-5)",
     "fee_bps: must be >= 0"),
    ({**SPEC, "grid": {"product": {"fee_bps": [1]}}, "gird": {}}, "gird", "unknown key"),
    ({k: v for k, v in SPEC.items() if k != "grid"}, "grid", "required"),
    ({**SPEC, "repeats": 0}, "repeats", "must be >= 1"),
    ({**SPEC, "grid": {"product": {"fee_bps": {"from": 0, "to": 1e9, "step": 1}}}},
     "grid.product", "more than 100,000 values"),
]


@pytest.mark.parametrize(("spec", "where", "what"), BAD)
def test_bad_sweep_is_one_line(tmp_path: Path, spec: dict[str, Any], where: str,
                               what: str) -> None:
    p = write(tmp_path, spec)
    with pytest.raises(BadInput) as info:
        load_sweep(p)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(p)), msg
    assert where in msg and what in msg, msg


def test_shipped_sweeps_load() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios" / "sweeps"
    specs = sorted(root.glob("*.yaml"))
    assert specs
    for f in specs:
        plan = load_sweep(f)
        assert 8 <= plan.n_runs <= 40, f"{f.name}: about a minute on two cores"
