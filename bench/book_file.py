"""Orders per second on limit order books inside the exchange file, as traders send them.

``python -m bench.book_file --procs 2 --books 4`` creates an exchange file whose first
``books`` currencies trade on books, forks ``procs`` processes that each attach it as a
writer (`sim.core.transaction.Writer`) for 64 accounts of their own, and feeds them the
mix of bench/book.py: 60 % limit orders (GTC, a fifth priced through the spread), 30 %
cancels of an order the process placed (live or already filled) and 10 % market orders,
drawn in advance from a seeded generator. Every order is one journaled transaction under
its currency's lock (robust mutexes, the default policy), with its ledger rows, the
stakes, the writers' totals and the currency's mirror: the whole path a trader's order
takes, agents' decisions aside. After the run every exact invariant of the file is
checked (books, reserves, conservation); a run that fails them raises.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import multiprocess
import numpy as np

from bench.book import fork_children
from sim.core import layout as L
from sim.core.book_invariants import check_book, reserves_match
from sim.core.book_layout import BUY, GTC
from sim.core.book_result import OK
from sim.core.exchange import BookSpec, CurrencySpec, Exchange, Funding
from sim.core.stakes import StakeAccounts
from sim.core.transaction import Writer

__all__ = ["C_TRADER", "FileRun", "main", "run", "run_c"]

ACCOUNTS: Final = 64
SCALE: Final = 10_000
CASH: Final = 10**12
UNITS: Final = 10**11
TICKS: Final = 10_000
MID: Final = TICKS // 2
_LIMIT, _CANCEL, _MARKET = 0, 1, 2


@dataclass(frozen=True)
class FileRun:
    """One run: processes, books, orders sent, wall seconds (first start to last end),
    fills and rejections."""

    procs: int
    books: int
    orders: int
    seconds: float
    cpu_seconds: float
    fills: int
    rejected: int

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds > 0 else 0.0


def _create(path: str, procs: int, books: int, capacity: int, max_fills: int) -> None:
    specs = [CurrencySpec(f"C{c}", 0, 0, BookSpec(SCALE - MID, 1, SCALE, 1.0))
             for c in range(books)]
    ex = Exchange.create(path, specs, n_writers=procs, n_accounts=procs * ACCOUNTS,
                         ring_rows=4096, scale=SCALE, fee_bps=0,
                         book_shape=(TICKS, capacity, max_fills))
    try:
        ex.fund_accounts([Funding(a // ACCOUNTS, CASH, [UNITS] * books)
                          for a in range(procs * ACCOUNTS)],
                         {p: L.KIND_TRADER for p in range(procs)})
        ex.set_header_int("run_state", L.RUN_RUNNING)
    finally:
        ex.close()


def _trade(path: str, p: int, books: int, n: int, seed: int, wfd: int) -> None:
    ex = Exchange.open(path)
    w = Writer(ex, p)
    try:
        rng = np.random.default_rng(seed)
        kind = rng.choice(3, size=n, p=[0.6, 0.3, 0.1]).tolist()
        which = rng.integers(0, books, size=n).tolist()
        side = rng.integers(0, 2, size=n).tolist()
        account = (p * ACCOUNTS + rng.integers(0, ACCOUNTS, size=n)).tolist()
        offset = np.minimum(rng.geometric(0.08, size=n), 400).tolist()
        through = (rng.random(n) < 0.2).tolist()
        qty = rng.integers(1, 20, size=n).tolist()
        pick = rng.random(n).tolist()
        placed: list[list[tuple[int, int]]] = [[] for _ in range(books)]
        fills = rejected = sent = 0
        t0, c0 = time.clock_gettime(time.CLOCK_MONOTONIC), time.process_time()
        for i in range(n):
            c = which[i]
            k = kind[i]
            if k == _LIMIT:
                s = side[i]
                off = -offset[i] if through[i] else offset[i]
                r = w.limit(account[i], c, s, MID - off if s == BUY else MID + off, qty[i], GTC)
                if r.rested:
                    placed[c].append((account[i], r.order_id))
            elif k == _CANCEL:
                mine = placed[c]
                if not mine:
                    continue
                j = int(pick[i] * len(mine))
                mine[j], mine[-1] = mine[-1], mine[j]
                a, oid = mine.pop()
                r = w.cancel(a, c, oid)
            else:
                r = w.market(account[i], c, side[i], qty[i])
            sent += 1
            fills += len(r.fills)
            rejected += r.status != OK
        t1, c1 = time.clock_gettime(time.CLOCK_MONOTONIC), time.process_time()
        os.write(wfd, f"{sent} {t0} {t1} {fills} {rejected} {c1 - c0}\n".encode())
    finally:
        w.close()
        ex.close()


def _verify(path: str) -> None:
    """Every exact invariant of the file after the run; raises on any breach."""
    with Exchange.open(path, writable=False) as ex:
        cur, wri, acc = ex.copy_all()
        problems: list[str] = []
        cash = int(acc["cash"].sum())
        for c in ex.geo.books:
            b = ex.book(c)
            for name, found in check_book(ex.q, b.base).items():
                problems += [f"{name}: {x}" for x in found]
            problems += reserves_match(ex.q, [b.base], StakeAccounts(ex.geo, c),
                                       ex.geo.n_accounts)
            cash += int(cur["book_reserved_cash"][c]) + int(cur["book_due_cash"][c])
            units = int(acc["holdings"][:, c].sum()) + int(cur["book_reserved_units"][c])
            if units != int(acc["init_holdings"][:, c].sum()):
                problems.append(f"currency {c}: units {units} not conserved")
        if cash != int(acc["init_cash"].sum()):
            problems.append(f"cash {cash} != {int(acc['init_cash'].sum())}")
        if int(wri["tot_cash"].sum()) != int(acc["cash"].sum()):
            problems.append("writers' cash totals differ from their accounts")
        if problems:
            raise AssertionError("; ".join(problems[:5]))


def run(procs: int, books: int, orders: int, seed: int = 1, *, capacity: int = 100_000,
        max_fills: int = 64, folder: str | None = None) -> FileRun:
    """``orders`` in all, dealt evenly to ``procs`` processes over ``books`` books."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = os.path.join(tmp, L.EXCHANGE_FILE)
        os.mkdir(os.path.join(tmp, "ledger"))
        _create(path, procs, books, capacity, max_fills)
        rows = [line.split() for line in fork_children(
            multiprocess.get_context("fork"), _trade,
            [(path, p, books, orders // procs, seed + p) for p in range(procs)])]
        _verify(path)
    sent = sum(int(r[0]) for r in rows)
    seconds = max(float(r[2]) for r in rows) - min(float(r[1]) for r in rows)
    return FileRun(procs, books, sent, seconds, max(float(r[5]) for r in rows),
                   sum(int(r[3]) for r in rows), sum(int(r[4]) for r in rows))


C_TRADER: Final = Path(__file__).resolve().parents[1] / "examples" / "c" / "build" / "trader"
_C_RATE: Final = re.compile(rb"(\d+) book orders .* (\d+) fills, (\d+) rejected, ([0-9.]+) s")


def run_c(procs: int, books: int, orders: int, seed: int = 1, *, capacity: int = 100_000,
          max_fills: int = 64, folder: str | None = None) -> FileRun:
    """The same file and mix through the C trader (examples/c, ``make c``): ``procs``
    processes, each a writer on its first account sending ``--book-orders``, started
    together; the rate is all orders over the longest process's own trading time."""
    if not C_TRADER.exists():
        raise FileNotFoundError(f"{C_TRADER}: not built (make c)")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = os.path.join(tmp, L.EXCHANGE_FILE)
        os.mkdir(os.path.join(tmp, "ledger"))
        _create(path, procs, books, capacity, max_fills)
        ps = [subprocess.Popen([str(C_TRADER), path, "--writer", str(p), "--account",
                                str(p * ACCOUNTS), "--book-orders", str(orders // procs),
                                "--seed", str(seed + p)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE) for p in range(procs)]
        got = []
        try:
            for pr in ps:
                out, err = pr.communicate(timeout=600)
                m = _C_RATE.search(out)
                if pr.returncode != 0 or m is None:
                    raise RuntimeError(f"C trader exited with {pr.returncode}: "
                                       f"{err.decode(errors='replace').strip()[:200]}")
                got.append(m.groups())
        finally:
            for pr in ps:
                if pr.poll() is None:
                    pr.kill()
                    pr.wait(10)
        _verify(path)
    seconds = max(float(g[3]) for g in got)
    return FileRun(procs, books, sum(int(g[0]) for g in got), seconds, seconds,
                   sum(int(g[1]) for g in got), sum(int(g[2]) for g in got))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.book_file",
                                 description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--books", type=int, default=1)
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--c", action="store_true", help="send the orders from the C trader")
    a = ap.parse_args(argv)
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
    rates = []
    how = run_c if a.c else run
    for k in range(a.repeats):
        r = how(a.procs, a.books, a.orders, a.seed + 100 * k, folder=folder)
        rates.append(r.rate)
        print(f"P={r.procs} books={r.books}: {r.orders} orders in {r.seconds:.3f} s = "
              f"{r.rate:,.0f} orders/s ({r.fills} fills, {r.rejected} rejected)")
    print(f"median {float(np.median(rates)):,.0f} orders/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
