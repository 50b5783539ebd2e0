"""``sim trade`` on limit order books: orders, cancels, the account's orders and a book's
levels as the session prints them, every error as one line, and money kept exact.

The sessions run in this process against real exchange files with books; other
writers' orders, placed between the session's commands, make the fills and the cash due.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import pytest

from sim.core import layout as L
from sim.core.book_layout import BUY, SELL
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from sim.tools.trade import help_text, trade_session
from tests.book_file_check import check_file
from tests.conftest import make_exchange
from tests.unit.book_files import book_exchange

SESSION_CASH: Final = 100
SESSION_UNITS: Final = 10
JOINED: Final = 4  # the first free account, hosted by writer 2


def _stage(path: Path) -> None:
    """Two asks at 1.0101 (4 and 3), one at 1.0103 (5); bids 7 at 1.0098, 2 at 1.0097."""
    with Exchange.open(str(path)) as ex:
        w = [Writer(ex, 0), Writer(ex, 1)]
        try:
            for wr, a, side, tick, lots in [(0, 0, SELL, 101, 4), (1, 1, SELL, 101, 3),
                                            (0, 2, SELL, 103, 5), (1, 3, BUY, 98, 7),
                                            (1, 1, BUY, 97, 2)]:
                assert w[wr].limit(a, 0, side, tick, lots).rested == lots
        finally:
            for x in w:
                x.close()


class _Script:
    """Lines for the session; a callable among them runs (between two commands) instead."""

    def __init__(self, *steps: str | Callable[[], None]) -> None:
        self.steps = steps

    def __iter__(self) -> Iterator[str]:
        for s in self.steps:
            if isinstance(s, str):
                yield s + "\n"
            else:
                s()


def _session(path: Path, *steps: str | Callable[[], None]) -> list[str]:
    out = io.StringIO()
    assert trade_session(str(path), _Script(*steps), out,  # type: ignore[arg-type]
                         cash=SESSION_CASH, holdings=SESSION_UNITS) == 0
    return out.getvalue().splitlines()


@pytest.fixture
def book_file(tmp_path: Path) -> Path:
    book_exchange(tmp_path).close()
    return tmp_path / L.EXCHANGE_FILE


def _conserved(path: Path) -> None:
    with Exchange.open(str(path)) as ex:
        check_file(ex)


def test_orders_fill_rest_drop_and_cancel(book_file: Path) -> None:
    _stage(book_file)
    lines = _session(book_file, "book EUR", "limit buy EUR 6 @ 1.0102", "orders",
                     "limit buy EUR 9 @ 1.0103 ioc", "limit sell EUR 1 @ 1.0098 post-only",
                     "market sell EUR 3", "market sell EUR 20", "limit buy EUR 2 @ 1.0099",
                     "limit sell GBP 0.3 @ 1.3", "orders", "cancel 4294967296", "balance",
                     "rates", "quit", "balance")
    assert lines[0] == (f"joined {book_file} as writer 2 with account {JOINED} and 100.0000 "
                        "cash; currencies EUR (book) USD (pool) GBP (book)")
    assert lines[1] == help_text(pools=True, books=True)
    assert lines[2:7] == [
        "EUR book: spread 3 ticks (0.0003, 3.0 bps of the mid 1.00995)",
        "orders      qty      bid      ask      qty   orders",
        "───────────────────────────────────────────────────",
        "     1   7.0000   1.0098   1.0101   7.0000        2",
        "     1   2.0000   1.0097   1.0103   5.0000        1"]
    assert lines[7:13] == [
        "limit buy 6.0000 EUR @ 1.0102: bought 6.0000 EUR for 6.0606 in 2 fills "
        "(6.0000 @ 1.0101)",
        "no live orders",
        "limit buy 9.0000 EUR @ 1.0103 ioc: bought 6.0000 EUR for 6.0616 in 2 fills "
        "(1.0000 @ 1.0101, 5.0000 @ 1.0103); dropped 3.0000 (immediate-or-cancel)",
        "rejected: limit sell 1.0000 EUR @ 1.0098 post-only: post-only order would cross",
        "market sell 3.0000 EUR: sold 3.0000 EUR for 3.0294 in 1 fill (3.0000 @ 1.0098)",
        "rejected: market sell 20.0000 EUR: cash or units not available"]
    assert lines[13].startswith("limit buy 2.0000 EUR @ 1.0099: rested 2.0000 @ 1.0099 as "
                                "order ")
    eur_id = int(lines[13].rsplit(" ", 1)[1])
    assert lines[14] == ("limit sell 0.3000 GBP @ 1.300: rested 0.3000 @ 1.300 as order "
                         "4294967296")
    assert lines[15:19] == [
        "        id   currency   side    price      qty",
        "──────────────────────────────────────────────",
        f"{eur_id:>10}   EUR        buy    1.0099   2.0000",
        "4294967296   GBP        sell    1.300   0.3000"]
    assert lines[19:] == [
        "cancelled order 4294967296: sell 0.3000 GBP @ 1.300; 0.3000 GBP released",
        "cash 88.8874 (+ 2.0198 in resting buys)  EUR 19.0000  USD 10.0000  GBP 10.0000",
        "EUR last 1.0098 bid 1.0099 ask -  USD 1.0000  GBP last 1.270 bid - ask -",
        "1 order of account 4 still rests in the book until filled (sim inspect shows the "
        "books)"]
    with Exchange.open(str(book_file)) as ex:
        assert ex.q[ex.wword(2, "status")] == L.SLOT_DONE
        o = ex.book(0).order(eur_id)
        assert o is not None and (o.account, o.side, o.tick, o.qty) == (JOINED, BUY, 99, 2)
        assert ex.book(2).counter("live") == 0
    _conserved(book_file)


def test_fills_of_resting_orders_become_cash_due_then_cash(book_file: Path) -> None:
    _stage(book_file)

    def someone_buys() -> None:
        with Exchange.open(str(book_file)) as ex:
            w = Writer(ex, 1)
            try:
                res = w.market(3, 0, BUY, 2)
                assert [(f.maker_account, f.tick, f.qty) for f in res.fills] == [(JOINED, 100, 2)]
            finally:
                w.close()

    lines = _session(book_file, "limit sell EUR 2 @ 1.0100", "balance", someone_buys,
                     "balance", "limit buy EUR 101 @ 1.0000", "limit buy EUR 1 @ 1.0000",
                     "balance")
    assert lines[2].startswith("limit sell 2.0000 EUR @ 1.0100: rested 2.0000 @ 1.0100 as ")
    assert lines[3:6] == [
        "cash 100.0000  EUR 8.0000 (+ 2.0000 in resting sells)  USD 10.0000  GBP 10.0000",
        "cash 100.0000 (+ 2.0200 due from fills)  EUR 8.0000  USD 10.0000  GBP 10.0000",
        # 101 at 1.0000 costs 101.00: the cash alone, not the cash due, must cover it.
        "rejected: limit buy 101.0000 EUR @ 1.0000: cash or units not available (2.0200 cash "
        "due from fills on EUR joins the cash at the next accepted order there)"]
    del lines[5]
    assert lines[3:] == [
        "cash 100.0000  EUR 8.0000 (+ 2.0000 in resting sells)  USD 10.0000  GBP 10.0000",
        "cash 100.0000 (+ 2.0200 due from fills)  EUR 8.0000  USD 10.0000  GBP 10.0000",
        lines[5],
        "cash 101.0200 (+ 1.0000 in resting buys)  EUR 8.0000  USD 10.0000  GBP 10.0000",
        "1 order of account 4 still rests in the book until filled (sim inspect shows the "
        "books)"]
    assert lines[5].startswith("limit buy 1.0000 EUR @ 1.0000: rested 1.0000 @ 1.0000 as ")
    _conserved(book_file)


def test_cancel_names_the_currency_when_two_books_share_an_id(book_file: Path) -> None:
    lines = _session(book_file, "limit sell EUR 1 @ 1.0150", "limit sell GBP 0.1 @ 1.3",
                     "cancel 4294967296", "cancel GBP 4294967296", "cancel 4294967296",
                     "cancel 4294967296", "cancel USD 4294967296", "cancel EUR x")
    assert lines[2:] == [
        "limit sell 1.0000 EUR @ 1.0150: rested 1.0000 @ 1.0150 as order 4294967296",
        "limit sell 0.1000 GBP @ 1.300: rested 0.1000 @ 1.300 as order 4294967296",
        "error: order 4294967296 rests on several books (EUR GBP): say which, e.g. "
        "'cancel EUR 4294967296'",
        "cancelled order 4294967296: sell 0.1000 GBP @ 1.300; 0.1000 GBP released",
        "cancelled order 4294967296: sell 1.0000 EUR @ 1.0150; 1.0000 EUR released",
        "rejected: cancel 4294967296: no such live order of this account",
        "error: USD trades on a pool, not a book: use 'buy USD QTY' or 'sell USD QTY'",
        "error: order id 'x' is not a whole number; expected 'cancel ID' or 'cancel CODE ID' "
        "(the ids 'orders' lists)"]
    _conserved(book_file)


BAD: Final = [
    ("limit buy EUR 2 @ 1.00995", "price 1.00995 is not on EUR's ladder (1.0000 to 1.0199 in "
     "steps of 0.0001): nearest 1.0099 or 1.0100"),
    ("limit buy EUR 2 @ 2", "price 2 is above EUR's ladder (1.0000 to 1.0199 in steps of "
     "0.0001): nearest 1.0199"),
    ("limit sell EUR 2 @0.5", "price 0.5 is below EUR's ladder (1.0000 to 1.0199 in steps of "
     "0.0001): nearest 1.0000"),
    ("limit buy GBP 1 @ 1.2715", "price 1.2715 is not on GBP's ladder (1.070 to 1.468 in "
     "steps of 0.002): nearest 1.270 or 1.272"),
    ("limit buy EUR 2 @ abc", "price 'abc' is not a number"),
    ("limit buy EUR 2 @ -1", "price '-1' must be a positive number"),
    ("limit buy EUR 2.5 @ 1.01", "quantity 2.5 EUR is not a whole number of lots (1 lot = "
     "1.0000 EUR): nearest 2.0000 or 3.0000"),
    ("market buy GBP 0.05", "quantity 0.05 GBP is not a whole number of lots (1 lot = 0.1000 "
     "GBP): nearest 0.1000"),
    ("market buy EUR 0", "amount '0' must be a positive number"),
    ("limit buy EUR 2 @ 1.01 fok", "unknown order type 'fok': expected ioc or post-only "
     "(without one, the order rests until filled or cancelled)"),
    ("limit buy EUR 2 1.01", "expected 'limit buy|sell CODE QTY @ PRICE [ioc|post-only]', "
     "e.g. 'limit buy EUR 10 @ 1.0100'"),
    ("limit hold EUR 2 @ 1.01", "expected buy or sell, found 'hold': expected 'limit "
     "buy|sell CODE QTY @ PRICE [ioc|post-only]', e.g. 'limit buy EUR 10 @ 1.0100'"),
    ("market buy EUR", "expected 'market buy|sell CODE QTY', e.g. 'market sell EUR 5'"),
    ("limit buy USD 1 @ 1", "USD trades on a pool, not a book: use 'buy USD QTY' or "
     "'sell USD QTY'"),
    ("market sell USD 1", "USD trades on a pool, not a book: use 'buy USD QTY' or "
     "'sell USD QTY'"),
    ("book USD", "USD trades on a pool, not a book: use 'buy USD QTY' or 'sell USD QTY'"),
    ("book XYZ", "unknown currency 'XYZ'; expected one of EUR USD GBP"),
    ("book EUR 0", "levels '0': expected 'book CODE [LEVELS]' (levels 1..50, default 5)"),
    ("buy EUR 3", "EUR trades on a limit order book: use 'market buy EUR QTY' or "
     "'limit buy EUR QTY @ PRICE'"),
    ("sell GBP 1", "GBP trades on a limit order book: use 'market sell GBP QTY' or "
     "'limit sell GBP QTY @ PRICE'"),
    ("cancel", "expected 'cancel ID' or 'cancel CODE ID' (the ids 'orders' lists)"),
]


def test_every_bad_command_is_one_line_and_changes_nothing(book_file: Path) -> None:
    _stage(book_file)
    with Exchange.open(str(book_file)) as ex:
        before = bytes(ex.b[ex.geo.book_offset:])
    lines = _session(book_file, *(cmd for cmd, _ in BAD))
    assert lines[2:] == [f"error: {msg}" for _, msg in BAD]
    with Exchange.open(str(book_file)) as ex:
        assert bytes(ex.b[ex.geo.book_offset:]) == before
    _conserved(book_file)


def test_book_levels_and_an_empty_book(book_file: Path) -> None:
    _stage(book_file)
    lines = _session(book_file, "book EUR 1", "book GBP", "rates")
    assert lines[2:] == [
        "EUR book: spread 3 ticks (0.0003, 3.0 bps of the mid 1.00995)",
        "orders      qty      bid      ask      qty   orders",
        "───────────────────────────────────────────────────",
        "     1   7.0000   1.0098   1.0101   7.0000        2",
        "GBP book: spread: the book is empty",
        "EUR last 1.0100 bid 1.0098 ask 1.0101  USD 1.0000  GBP last 1.270 bid - ask -"]


def test_levels_read_while_a_writer_is_stuck_are_marked(book_file: Path) -> None:
    _stage(book_file)
    ex = Exchange.open(str(book_file))
    v = ex.cword(0, "version")

    def stuck() -> None:  # a writer stopped inside its transaction keeps it odd
        ex.q[v] += 1

    def resumed() -> None:
        ex.q[v] += 1

    try:
        lines = _session(book_file, stuck, "book EUR 1", resumed, "book EUR 1")
    finally:
        ex.close()
    assert lines[2] == ("EUR book: spread 3 ticks (0.0003, 3.0 bps of the mid 1.00995) (read "
                        "while orders kept arriving: levels may disagree)")
    assert lines[6] == "EUR book: spread 3 ticks (0.0003, 3.0 bps of the mid 1.00995)"


def test_a_pool_file_keeps_its_commands_and_refuses_book_ones(tmp_path: Path) -> None:
    p = tmp_path / L.EXCHANGE_FILE
    make_exchange(p).close()
    out = io.StringIO()
    trade_session(str(p), io.StringIO("orders\ncancel 5\nlimit buy EUR 1 @ 1.1\nbuy EUR 1\n"),
                  out)
    lines = out.getvalue().splitlines()
    assert lines[1] == "commands: buy CODE QTY | sell CODE QTY | balance | rates | help | quit"
    assert lines[2:5] == [
        "no live orders",
        "error: no currency of this file trades on a book: nothing to cancel",
        "error: EUR trades on a pool, not a book: use 'buy EUR QTY' or 'sell EUR QTY'"]
    assert lines[5].startswith("bought 1.00 EUR for 1.1")
