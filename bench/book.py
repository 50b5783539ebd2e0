"""Micro-benchmark of the order book engine: orders/s of a limit/cancel/market mix.

``python -m bench.book`` runs, per process, one or more books in a shared file mapping
(``/dev/shm`` when there is one), each with its own accounts, and feeds them a mix of
60 % limit (GTC, a fifth of them priced through the spread), 30 % cancel (of a random
order this process placed, live or already filled) and 10 % market orders, drawn in
advance from a seeded generator so only the engine is timed. With ``--procs P`` each of
P forked processes trades its own books (``--books`` in all, dealt round-robin): no
lock is taken, since no two processes share a book; the lock's cost comes on top when
the book is in the exchange file. After the run every invariant of every book is
checked, and conservation exactly.
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import multiprocess
import numpy as np

from sim.core.book import OK, Book
from sim.core.book_accounts import AccountArray
from sim.core.book_invariants import check_book, conservation, reserves_match
from sim.core.book_layout import BUY, GTC, BookGeometry

__all__ = ["Measured", "main", "run"]

ACCOUNTS: Final = 64
CASH: Final = 10**12
UNITS: Final = 10**9
MID: Final = 5_000
_LIMIT, _CANCEL, _MARKET = 0, 1, 2


@dataclass(frozen=True)
class Measured:
    """One process's run: orders given, seconds spent in the engine, what they did."""

    orders: int
    seconds: float
    cpu_seconds: float
    fills: int
    rejected: int
    resting: int


def _region(geo: BookGeometry) -> int:
    return geo.size_words + AccountArray.size_words(ACCOUNTS)


def _trade(path: str, size: int, books: Sequence[int], geo: BookGeometry, n: int,
           seed: int) -> Measured:
    """Feed ``n`` orders to the books at regions ``books`` of the file; returns the timing."""
    fd = os.open(path, os.O_RDWR)
    mm = mmap.mmap(fd, size)
    q = memoryview(mm).cast("q")
    try:
        region = _region(geo)
        engines = []
        for i in books:
            acc = AccountArray(q, i * region + geo.size_words, ACCOUNTS)
            for a in range(ACCOUNTS):
                acc.fund(a, CASH, UNITS)
            engines.append(Book.create(q, i * region, geo, acc, price_base=10_000,
                                       price_step=1))
        rng = np.random.default_rng(seed)
        kind = rng.choice(3, size=n, p=[0.6, 0.3, 0.1]).tolist()
        which = rng.integers(0, len(engines), size=n).tolist()
        side = rng.integers(0, 2, size=n).tolist()
        account = rng.integers(0, ACCOUNTS, size=n).tolist()
        offset = np.minimum(rng.geometric(0.08, size=n), 400).tolist()
        through = (rng.random(n) < 0.2).tolist()
        qty = rng.integers(1, 20, size=n).tolist()
        pick = rng.random(n).tolist()
        placed: list[list[tuple[int, int]]] = [[] for _ in engines]
        fills = rejected = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            b = engines[which[i]]
            k = kind[i]
            if k == _LIMIT:
                s = side[i]
                off = -offset[i] if through[i] else offset[i]
                tick = MID - off if s == BUY else MID + off
                r = b.limit(account[i], s, tick, qty[i], GTC)
                if r.order_id:
                    placed[which[i]].append((account[i], r.order_id))
            elif k == _CANCEL:
                mine = placed[which[i]]
                if not mine:
                    continue
                j = int(pick[i] * len(mine))
                mine[j], mine[-1] = mine[-1], mine[j]
                a, oid = mine.pop()
                r = b.cancel(a, oid)
            else:
                r = b.market(account[i], side[i], qty[i])
            fills += len(r.fills)
            rejected += r.status != OK
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        resting = 0
        for b in engines:
            found = check_book(q, b.base)
            bad = {k: v for k, v in found.items() if v}
            acc = b.accounts
            assert isinstance(acc, AccountArray)
            bad_money = (reserves_match(q, [b.base], acc, ACCOUNTS)
                         + conservation(q, acc, ACCOUNTS, ACCOUNTS * CASH, ACCOUNTS * UNITS))
            if bad or bad_money:
                raise AssertionError(f"book at word {b.base}: {bad} {bad_money}")
            resting += b.counter("live")
        del engines, b, acc
        return Measured(n, seconds, cpu, fills, rejected, resting)
    finally:
        q.release()
        mm.close()
        os.close(fd)


def _child(path: str, size: int, books: Sequence[int], geo: BookGeometry, n: int, seed: int,
           wfd: int) -> None:
    m = _trade(path, size, books, geo, n, seed)
    os.write(wfd, f"{m.orders} {m.seconds} {m.cpu_seconds} {m.fills} {m.rejected} "
             f"{m.resting}\n".encode())


def run(procs: int, books: int, orders: int, geo: BookGeometry, seed: int,
        folder: str | None = None) -> list[Measured]:
    """``procs`` processes over ``books`` books; each process's run."""
    size = _region(geo) * books * 8
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = os.path.join(tmp, "books.dat")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)
        if procs == 1:
            return [_trade(path, size, range(books), geo, orders, seed)]
        ctx = multiprocess.get_context("fork")
        pipes = [os.pipe() for _ in range(procs)]
        ps = [ctx.Process(target=_child, args=(path, size, range(p, books, procs), geo,
                                               orders // procs, seed + p, pipes[p][1]))
              for p in range(procs)]
        out: list[Measured] = []
        try:
            for p in ps:
                p.start()
            for p in ps:
                p.join(600)
            for (rfd, _), p in zip(pipes, ps, strict=True):
                if p.exitcode != 0:
                    raise RuntimeError(f"benchmark process exited with {p.exitcode}")
                o, s, c, f, r, live = os.read(rfd, 200).split()
                out.append(Measured(int(o), float(s), float(c), int(f), int(r), int(live)))
        finally:
            for p in ps:
                if p.is_alive():
                    p.kill()
                    p.join(10)
            for rfd, wfd in pipes:
                os.close(rfd)
                os.close(wfd)
        return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.book", description=__doc__)
    ap.add_argument("--orders", type=int, default=200_000, help="orders per run, all processes")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--books", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ticks", type=int, default=10_000)
    ap.add_argument("--capacity", type=int, default=100_000)
    ap.add_argument("--max-fills", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    geo = BookGeometry(args.ticks, args.capacity, args.max_fills)
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
    rates, cpu_rates = [], []
    for r in range(args.repeats):
        runs = run(args.procs, args.books, args.orders, geo, args.seed + 100 * r, folder)
        # Processes run side by side: orders of all over the slowest one's engine time.
        rate = sum(m.orders for m in runs) / max(m.seconds for m in runs)
        cpu = sum(m.orders for m in runs) / max(m.cpu_seconds for m in runs)
        rates.append(rate)
        cpu_rates.append(cpu)
        fills = sum(m.fills for m in runs)
        rej = sum(m.rejected for m in runs)
        live = sum(m.resting for m in runs)
        print(f"run {r + 1}: {rate:,.0f} orders/s wall, {cpu:,.0f} per CPU second of the "
              f"slowest process; {fills:,} fills, {rej:,} rejected, {live:,} resting at the end")
    print(f"median of {args.repeats}: {statistics.median(rates):,.0f} orders/s wall, "
          f"{statistics.median(cpu_rates):,.0f} on CPU time (procs={args.procs}, "
          f"books={args.books}, ticks={args.ticks}, capacity={args.capacity}, "
          f"max_fills={args.max_fills}); invariants and conservation hold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
