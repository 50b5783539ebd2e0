"""Baselines: the benchmark's trade workload written the way a Python user would, no harness.

* ``manager``: a ``multiprocess.Manager()`` server holds the pools and the accounts in
  proxied lists and a dict; every trade runs under one manager ``Lock``.
* ``sqlite``: one SQLite database file in WAL mode (``synchronous=NORMAL``); every trade is
  one ``BEGIN IMMEDIATE`` transaction on the worker's own connection.

N worker processes (forked, like the harness's traders) send random orders for a fixed
time, priced with the harness's integer constant-product functions. At the end each
baseline checks that no money and no units were created or lost.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import multiprocess
import numpy as np

from .workload import apply_order, initial_account, initial_pools, orders

__all__ = ["VARIANTS", "BaselineResult", "run_baseline", "run_manager", "run_sqlite"]

BUSY_TIMEOUT_MS: Final = 10_000
# Bounds every wait on a worker, so a stuck baseline fails the benchmark instead of hanging.
WORKER_SLACK_S: Final = 60.0

Trade = Callable[[int, int, int], bool]
Setup = Callable[[int], tuple[Trade, Callable[[], None]]]


@dataclass(frozen=True)
class BaselineResult:
    """One timed baseline run."""

    variant: str
    n: int
    currencies: int
    duration_s: float
    trades: int
    attempted: int
    trades_per_s: float
    conserved: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _worker(setup: Setup, slot: int, currencies: int, duration_s: float,
            seed: np.random.SeedSequence, barrier: Any, conn: Any) -> None:
    try:
        try:
            trade, close = setup(slot)
        except BaseException:
            barrier.abort()  # release the others instead of leaving them at the barrier
            raise
        rng = np.random.default_rng(seed)
        stream = orders(rng, currencies)
        barrier.wait(WORKER_SLACK_S)
        accepted = attempted = 0
        start = time.monotonic()
        end_at = start + duration_s
        for c, side, qty in stream:
            accepted += trade(c, side, qty)
            attempted += 1
            if time.monotonic() >= end_at:
                break
        end = time.monotonic()
        close()
        conn.send(("ok", accepted, attempted, start, end))
    except BaseException as e:
        conn.send(("error", f"worker {slot}: {type(e).__name__}: {e}"))
    finally:
        conn.close()


def _run_workers(ctx: Any, setup: Setup, n: int, currencies: int, duration_s: float,
                 seed: int) -> tuple[int, int, float]:
    """Run ``n`` workers at once; returns (accepted, attempted, seconds from first start
    to last end)."""
    barrier = ctx.Barrier(n)
    seeds = np.random.SeedSequence(seed).spawn(n)
    procs, conns = [], []
    try:
        for slot in range(n):
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker, name=f"baseline-{slot}", daemon=True,
                            args=(setup, slot, currencies, duration_s, seeds[slot], barrier,
                                  w))
            p.start()
            w.close()
            procs.append(p)
            conns.append(r)
        replies = []
        for r in conns:
            if not r.poll(duration_s + WORKER_SLACK_S):
                raise RuntimeError("a baseline worker did not report in time")
            replies.append(r.recv())
        for p in procs:
            p.join(WORKER_SLACK_S)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        for r in conns:
            r.close()
    errors = [m[1] for m in replies if m[0] != "ok"]
    if errors:
        raise RuntimeError("; ".join(errors))
    accepted = sum(m[1] for m in replies)
    attempted = sum(m[2] for m in replies)
    span = max(m[4] for m in replies) - min(m[3] for m in replies)
    return accepted, attempted, span


def _conserved(currencies: int, n: int, pools: list[tuple[int, int]],
               accounts: list[list[int]]) -> bool:
    """Total cash, and each currency's units, equal what the market started with."""
    cash0, hold0 = initial_account(currencies)
    start = initial_pools(currencies)
    if sum(c for c, _ in pools) + sum(a[0] for a in accounts) != (
            sum(c for c, _ in start) + n * cash0):
        return False
    return all(pools[c][1] + sum(a[1 + c] for a in accounts) == start[c][1] + n * hold0[c]
               for c in range(currencies))


def _result(variant: str, n: int, currencies: int, counts: tuple[int, int, float],
            conserved: bool) -> BaselineResult:
    accepted, attempted, span = counts
    return BaselineResult(variant, n, currencies, round(span, 4), accepted, attempted,
                          round(accepted / span, 1) if span > 0 else 0.0, conserved)


def run_manager(n: int, currencies: int, duration_s: float, seed: int = 0) -> BaselineResult:
    """Pools and accounts in a ``Manager()`` server, one manager lock around each trade."""
    ctx = multiprocess.get_context("fork")
    cash0, hold0 = initial_account(currencies)
    with ctx.Manager() as mgr:
        # One proxied list of (cash, units) pairs and one dict of account lists: each
        # read or write of either is a round trip to the manager process.
        pools = mgr.list(initial_pools(currencies))
        accounts = mgr.dict({slot: [cash0, *hold0] for slot in range(n)})
        lock = mgr.Lock()

        def setup(slot: int) -> tuple[Trade, Callable[[], None]]:
            def trade(c: int, side: int, qty: int) -> bool:
                with lock:
                    rc, ru = pools[c]
                    acct = accounts[slot]  # a copy: written back whole below
                    new = apply_order(rc, ru, acct[0], acct[1 + c], side, qty)
                    if new is None:
                        return False
                    pools[c] = (new[0], new[1])
                    acct[0], acct[1 + c] = new[2], new[3]
                    accounts[slot] = acct
                return True

            return trade, lambda: None

        counts = _run_workers(ctx, setup, n, currencies, duration_s, seed)
        final_pools = [(int(c), int(u)) for c, u in list(pools)]
        final_accounts = [list(a) for a in dict(accounts).values()]
    return _result("manager", n, currencies, counts,
                   _conserved(currencies, n, final_pools, final_accounts))


def _create_db(path: str, n: int, currencies: int) -> None:
    cash0, hold0 = initial_account(currencies)
    holdings = ", ".join(f"holdings_{c} INTEGER NOT NULL" for c in range(currencies))
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("CREATE TABLE pools (currency INTEGER PRIMARY KEY, cash INTEGER NOT NULL, "
                    "units INTEGER NOT NULL)")
        con.execute(f"CREATE TABLE accounts (id INTEGER PRIMARY KEY, cash INTEGER NOT NULL, "
                    f"{holdings})")
        con.execute("BEGIN")
        con.executemany("INSERT INTO pools VALUES (?, ?, ?)",
                        [(c, cash, units) for c, (cash, units)
                         in enumerate(initial_pools(currencies))])
        marks = ", ".join("?" * (2 + currencies))
        con.executemany(f"INSERT INTO accounts VALUES ({marks})",
                        [(slot, cash0, *hold0) for slot in range(n)])
        con.execute("COMMIT")
    finally:
        con.close()


def _read_db(path: str, currencies: int) -> tuple[list[tuple[int, int]], list[list[int]]]:
    con = sqlite3.connect(path)
    try:
        pools = [(int(c), int(u)) for c, u in
                 con.execute("SELECT cash, units FROM pools ORDER BY currency")]
        cols = ", ".join(f"holdings_{c}" for c in range(currencies))
        accounts = [[int(v) for v in row] for row in
                    con.execute(f"SELECT cash, {cols} FROM accounts ORDER BY id")]
    finally:
        con.close()
    return pools, accounts


def _sqlite_setup(path: str, currencies: int) -> Setup:
    sel_pool = "SELECT cash, units FROM pools WHERE currency = ?"
    upd_pool = "UPDATE pools SET cash = ?, units = ? WHERE currency = ?"
    sel_acc = [f"SELECT cash, holdings_{c} FROM accounts WHERE id = ?"
               for c in range(currencies)]
    upd_acc = [f"UPDATE accounts SET cash = ?, holdings_{c} = ? WHERE id = ?"
               for c in range(currencies)]

    def setup(slot: int) -> tuple[Trade, Callable[[], None]]:
        # Opened in the worker: a SQLite connection must never cross a fork.
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA synchronous = NORMAL")
        execute = con.execute

        def trade(c: int, side: int, qty: int) -> bool:
            execute("BEGIN IMMEDIATE")
            try:
                rc, ru = execute(sel_pool, (c,)).fetchone()
                cash, hold = execute(sel_acc[c], (slot,)).fetchone()
                new = apply_order(rc, ru, cash, hold, side, qty)
                if new is None:
                    execute("ROLLBACK")
                    return False
                execute(upd_pool, (new[0], new[1], c))
                execute(upd_acc[c], (new[2], new[3], slot))
                execute("COMMIT")
                return True
            except BaseException:
                if con.in_transaction:
                    execute("ROLLBACK")
                raise

        return trade, con.close

    return setup


def run_sqlite(n: int, currencies: int, duration_s: float, seed: int = 0,
               folder: str | None = None) -> BaselineResult:
    """One SQLite WAL file, a ``BEGIN IMMEDIATE`` transaction per trade."""
    ctx = multiprocess.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-", dir=folder) as tmp:
        path = os.path.join(tmp, "market.db")
        _create_db(path, n, currencies)
        counts = _run_workers(ctx, _sqlite_setup(path, currencies), n, currencies,
                              duration_s, seed)
        pools, accounts = _read_db(path, currencies)
    return _result("sqlite", n, currencies, counts, _conserved(currencies, n, pools, accounts))


VARIANTS: Final = ("manager", "sqlite")


def run_baseline(variant: str, n: int, currencies: int, duration_s: float, seed: int = 0,
                 folder: str | None = None) -> BaselineResult:
    """Run the baseline called ``variant`` (one of :data:`VARIANTS`)."""
    if variant == "manager":
        return run_manager(n, currencies, duration_s, seed)
    if variant == "sqlite":
        return run_sqlite(n, currencies, duration_s, seed, folder)
    raise ValueError(f"unknown baseline {variant!r}; expected one of {', '.join(VARIANTS)}")
