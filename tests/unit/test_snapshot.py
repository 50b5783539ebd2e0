"""Snapshots through one reader: with the locks (the monitor) or the seqlock alone, on a
read-only mapping (``sim watch``)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Final

import numpy as np
import pytest

from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.snapshot import TIGHT_TRIES, Copy, snapshot_into
from sim.core.transaction import Writer
from tests.conftest import make_exchange

__all__: list[str] = []

RACE_S: Final = 1.5
JOIN_S: Final = 10.0


def _copy(ex: Exchange, rounds: int = 8, locking: bool = True) -> tuple[Copy, bytearray]:
    raw = bytearray(ex.tables_size())
    return snapshot_into(ex, memoryview(raw), rounds, locking=locking), raw


def test_a_read_only_reader_settles_on_a_quiet_file(tmp_path: Path) -> None:
    p = tmp_path / "x.dat"
    with make_exchange(p) as writer, Exchange.open(str(p), writable=False) as ro:
        copy, raw = _copy(ro, locking=False)
        assert copy == Copy(consistent=True, locked=False, rolled_back=0, tries=1)
        cur, acc = ro.decode_tables(raw)
        wcur, wacc = writer.copy_tables()
        assert cur.tobytes() == wcur.tobytes() and acc.tobytes() == wacc.tobytes()


def test_a_version_left_odd_is_never_vouched_for_without_the_locks(tmp_path: Path) -> None:
    p = tmp_path / "x.dat"
    with make_exchange(p) as writer, Exchange.open(str(p), writable=False) as ro:
        v = writer.cword(1, "version")
        writer.q[v] += 1  # a transaction in flight on currency 1
        rounds = TIGHT_TRIES + 3
        copy, raw = _copy(ro, rounds, locking=False)
        assert copy == Copy(consistent=False, locked=False, rolled_back=0, tries=rounds)
        # The last copy is still handed over, for a screen to show marked torn.
        assert raw == bytearray(writer.b[writer.geo.currency_offset: writer.geo.account_offset])
        writer.q[v] += 1
        assert _copy(ro, locking=False)[0].consistent


def test_under_sync_none_only_a_seqlock_reader_tries(tmp_path: Path) -> None:
    p = tmp_path / "x.dat"
    with make_exchange(p, sync="none") as ex:
        assert _copy(ex)[0] == Copy(False, False, 0, 1)
        # Without locks the caller gets what the seqlock says, and must label it unguarded.
        assert _copy(ex, locking=False)[0] == Copy(True, False, 0, 1)


def _trade_until(path: str, slot: int, stop_at: float) -> None:
    with Exchange.open(path) as ex:
        acc = Writer(ex, slot)
        rng = np.random.default_rng(slot)
        try:
            while time.monotonic() < stop_at:
                acc.trade(slot, int(rng.integers(2)), int(rng.integers(2)),
                          int(rng.integers(1, 50)))
        finally:
            acc.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("gathered", [False, True], ids=["tables", "gathered"])
def test_a_settled_seqlock_copy_is_never_torn_while_traders_run(tmp_path: Path,
                                                                gathered: bool) -> None:
    """Two real trader processes against a read-only reader: every copy the seqlock
    vouches for (of the tables, as ``sim watch`` reads, or a monitor sample's gathered
    words) passes every invariant; copies it does not vouch for are only counted."""
    p = tmp_path / "x.dat"
    make_exchange(p).close()
    stop_at = time.monotonic() + RACE_S
    pids = []
    try:
        for slot in (0, 1):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    _trade_until(str(p), slot, stop_at)
                    code = 0
                finally:
                    os._exit(code)
            pids.append(pid)
        settled = unsettled = 0
        prev = None
        with Exchange.open(str(p), writable=False) as ro:
            row = ro.sample_row()
            while time.monotonic() < stop_at:
                if gathered:
                    copy = snapshot_into(ro, row, 50, locking=False)
                else:
                    copy, raw = _copy(ro, 50, locking=False)
                if not copy.consistent:
                    unsettled += 1
                    continue
                cur, acc = (ro.sample_words.decode(row.words) if gathered
                            else ro.decode_tables(raw))
                found = inv.check_all(cur, acc, prev)
                assert not any(found.values()), found
                prev = inv.remember(cur, acc)
                settled += 1
            trades = int(ro.currencies()["seq"].sum())
        assert settled > 100, (settled, unsettled)
        assert trades > 1000, "the traders barely ran: the race was not exercised"
    finally:
        deadline = time.monotonic() + JOIN_S
        for pid in pids:
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    assert os.waitstatus_to_exitcode(status) == 0
                    break
                time.sleep(0.01)
            else:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
    with Exchange.open(str(p), writable=False) as ex:
        assert ex.header_int("run_state") == L.RUN_INIT
