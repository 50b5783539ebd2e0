"""The order book benchmark runs, alone and shared, and its books pass every check."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import book_file
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


@pytest.mark.timeout(60)
def test_the_in_file_benchmark_trades_through_writers_and_keeps_every_invariant(
        tmp_path: Path) -> None:
    # bench.book_file.run checks the file after the run and raises on any breach.
    r = book_file.run(2, 3, 3_000, seed=4, capacity=2_000, folder=str(tmp_path))
    assert r.procs == 2 and r.books == 3
    assert 2_500 < r.orders <= 3_000  # cancels with nothing to cancel are not sent
    assert r.fills > 0 and r.seconds > 0 and r.cpu_seconds > 0
    assert list(tmp_path.iterdir()) == []
