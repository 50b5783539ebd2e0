"""Reading books while other processes trade on them.

The monitor as a process beside two trading processes on a file with books: every check
runs (samples, audits of each book, depth reads) and none fires, and the final check
passes. And depth reads beside one trading process: every read the seqlock lets through
is a possible book (sides ordered, not crossed, no empty level), and most get through
(without the seqlock a few of some thousands are impossible books).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Final

import numpy as np
import pytest

from sim.core import layout as L
from sim.core.book_depth import Depth, consistent_depth
from sim.core.exchange import Exchange
from sim.core.quiescence import final_check
from sim.core.transaction import Writer
from sim.harness.monitor import DEPTH_FILE, generation_stats, monitor_main
from tests.unit.book_market import EUR, N_ACC, N_WRITERS, book_exchange, trade_randomly

TRADE_S: Final = 1.5
DEPTH_TRADE_S: Final = 1.0
_DEADLINE_S: Final = 30.0


def _trader(path: str, w: int) -> None:
    ex = Exchange.open(path)
    wr = Writer(ex, w)
    mine = [a for a in range(N_ACC) if a % 3 == w]
    seed = 100 * w
    try:
        while ex.q[L.HEADER.word("run_state")] == L.RUN_RUNNING:
            trade_randomly({w: wr}, 50, seed=seed, accounts=mine)
            seed += 1
    finally:
        wr.close()


def _fork(target: object, *args: object) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            target(*args)  # type: ignore[operator]
            code = 0
        finally:
            os._exit(code)
    return pid


@pytest.mark.timeout(90)
def test_the_monitor_finds_nothing_wrong_while_books_trade(tmp_path: Path) -> None:
    path = tmp_path / L.EXCHANGE_FILE
    folder = tmp_path / "monitor"
    ex = book_exchange(path)
    ex.set_header_int("coordinator_pid", os.getpid())
    ex.set_header_int("run_state", L.RUN_RUNNING)
    pids: list[int] = []
    try:
        pids += [_fork(_trader, str(path), w) for w in (0, 1)]
        pids.append(_fork(monitor_main, str(path), str(folder), 0.002, 0.1, 0, 0, 0.02))
        time.sleep(TRADE_S)
        ex.set_header_int("run_state", L.RUN_STOPPING)
        deadline = time.monotonic() + _DEADLINE_S
        while pids:
            assert time.monotonic() < deadline, f"processes {pids} did not stop"
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid:
                assert os.waitstatus_to_exitcode(status) == 0, pid
                pids.remove(pid)
            else:
                time.sleep(0.01)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    stats = json.loads((folder / generation_stats(0)).read_text())
    counts = stats["invariants"]
    assert {n: v["violations"] for n, v in counts.items() if v["violations"]} == {}
    for name in ("book_crossed", "book_mirror", "cash_conserved", "trade_counts_agree"):
        assert counts[name]["checks"] > 50, (name, counts[name])
    for name in ("book_structure", "book_reserves", "book_mirror_exact"):
        assert counts[name]["checks"] >= 4, (name, counts[name])
    assert stats["depth_reads"] > 20 and stats["depth_skipped"] < stats["depth_reads"]
    assert (folder / DEPTH_FILE).stat().st_size > 0
    cur = ex.currencies()
    assert (cur["seq"][[0, 2]] > 500).all(), cur["seq"]
    assert np.isfinite(cur["last_rate"]).all()
    assert final_check(ex)["ok"]
    ex.close()


def possible(d: Depth) -> bool:
    bids, asks = [x.tick for x in d.bids], [x.tick for x in d.asks]
    return (bids == sorted(bids, reverse=True) and asks == sorted(asks)
            and len(set(bids)) == len(bids) and len(set(asks)) == len(asks)
            and (not bids or not asks or bids[0] < asks[0])
            and all(x.lots > 0 and x.orders > 0 for x in d.bids + d.asks))


@pytest.mark.timeout(60)
def test_reads_under_a_trading_process_are_never_torn(tmp_path: Path) -> None:
    path = tmp_path / L.EXCHANGE_FILE
    ex = book_exchange(path)
    writers = [Writer(ex, w) for w in range(N_WRITERS)]
    trade_randomly(writers, 200, seed=5)
    for wr in writers:
        wr.close()
    pid = os.fork()
    if pid == 0:  # the trader: random orders on both books until told to stop
        try:
            child = Exchange.open(str(path))
            mine = [Writer(child, w) for w in range(N_WRITERS)]
            end = time.monotonic() + DEPTH_TRADE_S
            seed = 11
            while time.monotonic() < end:
                trade_randomly(mine, 100, seed=seed)
                seed += 1
        finally:
            os._exit(0)
    reads = skipped = 0
    base = ex.geo.book_at(EUR) // 8
    vw = ex.cword(EUR, "version")
    start = ex.q[vw]
    try:
        deadline = time.monotonic() + _DEADLINE_S
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            assert time.monotonic() < deadline, "the trading process did not finish"
            d = consistent_depth(ex.q, base, vw)
            if d is None:
                skipped += 1
                continue
            reads += 1
            assert possible(d), d
        pid = 0
        transactions = (ex.q[vw] - start) // 2
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        ex.close()
    # The book changed under the reads thousands of times, and most reads got through.
    assert transactions > 1000 and reads > 100 and reads > skipped, (
        transactions, reads, skipped)
