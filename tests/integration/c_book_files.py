"""Exchange files with books for the C trader's tests, and the exact checks after a run.

Two books (EUR: a lot is one unit, a tick 0.0001, tick 100 the rate 1.0950; GBP: a lot a
tenth of a unit, a tick 0.001) beside a pool (USD); account 0 on writer 0 is the C
trader's. ``check_all`` asserts every invariant of a file whose processes stopped
(tests/book_file_check.py) and then the ledgers: complete, in ``cur_seq`` order without
gaps, and, replayed, equal to every book, FIFO order included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest

from sim.core import layout as L
from sim.core.book_layout import BUY, SELL, BookGeometry
from sim.core.exchange import BookSpec, CurrencySpec, Exchange, Funding
from sim.core.ledger import ledger_file
from sim.core.transaction import Writer
from sim.harness.faults import in_book_commit
from sim.tools.check import replay as check_replay
from tests.book_file_check import check_file

__all__ = ["CASH", "CURRENCIES", "DEADLINE_S", "EUR", "GBP", "HOSTS", "HOSTS_SPARE", "SCALE",
           "SHAPE", "UNITS", "USD", "build_trader", "check_all", "env", "make_exchange",
           "rows_of", "run_c", "scratch_masked", "stage", "start_python", "stop_python",
           "wait_paused_in_commit", "without_time"]

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


def build_trader(build: Path) -> Path:
    """The C trader, built by examples/c/Makefile into ``build``."""
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("gcc and make are needed to build the C trader")
    out = subprocess.run(["make", "-C", str(ROOT / "examples" / "c"), f"BUILD={build}"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return build / "trader"


def env() -> dict[str, str]:
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


def stage(ex: Exchange) -> None:
    """Resting orders of six accounts of writers 1 and 2 on both books, at several ticks."""
    writers = {w: Writer(ex, w) for w in (1, 2)}
    hosts = [int(w) for w in ex.accounts()["writer"]]
    try:
        for k, a in enumerate([a for a, w in enumerate(hosts) if w in writers][:6]):
            wr = writers[hosts[a]]
            assert wr.limit(a, EUR, SELL, 101 + k % 3, 2 + k).rested
            assert wr.limit(a, EUR, BUY, 99 - k % 3, 1 + k).rested
            assert wr.limit(a, GBP, SELL, 102 + k % 2, 3 + k).rested
            assert wr.limit(a, GBP, BUY, 97 - k % 2, 4 + k).rested
    finally:
        for wr in writers.values():
            wr.close()


def scratch_masked(ex: Exchange, writers: tuple[int, ...] = (0,)) -> bytes:
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


def rows_of(path: str, w: int) -> np.ndarray[Any, Any]:
    f = ledger_file(path, w)
    if not os.path.exists(f):
        return np.zeros(0, dtype=L.ROW.dtype)
    return np.fromfile(f, dtype=L.ROW.dtype)


def without_time(rows: np.ndarray[Any, Any]) -> list[tuple[int, ...]]:
    names = [n for n in rows.dtype.names or () if n != "t_ns"]
    return [tuple(int(r[n]) for n in names) for r in rows]


PY_WORKER: Final = """
import random, sys
from sim.core import layout as L
from sim.core.book_layout import BUY, GTC, IOC, NIL, POST_ONLY, SELL
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from sim.harness.faults import in_book_commit
from sim.tools.check import replay as check_replay
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


def start_python(path: str, procs: list[subprocess.Popen[str]]) -> list[subprocess.Popen[str]]:
    """Python writers 1 and 2, each trading for its accounts until the run stops; returns
    once both have made orders."""
    py = [subprocess.Popen([sys.executable, "-c", PY_WORKER, path, str(w), "10000000",
                            str(w)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env()) for w in (1, 2)]
    procs.extend(py)
    deadline = time.monotonic() + DEADLINE_S
    with Exchange.open(path) as ex:
        while min(int(ex.q[ex.wword(w, "log_count")]) for w in (1, 2)) < 50:
            for p in py:
                assert p.poll() is None, p.communicate()[1]
            assert time.monotonic() < deadline, "the Python writers never started trading"
            time.sleep(0.01)
    return py


def stop_python(path: str, py: list[subprocess.Popen[str]]) -> None:
    running = all(p.poll() is None for p in py)
    with Exchange.open(path) as ex:
        ex.set_header_int("run_state", L.RUN_STOPPING)
    for p in py:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert int(out) > 0
    assert running, "a Python writer finished before the C traders: no overlap"


def replay(rows: np.ndarray[Any, Any], lot: int) -> dict[int, tuple[int, int, int, int]]:
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
    """Every check of a file whose processes all stopped (tests/book_file_check.py, sim
    check --replay, then the ledgers here: complete, replayed into every book exactly, FIFO
    order included); returns what was seen."""
    with Exchange.open(path) as ex:
        check_file(ex)
        assert check_replay(ex) == []  # sim check --replay
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
        rows = np.concatenate([rows_of(path, w) for w in range(geo.n_writers)])
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
            live = replay(mine, b.lot)
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


def wait_paused_in_commit(path: str, proc: subprocess.Popen[str]) -> tuple[int, int]:
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
