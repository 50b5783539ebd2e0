"""The order book benchmark runs, alone and shared, and its books pass every check."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.book import run
from sim.core.book_layout import BookGeometry

GEO = BookGeometry(ticks=10_000, capacity=2_000, max_fills=64)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("procs", "books", "shared"), [(1, 1, False), (2, 2, False),
                                                         (2, 1, True)])
def test_the_book_benchmark_trades_and_keeps_every_invariant(
        procs: int, books: int, shared: bool, tmp_path: Path) -> None:
    runs, resting = run(procs, books, 4_000, GEO, seed=3, shared=shared, folder=str(tmp_path))
    assert len(runs) == procs
    assert sum(m.orders for m in runs) == 4_000
    assert all(m.fills > 0 and m.seconds > 0 for m in runs)
    assert 0 < resting <= GEO.capacity * books
    assert list(tmp_path.iterdir()) == []  # the file went with its scratch folder
