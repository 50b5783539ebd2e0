"""The longest pause between consecutive trades, from trade times in any order."""

from __future__ import annotations

import numpy as np

from sim.harness.gaps import Gap, longest_gap


def test_the_widest_gap_and_its_start_whatever_the_order() -> None:
    t = np.array([5_000_000, 0, 1_000_000, 17_000_000, 2_000_000], dtype=np.int64)
    assert longest_gap(t) == Gap(12.0, 0.005)
    assert longest_gap(t[::-1].copy()) == Gap(12.0, 0.005)


def test_fewer_than_two_trades_have_no_gap() -> None:
    assert longest_gap(np.zeros(0, dtype=np.int64)) == Gap(0.0, 0.0)
    assert longest_gap(np.array([7], dtype=np.int64)) == Gap(0.0, 0.0)


def test_equal_times_are_a_zero_gap() -> None:
    assert longest_gap(np.full(4, 3_000, dtype=np.int64)) == Gap(0.0, 0.0)
