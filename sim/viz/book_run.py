"""The figures of a run with books: book.png, depth.png and book_market.png.

Drawn beside the run's other figures (:func:`sim.viz.figures.plot_run`) when some currency
trades on a limit order book, from the samples and the run's book tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from sim.viz.book import plot_book, plot_depth
from sim.viz.book_data import BookTables
from sim.viz.book_market import plot_trade_returns
from sim.viz.parallel import Job

__all__ = ["BOOK_FIGURES", "book_jobs"]

BOOK_FIGURES: Final = ("book.png", "depth.png", "book_market.png")


def book_jobs(run_dir: Path, samples: Mapping[str, np.ndarray[Any, Any]],
              tables: BookTables, books: Sequence[str], title: str, *, scale: int,
              ticks: Mapping[str, float] | None = None) -> list[Job]:
    """The drawing of each book figure into ``run_dir``, as jobs for ``draw_all``.

    ``books`` are the book currencies by name, ``scale`` minor units per unit, ``ticks``
    each book's price step in cash per unit.
    """
    run_dir = Path(run_dir)
    book_png, depth_png, market_png = (run_dir / name for name in BOOK_FIGURES)
    return [
        lambda: plot_book(samples, tables.fills, books, book_png, title, scale=scale,
                          ticks=ticks),
        lambda: plot_depth(tables.depth, books, depth_png, title, ticks=ticks),
        lambda: plot_trade_returns(tables.fills, books, market_png, title),
    ]
