"""``sim inspect`` and ``sim watch`` on a file with books: each book's best prices,
spread, resting orders, reserves and cash due, its top levels, and wealth that counts
what resting orders hold."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sim.core import layout as L
from sim.core.book_layout import BUY, SELL
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from sim.core.valuation import rates
from sim.tools.bookview import Depth, Level, ladder
from sim.tools.inspect import print_exchange
from sim.tools.watch import (
    BookFrame,
    Frame,
    read_snapshot,
    render,
    watch_command,
)
from tests.unit.book_files import book_exchange

NS = 1_000_000_000


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    """EUR: asks 4 + 3 at 1.0101 and 5 at 1.0103, bids 7 at 1.0098 and 2 at 1.0097, then
    a buy of 2 that fills account 0's ask; GBP empty."""
    ex = book_exchange(tmp_path)
    w = [Writer(ex, 0), Writer(ex, 1)]
    try:
        for wr, a, side, tick, lots in [(0, 0, SELL, 101, 4), (1, 1, SELL, 101, 3),
                                        (0, 2, SELL, 103, 5), (1, 3, BUY, 98, 7),
                                        (1, 1, BUY, 97, 2)]:
            assert w[wr].limit(a, 0, side, tick, lots).rested == lots
        assert w[1].market(3, 0, BUY, 2).filled == 2
    finally:
        for x in w:
            x.close()
        ex.close()
    return tmp_path / L.EXCHANGE_FILE


def _after(lines: list[str], first: str, n: int) -> list[str]:
    i = next(k for k, line in enumerate(lines) if line.lstrip().startswith(first))
    return lines[i: i + n]


def test_inspect_shows_the_books(staged: Path) -> None:
    out = io.StringIO()
    with Exchange.open(str(staged), writable=False) as ex:
        print_exchange(ex, out)
    lines = out.getvalue().splitlines()
    assert _after(lines, "#   name", 5) == [
        "  #   name   market   cash reserve   unit reserve     rate   seq   version   inflight",
        "  " + "─" * 83,
        "  0   EUR    book                -              -   1.0101     6        12         -1",
        "  1   USD    pool       100,000.00     100,000.00   1.0000     0         0         -1",
        "  2   GBP    book                -              -   1.2700     0         0         -1"]
    # Reserved cash: 7 x 1.0098 + 2 x 1.0097; units: the 10 lots still asked; due: the
    # 2 x 1.0101 account 0 was paid and has not swept.
    book = _after(lines, "book ", 4)
    assert [book[0], *book[2:]] == [
        "  book      lot     tick   best bid   best ask   spread   orders   reserved cash   "
        "reserved units   due cash",
        "  EUR    1.0000   0.0001     1.0098     1.0101        3        5          9.0880   "
        "       10.0000     2.0202",
        "  GBP    0.1000    0.002          -          -        -        0          0.0000   "
        "        0.0000     0.0000"]
    assert set(book[1].strip()) == {"─"}
    levels = _after(lines, "EUR top", 5)
    assert [levels[0], *levels[3:]] == [
        "EUR top 2 levels, spread 3 ticks (0.0003, 3.0 bps of the mid 1.00995)",
        "       1   7.0000   1.0098   1.0101   5.0000        2",
        "       1   2.0000   1.0097   1.0103   5.0000        1"]
    assert "GBP: no resting orders" in lines


def _frame(path: Path, depth_settled: bool = True) -> Frame:
    with Exchange.open(str(path), writable=False) as ex:
        snap = read_snapshot(ex)
        lads = {c: ladder(ex, c) for c in ex.geo.books}
    eur = Depth([Level(98, 7, 1), Level(97, 2, 1)], [Level(101, 5, 2), Level(103, 5, 1)],
                depth_settled)
    books = {0: BookFrame(lads[0], eur, 1), 2: BookFrame(lads[2], Depth([], [], True), 0)}
    header = {"run_state": L.RUN_RUNNING, "sync": L.SYNC_CODES["per_currency"],
              "schedule": L.SCHEDULE_FREE, "turns": 0, "scale": 10_000, "start_ns": 10 * NS,
              "heartbeat_ns": 50 * NS}
    return Frame(path="x/exchange.dat", header=header, names=["EUR", "USD", "GBP"], snap=snap,
                 history=[[1.01, 1.0101], [1.0], [1.27]], trades_per_s=None, strategies={},
                 invariants={"cash_conserved": []}, now_ns=50 * NS, refresh_hz=4.0,
                 books=books)


def test_watch_screen_shows_books_levels_and_wealth_with_reserves(staged: Path) -> None:
    f = _frame(staged)
    lines = render(f)
    assert render(f) == lines  # pure
    eur = next(line for line in lines if line.lstrip().startswith("EUR "))
    # The last fill, against the ladder's middle; trades are fills, not the 6 ledger rows.
    assert "1.01010" in eur and "+0.01%" in eur and eur.endswith("   1")
    assert lines[2].startswith("trades 1   ")
    assert _after(lines, "book ", 4)[2].split()[:6] == ["EUR", "1.0000", "0.0001", "1.0098",
                                                        "1.0101", "3"]
    assert _after(lines, "EUR top", 5) == [
        "EUR top 2 levels, spread 3 ticks (0.0003, 3.0 bps of the mid 1.00995)",
        "  orders      qty      bid      ask      qty   orders",
        "  " + "─" * 51,
        "       1   7.0000   1.0098   1.0101   5.0000        2",
        "       1   2.0000   1.0097   1.0103   5.0000        1"]
    assert "GBP: no resting orders" in lines
    top = _after(lines, "top accounts", 7)
    assert top[0] == ("top accounts by wealth (cash + holdings at current rates, with what "
                      "resting orders hold and cash due), 4 of 4")
    # Every account is worth its endowment, 5,000 cash and 2,000 units of each currency,
    # at the rates now: EUR's last fill 1.0101 is 0.0001 above the ladder's middle, where
    # it started. Account 0's 2 units sold are due cash, its other asks and account 3's
    # bid are reserved: all counted.
    worth = {r.split()[0]: tuple(r.split()[3:5]) for r in top[3:]}
    assert worth == dict.fromkeys("0123", ("11,560.20", "+0.20"))
    torn = render(_frame(staged, depth_settled=False))
    assert any(line.startswith("EUR top 2 levels") and line.endswith(
        "(read while orders kept arriving: levels may disagree)") for line in torn)


def test_rates_of_books_are_the_last_fill_and_start_at_the_rate_at_creation(
        staged: Path) -> None:
    f = _frame(staged)
    now, start = rates(f.snap.cur), rates(f.snap.cur, initial=True)
    assert now.tolist() == [1.0101, 1.0, 1.27]
    assert start.tolist() == [1.01, 1.0, 1.27]


def test_watch_once_on_a_book_file(staged: Path) -> None:
    out = io.StringIO()
    assert watch_command(str(staged), out, once=True) == 0
    lines = out.getvalue().splitlines()
    assert lines[2].startswith("trades 1   ")
    assert _after(lines, "EUR top", 5)[0] == ("EUR top 2 levels, spread 3 ticks (0.0003, 3.0 "
                                              "bps of the mid 1.00995)")
    assert "GBP: no resting orders" in lines
