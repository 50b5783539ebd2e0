"""Figures stay readable with an outlier, mark what they cannot show, and say why.

Each figure is captured just before it is saved, so the test reads its panels, titles and
legends as a reader would; warnings are errors here, so every figure renders cleanly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

import sim.compare.figures as cfig
import sim.viz.figures as rfig
from sim.compare.analysis import Analysis, GroupRow, Samples
from tests.unit.test_plots import synthetic_samples, write_run


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """What every figure drew: its suptitle, and per visible panel title, ylim, legend."""
    seen: list[dict[str, Any]] = []

    def capture(save: Any) -> Any:
        def wrapped(fig: Figure, out: Path) -> Path:
            fig.canvas.draw()
            panels = [{"title": " ".join(t for t in (ax.get_title("left"), ax.get_title())
                                         if t),
                       "ylim": ax.get_ylim(),
                       "legend": [t.get_text() for t in ax.get_legend().get_texts()]
                       if ax.get_legend() else [],
                       "spans": len(ax.patches),
                       "ax": ax.get_window_extent(),
                       "legend_box": ax.get_legend().get_window_extent()
                       if ax.get_legend() else None}
                      for ax in fig.axes if ax.get_visible()]
            seen.append({"name": Path(out).name,
                         "legend": [t.get_text() for lg in fig.legends
                                    for t in lg.get_texts()],
                         "suptitle": fig.get_suptitle(),
                         "panels": panels})
            return save(fig, out)
        return wrapped

    monkeypatch.setattr(rfig, "save", capture(rfig.save))
    monkeypatch.setattr(cfig, "save", capture(cfig.save))
    yield seen


def test_wealth_outlier_strategy_gets_its_own_panel(tmp_path: Path,
                                                    drawn: list[dict[str, Any]]) -> None:
    samples = synthetic_samples(200, n_traders=9)
    samples["wealth"][:, 2::3] += 70_000.0  # one strategy seven times richer
    rfig.plot_wealth(samples, tmp_path / "wealth.png", "t")
    panels = drawn[-1]["panels"]
    assert [p["title"].split(":")[0] for p in panels] == ["momentum", "mean_reversion",
                                                          "random"]
    rich = panels[2]["ylim"]
    for p in panels[:2]:
        low, high = p["ylim"]
        assert high < rich[0] and high - low < 500


def test_market_compares_with_the_standard_normal_outside_the_bars(
        tmp_path: Path, drawn: list[dict[str, Any]]) -> None:
    rfig.plot_market(synthetic_samples(400), tmp_path / "market.png", "t")
    hist = drawn[-1]["panels"][0]
    assert hist["legend"][-1] == "standard normal"
    assert not any("fit" in t for t in hist["legend"])
    assert hist["legend_box"].y1 <= hist["ax"].y0  # below the panel, never over a bar


def test_a_resumed_run_marks_the_dead_time(tmp_path: Path,
                                           drawn: list[dict[str, Any]]) -> None:
    run = write_run(tmp_path / "resumed" / "r", 100)
    samples = synthetic_samples(100)
    samples["t"][50:] += 30.0  # thirty seconds with the coordinator dead
    (run / "resumed").write_text("1\n")
    rfig.plot_run(run, samples)
    price, wealth = drawn[0], drawn[1]
    assert "no samples: coordinator dead until resumed" in price["legend"]
    assert all(p["spans"] >= 1 for p in price["panels"] + wealth["panels"])
    t, m = rfig._broken(samples["t"], samples["rate"], rfig._gaps(samples["t"]))
    assert len(t) == 101 and np.isnan(m[50]).all()


def test_disabled_monitor_is_named_not_a_short_run(tmp_path: Path,
                                                   drawn: list[dict[str, Any]]) -> None:
    run = write_run(tmp_path / "nomon" / "r", 0)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "monitor": {"enabled": False}}))
    rfig.plot_run(run, synthetic_samples(0))
    for fig in drawn:
        assert "monitor disabled" in fig["suptitle"]
        assert "too short" not in fig["suptitle"]


def test_a_dead_run_is_titled_with_its_scenario(tmp_path: Path,
                                                drawn: list[dict[str, Any]]) -> None:
    run = write_run(tmp_path / "results" / "r-123", 20, summary=False)
    (run / "scenario.yaml").write_text("name: stylized\ntraders: [{count: 1}]\n")
    rfig.plot_run(run, synthetic_samples(20))
    assert all(f["suptitle"].startswith("stylized — run r-123 (did not finish)")
               for f in drawn)


def _row(variant: str, strategy: str, repeat: int, pnl: float) -> GroupRow:
    return GroupRow(variant, repeat, repeat, strategy, 2, pnl, pnl / 2e4, 0.0, 10, 0, 2e4)


def test_compare_pnl_gives_each_strategy_its_own_scale(tmp_path: Path,
                                                       drawn: list[dict[str, Any]]) -> None:
    rows = [_row(v, s, r, (3000.0 if s == "momentum" else 10.0) + r)
            for v in ("a", "b") for s in ("random", "momentum") for r in range(3)]
    cfig.plot_pnl(rows, ["a", "b"], ["random", "momentum"], tmp_path / "pnl.png", "c")
    random_panel, momentum_panel = drawn[-1]["panels"]
    assert random_panel["title"] == "random" and momentum_panel["title"] == "momentum"
    assert random_panel["ylim"][1] < 100 < 1000 < momentum_panel["ylim"][1]


def test_compare_prices_one_panel_per_currency_and_variant(
        tmp_path: Path, drawn: list[dict[str, Any]]) -> None:
    t = np.linspace(0, 1, 50)
    calm = np.ones((50, 2)) + np.linspace(0, 0.01, 50)[:, None]
    bubble = calm.copy()
    bubble[:, 1] *= np.linspace(1, 1.67, 50)  # USD +67 % in one variant
    a = Analysis(prices={"a": Samples(t, calm, ["EUR", "USD"], np.zeros((50, 0)), []),
                         "b": Samples(t, bubble, ["EUR", "USD"], np.zeros((50, 0)), [])})
    cfig.plot_prices(a, ["a", "b"], tmp_path / "prices.png", "c")
    panels = drawn[-1]["panels"]
    assert len(panels) == 4
    usd_calm = panels[2]["ylim"]
    assert usd_calm[1] < 5.0  # percent: the bubble next to it does not squash it


def test_run_prices_one_currency_bubble_flattens_no_other(tmp_path: Path,
                                                          drawn: list[dict[str, Any]]) -> None:
    samples = synthetic_samples(200, c=4)
    wiggle = 1.0 + 0.01 * np.sin(np.linspace(0.0, 20.0, 200))  # ±1 %
    samples["rate"] = np.column_stack([wiggle, np.linspace(1.0, 1.67, 200), wiggle, wiggle])
    rfig.plot_prices(samples, tmp_path / "price.png", "t")
    rates, *small = drawn[-1]["panels"]
    assert rates["title"] == "rates"
    assert [p["title"] for p in small] == ["EUR", "USD", "GBP", "JPY"]
    assert small[1]["ylim"][1] > 50
    for p in (small[0], small[2], small[3]):
        assert p["ylim"][1] - p["ylim"][0] < 3
