"""Process death: killed traders, a killed coordinator, a killed monitor; no money lost."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.harness.tables import read_samples
from sim.tools.check import replay
from tests.integration.harness import (
    pids_gone,
    reap,
    run,
    running_exchange,
    sim,
    start_sim,
    summary,
    wait_for,
    write_scenario,
)

KILLS_PER_RUN = 60
MIN_KILLS_PER_RUN = 50  # two runs: at least 100 kills in all


@pytest.mark.timeout(180)
@pytest.mark.parametrize("policy", ["per_currency", "ofd"])
def test_torture_kill_traders_mid_transaction(tmp_path: Path, policy: str) -> None:
    # Kills every 30 ms, traders restarted on their own accounts; one trade in 20 pauses
    # 1 ms between its pool and account writes, so many kills land inside a transaction.
    out = run(tmp_path, sync=policy, duration_s=4.0, traders=[{"count": 4}], processes=4,
              faults={"kill_traders": KILLS_PER_RUN, "after_s": 0.1, "every_s": 0.03,
                      "restart": True, "pause_in_txn_us": 1000, "pause_prob": 0.05})
    s = out.summary
    f = s.faults
    assert MIN_KILLS_PER_RUN <= f.kills <= KILLS_PER_RUN, f
    assert f.kills_in_transaction >= 5, f
    assert f.rolled_back >= f.kills_in_transaction, f
    assert s.final_ok and s.live_violations == 0, (s.final_violations, s.monitor)
    assert out.exit_status == 0
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        assert replay(ex) == []


@pytest.mark.timeout(120)
def test_killing_a_process_that_hosts_hundreds_of_agents_loses_nothing(tmp_path: Path) -> None:
    # 600 agents on 2 processes: each kill takes 300 agents down mid-transaction (one
    # trade in 10 pauses inside its critical section); restarts resume the same agents
    # on the same accounts, as the same writers.
    out = run(tmp_path, duration_s=3.0, processes=2,
              traders=[{"count": 400, "strategy": "random"},
                       {"count": 200, "strategy": "momentum",
                        "params": {"lookback": 3, "threshold": 0.0}}],
              faults={"kill_traders": 12, "after_s": 0.3, "every_s": 0.15, "restart": True,
                      "pause_in_txn_us": 2000, "pause_prob": 0.1})
    s = out.summary
    f = s.faults
    assert f.kills == 12 and f.restarts >= 10, f
    assert f.kills_in_transaction >= 3, f
    assert f.rolled_back >= f.kills_in_transaction, f
    assert s.final_ok and s.live_violations == 0, (s.final_violations, s.monitor)
    assert out.exit_status == 0
    assert [p.agents for p in s.processes] == [300, 300]
    assert sum(len(p.deaths) for p in s.processes) == 12
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        assert replay(ex) == []
        acc = ex.accounts()[:600]
        # Every agent stayed on the writer it started on.
        assert acc["writer"].tolist() == [a % 2 for a in range(600)]
        assert int(acc["trades"].sum()) == s.trades
        assert (acc["trades"] > 0).sum() > 300


@pytest.mark.timeout(60)
def test_killed_trader_without_restart_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    out = run(tmp_path, duration_s=1.0, traders=[{"count": 3}],
              faults={"kill_traders": 1, "after_s": 0.3})
    s = out.summary
    assert out.exit_status == 0 and s.final_ok
    dead = [t for t in s.processes if t.deaths]
    assert len(dead) == 1 and dead[0].exit == "signal 9"
    alive = [t for t in s.processes if not t.deaths]
    assert all(t.exit == "done" and t.trades > 0 for t in alive)


@pytest.mark.timeout(60)
def test_monitor_death_is_reported_and_the_final_check_still_runs(tmp_path: Path) -> None:
    out = run(tmp_path, duration_s=1.0, faults={"kill_monitor_after_s": 0.3})
    s = out.summary
    assert s.monitor.exit == "died (signal 9)"
    assert s.final_ok and s.invariants["cash_conserved"].checks >= 1
    assert out.exit_status == 0


@pytest.mark.timeout(60)
def test_a_killed_monitor_is_restarted_and_every_check_it_ran_is_counted(
        tmp_path: Path) -> None:
    out = run(tmp_path, duration_s=1.5, monitor={"interval_ms": 5},
              faults={"kill_traders": 8, "after_s": 0.2, "every_s": 0.12, "restart": True,
                      "monitor_share": 1.0})
    s = out.summary
    m = s.monitor
    assert s.faults.monitor_kills is not None and s.faults.monitor_kills >= 4, s.faults
    assert m.generations == s.faults.monitor_kills + 1
    assert m.exit is not None and m.exit.startswith("done; restarted")
    assert f"{s.faults.monitor_kills} x signal 9" in m.exit
    # Every generation streamed its counts: their sum is what the summary says, and
    # every sample on disk was checked.
    folder = out.run_dir / "monitor"
    # (One killed before its first batch ran no check and wrote no counts.)
    streamed = [json.loads(f.read_text()) for g in range(m.generations)
                if (f := folder / f"monitor-{g}.json").exists()]
    checks = sum(x["invariants"]["cash_conserved"]["checks"] for x in streamed)
    assert checks == m.invariants["cash_conserved"].checks > 0
    assert s.invariants["cash_conserved"].checks == checks + 1
    assert checks >= len(read_samples(out.run_dir)["t"]) > 0
    assert s.final_ok and s.live_violations == 0 and out.exit_status == 0


@pytest.mark.timeout(120)
def test_killed_coordinator_leaves_a_file_check_repairs_and_resume_continues(
        tmp_path: Path) -> None:
    scn = write_scenario(tmp_path, duration_s=60, traders=[{"count": 3}])
    # The seed comes from the command line: the resumed run must continue with it.
    proc = start_sim("run", str(scn), "--out", str(tmp_path / "res"), "--seed", "77")
    try:
        ex_path = running_exchange(tmp_path / "res")
        wait_for(lambda: ex_path.with_name("ledger").exists(), "ledger files")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        reap(proc)
    run_dir = ex_path.parent
    with Exchange.open(str(ex_path), writable=False) as ex:
        pids = [int(p) for p in ex.writers()["pid"]]
        assert ex.header_int("run_state") == L.RUN_RUNNING
    # Orphaned traders notice their parent is gone and stop on their own.
    wait_for(lambda: pids_gone(pids), "orphaned traders to exit")
    assert (run_dir / "INCOMPLETE").exists()
    r = sim("check", str(run_dir))
    assert "unfinished" in r.stdout or r.returncode == 0, r.stdout
    assert f"the coordinator (pid {proc.pid}) is gone" in r.stdout, r.stdout
    assert f"continue it with: sim run --resume {run_dir}" in r.stdout
    if r.returncode:
        assert f"settle it with: sim check --repair {run_dir}" in r.stdout
    r = sim("plot", str(run_dir))
    assert r.returncode == 0, r.stderr
    assert (run_dir / "price.png").exists()
    r = sim("check", "--repair", "--replay", str(run_dir))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "replay: matches the file exactly" in r.stdout
    r = sim("run", "--resume", str(run_dir), "--duration", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    s = summary(run_dir)
    assert s.resumed == 1 and s.final_ok and s.trades > 0
    assert s.seed == 77
    # The summary keeps this session's figures apart from the whole run's.
    assert s.session_trades is not None and 0 < s.session_trades < s.trades
    assert f"this session (resumed 1x): {s.session_trades:,} trades in" in r.stdout
    assert f"whole run: trades {s.trades:,}" in r.stdout
    assert not (run_dir / "INCOMPLETE").exists()
    assert sim("check", "--replay", str(run_dir)).returncode == 0
    r = sim("run", "--resume", str(run_dir))
    assert r.returncode == 2 and "not an unfinished run folder" in r.stderr


@pytest.mark.timeout(60)
def test_check_reports_a_transaction_left_in_flight_and_repair_rolls_it_back(
        tmp_path: Path) -> None:
    from multiprocess import get_context

    from sim.core.transaction import Writer
    from tests.conftest import make_exchange

    p = tmp_path / "exchange.dat"
    make_exchange(p, n_funded=1).close()

    def trade_and_hang() -> None:
        with Exchange.open(str(p)) as ex:
            w = Writer(ex, 0, pause_in_txn=60.0)
            w.trade(0, 0, L.SIDE_BUY, 1000)

    child = get_context("fork").Process(target=trade_and_hang)
    child.start()
    try:
        with Exchange.open(str(p), writable=False) as ex:
            wait_for(lambda: ex.q[ex.wword(0, "j_state")] == L.JOURNAL_ACTIVE,
                     "the child to be inside its transaction")
    finally:
        child.kill()
        child.join(10)
    r = sim("check", str(p))
    assert r.returncode == 1
    assert "unfinished: currency EUR: transaction of writer 0 in flight" in r.stdout
    assert "VIOLATED" in r.stdout
    assert r.stdout.rstrip().endswith(f"NOT ok: dead processes left unfinished work; settle "
                                      f"it with: sim check --repair {p}")
    r = sim("check", "--repair", str(p))
    assert r.returncode == 0, r.stdout
    assert "1 transactions rolled back" in r.stdout
    with Exchange.open(str(p), writable=False) as ex:
        assert int(ex.currencies()["seq"][0]) == 0
        assert int(ex.accounts()["cash"][0]) == 10_000_00
