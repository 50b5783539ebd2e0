"""The book tables of a run folder as arrays: fills, order events and depth snapshots.

A run with books writes, beside the samples, ``trades.parquet`` whose book fills carry a
``maker`` account (-1 marks a pool trade), ``orders.parquet`` (orders placed and
cancelled) and ``depth.parquet`` (the top levels of each book over time). Pool runs and
runs written before books have none of it: every reader here returns an empty result for a
missing file or a missing column, so the figures and statistics simply have less to show.
A file that exists but cannot be read is one clear line (:class:`sim.errors.BadInput`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.arrow import numpy, read_parquet
from sim.errors import BadInput

__all__ = [
    "BookTables",
    "Depth",
    "Fills",
    "OrderCounts",
    "read_book_tables",
    "read_depth_frames",
    "read_fills",
    "read_order_counts",
]

_FILL_COLUMNS: Final = ("t_ns", "currency", "side", "qty", "cash", "cur_seq", "maker", "tick")
_DEPTH_COLUMNS: Final = ("t", "currency", "side", "level", "rate", "qty", "orders")

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Fills:
    """One book's fills in the order they happened (its ``cur_seq``).

    ``qty`` is minor units of the currency and ``cash`` minor units of cash, both exact;
    ``cash / qty`` is the fill's price in cash per unit. ``buy`` is the taker's side.
    """

    t: FloatArray
    qty: IntArray
    cash: IntArray
    tick: IntArray
    buy: np.ndarray[Any, np.dtype[np.bool_]]

    def __len__(self) -> int:
        return len(self.t)

    @property
    def price(self) -> FloatArray:
        """Each fill's price in cash per unit."""
        out: FloatArray = self.cash / self.qty
        return out


@dataclass(frozen=True)
class OrderCounts:
    """Order events of one book: orders that rested, and resting orders cancelled."""

    placed: int
    cancelled: int


@dataclass(frozen=True)
class Depth:
    """One book's depth snapshots: one row per (time, side, level), as depth.parquet.

    ``t`` in seconds, ``bid`` True for the bid side, ``level`` 0 for the best, ``rate``
    in cash per unit, ``qty`` in units, ``orders`` resting at that level.
    """

    t: FloatArray
    bid: np.ndarray[Any, np.dtype[np.bool_]]
    level: IntArray
    rate: FloatArray
    qty: FloatArray
    orders: IntArray

    def __len__(self) -> int:
        return len(self.t)

    @property
    def times(self) -> FloatArray:
        """The snapshot times, in order, once each."""
        out: FloatArray = np.unique(self.t)
        return out


def _table(path: Path, wanted: tuple[str, ...]) -> pa.Table | None:
    """The table's ``wanted`` columns; None when the file or one of them is absent."""
    if not path.is_file():
        return None
    try:
        names = set(pq.read_schema(path).names)
        if not set(wanted) <= names:
            return None
        return read_parquet(path, wanted)
    except (OSError, pa.ArrowException) as e:
        raise BadInput(f"{path}: unreadable ({' '.join(str(e).split())})") from None


def _strings(col: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    return np.asarray(numpy(col), dtype=str)


def _ints(table: pa.Table, name: str) -> IntArray:
    return np.asarray(numpy(table.column(name)), dtype=np.int64)


def _floats(table: pa.Table, name: str) -> FloatArray:
    return np.asarray(numpy(table.column(name)), dtype=np.float64)


def read_fills(path: Path) -> dict[str, Fills]:
    """The book fills of a trades table, per currency name (pool trades left out).

    Empty for a missing file or a table without the ``maker`` column (pool runs, and runs
    written before books).
    """
    table = _table(Path(path), _FILL_COLUMNS)
    if table is None or table.num_rows == 0:
        return {}
    book = _ints(table, "maker") >= 0
    currency = _strings(table.column("currency"))[book]
    seq = _ints(table, "cur_seq")[book]
    t_ns, qty, cash, tick = (_ints(table, c)[book] for c in ("t_ns", "qty", "cash", "tick"))
    buy = _strings(table.column("side"))[book] == "buy"
    out: dict[str, Fills] = {}
    for name in dict.fromkeys(currency.tolist()):
        idx = np.flatnonzero(currency == name)
        idx = idx[np.argsort(seq[idx], kind="stable")]
        out[name] = Fills(t=t_ns[idx] / 1e9, qty=qty[idx], cash=cash[idx], tick=tick[idx],
                          buy=buy[idx])
    return out


def read_order_counts(path: Path) -> dict[str, OrderCounts] | None:
    """Orders placed and cancelled per currency name; None without an orders table."""
    table = _table(Path(path), ("currency", "event"))
    if table is None:
        return None
    currency = _strings(table.column("currency"))
    event = _strings(table.column("event"))
    return {name: OrderCounts(
        placed=int(np.count_nonzero((currency == name) & (event == "placed"))),
        cancelled=int(np.count_nonzero((currency == name) & (event == "cancelled"))))
        for name in dict.fromkeys(currency.tolist())}


def read_depth_frames(path: Path) -> dict[str, Depth]:
    """The depth snapshots per currency name; empty without a depth table."""
    table = _table(Path(path), _DEPTH_COLUMNS)
    if table is None or table.num_rows == 0:
        return {}
    currency = _strings(table.column("currency"))
    side = _strings(table.column("side"))
    t, rate, qty = _floats(table, "t"), _floats(table, "rate"), _floats(table, "qty")
    level, orders = _ints(table, "level"), _ints(table, "orders")
    out: dict[str, Depth] = {}
    for name in dict.fromkeys(currency.tolist()):
        idx = np.flatnonzero(currency == name)
        idx = idx[np.lexsort((level[idx], side[idx], t[idx]))]
        out[name] = Depth(t=t[idx], bid=side[idx] == "bid", level=level[idx], rate=rate[idx],
                          qty=qty[idx], orders=orders[idx])
    return out


@dataclass(frozen=True)
class BookTables:
    """A run's book tables, read once for the statistics and the figures.

    ``orders`` is None when the run has no orders table (it cannot say what was placed).
    """

    fills: dict[str, Fills]
    depth: dict[str, Depth]
    orders: dict[str, OrderCounts] | None


def read_book_tables(trades: Path, orders: Path, depth: Path) -> BookTables:
    """The fills of a trades table, the order events of an orders table and the
    snapshots of a depth table (a run folder's trades, orders and depth Parquet files)."""
    return BookTables(fills=read_fills(trades), depth=read_depth_frames(depth),
                      orders=read_order_counts(orders))
