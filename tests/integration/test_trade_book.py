"""``sim trade``, ``sim inspect`` and ``sim watch`` as commands, on a file whose books
another process trades on at the same time, and on a running ``market: book`` scenario:
the session's orders go through the same locks, every fill and reserve stays exact, and
every book stays whole."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final

import numpy as np
import pytest
from multiprocess import get_context

from sim.core import layout as L
from sim.core.book_layout import BUY, GTC, IOC, SELL
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from tests.book_file_check import check_file
from tests.integration.harness import (
    reap,
    running_exchange,
    sim,
    start_sim,
    wait_for,
    write_scenario,
)
from tests.unit.book_files import book_exchange

__all__: list[str] = []

# The other trader stops on its own after this long, should the test fail to stop it.
_CHILD_DEADLINE_S: Final = 60.0
_JOIN_S: Final = 10.0


def _trade_until(path: str, stop: str) -> None:
    """Random orders of accounts 0 and 2 (writer 0) on both books, near the middle of
    the ladders, until the file ``stop`` exists."""
    rng = np.random.default_rng(11)
    end = time.monotonic() + _CHILD_DEADLINE_S
    with Exchange.open(path) as ex:
        w = Writer(ex, 0)
        live: list[tuple[int, int, int]] = []
        try:
            while not Path(stop).exists() and time.monotonic() < end:
                a = int(rng.choice([0, 2]))
                c = int(rng.choice([0, 2]))
                r = rng.random()
                if r < 0.3 and live:
                    a, c, oid = live.pop(int(rng.integers(len(live))))
                    w.cancel(a, c, oid)
                elif r < 0.4:
                    w.market(a, c, int(rng.integers(2)), int(rng.integers(1, 5)))
                else:
                    side = int(rng.integers(2))
                    tick = 100 + int(rng.integers(1, 8)) * (1 if side == SELL else -1)
                    res = w.limit(a, c, side, tick, int(rng.integers(1, 6)),
                                  int(rng.choice([GTC, GTC, IOC])))
                    if res.rested:
                        live.append((a, c, res.order_id))
                w.heartbeat()
        finally:
            w.close()


@pytest.mark.timeout(90)
def test_a_session_trades_on_books_another_process_trades_on(tmp_path: Path) -> None:
    book_exchange(tmp_path).close()
    path = tmp_path / L.EXCHANGE_FILE
    stop = tmp_path / "stop"
    child = get_context("fork").Process(target=_trade_until, args=(str(path), str(stop)))
    child.start()
    try:
        with Exchange.open(str(path), writable=False) as ex:
            wait_for(lambda: ex.book(0).counter("fills") > 20 and ex.book(2).counter(
                "fills") > 20, "the other trader to fill orders on both books")
        r = sim("trade", str(path), "--cash", "100", "--holdings", "10", stdin=(
            "market buy EUR 3\nlimit sell EUR 2 @ 1.0090\nlimit buy GBP 0.5 @ 1.28\n"
            "limit sell EUR 1 @ 1.0199\nlimit buy GBP 0.2 @ 1.070\norders\nbook EUR 3\n"
            "market sell GBP 0.1\nbalance\nquit\n"), timeout=60)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        lines = r.stdout.splitlines()
        assert not [x for x in lines if x.startswith(("error", "rejected"))], r.stdout
        assert lines[2].startswith("market buy 3.0000 EUR: ")
        assert lines[3].startswith("limit sell 2.0000 EUR @ 1.0090: sold ")
        assert lines[4].startswith("limit buy 0.5000 GBP @ 1.280: bought ")
        assert lines[5].startswith("limit sell 1.0000 EUR @ 1.0199: rested 1.0000 @ 1.0199 as "
                                   "order ")
        assert lines[6].startswith("limit buy 0.2000 GBP @ 1.070: rested 0.2000 @ 1.070 as ")
        ids = {int(lines[k].rsplit(" ", 1)[1]) for k in (5, 6)}
        assert lines[7].split() == ["id", "currency", "side", "price", "qty"]
        listed = {int(x.split()[0]): x.split()[1:] for x in lines[9:11]}
        assert set(listed) == ids and sorted(v[:3] for v in listed.values()) == [
            ["EUR", "sell", "1.0199"], ["GBP", "buy", "1.070"]]
        assert lines[11].startswith("EUR book: spread ")
        assert lines[-1] == ("2 orders of account 4 still rest in the book until filled "
                             "(sim inspect shows the books)")
        r = sim("inspect", str(path))
        assert r.returncode == 0 and "  EUR    book " in r.stdout, r.stderr
        r = sim("watch", "--once", str(path))
        assert r.returncode == 0 and "EUR top " in r.stdout, r.stderr
    finally:
        stop.touch()
        child.join(_JOIN_S)
        if child.exitcode is None:
            child.kill()
            child.join(_JOIN_S)
    assert child.exitcode == 0
    with Exchange.open(str(path)) as ex:
        check_file(ex)
        mine = [b for b in ex.geo.books for t in range(200) for s in (BUY, SELL)
                for o in ex.book(b).level(s, t) if o.account == 4]
        assert len(mine) == 2


@pytest.mark.timeout(120)
def test_a_session_during_a_book_run(tmp_path: Path) -> None:
    scn = write_scenario(tmp_path, duration_s=4.0, processes=2, market="book", scale=10000,
                         fee_bps=0, currencies=[{"name": "EUR", "rate": 1.1},
                                                {"name": "USD", "rate": 1.0, "reserve": 100000,
                                                 "market": "pool"}],
                         traders=[{"count": 2, "strategy": "market_maker", "cash": 100000,
                                   "holdings": 50000},
                                  {"count": 20, "strategy": "noise", "cash": 10000,
                                   "holdings": 5000}])
    proc = start_sim("run", str(scn), "--out", str(tmp_path / "res"), "--no-figures")
    try:
        path = running_exchange(tmp_path / "res")
        with Exchange.open(str(path), writable=False) as ex:
            wait_for(lambda: ex.book(0).counter("live") > 10, "the market makers' quotes")
        r = sim("trade", str(path), "--cash", "100", "--holdings", "10", stdin=(
            "book EUR\nmarket buy EUR 2\nlimit buy EUR 1 @ 1.0\nbuy USD 1\nbuy EUR 1\n"
            "limit buy USD 1 @ 1\norders\nquit\n"), timeout=60)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].endswith("cash; currencies EUR (book) USD (pool)")
        assert lines[2].startswith("EUR book: spread ")
        assert any(x.startswith("market buy 2.0000 EUR: bought 2.0000 EUR for ") for x in lines)
        assert any(x.startswith("limit buy 1.0000 EUR @ 1.0000: rested 1.0000 @ 1.0000 as ")
                   for x in lines)
        assert any(x.startswith("bought 1.0000 USD for ") for x in lines)
        assert "error: EUR trades on a limit order book: use 'market buy EUR QTY' or 'limit " \
               "buy EUR QTY @ PRICE'" in lines
        assert "error: USD trades on a pool, not a book: use 'buy USD QTY' or 'sell USD " \
               "QTY'" in lines
        r = sim("inspect", str(path))
        assert r.returncode == 0 and "  EUR    book " in r.stdout, r.stderr
        r = sim("watch", "--once", str(path))
        assert r.returncode == 0 and "EUR top " in r.stdout, r.stderr
        assert proc.wait(60) is not None
    finally:
        reap(proc)
    with Exchange.open(str(path), writable=False) as ex:
        check_file(ex)
        wri, acc = ex.writers(), ex.accounts()
        (w,) = np.flatnonzero(wri["kind"] == L.KIND_INTERACTIVE)
        (a,) = np.flatnonzero(acc["writer"] == w)
        # The market buy of EUR and the pool buy of USD: the resting bid never filled.
        assert int(acc["trades"][a]) == 2
        assert int(ex.stakes()["reserved_cash"][a, 0]) == 10_000
