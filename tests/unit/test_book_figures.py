"""Book figures: written for any run, every panel labelled, and what they cannot show said.

Each figure is captured just before it is saved (as in test_figures_readable.py), so the
test reads its panels, labels, legends and notes as a reader would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

import sim.viz.book as vbook
import sim.viz.book_market as vmarket
from sim.viz.book_data import Depth
from sim.viz.book_run import BOOK_FIGURES, book_jobs
from tests.unit.book_frames import SCALE, TICK, book_run, tables_of

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def capture(save: Any) -> Any:
        def wrapped(fig: Figure, out: Path) -> Path:
            fig.canvas.draw()
            panels = []
            for ax in fig.axes:
                if not ax.get_visible():
                    continue
                legend = ax.get_legend()
                panels.append({
                    "colorbar": hasattr(ax, "_colorbar"),
                    "title": ax.get_title("left") + ax.get_title(),
                    "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                    "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
                    "ylim": ax.get_ylim(),
                    "legend_title": legend.get_title().get_text() if legend else "",
                    "texts": [t.get_text() for t in ax.texts],
                    "meshes": sum(isinstance(c, QuadMesh) for c in ax.collections),
                    "lines": [ln.get_label() for ln in ax.get_lines()]})
            seen.append({"name": Path(out).name, "suptitle": fig.get_suptitle(),
                         "panels": panels})
            return save(fig, out)
        return wrapped

    monkeypatch.setattr(vbook, "save", capture(vbook.save))
    monkeypatch.setattr(vmarket, "save", capture(vmarket.save))
    yield seen


def plot_book_run(*args: Any, **kwargs: Any) -> list[Path]:
    """The book figures drawn in this process, one after another: a forked drawing's
    capture would stay in the child."""
    return [job() for job in book_jobs(*args, **kwargs)]


def _labelled(fig: dict[str, Any]) -> None:
    assert fig["suptitle"]
    for p in fig["panels"]:
        if p["colorbar"]:
            assert "units" in p["ylabel"], p
            continue
        assert p["title"] and p["xlabel"] and p["ylabel"], (fig["name"], p)


def test_a_book_run_draws_three_labelled_figures(tmp_path: Path,
                                                  drawn: list[dict[str, Any]]) -> None:
    samples = book_run(tmp_path)
    tables = tables_of(tmp_path)
    paths = plot_book_run(tmp_path, samples, tables, ["EUR", "GBP"], "book — lock",
                          scale=SCALE, ticks={"EUR": TICK, "GBP": TICK})
    assert [p.name for p in paths] == list(BOOK_FIGURES)
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in paths)
    book, depth, market = drawn
    for fig in drawn:
        _labelled(fig)
    # book.png: per currency, quotes with the spread shaded and fills, over the spread.
    assert len(book["panels"]) == 4
    quotes, spread = book["panels"][:2]
    assert quotes["title"].startswith("EUR:")
    assert {"best bid", "best ask", "mid", "spread"} <= set(quotes["legend"])
    assert sum(t.startswith("fill, taker") for t in quotes["legend"]) == 2
    assert spread["ylabel"] == "spread (ticks)"
    assert spread["legend"][0].startswith("median ")
    # depth.png: two heat maps per book (bid and ask), the mid over them, colour bars.
    maps = [p for p in depth["panels"] if not p["colorbar"]]
    assert [p["meshes"] for p in maps] == [2, 2]
    assert all("mid" in p["lines"] for p in maps)
    assert sum(p["colorbar"] for p in depth["panels"]) == 2  # one per side, shared
    # book_market.png: distribution against a normal, ACFs over lags 1..10 with the band.
    hist, acf, acf_abs = market["panels"]
    assert hist["legend"][-1] == "standard normal"
    assert acf["xlabel"] == "lag (fills)" and acf_abs["title"].endswith("|returns|")
    assert any(t.startswith("95 % band") for t in acf["legend"])
    assert "EUR" in market["suptitle"] and "excess kurtosis" in market["suptitle"]


def test_spread_in_bps_without_a_tick(tmp_path: Path, drawn: list[dict[str, Any]]) -> None:
    samples = book_run(tmp_path, s=40)
    tables = tables_of(tmp_path)
    vbook.plot_book(samples, tables.fills, ["EUR"], tmp_path / "book.png", "t", scale=SCALE)
    assert drawn[-1]["panels"][1]["ylabel"] == "spread (bps of mid)"


def test_what_is_missing_is_said(tmp_path: Path, drawn: list[dict[str, Any]]) -> None:
    # Quotes not sampled (no bid/ask arrays), no fills, no depth, and a book with one fill.
    samples = {"t": np.arange(5) * 0.1, "rate": np.ones((5, 1)), "names": np.array(["EUR"])}
    run = tmp_path / "r"
    run.mkdir()
    tables = tables_of(run)
    plot_book_run(run, samples, tables, ["EUR"], "empty", scale=SCALE)
    book, depth, market = drawn
    for fig in drawn:
        _labelled(fig)
    assert book["panels"][0]["texts"] == ["no quotes sampled and no fills"]
    assert book["panels"][1]["texts"] == ["no quotes sampled"]
    assert depth["panels"][0]["texts"] == ["no depth snapshots"]
    assert all(p["texts"] == ["too few returns (n=0)"] for p in market["panels"])
    with_fills = tmp_path / "fills"
    with_fills.mkdir()
    book_run(with_fills, s=20)
    fills = tables_of(with_fills).fills
    nan = {**samples, "bid": np.full((5, 1), np.nan), "ask": np.full((5, 1), np.nan)}
    for quotes in (samples, nan):
        vbook.plot_book(quotes, fills, ["EUR"], run / "fills.png", "fills", scale=SCALE)
        assert drawn[-1]["panels"][0]["texts"] == [
            "no quotes sampled (the monitor recorded no best bid or ask)"]
        assert not {"best bid", "spread"} & set(drawn[-1]["panels"][0]["legend"])
    assert drawn[-1]["panels"][1]["texts"] == ["never both sides at once"]
    vbook.plot_book(samples, {}, [], run / "none.png", "pool", scale=SCALE)
    vbook.plot_depth({}, [], run / "none-depth.png", "pool")
    assert drawn[-2]["panels"][0]["texts"] == ["no currency trades on a book"]
    assert drawn[-1]["panels"][0]["texts"] == ["no currency trades on a book"]


def test_a_long_run_draws_a_sample_of_its_fills(
        tmp_path: Path, drawn: list[dict[str, Any]]) -> None:
    samples = book_run(tmp_path, s=60)
    tables = tables_of(tmp_path)
    fills = tables.fills["EUR"]
    many = type(fills)(t=np.tile(fills.t, 400), qty=np.tile(fills.qty, 400),
                       cash=np.tile(fills.cash, 400), tick=np.tile(fills.tick, 400),
                       buy=np.tile(fills.buy, 400))
    assert len(many) > vbook.MAX_PRINTS
    vbook.plot_book(samples, {"EUR": many}, ["EUR"], tmp_path / "b.png", "t", scale=SCALE)
    every = -(-len(many) // vbook.MAX_PRINTS)
    assert f"(every {every}th of {len(many):,} fills)" in drawn[-1]["panels"][0]["title"]


def test_a_sweep_through_a_thin_book_does_not_flatten_the_run(
        tmp_path: Path, drawn: list[dict[str, Any]]) -> None:
    samples = book_run(tmp_path, s=200)
    fills = tables_of(tmp_path).fills["EUR"]
    cash = fills.cash.copy()
    cash[:3] = cash[:3] * 9 // 10  # three fills 10 % below the rest, at the start
    swept = type(fills)(
        t=fills.t, qty=fills.qty, cash=cash, tick=fills.tick, buy=fills.buy)
    samples["ask"][1, 0] = 2.0  # and one quote far above
    vbook.plot_book(samples, {"EUR": swept}, ["EUR"], tmp_path / "b.png", "t", scale=SCALE,
                    ticks={"EUR": TICK})
    quotes, spread = drawn[-1]["panels"][:2]
    assert quotes["title"].endswith("; 4 outlying quotes and fills beyond the view)")
    low, high = quotes["ylim"]
    assert low > 1.09 and high < 1.10
    assert spread["title"].endswith("; 1 outlying samples beyond the view)")
    assert spread["ylim"][1] < 10


def _ladder(spacing: int, far: bool = False) -> Depth:
    """Ten snapshots of ten levels a side, ``spacing`` ticks apart, around 1.0000/1.0001;
    with ``far``, the first snapshot's deepest bid rests 500 ticks below its best."""
    t, bid, level, rate = [], [], [], []
    for k in range(10):
        for is_bid, best, sign in ((True, 10_000, -1), (False, 10_001, 1)):
            for lv in range(10):
                away = 500 if far and is_bid and k == 0 and lv == 9 else lv * spacing
                t.append(k * 0.1)
                bid.append(is_bid)
                level.append(lv)
                rate.append((best + sign * away) * TICK)
    n = len(t)
    return Depth(t=np.array(t), bid=np.array(bid), level=np.array(level), rate=np.array(rate),
                 qty=np.full(n, 3.0), orders=np.ones(n, dtype=np.int64))


def test_depth_bins_a_wide_ladder_and_leaves_a_far_order_out(
        tmp_path: Path, drawn: list[dict[str, Any]]) -> None:
    # Levels 100 ticks apart: 0.9100 to 1.0901 is 1,802 rows of one tick, 5 ticks a row.
    vbook.plot_depth({"EUR": _ladder(100)}, ["EUR"], tmp_path / "d.png", "t",
                     ticks={"EUR": TICK})
    heat = drawn[-1]["panels"][0]
    assert heat["meshes"] == 2 and heat["legend_title"] == "10 snapshots, 5 ticks per row"
    vbook.plot_depth({"EUR": _ladder(1, far=True)}, ["EUR"], tmp_path / "f.png", "t")
    heat = drawn[-1]["panels"][0]
    assert heat["legend_title"] == "10 snapshots\n1 far level not shown"
    assert heat["ylim"][0] > 0.999  # the far bid (0.9491) does not stretch the view


def test_infer_tick_from_ladder_rates() -> None:
    rates = np.array([1.0950, 1.0952, 1.0951, 1.0955, np.nan, 1.0950])
    assert vbook.infer_tick(rates) == pytest.approx(1e-4, rel=1e-6)
    assert vbook.infer_tick(np.array([1.0])) == 1.0


def test_returns_on_a_ladder_get_a_bin_per_tick() -> None:
    rng = np.random.default_rng(5)
    ticks = rng.choice([-2, -1, 0, 0, 0, 1, 2], size=500).astype(np.float64)
    z = (ticks - ticks.mean()) / ticks.std()
    step = 1.0 / ticks.std()
    edges = vmarket._bins([z], z)
    assert np.diff(edges) == pytest.approx(np.full(len(edges) - 1, step), rel=1e-9)
    centres = (edges[1:] + edges[:-1]) / 2.0
    # Every distinct value in a bin of its own, near the bin's centre.
    counts, _ = np.histogram(z, bins=edges)
    assert (counts > 0).sum() == 5
    assert np.abs(centres[np.searchsorted(edges, np.unique(z)) - 1] - np.unique(z)).max() \
        < 0.5 * step
    smooth = rng.standard_normal(500)
    assert vmarket._bins([smooth], smooth) == 22  # regular: sqrt(n) of them
