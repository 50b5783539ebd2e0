"""Every error and every NOT ok names the next command to run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sim.core import layout as L
from sim.errors import NoFreeSlot
from sim.tools.check import check_command
from sim.tools.trade import trade_session
from tests.conftest import make_exchange


def test_no_free_slot_says_how_to_get_one(tmp_path: Path) -> None:
    p = tmp_path / "exchange.dat"
    make_exchange(p, n_funded=4, n_slots=4).close()
    with pytest.raises(NoFreeSlot, match=r"all 4 writer records are taken; .*larger "
                                         r"spare_slots"):
        trade_session(str(p), io.StringIO("quit\n"), io.StringIO())


def test_a_broken_file_is_not_sent_to_repair(tmp_path: Path) -> None:
    p = tmp_path / "exchange.dat"
    ex = make_exchange(p)
    try:
        # Money appears from nowhere: what sync none's lost updates leave behind.
        ex.q[ex.aword(0, "cash")] += 1
    finally:
        ex.close()
    out = io.StringIO()
    assert check_command(str(p), repair=False, do_replay=False, out=out) == 1
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("NOT ok: the file itself breaks an invariant")
    assert last.endswith(f"compare it with its ledger: sim check --replay {p}")


def test_a_file_without_a_run_says_nothing_of_a_coordinator(tmp_path: Path) -> None:
    p = tmp_path / "exchange.dat"
    ex = make_exchange(p)
    try:
        ex.set_header_int("run_state", L.RUN_RUNNING)
    finally:
        ex.close()
    out = io.StringIO()
    assert check_command(str(p), repair=False, do_replay=False, out=out) == 0
    assert "coordinator" not in out.getvalue()
    assert out.getvalue().endswith("ok\n")
