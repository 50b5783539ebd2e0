"""Micro-benchmark of the order book engine: orders/s of a limit/cancel/market mix.

``python -m bench.book`` runs, per process, one or more books in a shared file mapping
(``/dev/shm`` when there is one), each with its own accounts, and feeds them a mix of
60 % limit (GTC, a fifth of them priced through the spread), 30 % cancel (of a random
order this process placed, live or already filled) and 10 % market orders, drawn in
advance from a seeded generator so only the engine is timed. With ``--procs P`` each of
P forked processes trades its own books (``--books`` in all, dealt round-robin) and
takes no lock; with ``--shared`` every process trades every book, each order under its
book's lock (a ``multiprocess`` lock: the file's robust or OFD locks cost more). After
the run every invariant of every book is checked, and conservation exactly.
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import multiprocess
import numpy as np

from sim.core.book import Book
from sim.core.book_accounts import AccountArray
from sim.core.book_invariants import check_book, conservation, reserves_match
from sim.core.book_layout import BUY, GTC, BookGeometry
from sim.core.book_result import OK

__all__ = ["Measured", "fork_children", "main", "run"]

ACCOUNTS: Final = 64
CASH: Final = 10**12
UNITS: Final = 10**9
MID: Final = 5_000
_LIMIT, _CANCEL, _MARKET = 0, 1, 2


class Lock(Protocol):
    def acquire(self) -> bool: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class Measured:
    """One process's run: orders given, seconds in the engine (wall, CPU), what they did."""

    orders: int
    seconds: float
    cpu_seconds: float
    fills: int
    rejected: int


def _region(geo: BookGeometry) -> int:
    return geo.size_words + AccountArray.size_words(ACCOUNTS)


def _create(path: str, size: int, geo: BookGeometry, books: int) -> None:
    """The file with ``books`` empty books, each followed by its funded accounts."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
        mm = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    q = memoryview(mm).cast("q")
    region = _region(geo)
    for i in range(books):
        acc = AccountArray(q, i * region + geo.size_words, ACCOUNTS)
        for a in range(ACCOUNTS):
            acc.fund(a, CASH, UNITS)
        Book.create(q, i * region, geo, acc, price_base=10_000, price_step=1)
    q.release()
    mm.close()


def _trade(path: str, size: int, books: Sequence[int], geo: BookGeometry, n: int,
           seed: int, locks: Sequence[Lock] | None = None) -> Measured:
    """Feed ``n`` orders to the books at regions ``books`` of the file, each order under
    its book's lock when ``locks`` is given (one per book of the file); returns the run."""
    fd = os.open(path, os.O_RDWR)
    mm = mmap.mmap(fd, size)
    q = memoryview(mm).cast("q")
    try:
        region = _region(geo)
        engines = [Book(q, i * region, AccountArray(q, i * region + geo.size_words, ACCOUNTS))
                   for i in books]
        held = [locks[i] for i in books] if locks is not None else None
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
            if held is not None:
                held[which[i]].acquire()
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
                    if held is not None:
                        held[which[i]].release()
                    continue
                j = int(pick[i] * len(mine))
                mine[j], mine[-1] = mine[-1], mine[j]
                a, oid = mine.pop()
                r = b.cancel(a, oid)
            else:
                r = b.market(account[i], side[i], qty[i])
            if held is not None:
                held[which[i]].release()
            fills += len(r.fills)
            rejected += r.status != OK
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Measured(n, seconds, cpu, fills, rejected)
    finally:
        q.release()
        mm.close()
        os.close(fd)


def _child(path: str, size: int, books: Sequence[int], geo: BookGeometry, n: int, seed: int,
           locks: Sequence[Lock] | None, wfd: int) -> None:
    m = _trade(path, size, books, geo, n, seed, locks)
    os.write(wfd, f"{m.orders} {m.seconds} {m.cpu_seconds} {m.fills} {m.rejected}\n".encode())


def run(procs: int, books: int, orders: int, geo: BookGeometry, seed: int, *,
        shared: bool = False, folder: str | None = None) -> tuple[list[Measured], int]:
    """``procs`` processes over ``books`` books: each its own books (dealt round-robin),
    or, ``shared``, every process on every book under one lock per book. Returns each
    process's run and the orders resting at the end, after checking every invariant."""
    size = _region(geo) * books * 8
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = os.path.join(tmp, "books.dat")
        _create(path, size, geo, books)
        if procs == 1:
            out = [_trade(path, size, range(books), geo, orders, seed)]
            return out, _verify(path, size, geo, books)
        ctx = multiprocess.get_context("fork")
        locks = [ctx.Lock() for _ in range(books)] if shared else None
        lines = fork_children(ctx, _child, [
            (path, size, range(books) if shared else range(p, books, procs), geo,
             orders // procs, seed + p, locks) for p in range(procs)])
        runs = []
        for line in lines:
            o, s, c, f, r = line.split()
            runs.append(Measured(int(o), float(s), float(c), int(f), int(r)))
        return runs, _verify(path, size, geo, books)


def fork_children(ctx: Any, target: Callable[..., None], args: Sequence[tuple[Any, ...]]
                  ) -> list[bytes]:
    """Fork one process per ``args`` running ``target(*args, wfd)`` at once; returns
    what each wrote to its pipe ``wfd``, in order. A process that fails raises; every one
    is gone when this returns."""
    pipes = [os.pipe() for _ in args]
    ps = [ctx.Process(target=target, args=(*a, wfd)) for a, (_, wfd) in zip(args, pipes,
                                                                            strict=True)]
    out = []
    try:
        for p in ps:
            p.start()
        for p in ps:
            p.join(600)
        for (rfd, _), p in zip(pipes, ps, strict=True):
            if p.exitcode != 0:
                raise RuntimeError(f"benchmark process exited with {p.exitcode}")
            out.append(os.read(rfd, 200))
    finally:
        for p in ps:
            if p.is_alive():
                p.kill()
                p.join(10)
        for rfd, wfd in pipes:
            os.close(rfd)
            os.close(wfd)
    return out


def _verify(path: str, size: int, geo: BookGeometry, books: int) -> int:
    """Check every invariant of every book, and conservation; returns the orders resting."""
    fd = os.open(path, os.O_RDWR)
    mm = mmap.mmap(fd, size)
    os.close(fd)
    q = memoryview(mm).cast("q")
    region = _region(geo)
    resting = 0
    try:
        for i in range(books):
            base = i * region
            acc = AccountArray(q, base + geo.size_words, ACCOUNTS)
            bad = {k: v for k, v in check_book(q, base).items() if v}
            bad_money = (reserves_match(q, [base], acc, ACCOUNTS)
                         + conservation(q, acc, ACCOUNTS, ACCOUNTS * CASH, ACCOUNTS * UNITS))
            if bad or bad_money:
                raise AssertionError(f"book {i}: {bad} {bad_money}")
            resting += Book(q, base, acc).counter("live")
    finally:
        q.release()
        mm.close()
    return resting


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.book", description=__doc__)
    ap.add_argument("--orders", type=int, default=200_000, help="orders per run, all processes")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--books", type=int, default=1)
    ap.add_argument("--shared", action="store_true",
                    help="every process trades every book, under one lock per book")
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
        runs, live = run(args.procs, args.books, args.orders, geo, args.seed + 100 * r,
                         shared=args.shared, folder=folder)
        # Processes run side by side: orders of all over the slowest one's engine time.
        # CPU time leaves out lock waits, so it is a rate only for processes that do not
        # share a book.
        rate = sum(m.orders for m in runs) / max(m.seconds for m in runs)
        cpu = sum(m.orders for m in runs) / max(m.cpu_seconds for m in runs)
        rates.append(rate)
        cpu_rates.append(cpu)
        fills = sum(m.fills for m in runs)
        rej = sum(m.rejected for m in runs)
        on_cpu = "" if args.shared else f", {cpu:,.0f} per CPU second of the slowest process"
        print(f"run {r + 1}: {rate:,.0f} orders/s wall{on_cpu}; {fills:,} fills, {rej:,} "
              f"rejected, {live:,} resting at the end")
    on_cpu = "" if args.shared else f", {statistics.median(cpu_rates):,.0f} on CPU time"
    print(f"median of {args.repeats}: {statistics.median(rates):,.0f} orders/s wall{on_cpu} "
          f"(procs={args.procs}, books={args.books}, shared={args.shared}, "
          f"ticks={args.ticks}, capacity={args.capacity}, max_fills={args.max_fills}); "
          "invariants and conservation hold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
