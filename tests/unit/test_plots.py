"""Run figures and market statistics: files written for any run length, numbers that hold."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.viz.figures import (
    excess_kurtosis,
    log_returns,
    market_stats,
    plot_market,
    plot_prices,
    plot_run,
    plot_wealth,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ["EUR", "USD", "GBP", "JPY", "CHF", "AUD", "CAD", "SEK"]
STRATEGIES = ["momentum", "mean_reversion", "random"]


def synthetic_samples(s: int, c: int = 8, n_traders: int = 32,
                      seed: int = 7) -> dict[str, np.ndarray[Any, Any]]:
    """What rundir.read_samples would return for a run of s samples."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0.5, 150.0, size=c)  # JPY-like and EUR-like rates side by side
    steps = rng.normal(0.0, 0.01, size=(s, c))
    steps[:1] = 0.0
    rate = start * np.exp(np.cumsum(steps, axis=0))
    wealth = 1000.0 + np.cumsum(rng.normal(0.0, 5.0, size=(s, n_traders)), axis=0)
    violations = np.zeros(s, dtype=np.int64)
    if s > 10:
        violations[s // 3] = 2
    return {
        "t": np.arange(s, dtype=np.float64) * 0.05,
        "rate": rate,
        "names": np.array(NAMES[:c]),
        "wealth": wealth,
        "trader": np.arange(n_traders, dtype=np.int64),
        "strategy": np.array([STRATEGIES[i % 3] for i in range(n_traders)]),
        "consistent": np.ones(s, dtype=bool),
        "violations": violations,
    }


def write_run(run: Path, s: int, summary: bool = True) -> Path:
    run.mkdir(parents=True)
    if summary:
        (run / "summary.json").write_text(json.dumps({
            "scenario": "default", "sync": "lock", "n_traders": 32, "trades": 0,
            "scale": 1000,
            "currencies": [{"name": n, "initial_rate": 1.0, "final_rate": 1.0} for n in NAMES],
        }))
    return run


def assert_pngs(paths: list[Path], run: Path) -> None:
    assert [p.name for p in paths] == ["price.png", "wealth.png", "market.png"]
    for p in paths:
        assert p.parent == run
        data = p.read_bytes()
        assert len(data) > 1000
        assert data.startswith(PNG_MAGIC)


def rates_from_returns(r: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    r = r[:, None] if r.ndim == 1 else r
    return np.vstack([np.ones((1, r.shape[1])), np.exp(np.cumsum(r, axis=0))])


# --------------------------------------------------------------------------- figures


def test_plot_run_writes_three_pngs(tmp_path: Path) -> None:
    run = write_run(tmp_path / "default" / "run-1", 500)
    assert_pngs(plot_run(run, synthetic_samples(500)), run)


def test_plot_run_without_summary_uses_folder_name(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run-2", 50, summary=False)
    assert_pngs(plot_run(run, synthetic_samples(50)), run)


@pytest.mark.parametrize("s", [0, 1, 2])
def test_very_short_runs_still_get_figures(tmp_path: Path, s: int) -> None:
    run = write_run(tmp_path / f"short-{s}", s)
    assert_pngs(plot_run(run, synthetic_samples(s)), run)


def test_run_without_traders_or_currencies(tmp_path: Path) -> None:
    samples = synthetic_samples(40, c=1, n_traders=0)
    assert plot_wealth(samples, tmp_path / "w.png", "no traders").stat().st_size > 0
    samples["rate"] = np.zeros((40, 0))
    samples["names"] = np.zeros(0, dtype=str)
    assert plot_prices(samples, tmp_path / "p.png", "no currencies").stat().st_size > 0
    assert plot_market(samples, tmp_path / "m.png", "no currencies").stat().st_size > 0


def test_bad_rates_and_missing_wealth_do_not_break_figures(tmp_path: Path) -> None:
    samples = synthetic_samples(200)
    samples["rate"][50:60, 2] = np.nan
    samples["rate"][70, 3] = 0.0
    samples["rate"][:, 4] = 3.0  # a pool nobody traded
    samples["wealth"][100:, 5] = np.nan  # slot freed mid-run
    samples["wealth"][:, 6:9] = np.nan  # never claimed while sampled
    for fn in (plot_prices, plot_wealth, plot_market):
        assert fn(samples, tmp_path / f"{fn.__name__}.png", "gaps").stat().st_size > 0


def test_out_may_be_a_folder(tmp_path: Path) -> None:
    assert plot_prices(synthetic_samples(20), tmp_path, "t") == tmp_path / "price.png"
    assert plot_market(synthetic_samples(20), tmp_path, "t", max_lag=5).is_file()


# --------------------------------------------------------------------------- statistics


def test_iid_normal_returns_look_normal() -> None:
    rng = np.random.default_rng(1)
    n, c = 4000, 8
    # Different volatilities per currency: pooling must not mistake them for fat tails.
    r = rng.normal(0.0, 1.0, size=(n, c)) * np.geomspace(1e-4, 1e-1, c)
    st = market_stats(rates_from_returns(r))
    pooled = st["pooled"]
    assert pooled["n"] == n * c
    # Standard errors: kurtosis sqrt(24/n), acf 1/sqrt(n); bounds are about 6 of them.
    assert abs(pooled["excess_kurtosis"]) < 6 * math.sqrt(24 / (n * c))
    assert abs(pooled["acf1_returns"]) < 6 / math.sqrt(n * c)
    assert abs(pooled["acf1_abs_returns"]) < 6 / math.sqrt(n * c)
    assert len(st["per_currency"]) == c
    for cur in st["per_currency"]:
        assert cur["n"] == n
        assert abs(cur["excess_kurtosis"]) < 6 * math.sqrt(24 / n)
        assert abs(cur["acf1_returns"]) < 6 / math.sqrt(n)
        assert set(cur) >= {"n", "excess_kurtosis", "acf1_returns", "acf1_abs_returns"}


def test_student_t_returns_have_fat_tails() -> None:
    rng = np.random.default_rng(2)
    r = 0.01 * rng.standard_t(3, size=(5000, 4))
    st = market_stats(rates_from_returns(r))
    assert st["pooled"]["excess_kurtosis"] > 2.0
    assert all(c["excess_kurtosis"] > 1.0 for c in st["per_currency"])


def test_ar1_returns_have_positive_lag1_autocorrelation() -> None:
    rng = np.random.default_rng(3)
    phi, n = 0.6, 5000
    eps = rng.normal(0.0, 0.01, size=n)
    r = np.zeros(n)
    for i in range(1, n):
        r[i] = phi * r[i - 1] + eps[i]
    st = market_stats(rates_from_returns(r))
    assert abs(st["per_currency"][0]["acf1_returns"] - phi) < 0.05
    assert abs(st["pooled"]["acf1_returns"] - phi) < 0.05


def test_volatility_clustering_shows_in_absolute_returns() -> None:
    rng = np.random.default_rng(4)
    regime = np.repeat(rng.choice([0.001, 0.02], size=100), 50)  # calm and wild spells
    r = regime * rng.normal(size=len(regime))
    st = market_stats(rates_from_returns(r))["pooled"]
    assert st["acf1_abs_returns"] > 0.2
    assert abs(st["acf1_returns"]) < 0.1


def test_unusable_rates_are_dropped_not_bridged() -> None:
    rate = rates_from_returns(np.random.default_rng(5).normal(0, 0.01, size=100))
    rate[10, 0] = 0.0
    rate[20, 0] = np.inf
    rate[30, 0] = np.nan
    r = log_returns(rate)
    assert r.shape == (100, 1)
    # Each bad rate removes the two returns that touch it.
    assert int(np.isfinite(r).sum()) == 100 - 6
    assert market_stats(rate)["per_currency"][0]["n"] == 94


def test_too_few_returns_or_no_variance_give_nan() -> None:
    for s in (0, 1, 2, 4):
        st = market_stats(rates_from_returns(np.full(max(s - 1, 0), 0.01))[:s])
        assert st["pooled"]["n"] == 0  # constant or absent returns have nothing to pool
        for key in ("excess_kurtosis", "acf1_returns", "acf1_abs_returns"):
            assert math.isnan(st["pooled"][key])
    flat = market_stats(np.full((50, 2), 3.0))
    assert flat["per_currency"][0]["n"] == 49
    assert math.isnan(flat["per_currency"][0]["excess_kurtosis"])
    assert math.isnan(flat["per_currency"][0]["acf1_returns"])
    three = market_stats(rates_from_returns(np.array([0.01, -0.02, 0.03])))
    assert math.isnan(three["per_currency"][0]["excess_kurtosis"])
    assert math.isfinite(three["per_currency"][0]["acf1_returns"])


def test_excess_kurtosis_matches_the_population_formula() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    d = x - x.mean()
    expected = np.mean(d**4) / np.mean(d**2) ** 2 - 3.0
    assert excess_kurtosis(x) == pytest.approx(expected)
    # Uniform: -1.2 in the limit.
    u = np.random.default_rng(6).uniform(size=200_000)
    assert excess_kurtosis(u) == pytest.approx(-1.2, abs=0.02)
