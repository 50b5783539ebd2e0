"""Integration tests of the C trader's book orders (examples/c/book.c) on files made by Python.

- The same orders sent by the C trader and by sim.core.transaction.Writer on two copies of
  one file leave the same bytes: books, stakes, accounts, writers' totals, currency
  mirrors and ledger rows (all but times, pids and journal scratch).
- A C trader and Python writers trade one set of books in parallel, in real processes;
  afterwards conservation is exact counting reserves and due cash, every book passes its
  structural checks, every account's reserves equal its resting orders, writers' totals
  equal their accounts, the C's orders filled against Python's and the reverse, and the
  ledgers, replayed, rebuild every book exactly.
- A C trader SIGKILLed in the middle of a nine-fill match leaves its book's journal
  active; the next Python holder of the lock rolls it back, and the order sent again gives
  the bytes of an uninterrupted run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest

from sim.core import layout as L
from sim.core.book_invariants import check_book
from sim.core.book_layout import BOOK, BUY, IOC, LEVEL, POST_ONLY, SELL, BookGeometry
from sim.core.book_result import REJ_CROSS, REJ_FULL, REJ_FUNDS
from sim.core.exchange import BookSpec, CurrencySpec, Exchange, Funding
from sim.core.ledger import drain_writer, ledger_file
from sim.core.transaction import Writer
from sim.harness.faults import in_book_commit
from tests.book_file_check import check_file
from tests.integration.harness import run

__all__: list[str] = []

ROOT: Final = Path(__file__).resolve().parents[2]
SCALE: Final = 10_000
SHAPE: Final = (200, 512, 16)
EUR, USD, GBP = 0, 1, 2
# EUR: a lot is one unit, a tick 0.0001, tick 100 is the rate 1.0950. GBP: a lot is a tenth
# of a unit, a tick 0.001 of rate, tick 100 is 1.2700.
CURRENCIES: Final = [
    CurrencySpec("EUR", 0, 0, BookSpec(10_850, 1, SCALE, 1.095)),
    CurrencySpec("USD", 100_000 * SCALE, 100_000 * SCALE),
    CurrencySpec("GBP", 0, 0, BookSpec(1_170, 1, SCALE // 10, 1.27)),
]
CASH: Final = 5_000 * SCALE
UNITS: Final = 2_000 * SCALE
# The writer of each funded account: account 0 on writer 0 (the C trader's), the others
# on writers 1..3; with a spare writer (for a joiner) writer 3 and the last accounts free.
HOSTS: Final = [0, 1, 2, 3, 1, 2, 3, 1, 2, 3]
HOSTS_SPARE: Final = [0, 1, 2, 1, 2, 1, 2]
N_WRITERS: Final = 4
N_ACCOUNTS: Final = 12
DEADLINE_S: Final = 20.0


@pytest.fixture(scope="module")
def trader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C trader, built by examples/c/Makefile into a private folder."""
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("gcc and make are needed to build the C trader")
    build = tmp_path_factory.mktemp("cbuild")
    out = subprocess.run(["make", "-C", str(ROOT / "examples" / "c"), f"BUILD={build}"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return build / "trader"


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed and reaped if the test fails before reaping them."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=30)


def _env() -> dict[str, str]:
    old = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + old if old else ""))


def make_exchange(folder: Path, sync: str = "per_currency", *, spare: bool = False,
                  shape: tuple[int, int, int] = SHAPE) -> str:
    """A running exchange funded as HOSTS (HOSTS_SPARE with ``spare``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = str(folder / L.EXCHANGE_FILE)
    ex = Exchange.create(path, CURRENCIES, n_writers=N_WRITERS, n_accounts=N_ACCOUNTS,
                         ring_rows=64, scale=SCALE, fee_bps=0, sync=sync, book_shape=shape)
    try:
        hosts = HOSTS_SPARE if spare else HOSTS
        funding = [Funding(w, CASH, [UNITS] * 3) for w in hosts]
        kinds = {w: L.KIND_C if w == 0 else L.KIND_TRADER for w in set(hosts)}
        ex.fund_accounts(funding, kinds)
        ex.set_header_int("run_state", L.RUN_RUNNING)
    finally:
        ex.close()
    (folder / "ledger").mkdir(exist_ok=True)
    return path


def run_c(trader: Path, *args: str, stdin: str = "", timeout: float = 30
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(trader), *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _stage(ex: Exchange) -> None:
    """Resting orders of accounts of writers 1 and 2 on both books, at several ticks."""
    writers = {w: Writer(ex, w) for w in (1, 2)}
    try:
        for k, a in enumerate((1, 2, 4, 5, 7, 8)):
            wr = writers[HOSTS[a]]
            assert wr.limit(a, EUR, SELL, 101 + k % 3, 2 + k).rested
            assert wr.limit(a, EUR, BUY, 99 - k % 3, 1 + k).rested
            assert wr.limit(a, GBP, SELL, 102 + k % 2, 3 + k).rested
            assert wr.limit(a, GBP, BUY, 97 - k % 2, 4 + k).rested
    finally:
        for wr in writers.values():
            wr.close()


def _scratch_masked(ex: Exchange, writers: tuple[int, ...] = (0,)) -> bytes:
    """The file's bytes with the scratch (rings, the books' journal entries) and the
    process-specific words of ``writers`` (pid, heartbeat, rollbacks) zeroed."""
    raw = bytearray(ex.b)
    geo = ex.geo
    raw[geo.ring_offset: geo.stake_offset] = bytes(geo.stake_offset - geo.ring_offset)
    bg = BookGeometry(*geo.book_shape)
    for c in geo.books:
        first = geo.book_at(c) + bg.journal_first_entry * 8
        end = geo.book_at(c) + bg.bid_leaf * 8
        raw[first: end] = bytes(end - first)
    for w in writers:
        for f in ("pid", "heartbeat_ns", "rollbacks"):
            at = geo.writer_at(w) + L.WRITER.offsets[f]
            raw[at: at + 8] = bytes(8)
    return bytes(raw)


def _rows(path: str, w: int) -> np.ndarray[Any, Any]:
    f = ledger_file(path, w)
    if not os.path.exists(f):
        return np.zeros(0, dtype=L.ROW.dtype)
    return np.fromfile(f, dtype=L.ROW.dtype)


def _without_time(rows: np.ndarray[Any, Any]) -> list[tuple[int, ...]]:
    names = [n for n in rows.dtype.names or () if n != "t_ns"]
    return [tuple(int(r[n]) for n in names) for r in rows]


# ---------------------------------------------------------------------- same bytes

# (C command, the Python call: kind, currency, side, lots, tick, time in force). Against the
# staged book: fills over several levels, a post-only that would cross, self-trades (an IOC
# buy through the account's own ask, a market buy sweeping GBP and the budget cutting it),
# rejections for funds and quantity, orders that rest.
SCRIPT: Final = [
    ("limit buy EUR 10 @ 1.0960", ("limit", EUR, BUY, 10, 110, 0)),
    ("market sell EUR 5", ("market", EUR, SELL, 5, -1, 0)),
    ("limit sell EUR 3 @ 1.0990", ("limit", EUR, SELL, 3, 140, 0)),
    ("limit buy EUR 2 @ 1.0990 post", ("limit", EUR, BUY, 2, 140, POST_ONLY)),
    ("limit buy EUR 20 @ 1.0990 ioc", ("limit", EUR, BUY, 20, 140, IOC)),
    ("limit sell EUR 4 @ 1.0970", ("limit", EUR, SELL, 4, 120, 0)),
    ("limit buy EUR 1 @ 1.0900", ("limit", EUR, BUY, 1, 50, 0)),
    ("limit sell GBP 0.5 @ 1.2800", ("limit", GBP, SELL, 5, 110, 0)),
    ("market buy GBP 4000", ("market", GBP, BUY, 40_000, -1, 0)),
    ("limit buy GBP 1.2 @ 1.1800 gtc", ("limit", GBP, BUY, 12, 10, 0)),
    ("market sell EUR 100000", ("market", EUR, SELL, 100_000, -1, 0)),
    ("limit sell EUR 1 @ 1.0850", ("limit", EUR, SELL, 1, 0, 0)),
]


@pytest.mark.timeout(60)
def test_c_and_python_book_orders_leave_the_same_bytes(trader: Path, tmp_path: Path) -> None:
    c_path = make_exchange(tmp_path / "c")
    with Exchange.open(c_path) as ex:
        _stage(ex)
    py_path = str(tmp_path / "py" / L.EXCHANGE_FILE)
    shutil.copytree(tmp_path / "c", tmp_path / "py")
    with Exchange.open(py_path) as ex:
        wr = Writer(ex, 0)
        placed: dict[int, int] = {}
        fills = 0
        for _, (kind, c, side, lots, tick, tif) in SCRIPT:
            res = (wr.limit(0, c, side, tick, lots, tif) if kind == "limit"
                   else wr.market(0, c, side, lots))
            fills += len(res.fills)
            if res.rested:
                placed[res.order_id] = c
        assert fills > 15 and len(placed) == 5
        live = [oid for oid, c in placed.items() if ex.book(c).order(oid) is not None]
        assert len(live) == 3
        cancels = [live[0], live[-1], live[0], 999]
        for oid in cancels:
            wr.cancel(0, placed.get(oid, EUR), oid)
        wr.close()
        ex.q[ex.wword(0, "status")] = L.SLOT_DONE
        # Python counts a refused cancel on the book it was sent to; the C trader finds
        # the book by the id, so it refuses one that is live nowhere before any book.
        ex.q[ex.book(EUR).base + BOOK.word("rej_cancel")] -= 2
    script = "".join(f"{cmd}\n" for cmd, _ in SCRIPT)
    script += "".join(f"cancel {oid}\n" for oid in cancels)
    script += ("orders\nbook EUR\nbook GBP\nbalance\nlimit sell EUR 1 @ 5\nbook USD\n"
               "limit buy EUR 0 @ 1.0950\n")
    out = run_c(trader, c_path, "--writer", "0", "--account", "0", stdin=script)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    text = out.stdout
    assert "rejected: limit order: post-only order would cross" in text
    assert "error: amount '0' must be a positive number" in text
    assert "rejected: market order: cash or units not available" in text
    assert f"cancelled order {live[0]}: 4.0000 EUR released" in text
    assert text.count("rejected: cancel") == 2
    assert f"order {live[1]}: buy 1.0000 EUR @ 1.0900" in text
    assert "\n  EUR book: reserved cash 1.0900, reserved EUR 0.0000, due cash 0.0000\n" in text
    assert "error: rate '5' is not on the ladder of EUR: 1.0850 to 1.1049 in steps of " \
           "0.0001" in text
    assert "error: USD trades on a pool" in text
    with Exchange.open(c_path) as a, Exchange.open(py_path) as b:
        assert _scratch_masked(a) == _scratch_masked(b)
        n = int(a.q[a.wword(0, "log_count")])
        assert n == int(b.q[b.wword(0, "log_count")]) > 20
    assert _without_time(_rows(c_path, 0)) == _without_time(_rows(py_path, 0))


def _rate(price: int, lot: int) -> str:
    return str(Decimal(price) / Decimal(lot))


def _units(lots: int, lot: int) -> str:
    return str(Decimal(lots * lot) / Decimal(SCALE))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_orders_on_small_books_leave_the_same_bytes(trader: Path, tmp_path: Path,
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
                commands.append(f"cancel {oid}")
            elif r < 0.4:
                res = wr.market(0, c, side, lots)
                commands.append(f"market {word} {names[c]} {_units(lots, b.lot)}")
            else:
                tick = int(rng.integers(0, b.ticks))
                tif = int(rng.choice([0, 0, 0, IOC, POST_ONLY]))
                res = wr.limit(0, c, side, tick, lots, tif)
                commands.append(f"limit {word} {names[c]} {_units(lots, b.lot)} @ "
                                f"{_rate(b.price(tick), b.lot)} {('gtc', 'ioc', 'post')[tif]}")
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
    out = run_c(trader, c_path, "--writer", "0", "--account", "0",
                stdin="".join(f"{x}\n" for x in commands))
    assert out.returncode == 0, out.stderr
    assert "error" not in out.stdout
    with Exchange.open(c_path) as a, Exchange.open(py_path) as b2:
        assert _scratch_masked(a) == _scratch_masked(b2)
    assert _without_time(_rows(c_path, 0)) == _without_time(_rows(py_path, 0))


# ---------------------------------------------------------------------- in parallel

PY_WORKER: Final = """
import random, sys
from sim.core import layout as L
from sim.core.book_layout import BUY, GTC, IOC, NIL, POST_ONLY, SELL
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from sim.harness.faults import in_book_commit
from tests.book_file_check import check_file
from tests.integration.harness import run
path, w, limit, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ex = Exchange.open(path)
wr = Writer(ex, w)
q, state = ex.q, L.HEADER.word("run_state")
acc = ex.accounts()
mine = [a for a in range(len(acc)) if acc[a]["writer"] == w and acc[a]["status"]]
books = list(ex.geo.books)
pools = [c for c in range(ex.geo.n_currencies) if c not in books]
rng = random.Random(seed)
live = []
n = 0
while n < limit and q[state] == L.RUN_RUNNING:
    a = rng.choice(mine)
    r = rng.random()
    if r < 0.05 and pools:
        wr.trade(a, rng.choice(pools), rng.randrange(2), rng.randint(1, 20) * ex.scale)
    elif r < 0.35 and live:
        a, c, oid = live.pop(rng.randrange(len(live)))
        wr.cancel(a, c, oid)
    elif r < 0.45:
        wr.market(a, rng.choice(books), rng.randrange(2), rng.randint(1, 8))
    else:
        c = rng.choice(books)
        b = ex.book(c)
        bid, ask = b.best(BUY), b.best(SELL)
        mid = (bid + ask) // 2 if bid != NIL and ask != NIL else b.ticks // 2
        side = rng.randrange(2)
        away = rng.randint(-4, 15)
        tif = rng.choice([GTC, GTC, GTC, GTC, GTC, GTC, GTC, GTC, IOC, POST_ONLY])
        tick = max(0, min(b.ticks - 1, mid - away if side == BUY else mid + away))
        res = wr.limit(a, c, side, tick, rng.randint(1, 8), tif)
        if res.rested:
            live.append((a, c, res.order_id))
    n += 1
wr.close()
q[ex.wword(w, "status")] = L.SLOT_DONE
ex.close()
print(n)
"""


def _start_python(path: str, procs: list[subprocess.Popen[str]]) -> list[subprocess.Popen[str]]:
    """Python writers 1 and 2, each trading for its accounts until the run stops; returns
    once both have made orders."""
    py = [subprocess.Popen([sys.executable, "-c", PY_WORKER, path, str(w), "10000000",
                            str(w)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=_env()) for w in (1, 2)]
    procs.extend(py)
    deadline = time.monotonic() + DEADLINE_S
    with Exchange.open(path) as ex:
        while min(int(ex.q[ex.wword(w, "log_count")]) for w in (1, 2)) < 50:
            for p in py:
                assert p.poll() is None, p.communicate()[1]
            assert time.monotonic() < deadline, "the Python writers never started trading"
            time.sleep(0.01)
    return py


def _stop_python(path: str, py: list[subprocess.Popen[str]]) -> None:
    running = all(p.poll() is None for p in py)
    with Exchange.open(path) as ex:
        ex.set_header_int("run_state", L.RUN_STOPPING)
    for p in py:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert int(out) > 0
    assert running, "a Python writer finished before the C traders: no overlap"


def _replay(rows: np.ndarray[Any, Any], lot: int) -> dict[int, tuple[int, int, int, int]]:
    """Live orders (id -> account, side, tick, lots) after a book's rows in cur_seq order;
    each list of ids placed at one (side, tick) keeps its FIFO order."""
    live: dict[int, tuple[int, int, int, int]] = {}
    for r in rows:
        kind, oid, qty = int(r["kind"]), int(r["order_id"]), int(r["qty"])
        assert qty % lot == 0
        if kind == L.ROW_PLACED:
            assert oid not in live
            live[oid] = (int(r["account"]), int(r["side"]), int(r["tick"]), qty // lot)
        elif kind == L.ROW_FILL:
            acct, side, tick, lots = live[oid]
            assert (acct, side, tick) == (int(r["maker"]), 1 - int(r["side"]), int(r["tick"]))
            assert lots >= qty // lot
            if lots > qty // lot:
                live[oid] = (acct, side, tick, lots - qty // lot)  # keeps its place
            else:
                del live[oid]
        else:
            assert kind == L.ROW_CANCELLED
            acct, side, tick, lots = live.pop(oid)
            assert (acct, side, tick, lots) == (int(r["account"]), int(r["side"]),
                                                int(r["tick"]), qty // lot)
    return live


def check_all(path: str) -> dict[str, int]:
    """Every check of a file whose processes all stopped (tests/book_file_check.py, then
    the ledgers: complete, replayed into every book exactly); returns what was seen."""
    with Exchange.open(path) as ex:
        check_file(ex)
        cur, wri, acc = ex.copy_all()
        geo = ex.geo
        books = geo.books
        active = acc["status"] == L.SLOT_ACTIVE
        for w in range(geo.n_writers):
            hosted = acc["writer"] == w
            assert int(wri["tot_trades"][w]) == int(acc["trades"][hosted].sum())
            assert int(wri["log_head"][w]) == int(wri["log_count"][w]), f"writer {w}: undrained"
        assert all(int(x) == L.NO_WRITER for x in cur["inflight"])
        assert all(int(v) % 2 == 0 for v in cur["version"])
        rows = np.concatenate([_rows(path, w) for w in range(geo.n_writers)])
        assert len(rows) == int(wri["log_count"].sum())
        seen = {"fills": 0, "c_took_python": 0, "python_took_c": 0}
        c_accounts = {a for a in range(len(acc))
                      if int(wri["kind"][int(acc["writer"][a])]) == L.KIND_C and active[a]}
        for c in range(geo.n_currencies):
            mine = np.sort(rows[rows["currency"] == c], order="cur_seq")
            assert [int(x) for x in mine["cur_seq"]] == list(range(1, int(cur["seq"][c]) + 1))
            if c not in books:
                continue
            b = ex.book(c)
            fills = mine[mine["kind"] == L.ROW_FILL]
            assert int(fills["qty"].sum()) == int(cur["volume_units"][c])
            assert int(fills["cash"].sum()) == int(cur["volume_cash"][c])
            seen["fills"] += len(fills)
            takers_c = np.isin(fills["account"], list(c_accounts))
            makers_c = np.isin(fills["maker"], list(c_accounts))
            seen["c_took_python"] += int((takers_c & ~makers_c).sum())
            seen["python_took_c"] += int((~takers_c & makers_c).sum())
            live = _replay(mine, b.lot)
            replayed: dict[tuple[int, int], list[int]] = {}
            for oid, (_, side, tick, _) in live.items():
                replayed.setdefault((side, tick), []).append(oid)
            book_orders = {}
            levels = {}
            for side in (BUY, SELL):
                for t in range(b.ticks):
                    fifo = b.level(side, t)
                    if fifo:
                        levels[(side, t)] = [o.order_id for o in fifo]
                        book_orders.update({o.order_id: (o.account, side, t, o.qty)
                                            for o in fifo})
            assert levels == replayed
            assert book_orders == live
    return seen


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sync", ["per_currency", "ofd"])
def test_c_and_python_trade_the_same_books_in_parallel(
        trader: Path, tmp_path: Path, sync: str, procs: list[subprocess.Popen[str]]) -> None:
    path = make_exchange(tmp_path, sync, spare=True)
    py = _start_python(path, procs)
    cs = [subprocess.Popen([str(trader), path, *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
          for args in (["--writer", "0", "--account", "0", "--book-orders", "60000",
                        "--seed", "5"],
                       ["--book-orders", "30000", "--cash", "3000", "--seed", "6"])]
    procs.extend(cs)
    results = [p.communicate(timeout=90) for p in cs]
    _stop_python(path, py)
    for p, (out, err) in zip(cs, results, strict=True):
        assert p.returncode == 0, err
        assert err == ""
        assert " book orders (" in out and "fills" in out, out
    seen = check_all(path)
    assert seen["c_took_python"] > 50 and seen["python_took_c"] > 50, seen


# ---------------------------------------------------------------------- killed

def _wait_paused_in_commit(path: str, proc: subprocess.Popen[str]) -> tuple[int, int]:
    """(currency, journal state) once the C trader (writer 0) is between the first and the
    last store of an order."""
    deadline = time.monotonic() + DEADLINE_S
    with Exchange.open(path) as ex:
        while not in_book_commit(ex, 0):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "never caught the C trader in a commit"
            time.sleep(0.001)
        c = next(c for c in ex.geo.books if ex.q[ex.cword(c, "inflight")] == 0)
        return c, ex.book(c).journal_state()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sync", ["per_currency", "global", "ofd"])
def test_a_c_trader_killed_mid_match_is_rolled_back_by_the_next_python_holder(
        trader: Path, tmp_path: Path, sync: str, procs: list[subprocess.Popen[str]]) -> None:
    path = make_exchange(tmp_path / "run", sync)
    with Exchange.open(path) as ex:
        _stage(ex)
    shutil.copytree(tmp_path / "run", tmp_path / "ref")
    ref = str(tmp_path / "ref" / L.EXCHANGE_FILE)
    me = ("--writer", "0", "--account", "0")
    sweep = ("--market", "buy EUR 30")  # six makers of four accounts over three levels
    with Exchange.open(path) as ex:
        before = _scratch_masked(ex, (0, 1))
    victim = subprocess.Popen([str(trader), path, *me, "--pause-in-txn-us", "30000000",
                               *sweep], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    procs.append(victim)
    c, n = _wait_paused_in_commit(path, victim)
    assert c == EUR
    with Exchange.open(path) as ex:
        assert int(ex.q[ex.cword(EUR, "version")]) % 2 == 1
        # Half the stores are done: the book is neither before nor after the order.
        assert _scratch_masked(ex, (0, 1)) != before
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    with Exchange.open(path) as ex:
        b = ex.book(EUR)
        assert b.journal_state() == n > 6 * 10
        found = check_book(ex.q, b.base)
        assert found["journal_idle"]
        # The next holder of the lock, a Python writer, rolls it back before its own order.
        wr = Writer(ex, 1)
        res = wr.limit(1, EUR, BUY, 50, 1)
        wr.close()
        assert res.rested == 1
        assert int(ex.q[ex.wword(1, "rollbacks")]) == 1
        assert b.journal_state() == 0
    out = run_c(trader, path, *me, *sweep)
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("bought 27.0000 EUR for 29.5708 in 6 fill(s) (last at "
                               "1.0953); 3.0000 dropped\n"), out.stdout
    # The same orders without the kill.
    with Exchange.open(ref) as ex:
        wr = Writer(ex, 1)
        assert wr.limit(1, EUR, BUY, 50, 1).rested == 1
        wr.close()
    assert run_c(trader, ref, *me, *sweep).stdout == out.stdout
    with Exchange.open(path) as a, Exchange.open(ref) as b2:
        assert _scratch_masked(a, (0, 1)) == _scratch_masked(b2, (0, 1))
    for w in (0, 1):
        assert _without_time(_rows(path, w)) == _without_time(_rows(ref, w))
    check_all(path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sync", ["per_currency", "ofd"])
def test_a_c_trader_killed_among_python_writers_loses_nothing(
        trader: Path, tmp_path: Path, sync: str, procs: list[subprocess.Popen[str]]) -> None:
    path = make_exchange(tmp_path, sync)
    py = _start_python(path, procs)
    victim = subprocess.Popen([str(trader), path, "--writer", "0", "--account", "0",
                               "--book-orders", "1000000", "--pause-in-txn-us", "20000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(victim)
    deadline = time.monotonic() + DEADLINE_S
    with Exchange.open(path) as ex:
        while int(ex.q[ex.wword(0, "log_count")]) < 20:
            assert victim.poll() is None, victim.communicate()
            assert time.monotonic() < deadline, "the C trader never placed its orders"
            time.sleep(0.01)
    _wait_paused_in_commit(path, victim)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    with Exchange.open(path) as ex:
        drain_writer(ex, 0)
        ex.q[ex.wword(0, "status")] = L.SLOT_DEAD
        start = time.monotonic()
        while sum(int(ex.q[ex.wword(w, "rollbacks")]) for w in (1, 2)) == 0:
            assert time.monotonic() - start < DEADLINE_S, "no Python writer rolled it back"
            time.sleep(0.01)
    time.sleep(0.2)
    _stop_python(path, py)
    with Exchange.open(path) as ex:
        assert sum(int(ex.q[ex.wword(w, "rollbacks")]) for w in (1, 2)) == 1
    seen = check_all(path)
    assert seen["fills"] > 100


# ---------------------------------------------------------------------- in a run

@pytest.mark.timeout(120)
def test_c_traders_in_a_coordinated_run_on_books(trader: Path, tmp_path: Path) -> None:
    c_group = {"count": 2, "cash": 20000, "holdings": 10000,
               "command": [str(trader), "{exchange}", "--writer", "{writer}", "--account",
                           "{account}", "--book-orders", "30000", "--seed", "{seed}",
                           "--max-qty", "5"]}
    out = run(tmp_path, duration_s=1.5, processes=1, market="book", scale=SCALE, fee_bps=0,
              currencies=[{"name": "EUR", "rate": 1.1}, {"name": "GBP", "rate": 1.27}],
              traders=[{"count": 2, "strategy": "market_maker", "cash": 100000,
                        "holdings": 50000, "arrival": {"kind": "poisson", "rate_hz": 400}},
                       {"count": 20, "strategy": "noise", "cash": 10000, "holdings": 5000},
                       c_group])
    s = out.summary
    # The run's own final verdict does not count books' reserves yet: the exact checks of
    # the file and its ledgers below are the verdict here.
    procs = s.processes
    assert [p.strategy for p in procs][-2:] == ["command:trader"] * 2
    assert all(p.exit == "done" for p in procs), procs
    path = str(out.run_dir / L.EXCHANGE_FILE)
    seen = check_all(path)
    assert seen["c_took_python"] > 0 and seen["python_took_c"] > 0, seen


# ---------------------------------------------------------------------- refusals

def _tables(ex: Exchange) -> tuple[bytes, bytes, bytes]:
    """Currencies, accounts, and stakes with the books."""
    geo = ex.geo
    return (bytes(ex.b[geo.currency_offset: geo.writer_offset]),
            bytes(ex.b[geo.account_offset: geo.ring_offset]), bytes(ex.b[geo.stake_offset:]))


@pytest.mark.timeout(60)
def test_a_corrupt_book_is_refused_in_one_line_and_nothing_changes(trader: Path,
                                                                   tmp_path: Path) -> None:
    path = make_exchange(tmp_path)
    with Exchange.open(path) as ex:
        _stage(ex)
        b = ex.book(EUR)
        head = b.base + BookGeometry(*SHAPE).level_at(101) + LEVEL.word("ask_head")
        ex.q[head] = 1_000_000
        before = _tables(ex)
    out = run_c(trader, path, "--writer", "0", "--account", "0", "--market", "buy EUR 3")
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
