"""The benchmark's baselines and writers: conservation, positive rates, documented keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.alternation import alternation_cost, window_counts
from bench.baselines import BaselineResult, run_manager, run_sqlite
from bench.costs import cost_targets
from bench.population import population_scenario, population_targets
from bench.report import RESULT_KEYS, evaluate_targets, render_markdown, write_outputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _sqlite(n: int, currencies: int, duration_s: float, folder: Path) -> BaselineResult:
    return run_sqlite(n, currencies, duration_s, folder=str(folder))


def _manager(n: int, currencies: int, duration_s: float, folder: Path) -> BaselineResult:
    return run_manager(n, currencies, duration_s)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("run", [_manager, _sqlite], ids=["manager", "sqlite"])
def test_baseline_conserves_and_trades(
        run: Callable[[int, int, float, Path], BaselineResult], tmp_path: Path) -> None:
    r = run(2, 4, 0.3, tmp_path)
    assert r.conserved
    assert r.n == 2 and r.currencies == 4
    assert r.trades > 0 and r.trades_per_s > 0
    assert r.trades <= r.attempted
    assert 0.25 < r.duration_s < 5.0
    assert list(tmp_path.iterdir()) == []  # the database went with its scratch folder


def _point(variant: str, n: int, c: int, runs: list[float]) -> dict[str, Any]:
    return {"variant": variant, "n": n, "currencies": c, "trades_per_s": sorted(runs)[1],
            "runs": runs, "conserved": [variant != "none"] * len(runs)}


def _synthetic() -> dict[str, Any]:
    points = [
        _point("per_currency", 1, 4, [150e3, 160e3, 170e3]),
        _point("per_currency", 2, 4, [240e3, 250e3, 260e3]),
        _point("none", 2, 4, [300e3, 310e3, 320e3]),
        _point("manager", 2, 4, [3e3, 3.1e3, 3.2e3]),
        _point("sqlite", 2, 4, [30e3, 31e3, 32e3]),
        _point("per_currency", 2, 1, [120e3, 125e3, 130e3]),
    ]
    monitor = {"policy": "per_currency", "n": 2, "currencies": 4, "duration_s": 0.5,
               "interval_ms_fast": 1.0, "interval_ms_slow": 100.0,
               "trades_per_s_1khz": 240e3, "trades_per_s_10hz": 250e3,
               "runs_1khz": [240e3], "runs_10hz": [250e3], "cost_percent": 4.0,
               "cost_percent_pairs": [4.0, 3.0, 5.0], "cost_percent_iqr": [3.0, 4.0, 5.0],
               "cost_percent_of_medians": 4.0,
               "sample_ratio_1khz": 0.9, "sample_ratios_1khz": [0.9],
               "snapshots_1khz": {"optimistic": 1890, "trylock": 3, "waited": 1},
               "alternating": {**alternation_cost([[90, 100, 96, 100, 97, 100, 95, 100]]),
                               "duration_s": 4.0, "monitor_cpu_percent": 2.0,
                               "sample_ratio": 0.98,
                               "snapshots": {"optimistic": 1900, "trylock": 0,
                                             "waited": 1}}}
    rss_run = {"peak_rss_kb": {"coordinator": 80_000, "monitor": 60_000,
                               "traders": {"0": 62_000, "1": 62_100}}}
    rss = {"policy": "per_currency", "n": 2, "currencies": 4,
           "short": {"duration_s": 5.0, "trades_per_s": 2e5, **rss_run},
           "long": {"duration_s": 60.0, "trades_per_s": 2e5,
                    "peak_rss_kb": {"coordinator": 81_000, "monitor": 60_500,
                                    "traders": {"0": 70_000, "1": 62_200}}},
           "growth_kb": {"coordinator": 1000, "monitor": 500, "trader 0": 8000,
                         "trader 1": 100},
           "max_growth_kb": 8000}
    speedup = 1.6
    costs = {"short_wall_s": 1.4, "short_runs": [1.4], "short_finish_s": [0.5],
             "compare_wall_s": 2.6, "compare_runs": [2.6], "longest_gap_ms": 6.0,
             "gaps_ms": [6.0, 4.0]}
    point = {"agents": 10_000, "processes": 2, "final_ok": True, "trades_per_s": 16e3,
             "first_trade_s": 1.1, "peak_rss_mb": 290.0, "arrivals_per_s": 19_800.0,
             "arrivals_asked_per_s": 20_000.0, "delivered": 0.99, "sample_ratio": 0.96,
             "audits": 10}
    population = {"processes": 2, "asked_per_s": 20_000.0, "duration_s": 2.0,
                  "series": [point], "errors": [],
                  "asap": {"agents_1000": {**point, "trades_per_s": 95e3},
                           "agents_2": {**point, "trades_per_s": 100e3}, "share": 0.95},
                  "deterministic": {**point, "trades_per_s": 60e3}}
    return {
        "timestamp": "2025-01-01T00:00:00+00:00",
        "machine": {"cpus": 2, "python": "3.11.7", "platform": "Linux"},
        "quick": True,
        "machine_speedup_2": speedup,
        "machine_runs": [{"t1_s": 0.5, "t2_s": 0.625, "speedup": speedup}],
        "points": points,
        "monitor_overhead": monitor,
        "rss": rss,
        "costs": costs,
        "population": population,
        "targets": evaluate_targets(points, speedup, monitor, rss)
        + cost_targets(costs) + population_targets(population),
    }


@pytest.mark.timeout(60)
def test_targets_from_synthetic_result() -> None:
    verdicts = {t["name"]: t for t in _synthetic()["targets"]}
    assert all(set(t) == {"name", "value", "target", "pass"} for t in verdicts.values())
    by_start = {name.split(" >=")[0].split(" <=")[0]: t for name, t in verdicts.items()}
    assert by_start["per_currency N=2 c=4 trades/s"]["pass"]
    scaling = next(t for n, t in verdicts.items() if "speed-up" in n)
    assert scaling["value"] == pytest.approx(250 / 160, abs=1e-3)
    assert scaling["target"] == pytest.approx(0.85 * 1.6)
    assert scaling["pass"]
    manager = next(t for n, t in verdicts.items() if "manager" in n)
    assert manager["value"] == pytest.approx(250 / 3.1, abs=1e-3) and manager["pass"]
    sqlite = next(t for n, t in verdicts.items() if "sqlite" in n)
    assert sqlite["value"] == pytest.approx(250 / 31, abs=1e-3) and sqlite["pass"]
    monitor = next(t for n, t in verdicts.items() if "monitor" in n)
    # The within-run measure judges (windows at 4, 3 and 5 %), not the pairs of runs.
    assert monitor["value"] == 4.0 and monitor["pass"]
    rss = next(t for n, t in verdicts.items() if "RSS" in n)
    assert rss["value"] == pytest.approx(8000 / 1024) and not rss["pass"]


@pytest.mark.timeout(60)
def test_cost_targets_judge_wall_times_and_the_longest_gap() -> None:
    verdicts = {t["name"]: t["pass"] for t in _synthetic()["targets"]}
    assert verdicts["0.5 s default run, wall (with figures) <= 1.5 s"]
    assert not verdicts["2 s run as sim compare starts it, wall <= 2.5 s"]
    assert verdicts["longest gap between consecutive trades <= 10 ms"]
    assert cost_targets({}) == []


def test_population_targets_and_scenarios() -> None:
    verdicts = {t["name"]: t for t in _synthetic()["targets"]}
    pop = [t for n, t in verdicts.items() if "agents" in n or "deterministic" in n]
    assert len(pop) == 6
    passed = {n.split(":")[-1].strip(): t["pass"] for n, t in verdicts.items() if t in pop}
    assert [t["pass"] for t in pop] == [True, True, True, True, True, False], passed
    assert all(t["value"] is None and not t["pass"]
               for t in population_targets({"series": []}))
    from sim.config.scenario import parse_scenario

    for n in (10, 100_000):
        scn = parse_scenario(population_scenario(n, 1.0))
        assert scn.n_traders == n and scn.n_processes == 2
        asked = sum(g.count * (g.arrival.rate_hz or 0) for g in scn.traders)
        assert asked == pytest.approx(20_000.0)


@pytest.mark.timeout(60)
def test_targets_miss_when_inputs_are_missing() -> None:
    targets = evaluate_targets([], None, {}, {"short": None, "long": None})
    assert len(targets) == 5  # no RSS target without the long run
    assert not any(t["pass"] for t in targets)
    assert all(t["value"] is None for t in targets)


@pytest.mark.timeout(60)
def test_writers_produce_documented_keys(tmp_path: Path) -> None:
    result = _synthetic()
    paths = write_outputs(result, tmp_path, "20250101-000000", notes=["a note"])
    assert {p.name for p in paths.values()} == {
        "20250101-000000.json", "20250101-000000.md", "20250101-000000.png"}

    data = json.loads(paths["json"].read_text())
    assert tuple(data) == RESULT_KEYS
    assert set(data["machine"]) == {"cpus", "python", "platform"}
    assert isinstance(data["quick"], bool)
    assert isinstance(data["machine_speedup_2"], float)
    for p in data["points"]:
        assert {"variant", "n", "currencies", "trades_per_s", "runs"} <= set(p)
        assert isinstance(p["trades_per_s"], float)
        assert all(isinstance(r, float) for r in p["runs"])
    for t in data["targets"]:
        assert set(t) == {"name", "value", "target", "pass"}

    md = paths["md"].read_text()
    assert md == render_markdown(result, ["a note"])
    assert "| variant | currencies | N=1 | N=2 | N=2/N=1 | conserved |" in md
    assert "| per_currency | 4 | 160k [150k-170k] | 250k [240k-260k] | 1.56 | yes |" in md
    assert "| none | 4 |  | 310k [300k-320k] | - | NO (3/3 runs) |" in md
    assert ("Cost of the 1 kHz monitor within runs: **4.0 %** of trades/s, the median over "
            "3 windows of 100 ms in 1 runs of 4 s (95 % interval of the median 3.0 to 5.0 %; "
            "quartiles of the windows 3.0 to 5.0 %") in md
    assert "Back-to-back pairs of whole runs of 0.5 s (machine noise between runs " in md
    assert ("Snapshots of the 1 kHz runs: 1,890 optimistic, 3 under every lock tried, 1 "
            "under every lock waited for.") in md
    assert "quartiles of the 3 pairs: 3.0 to 5.0 %" in md
    assert "| trader 0 | 60.5 | 68.4 | 7.8 |" in md
    assert md.count("PASS") + md.count("MISS") == len(data["targets"])
    assert "a note" in md

    assert paths["png"].read_bytes()[:8] == PNG_MAGIC


@pytest.mark.timeout(60)
def test_alternation_holds_each_sampled_window_against_its_idle_neighbours(
        tmp_path: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    from sim import arrow

    # Windows of 100 ms: 0 (warm-up, left out), 1 idle, 2 sampled, ..., 6 sampled, 7 idle,
    # and 8, cut short by the stop at 0.85 s (left out).
    per_window = [50, 100, 90, 110, 99, 100, 80, 100, 7]
    t_ns = np.concatenate([w * 100_000_000 + np.arange(n) * 1000
                           for w, n in enumerate(per_window)])
    pq.write_table(arrow.table({"t_ns": t_ns}), tmp_path / "trades.parquet")
    counts = window_counts(tmp_path, 0.85, 100.0)
    assert counts == per_window[:8]
    got = alternation_cost([counts])
    # Window 2: 90 against 105 (14.3 %), 4: 99 against 105 (5.7 %), 6: 80 against 100.
    assert got["windows"] == 3
    assert got["cost_percent"] == pytest.approx(100 * (1 - 90 / 105), abs=0.01)
    assert got["cost_percent_iqr"][0] <= got["cost_percent"] <= got["cost_percent_iqr"][2]
    assert got["median_ci95"][0] <= got["cost_percent"] <= got["median_ci95"][1]
    means = 1 - (90 + 99 + 80) / 3 / ((100 + 110 + 100 + 100) / 4)
    assert got["cost_percent_of_means"] == pytest.approx(100 * means, abs=0.01)
    assert alternation_cost([[10, 20]]) == {}
