"""Three processes trade on two books and a pool at once, one is SIGKILLed: replay exact.

Each process opens the exchange file by path, takes its own writer and sends random
orders (limit of every kind, market, cancel, pool trades) for its three accounts, at least
1,500 and for at least a second; one of them is SIGKILLed after its 1,500th order, while
the others trade. ``sim check --repair`` then settles what it left, and ``--replay``
rebuilds every book, stake and account from the three ledgers, in the time order their
rows were written under each currency's lock, and finds the file exactly.
"""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path
from typing import Final

import multiprocess
import numpy as np
import pandas as pd
import pytest

from sim.config.scenario import parse_scenario
from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from sim.harness.coordinator import run_scenario
from sim.harness.rundir import ORDERS, TRADES
from sim.harness.tables import ORDER_SCHEMA, TRADE_SCHEMA
from sim.tools.check import check_command, replay
from tests.integration.harness import scenario
from tests.unit.test_book_replay import N_ACC, book_exchange, new_seen, random_order

_TRADE_S: Final = 1.0
# Orders each process makes at least (the one killed: before it is killed), whatever the
# load of the machine.
_ORDERS: Final = 1500
_DEADLINE: Final = 60.0
_SHAPE: Final = (200, 4096, 16)


def _trader(path: str, w: int, seed: int, trade_s: float, started: object,
            halfway: object) -> None:
    ex = Exchange.open(path)
    wr = Writer(ex, w)
    rng = np.random.default_rng(seed)
    mine = [a for a in range(N_ACC) if a % 3 == w]
    live: dict[int, list[tuple[int, int]]] = {a: [] for a in mine}
    seen = new_seen()
    started.set()  # type: ignore[attr-defined]
    end = time.monotonic() + trade_s
    n = 0
    while n < _ORDERS or time.monotonic() < end:
        a = mine[int(rng.integers(len(mine)))]
        random_order(ex, wr, a, rng, live[a], seen)
        n += 1
        if n == _ORDERS:
            halfway.set()  # type: ignore[attr-defined]
    wr.close()
    ex.close()
    os._exit(0 if seen["fills"] and seen["cancels"] else 3)


@pytest.mark.timeout(120)
def test_parallel_book_trading_with_a_kill_replays_exactly(tmp_path: Path) -> None:
    with book_exchange(tmp_path, _SHAPE) as ex:
        path = ex.path
    ctx = multiprocess.get_context("fork")
    events = [ctx.Event() for _ in range(3)]
    halfway = [ctx.Event() for _ in range(3)]
    # The one to kill trades until it is killed, however long its 1,500 orders took.
    procs = [ctx.Process(target=_trader, args=(path, w, 100 + w, _DEADLINE if w == 0
                                               else _TRADE_S, events[w], halfway[w]))
             for w in range(3)]
    try:
        for p in procs:
            p.start()
        for e in events:
            assert e.wait(_DEADLINE), "a trader did not start"
        assert halfway[0].wait(_DEADLINE), "the trader to kill made too few orders"
        os.kill(procs[0].pid, signal.SIGKILL)
        for p in procs:
            p.join(_DEADLINE)
            assert p.exitcode is not None, "a trader did not finish in time"
        assert procs[0].exitcode == -signal.SIGKILL
        assert [p.exitcode for p in procs[1:]] == [0, 0]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join(_DEADLINE)
            p.close()
    out = io.StringIO()
    check_command(path, repair=True, do_replay=True, out=out)
    text = out.getvalue()
    assert "replay: matches the file exactly\n" in text, text
    with Exchange.open(path, writable=False) as ex:
        cur, wri = ex.currencies(), ex.writers()
        # Every writer traded on both books, the killed one included.
        assert (wri["log_count"][:3] > 500).all(), wri["log_count"]
        assert int(cur["book_live"][[0, 2]].min()) > 0
        assert int(ex.book(0).counter("fills")) > 500
        assert int(ex.book(2).counter("cancels")) > 100
        assert replay(ex) == []
        assert all(ex.book(c).journal_state() == 0 for c in (0, 2))
        assert int(wri["log_head"][0]) == int(wri["log_count"][0]) > 0
    assert (Path(path).parent / "ledger" / "writer-0000.bin").stat().st_size == (
        int(wri["log_count"][0]) * L.ROW.size)


BOOK_TRADERS: Final = [
    {"count": 2, "strategy": "market_maker", "cash": 100000, "holdings": 50000,
     "arrival": {"kind": "poisson", "rate_hz": 400}},
    {"count": 6, "strategy": "value", "cash": 20000, "holdings": 10000,
     "arrival": {"kind": "poisson", "rate_hz": 100}},
    {"count": 20, "strategy": "noise", "cash": 10000, "holdings": 5000},
]


@pytest.mark.timeout(120)
def test_a_book_run_with_kills_replays_exactly_and_its_tables_hold_the_ledger(
        tmp_path: Path) -> None:
    scn = parse_scenario(scenario(
        duration_s=1.5, processes=2, market="book", scale=10000, fee_bps=0,
        traders=BOOK_TRADERS,
        currencies=[{"name": "EUR", "rate": 1.1}, {"name": "GBP", "rate": 1.27}],
        faults={"kill_traders": 12, "after_s": 0.2, "every_s": 0.08, "restart": True,
                "pause_in_txn_us": 1000, "pause_prob": 0.2}), "<test>", "t")
    out = run_scenario(scn, tmp_path / "results", out=None, figures=False, csv=True)
    run_dir = out.run_dir
    f = out.summary.faults
    # Orders killed halfway through their stores, rolled back by the next lock holder.
    assert f.kills >= 8 and f.kills_in_transaction >= 1, f
    with Exchange.open(str(run_dir / L.EXCHANGE_FILE), writable=False) as ex:
        assert replay(ex) == []
        rows = int(ex.currencies()["seq"].sum())
        fills = sum(int(ex.book(c).counter("fills")) for c in ex.geo.books)
        cancels = sum(int(ex.book(c).counter("cancels")) for c in ex.geo.books)
    assert fills > 100 and cancels > 10, (fills, cancels)
    trades = pd.read_parquet(run_dir / TRADES)
    orders = pd.read_parquet(run_dir / ORDERS)
    assert list(trades.columns) == TRADE_SCHEMA.names
    assert list(orders.columns) == ORDER_SCHEMA.names
    # Every ledger row once, in one global sequence over both tables.
    assert len(trades) == fills and len(trades) + len(orders) == rows
    assert sorted([*trades["seq"], *orders["seq"]]) == list(range(1, rows + 1))
    assert (trades["maker"] >= 0).all() and (trades["unit_reserve"] == 0).all()
    assert set(orders["event"].astype(str)) == {"placed", "cancelled"}
    assert (orders["event"] == "cancelled").sum() == cancels
    for name in ("trades", "orders"):
        back = pd.read_csv(run_dir / f"{name}.csv")
        assert len(back) == len(trades if name == "trades" else orders)
