"""Book statistics: exact numbers on known inputs, absent tables tolerated, summaries typed.

Spread, depth, volume and the stylized facts of trade-time returns are computed from
tables in the run folder's formats (tests/unit/book_frames.py); each test knows its
answer before it asks.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Final

import numpy as np
import pytest

from sim.core.exchange import BookSpec, CurrencySpec, Exchange
from sim.errors import BadInput
from sim.harness.finish import _ticks
from sim.harness.report import book_lines, print_run_summary
from sim.harness.summary import BookStats, MarketStats, RunSummary, book_stats, market_summary
from sim.viz.book_data import (
    BookTables,
    Depth,
    read_depth_frames,
    read_fills,
    read_order_counts,
)
from sim.viz.book_stats import (
    Z95,
    depth_summary,
    return_facts,
    spread_summary,
    trade_returns,
    volume_summary,
)
from tests.unit.book_frames import (
    SCALE,
    book_run,
    tables_of,
    write_depth,
    write_orders,
    write_trades,
)
from tests.unit.test_report import _summary

TICK: Final = 0.0001
BIG: Final = 2**53 + 1  # not a float64: a sum through floats would lose the 1


def test_spread_in_ticks_and_bps_over_samples_with_both_sides() -> None:
    bid = np.array([0.9999, 0.9998, np.nan, 1.0, 0.9995])
    ask = np.array([1.0001, 1.0001, 1.0001, np.nan, 1.0005])
    s = spread_summary(bid, ask, TICK)
    assert (s.samples, s.both_sides) == (5, 3)
    # Spreads 2, 3 and 10 ticks, around mids 1, 0.99995 and 1.
    assert s.median_ticks == 3.0 and s.p90_ticks == pytest.approx(8.6, rel=1e-12)
    assert s.mean_ticks == pytest.approx(5.0, rel=1e-12)
    bps = [2.0, 3.0 / 0.99995, 10.0]
    assert s.median_bps == pytest.approx(bps[1], rel=1e-9)
    assert s.mean_bps == pytest.approx(sum(bps) / 3, rel=1e-9)
    no_tick = spread_summary(bid, ask, None)
    assert no_tick.median_ticks is None and no_tick.median_bps == s.median_bps
    empty = spread_summary(np.full(3, np.nan), np.ones(3), TICK)
    assert empty.both_sides == 0 and empty.median_ticks is None and empty.p90_bps is None


def test_depth_at_the_best_and_within_ten_levels_counts_an_empty_side_as_zero(
        tmp_path: Path) -> None:
    rows = [(0.1, "EUR", "bid", lv, 1.0 - lv * TICK, q, 1)
            for lv, q in enumerate([5.0, 3.0, 2.0])]
    rows += [(0.1, "EUR", "ask", 0, 1.0001, 4.0, 1), (0.1, "EUR", "ask", 1, 1.0002, 4.0, 2)]
    rows += [(0.2, "EUR", "bid", 0, 1.0, 7.0, 1)]  # the ask side empty
    rows += [(0.3, "EUR", "bid", lv, 1.0 - lv * TICK, 1.0, 1) for lv in range(11)]
    rows += [(0.3, "EUR", "ask", 0, 1.0001, 9.0, 1), (0.2, "GBP", "ask", 0, 1.3, 99.0, 1)]
    write_depth(tmp_path / "depth.parquet", rows[::-1])  # order must not matter
    depth = read_depth_frames(tmp_path / "depth.parquet")
    assert sorted(depth) == ["EUR", "GBP"]
    d = depth_summary(depth["EUR"])
    assert (d.snapshots, d.levels) == (3, 10)
    assert d.bid_best == 5.0  # of 5, 7, 1
    assert d.bid_within == 10.0  # of 10, 7, 10 (the eleventh level is not within ten)
    assert d.ask_best == 4.0  # of 4, 0, 9
    assert d.ask_within == 8.0  # of 8, 0, 9
    assert depth_summary(None).snapshots == 0 and depth_summary(None).bid_best is None


def test_fills_volume_and_trade_time_returns_are_exact(tmp_path: Path) -> None:
    # EUR fills at 1.0, 1.1, 1.0, 1.21 per unit in cur_seq order, stored out of order,
    # between pool trades of USD; the first fill is too big for a float.
    prices = [(10_000, 1), (11_000, 2), (10_000, 3), (12_100, 4)]
    rows = [{"t_ns": 5, "currency": "EUR", "side": "buy", "qty": BIG * SCALE // SCALE,
             "cash": BIG, "cur_seq": 1, "maker": 3, "tick": 0}]
    rows += [{"t_ns": 5, "currency": "EUR", "side": "sell", "qty": 2 * SCALE,
              "cash": p * 2, "cur_seq": seq, "maker": 4, "tick": p} for p, seq in prices[1:]]
    rows += [{"t_ns": 1, "currency": "USD", "side": "buy", "qty": 7, "cash": 7,
              "cur_seq": k} for k in (1, 2)]
    write_trades(tmp_path / "trades.parquet", rows[::-1])
    fills = read_fills(tmp_path / "trades.parquet")
    assert list(fills) == ["EUR"]  # pool trades are not fills
    eur = fills["EUR"]
    assert eur.qty.tolist() == [BIG, 2 * SCALE, 2 * SCALE, 2 * SCALE]
    assert not eur.buy[1:].any() and eur.buy[0]
    r = trade_returns(eur)
    assert r == pytest.approx([math.log(1.1), math.log(1 / 1.1), math.log(1.21)], rel=1e-12)
    write_orders(tmp_path / "orders.parquet",
                 [("EUR", "placed")] * 3 + [("EUR", "cancelled"), ("GBP", "placed")])
    counts = read_order_counts(tmp_path / "orders.parquet")
    assert counts is not None
    v = volume_summary(eur, counts.get("EUR"), True)
    assert (v.fills, v.placed, v.cancelled) == (4, 3, 1)
    assert v.units == BIG + 6 * SCALE and v.cash == BIG + 2 * (11_000 + 10_000 + 12_100)
    none = volume_summary(None, None, True)
    assert (none.fills, none.units, none.placed, none.cancelled) == (0, 0, 0, 0)
    assert volume_summary(None, None, False).placed is None


def test_return_facts_on_known_series() -> None:
    n = 400
    alt = np.tile([1.0, -1.0], n // 2)
    f = return_facts(alt)
    assert f.n == n and f.excess_kurtosis == pytest.approx(-2.0, abs=1e-12)
    assert f.acf[0] == pytest.approx(-(n - 1) / n, rel=1e-12)
    assert f.acf[1] == pytest.approx((n - 2) / n, rel=1e-12)
    assert len(f.acf) == 10 and f.acf_abs == [None] * 10  # |r| constant: no ACF
    assert f.band == pytest.approx(Z95 / math.sqrt(n))
    few = return_facts(np.array([0.1, np.nan]))
    assert few.n == 1 and few.excess_kurtosis is None and few.acf == [None] * 10


def test_the_facts_tell_clustered_heavy_tails_from_noise() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    # Volatility in regimes a hundred returns long: heavy tails and |r| clustering,
    # with no linear autocorrelation.
    sigma = np.repeat(rng.choice([0.2, 1.0, 4.0], size=n // 100), 100)
    clustered = return_facts(sigma * rng.standard_normal(n))
    assert clustered.excess_kurtosis is not None and clustered.excess_kurtosis > 3
    assert clustered.band is not None
    assert all(a is not None and a > 5 * clustered.band for a in clustered.acf_abs)
    assert all(a is not None and abs(a) < 2.5 * clustered.band for a in clustered.acf)
    noise = return_facts(rng.standard_normal(n))
    assert noise.excess_kurtosis is not None and abs(noise.excess_kurtosis) < 0.2
    assert noise.band is not None
    assert all(a is not None and abs(a) < 2.5 * noise.band for a in noise.acf_abs)


def test_absent_tables_give_nothing_and_a_broken_one_one_line(tmp_path: Path) -> None:
    assert read_fills(tmp_path / "trades.parquet") == {}
    assert read_order_counts(tmp_path / "orders.parquet") is None
    assert read_depth_frames(tmp_path / "depth.parquet") == {}
    # A pool run's trades table, as written before books: no maker column.
    write_trades(tmp_path / "trades.parquet", [{"currency": "USD", "side": "buy"}])
    import pyarrow.parquet as pq

    old = pq.read_table(tmp_path / "trades.parquet").drop_columns(["maker", "maker_order",
                                                                    "tick"])
    pq.write_table(old, tmp_path / "trades.parquet")
    assert read_fills(tmp_path / "trades.parquet") == {}
    (tmp_path / "depth.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(BadInput, match=r"depth\.parquet: unreadable"):
        read_depth_frames(tmp_path / "depth.parquet")


def test_book_stats_fill_the_summary_and_old_summaries_still_load(tmp_path: Path) -> None:
    samples = book_run(tmp_path)
    tables = tables_of(tmp_path)
    ticks = {"EUR": TICK, "GBP": TICK}
    books = book_stats(samples, tables, ["EUR", "GBP"], ticks)
    eur = books["EUR"]
    assert eur.tick == TICK
    assert eur.spread.samples == 300 and eur.spread.both_sides == 299
    assert eur.spread.median_ticks is not None and 1 <= eur.spread.median_ticks <= 4
    assert eur.depth.snapshots == 60 and eur.depth.bid_within is not None
    assert eur.volume.fills == len(tables.fills["EUR"]) > 0
    assert (eur.volume.placed, eur.volume.cancelled) == (40, 10)
    assert eur.returns.n == eur.volume.fills - 1 and len(eur.returns.acf) == 10
    assert books["GBP"].volume.placed == 41
    m = market_summary(samples["t"], samples["rate"], [1.0] * 3, [1.0] * 3, books)
    assert MarketStats.model_validate_json(json.dumps(m.as_json())) == m
    first, second, third = book_lines("EUR", eur, SCALE)
    assert first.startswith("  book EUR: spread median ") and "40 placed" in first
    assert second.startswith(f"    trade-time returns (n={eur.returns.n:,}): excess kurtosis ")
    assert eur.mid_returns is not None and eur.mid_returns.n == 298
    assert third.startswith(f"    mid returns, per sample (n={eur.mid_returns.n:,}): ")
    # Without quotes, depth or orders (a run whose tables predate books), still typed.
    bare = book_stats({"t": samples["t"]}, BookTables(tables.fills, {}, None), ["EUR"], {})
    assert bare["EUR"].spread.both_sides == 0 and bare["EUR"].volume.placed is None
    assert "spread -, depth -" in book_lines("EUR", bare["EUR"], SCALE)[0]
    nothing = book_stats({"t": samples["t"]}, BookTables({}, {}, None), ["EUR"], {})
    assert book_lines("EUR", nothing["EUR"], SCALE) == [
        "  book EUR: spread -, depth -, 0 fills of 0 units",
        "    trade-time returns: too few to say anything (n=0)",
        "    mid returns, per sample: too few to say anything (n=0)"]
    # A summary from before the book statistics: its market has no books.
    old = m.as_json()
    del old["books"]
    assert MarketStats.model_validate(old).books is None


def test_the_run_report_prints_each_book_in_two_lines() -> None:
    book = BookStats.model_validate({
        "tick": TICK,
        "spread": {"samples": 10, "both_sides": 9, "median_ticks": 2.0, "mean_ticks": 2.5,
                   "p90_ticks": 4.0, "median_bps": 1.83, "mean_bps": 2.2, "p90_bps": 3.6},
        "depth": {"snapshots": 5, "levels": 10, "bid_best": 12.0, "bid_within": 80.0,
                  "ask_best": 9.5, "ask_within": 70.0},
        "volume": {"fills": 1_234, "units": 56_780_000, "cash": 62_000_000, "placed": 3_000,
                   "cancelled": 1_200},
        "returns": {"n": 1_233, "excess_kurtosis": 5.2, "acf": [-0.31] + [0.0] * 9,
                    "acf_abs": [0.12] + [0.0] * 9, "band": 0.0558}})
    out = io.StringIO()
    print_run_summary(_with_book(book), out)
    lines = out.getvalue().splitlines()
    at = lines.index("  book EUR: spread median 2 ticks (1.8 bps), depth at best 12/9.5 units "
                     "(bid/ask), 1,234 fills of 5,678 units, 3,000 placed, 1,200 cancelled")
    assert lines[at + 1] == ("    trade-time returns (n=1,233): excess kurtosis 5.20, lag-1 "
                             "autocorrelation -0.310 (95 % band ±0.056), of |returns| +0.120")


def _with_book(book: BookStats) -> RunSummary:
    """The report test's summary with a market that has one book."""
    market = market_summary(np.zeros(0), np.zeros((0, 1)), [1.0], [1.0], {"EUR": book})
    return _summary(scale=SCALE, market=market.as_json())


def test_ticks_come_from_each_books_header(tmp_path: Path) -> None:
    specs = [CurrencySpec("EUR", 0, 0, BookSpec(10_000, 1, SCALE, 1.0)),
             CurrencySpec("USD", 100 * SCALE, 100 * SCALE),
             CurrencySpec("GBP", 0, 0, BookSpec(12_600, 2, SCALE // 10, 1.26))]
    with Exchange.create(str(tmp_path / "x.dat"), specs, n_writers=1, n_accounts=2,
                         ring_rows=16, scale=SCALE, fee_bps=0,
                         book_shape=(100, 64, 8)) as ex:
        # A price is cash minor units per lot: a tick of 1 on a lot of one unit is 1e-4
        # cash per unit, a tick of 2 on a lot of a tenth of a unit is 2e-3.
        assert _ticks(ex, ex.names()) == {"EUR": 1e-4, "GBP": 2e-3}


def test_depth_frame_of_one_side_only() -> None:
    d = Depth(t=np.array([1.0, 1.0]), bid=np.array([True, True]), level=np.array([0, 1]),
              rate=np.array([1.0, 0.9999]), qty=np.array([2.0, 3.0]),
              orders=np.array([1, 1]))
    s = depth_summary(d)
    assert (s.bid_best, s.bid_within, s.ask_best, s.ask_within) == (2.0, 5.0, 0.0, 0.0)
