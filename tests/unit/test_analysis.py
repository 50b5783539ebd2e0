"""Win rates and group statistics of a comparison, on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from sim.compare.analysis import GroupRow, group_stats, win_rates

__all__: list[str] = []

NAN = math.nan


def row(variant: str, repeat: int, strategy: str, ret: float, pnl: float = 0.0,
        traders: int = 1, dd: float = NAN, trades: int = 0, rejected: int = 0) -> GroupRow:
    return GroupRow(variant=variant, repeat=repeat, seed=100 + repeat, strategy=strategy,
                    traders=traders, pnl=pnl, ret=ret, max_drawdown=dd, trades=trades,
                    rejected=rejected, initial=1000.0)


ROWS = [
    # variant v, repeat 0: B beats both; A and C tie.
    row("v", 0, "A", 0.1, pnl=10.0, traders=2, dd=0.2, trades=5, rejected=1),
    row("v", 0, "B", 0.2, pnl=40.0, trades=7),
    row("v", 0, "C", 0.1, pnl=5.0),
    # repeat 1: A and B tie; C's return is undefined, so it is paired with no one.
    row("v", 1, "A", 0.3, pnl=30.0, traders=4, dd=0.4, trades=9, rejected=3),
    row("v", 1, "B", 0.3, pnl=20.0, trades=3),
    row("v", 1, "C", NAN, pnl=NAN),
    # variant w: one strategy alone has nothing to win against.
    row("w", 0, "D", 0.5),
]


def test_win_rates_pair_within_a_run_and_count_ties_half() -> None:
    assert win_rates(ROWS) == {
        ("v", "A"): pytest.approx((0.0 + 0.5 + 0.5) / 3),  # lost to B, tied C, tied B
        ("v", "B"): pytest.approx((1.0 + 1.0 + 0.5) / 3),
        ("v", "C"): pytest.approx((0.5 + 0.0) / 2),  # its NaN run counts for nothing
        ("w", "D"): None,
    }


def test_two_strategies_win_rates_sum_to_one() -> None:
    two = [r for r in ROWS if r.strategy in ("A", "B")]
    wins = win_rates(two)
    assert wins[("v", "A")] + wins[("v", "B")] == pytest.approx(1.0)  # type: ignore[operator]


def test_a_different_repeat_or_variant_is_never_paired() -> None:
    rows = [row("v", 0, "A", 0.1), row("v", 1, "B", 0.9), row("w", 0, "B", 0.9)]
    assert set(win_rates(rows).values()) == {None}


def test_group_stats_by_hand() -> None:
    stats = group_stats(ROWS, ["v", "w"])
    assert list(stats) == ["v", "w"] and list(stats["v"]) == ["A", "B", "C"]
    a = stats["v"]["A"]
    # Two runs: pnl 10 and 30, sd 14.142..., half width t(1) x sd / sqrt(2) = 12.706 x 10.
    assert a["runs"] == 2 and a["traders"] == 3
    assert a["mean_pnl"] == pytest.approx(20.0)
    assert a["pnl_ci95"] == pytest.approx([20.0 - 127.06, 20.0 + 127.06])
    assert a["mean_return"] == pytest.approx(0.2)
    assert a["return_ci95"] == pytest.approx([0.2 - 1.2706, 0.2 + 1.2706])
    assert a["win_rate"] == pytest.approx(1 / 3)
    assert (a["mean_trades"], a["mean_rejected"]) == (7.0, 2.0)
    assert a["mean_max_drawdown"] == pytest.approx(0.3)
    c = stats["v"]["C"]
    # One finite value: a mean but no interval; no drawdown was known.
    assert c["mean_pnl"] == 5.0 and c["pnl_ci95"] is None
    assert c["mean_return"] == pytest.approx(0.1) and c["return_ci95"] is None
    assert c["mean_max_drawdown"] is None
    d = stats["w"]["D"]
    assert d["runs"] == 1 and d["win_rate"] is None and d["pnl_ci95"] is None


def test_group_stats_of_a_variant_without_rows_is_empty() -> None:
    assert group_stats(ROWS, ["x"]) == {"x": {}}
