"""The monitor's sampler on a real mapped file: batches, details, rows on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.snapshot import snapshot_into
from sim.core.transaction import Writer
from sim.harness.faults import proc_state
from sim.harness.monitor import STALLS_FILE, Sampler, generation_stats, sample_columns
from tests.conftest import make_exchange


def read_rows(folder: Path, ex: Exchange) -> np.ndarray:  # type: ignore[type-arg]
    width = sample_columns(ex.geo.n_currencies, ex.geo.n_writers)
    return np.fromfile(folder / "samples.f8").reshape(-1, width)


def test_batches_check_every_sample_and_catch_a_corruption(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path / "exchange.dat")
    ex.set_header_int("run_state", L.RUN_RUNNING)
    folder = tmp_path / "monitor"
    s = Sampler(ex, str(folder))
    s.batch_rows = 4  # several batches, and a violation that spans one's edge
    w = Writer(ex, 0)
    for _ in range(6):
        w.trade(0, 0, L.SIDE_BUY, 1_00)
        s.sample()
    # Money from nowhere in writer 1, then a decrease of a counter: seen from sample 6 on.
    cash_w = ex.wword(1, "tot_cash")
    ex.q[cash_w] += 5
    s.sample()
    s.sample()
    ex.q[cash_w] -= 5
    s.sample()
    seq_w = ex.cur_base[0] + L.CURRENCY.word("seq")
    trades_w = ex.wword(0, "tot_trades")
    ex.q[seq_w] -= 1
    ex.q[trades_w] -= 1
    s.sample()
    ex.q[seq_w] += 1
    ex.q[trades_w] += 1
    s.sample()
    stats = s.close(11, 0.01, 0.11)
    assert stats["samples"] == 11
    got = {n: v["violations"] for n, v in stats["invariants"].items()}
    assert {n: v["checks"] for n, v in stats["invariants"].items()} == {
        **dict.fromkeys(inv.NAMES, 11), **dict.fromkeys(inv.AUDIT_NAMES, 0)}
    # samples 6 and 7: cash; 9: counters back (seq, trades) from sample 8; 10 is clean
    # again: counters went up, and nothing else moved.
    assert got["cash_conserved"] == 2
    assert got["counters_monotone"] == 1
    assert got["units_conserved"] == got["non_negative"] == got["k_non_decreasing"] == 0
    rows = read_rows(folder, ex)
    assert len(rows) == 11
    assert (rows[:, 2] > 0).tolist() == [False] * 6 + [True, True, False, True, False]
    assert np.all(np.diff(rows[:, 0]) >= 0) and rows[:, 1].all()
    records = [json.loads(line) for line in (folder / "violations.jsonl").read_text()
               .splitlines()]
    assert {r["invariant"] for r in records} == {"cash_conserved", "counters_monotone"}
    assert any("seq went back" in d for r in records for d in r["details"])
    ex.close()


def test_a_monitor_after_one_killed_mid_write_appends_whole_rows(tmp_path: Path) -> None:
    """A killed monitor can leave part of a row at the end of the stream; its successor
    cuts it off, so that the rows it appends are read where they were written."""
    ex = make_exchange(tmp_path / "exchange.dat")
    ex.set_header_int("run_state", L.RUN_RUNNING)
    folder = tmp_path / "monitor"
    first = Sampler(ex, str(folder))
    for _ in range(3):
        first.sample()
    first.close(3, 0.01, 0.03)
    with open(folder / "samples.f8", "ab") as f:  # the dead one's half-written row
        f.write(np.full(5, 7.0).tobytes()[:37])
    second = Sampler(ex, str(folder), generation=1)
    for _ in range(2):
        second.sample()
    second.close(2, 0.01, 0.02)
    rows = read_rows(folder, ex)
    assert len(rows) == 5
    assert np.all(np.diff(rows[:, 0]) >= 0) and rows[:, 1].all()
    assert not np.isnan(rows[:, :3]).any() and (rows[:, 2] == 0).all()
    ex.close()


def test_an_audit_proves_totals_and_catches_an_account_moved_behind_its_writer(
        tmp_path: Path) -> None:
    ex = make_exchange(tmp_path / "exchange.dat", n_funded=2, n_slots=2, n_accounts=4)
    ex.set_header_int("run_state", L.RUN_RUNNING)
    for a in (0, 1):
        ex.q[ex.aword(a, "group")] = 0
    s = Sampler(ex, str(tmp_path / "monitor"), n_groups=1)
    Writer(ex, 0).trade(0, 0, L.SIDE_BUY, 1_00)
    s.audit()
    # An account changed behind its writer's back: the totals still balance the pools,
    # so samples stay clean; only the audit sees it.
    ex.q[ex.aword(0, "cash")] += 7
    s.sample()
    s.audit()
    stats = s.close(1, 0.01, 0.01)
    assert stats["audits"] == 2
    assert stats["invariants"]["totals_match_accounts"] == {
        "checks": 2, "violations": 1, "rate_hz": 200.0}
    assert stats["invariants"]["cash_conserved"]["violations"] == 0
    rows = np.fromfile(tmp_path / "monitor" / "audits.f8").reshape(2, -1)
    assert rows.shape[1] == 4 and np.isfinite(rows[:, 1:]).all()
    ex.close()


def test_the_monitor_can_ask_for_a_short_slice() -> None:
    """In a child, so the test process keeps its own slice."""
    code = ("from sim.core.sched import request_slice, current_slice_ns\n"
            "ok = request_slice(100_000)\n"
            "print(ok, current_slice_ns())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True).stdout.split()
    if out[1] == "None":
        pytest.skip("the kernel does not report slices (/proc/self/sched)")
    if out[0] != "True":
        pytest.skip("the kernel has no per-task slice (Linux < 6.12)")
    assert int(out[1]) == 100_000


@pytest.mark.timeout(30)
def test_snapshot_settles_a_transaction_whose_holder_died(tmp_path: Path) -> None:
    """A trader SIGKILLed inside a trade, holding its lock: the monitor's non-blocking
    round gets the lock as its owner's heir, rolls the trade back, and copies a clean state."""
    ex = make_exchange(tmp_path / "exchange.dat")
    ex.set_header_int("run_state", L.RUN_RUNNING)
    pid = os.fork()
    if pid == 0:  # the trader
        try:
            child = Exchange.open(str(tmp_path / "exchange.dat"))
            Writer(child, 0, pause_in_txn=30.0).trade(0, 0, L.SIDE_BUY, 1_00)
        finally:
            os._exit(0)
    j_state = ex.wword(0, "j_state")
    deadline = time.monotonic() + 10
    while ex.q[j_state] != L.JOURNAL_ACTIVE and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(0.05)  # well inside the pause, after the writes before it
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert ex.q[j_state] == L.JOURNAL_ACTIVE
    raw = bytearray(ex.tables_size())
    consistent, locked, rolled, _, _ = snapshot_into(ex, memoryview(raw))
    assert (consistent, locked, rolled) == (True, True, 1)
    cur, acc = ex.decode_tables(raw)
    assert not any(inv.check_all(cur, acc).values())
    assert ex.locks.try_acquire(0) is False  # given back, and no longer marked dead
    ex.locks.release(0)
    ex.close()


@pytest.mark.timeout(30)
def test_a_lock_held_too_long_is_recorded_with_its_holder_and_sampling_goes_on(
        tmp_path: Path) -> None:
    ex = make_exchange(tmp_path / "exchange.dat")
    ex.set_header_int("run_state", L.RUN_RUNNING)
    ex.locks.timeout_s = 0.2  # type: ignore[attr-defined]
    pid = os.fork()
    if pid == 0:  # the holder: takes currency 0's lock in flight for writer 0, then stops
        try:
            child = Exchange.open(str(tmp_path / "exchange.dat"))
            child.locks.acquire(0)
            child.q[child.wword(0, "pid")] = os.getpid()
            child.q[child.cword(0, "inflight")] = 0
            child.q[child.cword(0, "version")] += 1  # writing, as a transaction would
            os.kill(os.getpid(), signal.SIGSTOP)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while ex.q[ex.cword(0, "inflight")] != 0 or proc_state(pid)[0] != "T":
            assert time.monotonic() < deadline, "holder never stopped"
            time.sleep(0.005)
        s = Sampler(ex, str(tmp_path / "monitor"))
        s.sample()
        s.sample()
        assert s.stalls == 2 and s.samples == 0
        recs = [json.loads(x) for x in
                (tmp_path / "monitor" / STALLS_FILE).read_text().splitlines()]
        assert len(recs) == 2
        assert "currency 0" in recs[0]["lock"] and "still held" in recs[0]["lock"]
        assert recs[0]["holders"] == [{"currency": 0, "writer": 0, "pid": pid,
                                       "state": "T stopped"}]
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    # The holder is gone: its lock is taken over and sampling resumes.
    s.sample()
    stats = s.close(3, 0.01, 0.03)
    assert s.samples == 1 and stats["lock_stalls"] == 2
    assert stats["invariants"]["cash_conserved"] == {"checks": 1, "violations": 0,
                                                     "rate_hz": 33.33}
    streamed = json.loads((tmp_path / "monitor" / generation_stats(0)).read_text())
    assert streamed["lock_stalls"] == 2 and streamed["closed"] is True


def test_the_stats_file_is_rewritten_in_place_and_always_reads_whole(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path / "exchange.dat")
    ex.set_header_int("run_state", L.RUN_RUNNING)
    s = Sampler(ex, str(tmp_path / "monitor"))
    path = tmp_path / "monitor" / generation_stats(0)
    s.sample()
    s.flush()  # the first write replaces the file; later ones rewrite it in place
    inode = path.stat().st_ino
    longer = json.loads(path.read_text())
    assert longer["samples"] == 1
    s._write_stats({"samples": 7})  # shorter than what is there: padded with blanks
    assert path.stat().st_ino == inode
    assert json.loads(path.read_text()) == {"samples": 7}
    s.sample()
    stats = s.close(2, 0.01, 0.02)
    assert json.loads(path.read_text()) == stats and stats["closed"] is True
    ex.close()
