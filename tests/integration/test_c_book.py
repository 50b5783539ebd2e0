"""The C trader's book orders (examples/c/book.c) leave the bytes Python's leave.

The same orders sent by the C trader and by sim.core.transaction.Writer on two copies of
one file leave the same bytes: books, stakes, accounts, writers' totals, currency mirrors
and ledger rows (all but times, pids and journal scratch): a script through fills over
several levels, self-trades, rejections and cancels, and random orders on small books
that meet full books and the fill cap. A corrupt book is refused in one line.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
from decimal import Decimal
from pathlib import Path
from typing import Final

import numpy as np
import pytest

from sim.core import layout as L
from sim.core.book_layout import BUY, IOC, LEVEL, POST_ONLY, BookGeometry
from sim.core.book_result import REJ_CROSS, REJ_FULL, REJ_FUNDS
from sim.core.exchange import Exchange, Funding
from sim.core.transaction import Writer
from sim.tools.trade import trade_session
from tests.integration.c_book_files import (
    CASH,
    CURRENCIES,
    EUR,
    GBP,
    HOSTS,
    SCALE,
    SHAPE,
    UNITS,
    USD,
    make_exchange,
    rows_of,
    run_c,
    scratch_masked,
    stage,
    without_time,
)

__all__: list[str] = []


# ---------------------------------------------------------------------- as sim trade

# Against the staged books: fills over several levels, a post-only that would cross,
# self-trades (an IOC buy through the account's own ask, a market buy sweeping GBP until
# the budget cuts it), rejections for funds, orders that rest, and every kind of bad input.
SCRIPT: Final = [
    "limit buy EUR 10 @ 1.0960", "market sell EUR 5", "limit sell EUR 3 @1.0990",
    "limit buy EUR 2 @ 1.0990 post-only", "limit buy EUR 20 @ 1.0990 IOC",
    "limit sell EUR 4 @ 1.0970", "limit buy EUR 1 @ 1.0900", "limit sell GBP 0.5 @ 1.2800",
    "market buy GBP 4000", "limit buy GBP 1.2 @ 1.1800", "market sell EUR 100000",
    "limit sell EUR 1 @ 1.0850", "limit buy eur 1 @ 1.09", "balance", "rates",
    "limit buy EUR 0 @ 1.0950", "limit buy EUR 0.5 @ 1.0950", "limit buy EUR 1 @ 1.09505",
    "limit buy EUR 1 @ 5", "limit buy EUR 1 @ 0.5", "limit buy EUR 1 @ abc",
    "limit buy EUR 1 @ -1", "limit buy EUR 1 @ 1.0950 fok", "limit hold EUR 1 @ 1.0950",
    "limit buy EUR 1 1.0950", "market buy EUR", "market buy XYZ 1", "market buy USD 1",
    "buy EUR 1", "buy USD 10", "sell USD 2.5", "book USD", "book EUR 0", "cancel",
    "cancel 999", "cancel abc", "cancel XYZ 1", "cancel USD 1", "frobnicate", "help",
]


def _session(path: str, script: list[str]) -> list[str]:
    """sim trade's answers to ``script``, one session joined with 1000 cash and 100 units."""
    out = io.StringIO()
    assert trade_session(path, io.StringIO("".join(f"{x}\n" for x in script)), out,
                         cash=1000, holdings=100) == 0
    return out.getvalue().splitlines()


@pytest.mark.timeout(60)
def test_c_and_sim_trade_answer_alike_and_leave_the_same_bytes(c_trader: Path,
                                                               tmp_path: Path) -> None:
    c_path = make_exchange(tmp_path / "c", spare=True)
    with Exchange.open(c_path) as ex:
        stage(ex)
    for copy in ("py", "ids"):
        shutil.copytree(tmp_path / "c", tmp_path / copy)
    py_path = str(tmp_path / "py" / L.EXCHANGE_FILE)
    # The ids the orders rest under, to cancel them: the same in every copy.
    first = _session(str(tmp_path / "ids" / L.EXCHANGE_FILE), SCRIPT)
    ids = [m for line in first for m in re.findall(r" as order (\d+)", line)]
    assert len(ids) >= 5
    # Pool trades enough to wrap the ring: each row must overwrite a book row whole.
    script = [*SCRIPT, f"cancel GBP {ids[1]}", f"cancel eur {ids[1]}",
              *(f"cancel {i}" for i in ids), *["buy USD 0.1"] * 70, "orders", "book EUR 3",
              "balance"]
    want = _session(py_path, script)
    out = run_c(c_trader, c_path, "--cash", "1000", "--holdings", "100",
                stdin="".join(f"{x}\n" for x in script))
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    got = out.stdout.replace(c_path, "FILE").splitlines()
    want = [line.replace(py_path, "FILE") for line in want]
    # Line by line, but for the tables of orders and book, which each prints its own way.
    tables = script.index("orders")
    head = 2 + tables
    for g, w in zip(got[:head], want[:head], strict=True):
        assert g == w
    # The balances, and what stays resting at the end.
    for lines in (got, want):
        assert lines[-1].startswith("cash ") or "still rest" in lines[-1]
    assert [x for x in got if x.startswith("cash ") or "still rest" in x] == [
        x for x in want if x.startswith("cash ") or "still rest" in x]
    text = "\n".join(got)
    assert "rejected: limit buy 2.0000 EUR @ 1.0990 post-only: post-only order would cross" \
        in text
    assert "in 7 fills (" in text and "(no more sellers, or the cash ran out)" in text
    assert text.count("cancelled order ") == 4 and text.count("rejected: cancel") == 5
    with Exchange.open(c_path) as a, Exchange.open(py_path) as b:
        w = a.q[a.aword(7, "writer")]
        assert w == 3 and int(a.q[a.wword(3, "kind")]) == L.KIND_C
        b.q[b.wword(3, "kind")] = L.KIND_C
        assert scratch_masked(a, (3,)) == scratch_masked(b, (3,))
        assert int(a.q[a.wword(3, "log_count")]) > 20
    assert without_time(rows_of(c_path, 3)) == without_time(rows_of(py_path, 3))


def _rate(price: int, lot: int) -> str:
    return str(Decimal(price) / Decimal(lot))


def _units(lots: int, lot: int) -> str:
    return str(Decimal(lots * lot) / Decimal(SCALE))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_orders_on_small_books_leave_the_same_bytes(c_trader: Path, tmp_path: Path,
                                                           seed: int) -> None:
    """Books of 16 records and 3 fills per order, nearly full: random orders of the C's
    account meet full books, the fill cap, post-only crosses, missing funds and its own
    orders, and still leave the bytes Python's leave."""
    c_path = make_exchange(tmp_path / "c", shape=(60, 16, 3))
    rng = np.random.default_rng(seed)
    with Exchange.open(c_path) as ex:
        writers = {w: Writer(ex, w) for w in (1, 2, 3)}
        for _ in range(40):
            a = int(rng.integers(1, len(HOSTS)))
            c = int(rng.choice([EUR, GBP]))
            side = int(rng.integers(2))
            tick = int(rng.integers(0, 25)) if side == BUY else int(rng.integers(35, 60))
            writers[HOSTS[a]].limit(a, c, side, tick, int(rng.integers(1, 6)))
        for wr in writers.values():
            wr.close()
    shutil.copytree(tmp_path / "c", tmp_path / "py")
    py_path = str(tmp_path / "py" / L.EXCHANGE_FILE)
    commands = []
    outcomes = {"fills": 0, "capped": 0, "full": 0, "cross": 0, "funds": 0, "cancelled": 0}
    with Exchange.open(py_path) as ex:
        wr = Writer(ex, 0)
        names = ex.names()
        mine: list[tuple[int, int]] = []
        for _ in range(150):
            c = int(rng.choice([EUR, GBP]))
            b = ex.book(c)
            side = int(rng.integers(2))
            word = "buy" if side == BUY else "sell"
            lots = int(rng.integers(1, 12)) if rng.random() < 0.9 else 30_000  # > its money
            r = rng.random()
            if r < 0.25 and mine:
                c, oid = mine.pop(int(rng.integers(len(mine))))
                if ex.book(c).order(oid) is None:
                    continue  # filled meanwhile: the C trader would refuse it before a book
                res = wr.cancel(0, c, oid)
                commands.append(f"cancel {names[c]} {oid}")
            elif r < 0.4:
                res = wr.market(0, c, side, lots)
                commands.append(f"market {word} {names[c]} {_units(lots, b.lot)}")
            else:
                tick = int(rng.integers(0, b.ticks))
                tif = int(rng.choice([0, 0, 0, IOC, POST_ONLY]))
                res = wr.limit(0, c, side, tick, lots, tif)
                commands.append(f"limit {word} {names[c]} {_units(lots, b.lot)} @ "
                                f"{_rate(b.price(tick), b.lot)}{('', ' ioc', ' post-only')[tif]}")
                if res.rested:
                    mine.append((c, res.order_id))
            outcomes["fills"] += len(res.fills)
            outcomes["capped"] += res.capped
            outcomes["full"] += res.status == REJ_FULL
            outcomes["cross"] += res.status == REJ_CROSS
            outcomes["funds"] += res.status == REJ_FUNDS
            outcomes["cancelled"] += res.cancelled > 0
        wr.close()
        ex.q[ex.wword(0, "status")] = L.SLOT_DONE
    assert min(outcomes.values()) > 0, outcomes
    out = run_c(c_trader, c_path, "--writer", "0", "--account", "0",
                stdin="".join(f"{x}\n" for x in commands))
    assert out.returncode == 0, out.stderr
    assert "error" not in out.stdout
    with Exchange.open(c_path) as a, Exchange.open(py_path) as b2:
        assert scratch_masked(a) == scratch_masked(b2)
    assert without_time(rows_of(c_path, 0)) == without_time(rows_of(py_path, 0))


# ---------------------------------------------------------------------- refusals

def _tables(ex: Exchange) -> tuple[bytes, bytes, bytes]:
    """Currencies, accounts, and stakes with the books."""
    geo = ex.geo
    return (bytes(ex.b[geo.currency_offset: geo.writer_offset]),
            bytes(ex.b[geo.account_offset: geo.ring_offset]), bytes(ex.b[geo.stake_offset:]))


@pytest.mark.timeout(60)
def test_a_corrupt_book_is_refused_in_one_line_and_nothing_changes(c_trader: Path,
                                                                   tmp_path: Path) -> None:
    path = make_exchange(tmp_path)
    with Exchange.open(path) as ex:
        stage(ex)
        b = ex.book(EUR)
        head = b.base + BookGeometry(*SHAPE).level_at(101) + LEVEL.word("ask_head")
        ex.q[head] = 1_000_000
        before = _tables(ex)
    out = run_c(c_trader, path, "--writer", "0", "--account", "0", "--market", "buy EUR 3")
    assert out.returncode == 2
    assert out.stderr == (f"trader: {path}: book of EUR: level 101 links to record 1000000, "
                          "off the pool\n")
    with Exchange.open(path) as ex:
        assert _tables(ex) == before
        assert int(ex.q[ex.cword(EUR, "inflight")]) == L.NO_WRITER
        assert int(ex.q[ex.wword(0, "status")]) == L.SLOT_DONE
        # The lock is free and nothing is left to recover: a Python order goes through.
        wr = Writer(ex, 1)
        res = wr.limit(1, EUR, BUY, 50, 1)
        wr.close()
        assert res.rested == 1 and int(ex.q[ex.wword(1, "rollbacks")]) == 0


@pytest.mark.timeout(60)
def test_one_shot_orders_and_their_refusals(c_trader: Path, tmp_path: Path) -> None:
    path = make_exchange(tmp_path / "books")
    me = ("--writer", "0", "--account", "0")
    out = run_c(c_trader, path, *me, "--limit", "buy EUR 2 @ 1.0900", "--limit",
                "sell GBP 0.3 @ 1.3000 post-only", "--market", "sell EUR 1")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    lines = out.stdout.splitlines()
    oid = lines[0].rsplit(" ", 1)[1]
    assert lines == [
        f"limit buy 2.0000 EUR @ 1.0900: rested 2.0000 @ 1.0900 as order {oid}",
        # ids are per book: the first record of each has the same id
        f"limit sell 0.3000 GBP @ 1.300 post-only: rested 0.3000 @ 1.300 as order {oid}",
        "market sell 1.0000 EUR: sold 1.0000 EUR for 1.0900 in 1 fill (1.0000 @ 1.0900)"]
    with Exchange.open(path) as ex:  # a writer is done when its process ends: reopen it
        ex.q[ex.wword(0, "status")] = L.SLOT_ACTIVE
    out = run_c(c_trader, path, *me, "--cancel", oid, "--cancel", f"eur {oid}",
                "--cancel", f"EUR {oid}", "--cancel", oid, "--cancel", oid)
    assert out.stdout == (
        f"error: order {oid} rests on several books (EUR GBP): say which, e.g. 'cancel EUR "
        f"{oid}'\n"
        f"cancelled order {oid}: buy 1.0000 EUR @ 1.0900; 1.0900 cash released\n"
        f"rejected: cancel {oid}: no such live order of this account\n"
        f"cancelled order {oid}: sell 0.3000 GBP @ 1.300; 0.3000 GBP released\n"
        f"rejected: cancel {oid}: no such live order of this account\n")
    with Exchange.open(path) as ex:
        # A cancel of no live order of the account is refused before any book, as sim
        # trade does.
        assert [ex.book(c).counter("rej_cancel") for c in (EUR, GBP)] == [0, 0]
        assert ex.book(EUR).counter("live") == ex.book(GBP).counter("live") == 0
        assert int(ex.q[ex.aword(0, "rejected")]) == 0
    bad = run_c(c_trader, path, *me, "--limit", "buy EUR 1 @ 1.09", "--random", "5")
    assert bad.returncode == 2
    assert bad.stderr.startswith("trader: --random, --book-orders and one-shot orders")
    with Exchange.open(path) as ex:
        ex.q[ex.wword(0, "status")] = L.SLOT_ACTIVE
    assert run_c(c_trader, path, *me, "--random", "5").returncode == 0  # on the USD pool
    for name, currency, mode in (("books", EUR, "--random"), ("pools", USD, "--book-orders")):
        only = str(tmp_path / f"{name}.dat")
        with Exchange.create(only, [CURRENCIES[currency]], n_writers=1, n_accounts=1,
                             scale=SCALE, book_shape=SHAPE) as ex:
            ex.fund_accounts([Funding(0, CASH, [UNITS])], {0: L.KIND_C})
            ex.set_header_int("run_state", L.RUN_RUNNING)
        bad = run_c(c_trader, only, *me, mode, "5")
        assert bad.returncode == 2
        assert bad.stderr == {
            "books": f"trader: {only}: --random trades on pools and every currency trades "
                     "on a book: use --book-orders\n",
            "pools": f"trader: {only}: --book-orders: no currency trades on a book\n"}[name]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("field", "value", "expected"), [
    ("book_ticks", 0, "expected 1..254016, found 0"),
    ("book_max_fills", 17, "header field book_words at offset 296: expected"),
    ("book_mask", 0b1000, "expected 0..7, found 8"),
    ("stake_size", 8, "expected 64, found 8"),
])
def test_bad_book_headers_are_refused_before_mapping(c_trader: Path, tmp_path: Path,
                                                     field: str, value: int,
                                                     expected: str) -> None:
    path = make_exchange(tmp_path)
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack("<q", value), L.HEADER.offsets[field])
    finally:
        os.close(fd)
    before = Path(path).read_bytes()
    out = run_c(c_trader, path, "--writer", "0", "--account", "0", "--market", "buy EUR 1")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"trader: {path}: header field ") and expected in out.stderr
    assert out.stderr.count("\n") == 1
    assert Path(path).read_bytes() == before
