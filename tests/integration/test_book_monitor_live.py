"""The monitor as a process beside two trading processes on a file with books: every
check runs (samples, audits of each book, depth reads) and none fires, and the final
check passes."""

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
from sim.core.exchange import Exchange
from sim.core.quiescence import final_check
from sim.core.transaction import Writer
from sim.harness.monitor import DEPTH_FILE, generation_stats, monitor_main
from tests.unit.book_market import N_ACC, book_exchange, trade_randomly

TRADE_S: Final = 1.5
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
