"""A run with a book beside a pool: its figures, and book statistics that match the file.

The summary's volume of each book comes from the run's tables (fills in trades.parquet,
cancels in orders.parquet); the book's own counters in the exchange file are kept by the
engine inside each order's transaction. The two must agree exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

from sim.core.exchange import Exchange
from sim.viz.book_run import BOOK_FIGURES
from tests.integration.harness import run

TRADERS: Final = [
    {"count": 2, "strategy": "market_maker", "cash": 100000, "holdings": 50000,
     "arrival": {"kind": "poisson", "rate_hz": 300}},
    {"count": 20, "strategy": "noise", "cash": 10000, "holdings": 5000,
     "arrival": {"kind": "poisson", "rate_hz": 50}},
]
CURRENCIES: Final = [{"name": "EUR", "rate": 1.1, "market": "book"},
                     {"name": "USD", "rate": 1.0, "reserve": 100000}]


@pytest.mark.timeout(120)
def test_book_statistics_agree_with_the_books_counters(tmp_path: Path) -> None:
    out = run(tmp_path, figures=True, duration_s=1.5, scale=10000, fee_bps=0, traders=TRADERS,
              currencies=CURRENCIES)
    s = out.summary
    assert s.plot_error is None
    for name in BOOK_FIGURES:
        assert (out.run_dir / name).stat().st_size > 10_000, name
    assert s.market is not None and s.market.books is not None
    assert list(s.market.books) == ["EUR"]  # the pool has no book statistics
    eur = s.market.books["EUR"]
    assert eur.tick == pytest.approx(1e-4, rel=1e-12)
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        book = ex.book(0)
        assert eur.volume.fills == book.counter("fills") > 50
        assert eur.volume.units == book.counter("volume_qty") * book.lot
        assert eur.volume.cash == book.counter("volume_cash")
        assert eur.volume.cancelled == book.counter("cancels")
    assert eur.returns.n == eur.volume.fills - 1
    assert eur.volume.placed is not None and eur.volume.placed > 0


@pytest.mark.timeout(60)
def test_no_figures_means_no_book_figures(tmp_path: Path) -> None:
    from sim.config.scenario import parse_scenario
    from sim.harness.coordinator import run_scenario
    from tests.integration.harness import scenario

    scn = parse_scenario(scenario(duration_s=0.3, scale=10000, fee_bps=0, traders=TRADERS,
                                  currencies=CURRENCIES), "<test>", "t")
    out = run_scenario(scn, tmp_path / "results", out=None, figures=False)
    assert not list(out.run_dir.glob("*.png"))
    assert out.summary.market is not None and out.summary.market.books is not None
