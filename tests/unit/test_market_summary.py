"""The run summary's market statistics: stylized facts of sampled returns, and drift."""

from __future__ import annotations

import math

import numpy as np

from sim.harness.summary import MarketStats, market_summary

__all__: list[str] = []


def _walk(seed: int, steps: int, n_cur: int, drift: float = 0.0) -> np.ndarray:
    g = np.random.default_rng(seed)
    r = g.normal(drift, 0.01, size=(steps, n_cur))
    return np.exp(np.vstack([np.zeros((1, n_cur)), np.cumsum(r, axis=0)]))


def test_random_walks_show_no_autocorrelation_and_no_drift() -> None:
    rate = _walk(1, 4000, 8)
    t = np.arange(len(rate)) * 0.01
    m = market_summary(t, rate, list(rate[0]), list(rate[-1]))
    assert m.sample_interval_ms == 10.0
    assert m.pooled.n == 4000 * 8
    assert m.pooled.acf1_returns is not None and abs(m.pooled.acf1_returns) < 0.03
    assert m.pooled.excess_kurtosis is not None and abs(m.pooled.excess_kurtosis) < 0.2
    assert m.log_return_t is not None and abs(m.log_return_t) < 4.8  # t, 7 dof, p 2e-3
    assert len(m.per_currency) == 8


def test_a_common_drift_gives_a_large_t() -> None:
    rate = _walk(2, 4000, 8, drift=0.002)
    m = market_summary(np.arange(len(rate)) * 0.01, rate, list(rate[0]), list(rate[-1]))
    assert m.log_return_mean is not None and math.isclose(m.log_return_mean, 8.0, rel_tol=0.1)
    assert m.log_return_t is not None and m.log_return_t > 10


def test_too_little_data_gives_none_and_round_trips_through_json() -> None:
    rate = np.array([[1.0], [1.0]])
    m = market_summary(np.array([0.0, 0.01]), rate, [1.0], [1.0])
    assert m.pooled.acf1_returns is None and m.pooled.excess_kurtosis is None
    assert m.log_return_t is None and m.log_return_mean == 0.0
    assert MarketStats.model_validate(m.as_json()) == m
