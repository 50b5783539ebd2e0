"""Synthetic book tables in the run folder's formats, for the book statistics and figures.

``trades.parquet`` (pool trades with ``maker`` -1 beside book fills), ``orders.parquet``
(placed and cancelled) and ``depth.parquet`` (top levels per side) are written as the
ledger and the monitor write them; the samples carry ``bid`` and ``ask`` as
``read_samples`` returns them. Books are a random walk of the mid in ticks with a spread
of one to four ticks; every fill is at the touch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.harness.rundir import ORDERS, TRADES
from sim.harness.tables import DEPTH
from sim.viz.book_data import BookTables, read_book_tables

SCALE: Final = 10_000
TICK: Final = 0.0001
LEVELS: Final = 10


def tables_of(run: Path) -> BookTables:
    """The book tables of the run folder ``run``."""
    return read_book_tables(run / TRADES, run / ORDERS, run / DEPTH)


def write_trades(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """trades.parquet with the book columns (``maker`` -1, ``tick`` -1: a pool trade)."""
    cols = ("t_ns", "trader", "currency", "side", "qty", "cash", "cur_seq", "unit_reserve",
            "maker", "maker_order", "tick")
    data: dict[str, Any] = {"seq": np.arange(1, len(rows) + 1, dtype=np.int64)}
    for c in cols:
        vals = [r.get(c, -1 if c in ("maker", "tick") else 0) for r in rows]
        if c in ("currency", "side"):
            data[c] = pa.array(vals, pa.string()).dictionary_encode()
        else:
            data[c] = pa.array(vals, pa.int64())
    pq.write_table(pa.table(data), path)


def write_orders(path: Path, rows: Sequence[tuple[str, str]]) -> None:
    """orders.parquet with one row per (currency, event)."""
    n = len(rows)
    z = pa.array(np.zeros(n, dtype=np.int64))
    pq.write_table(pa.table({
        "seq": pa.array(np.arange(1, n + 1, dtype=np.int64)), "t_ns": z, "trader": z,
        "currency": pa.array([r[0] for r in rows], pa.string()).dictionary_encode(),
        "event": pa.array([r[1] for r in rows], pa.string()).dictionary_encode(),
        "side": pa.array(["buy"] * n, pa.string()).dictionary_encode(),
        "qty": z, "cash": z, "cur_seq": z, "order_id": z, "tick": z}), path)


def write_depth(path: Path, rows: Sequence[tuple[float, str, str, int, float, float, int]]
                ) -> None:
    """depth.parquet from (t, currency, side, level, rate, qty, orders) rows."""
    t, cur, side, level, rate, qty, orders = zip(*rows, strict=True) if rows else [()] * 7
    pq.write_table(pa.table({
        "t": pa.array(t, pa.float64()), "currency": pa.array(cur, pa.string()),
        "side": pa.array(side, pa.string()), "level": pa.array(level, pa.int64()),
        "rate": pa.array(rate, pa.float64()), "qty": pa.array(qty, pa.float64()),
        "orders": pa.array(orders, pa.int64())}), path)


def book_run(run: Path, s: int = 300, seed: int = 3) -> dict[str, np.ndarray[Any, Any]]:
    """Write a run's book tables for EUR and GBP on books and USD on a pool; return its
    samples. ``s`` samples 10 ms apart, a depth snapshot every 5th."""
    rng = np.random.default_rng(seed)
    names = ["EUR", "USD", "GBP"]
    t = np.arange(s) * 0.01
    bid = np.full((s, 3), np.nan)
    ask = np.full((s, 3), np.nan)
    trades: list[dict[str, Any]] = []
    depth: list[tuple[float, str, str, int, float, float, int]] = []
    orders: list[tuple[str, str]] = []
    for j, (name, base) in enumerate((("EUR", 10_950), ("GBP", 12_700))):
        c = 2 * j
        mid2 = 2 * base + np.cumsum(rng.integers(-2, 3, size=s))  # twice the mid, ticks
        half = rng.integers(1, 5, size=s)
        b = (mid2 - half) // 2
        a = b + np.maximum(1, half)
        bid[:, c], ask[:, c] = b * TICK, a * TICK
        bid[s // 2, c] = np.nan  # one sample with the bid side empty
        seq = 0
        for i in range(s):
            for _ in range(int(rng.poisson(1.5))):
                seq += 1
                buy = bool(rng.integers(2))
                tick = int(a[i] if buy else b[i])
                lots = int(rng.integers(1, 30))
                trades.append({"t_ns": int(t[i] * 1e9) + seq, "currency": name,
                               "side": "buy" if buy else "sell", "qty": lots * SCALE,
                               "cash": tick * lots, "cur_seq": seq, "maker": 1,
                               "maker_order": 7, "tick": tick})
            if i % 5 == 0:
                for lv in range(LEVELS):
                    depth.append((float(t[i]), name, "bid", lv, (b[i] - lv) * TICK,
                                  float(rng.integers(1, 50)), 1 + lv % 3))
                    depth.append((float(t[i]), name, "ask", lv, (a[i] + lv) * TICK,
                                  float(rng.integers(1, 50)), 1 + lv % 2))
        orders += [(name, "placed")] * (40 + j) + [(name, "cancelled")] * (10 + j)
    for i in range(0, s, 3):
        trades.append({"t_ns": int(t[i] * 1e9), "currency": "USD", "side": "buy",
                       "qty": 5 * SCALE, "cash": 5 * SCALE, "cur_seq": i + 1,
                       "unit_reserve": 1_000 * SCALE})
    trades.sort(key=lambda r: r["t_ns"])
    write_trades(run / TRADES, trades)
    write_orders(run / ORDERS, orders)
    write_depth(run / DEPTH, depth)
    rate = np.where(np.isfinite(bid + ask), (bid + ask) / 2, 1.0)
    return {"t": t, "rate": rate, "names": np.array(names), "bid": bid, "ask": ask,
            "wealth": np.zeros((s, 0)), "trader": np.zeros(0, dtype=np.int64),
            "strategy": np.zeros(0, dtype=str), "consistent": np.ones(s, dtype=bool),
            "violations": np.zeros(s, dtype=np.int64)}
