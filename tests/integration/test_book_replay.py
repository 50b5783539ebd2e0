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
import pytest

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from sim.tools.check import check_command, replay
from tests.unit.test_book_replay import N_ACC, book_exchange, new_seen, random_order

_TRADE_S: Final = 1.0
# Orders each process makes at least (the one killed: before it is killed), whatever the
# load of the machine.
_ORDERS: Final = 1500
_DEADLINE: Final = 60.0
_SHAPE: Final = (200, 4096, 16)


def _trader(path: str, w: int, seed: int, started: object, halfway: object) -> None:
    ex = Exchange.open(path)
    wr = Writer(ex, w)
    rng = np.random.default_rng(seed)
    mine = [a for a in range(N_ACC) if a % 3 == w]
    live: dict[int, list[tuple[int, int]]] = {a: [] for a in mine}
    seen = new_seen()
    started.set()  # type: ignore[attr-defined]
    end = time.monotonic() + _TRADE_S
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
    procs = [ctx.Process(target=_trader, args=(path, w, 100 + w, events[w], halfway[w]))
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
