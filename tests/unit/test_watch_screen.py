"""The ``sim watch`` screen: a pure function of a Frame, as plain text and as rich output."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from rich.console import Console

from sim.core import layout as L
from sim.tools.watch import Frame, Snapshot, render, screen
from tests.conftest import make_exchange

NS = 1_000_000_000
OK: dict[str, list[str]] = {"cash_conserved": []}


def _frame(tmp_path: Path, *, settled: bool = True, run_state: int = L.RUN_RUNNING,
           heartbeat_age_s: float = 0.0,
           invariants: dict[str, list[str]] | None = OK) -> Frame:
    tmp_path.mkdir(parents=True, exist_ok=True)
    ex = make_exchange(tmp_path / "exchange.dat")
    try:
        cur, acc = ex.copy_tables()
        accounts = ex.accounts()
    finally:
        ex.close()
    now = 50 * NS
    header = {"run_state": run_state, "sync": L.SYNC_CODES["per_currency"],
              "schedule": L.SCHEDULE_FREE, "turns": 0, "scale": 100, "start_ns": 10 * NS,
              "heartbeat_ns": now - int(heartbeat_age_s * NS)}
    return Frame(path="x/exchange.dat", header=header, names=["EUR", "USD"],
                 snap=Snapshot(cur, acc, settled, 1, accounts), history=[[1.1, 1.2], [1.0, 0.9]],
                 trades_per_s=1234.0, strategies={0: "random", 1: "momentum"},
                 invariants=invariants,
                 now_ns=now, refresh_hz=4.0)


def test_plain_frame(tmp_path: Path) -> None:
    lines = render(_frame(tmp_path))
    text = "\n".join(lines)
    assert lines[0] == "sim watch  x/exchange.dat"
    assert lines[1] == "run running   sync per_currency   t 40.0 s"
    assert "1,234 trades/s" in lines[2] and "snapshot consistent" in lines[2]
    assert "\x1b" not in text
    assert all(line == line.rstrip() for line in lines)
    eur = next(line for line in lines if line.lstrip().startswith("EUR"))
    assert "1.10000" in eur and "+0.00%" in eur
    assert any("random" in line and "10,210.00" in line for line in lines)
    assert lines[-1] == "invariants: ok"


def test_rendering_is_pure(tmp_path: Path) -> None:
    f = _frame(tmp_path)
    before = (f.snap.cur.copy(), f.snap.acc.copy(), [list(h) for h in f.history])
    assert render(f) == render(f)
    assert np.array_equal(f.snap.cur, before[0]) and np.array_equal(f.snap.acc, before[1])
    assert f.history == before[2]


def test_torn_violated_and_silent_coordinator(tmp_path: Path) -> None:
    torn = render(_frame(tmp_path / "a", settled=False, invariants=None))
    assert "snapshot torn (never settled in 1 tries)" in torn[2]
    assert torn[-1] == "invariants: not checked (torn snapshot)"
    bad = render(_frame(tmp_path / "b", invariants={"cash_conserved": ["one", "two"]}))
    assert bad[-1] == "invariants: VIOLATED cash_conserved: one (+1 more)"
    silent = render(_frame(tmp_path / "c", heartbeat_age_s=5.0))
    assert "coordinator silent for 5 s (sim check shows what it left)" in silent[1]


def test_terminal_output_is_styled(tmp_path: Path) -> None:
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, color_system="standard", width=200).print(
        screen(_frame(tmp_path)))
    out = buf.getvalue()
    assert "\x1b[" in out and "invariants: ok" in out
