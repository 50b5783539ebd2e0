"""Whole runs with real processes: conservation, no lost update, results, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.config.scenario import load_scenario
from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.harness.tables import read_samples
from sim.tools.check import replay
from tests.integration.harness import (
    reap,
    run,
    running_exchange,
    sim,
    start_sim,
    summary,
    write_scenario,
)

SUMMARY_KEYS = [
    "scenario", "seed", "run_dir", "versions", "scenario_sha256", "sync", "schedule",
    "resumed", "n_traders", "n_processes", "joined_slots", "duration_s", "stopped_by",
    "trades", "session_trades", "rejected", "trades_per_s", "longest_gap_ms",
    "longest_gap_at_s", "finish_s", "arrivals_per_s",
    "arrivals_asked_per_s", "scale", "invariants", "live_violations", "final_ok",
    "final_violations", "expect_violations", "passed", "monitor", "peak_rss_kb", "faults",
    "currencies", "traders", "processes", "agents_table", "market"]
MONITOR_KEYS = [
    "samples", "samples_asked", "sample_ratio", "interval_s", "slice_ns", "cpu_s",
    "cpu_share", "torn", "locked_snapshots", "optimistic_snapshots", "trylock_snapshots",
    "waited_snapshots", "rolled_back", "recorded_violations", "audits",
    "audit_cpu_s", "invariants", "lock_stalls", "generations", "enabled", "exit"]
TRADER_KEYS = ["id", "strategy", "agents", "initial_wealth", "final_wealth", "trades",
               "rejected", "final_wealth_percentiles", "asked_hz"]


@pytest.mark.timeout(90)
def test_four_traders_conserve_exactly_and_leave_every_result(tmp_path: Path) -> None:
    out = run(tmp_path, figures=True, duration_s=1.5,
              currencies=[{"name": n, "rate": 1.0 + i / 10, "reserve": 100000}
                          for i, n in enumerate(["EUR", "USD", "GBP", "CHF"])],
              traders=[{"count": 4, "strategy": "random"}])
    s = out.summary
    assert out.exit_status == 0, s.final_violations
    assert s.final_ok and s.passed and s.live_violations == 0
    assert s.trades > 1000
    assert s.n_traders == 4 and s.n_processes == min(4, len(os.sched_getaffinity(0)))
    assert [(t.strategy, t.agents) for t in s.traders] == [("random", 4)]
    assert sum(p.agents for p in s.processes) == 4
    assert all(rec.violations == 0 for rec in s.invariants.values())
    m = s.monitor
    assert m.optimistic_snapshots is not None and m.trylock_snapshots is not None
    assert m.waited_snapshots is not None
    assert m.optimistic_snapshots + m.trylock_snapshots + m.waited_snapshots == m.samples
    assert m.trylock_snapshots + m.waited_snapshots == m.locked_snapshots
    # The widest pause in trading lies inside the run and is at least the mean spacing.
    assert s.longest_gap_ms is not None and s.longest_gap_at_s is not None
    assert s.duration_s * 1e3 / s.trades <= s.longest_gap_ms < s.duration_s * 1e3
    assert 0 <= s.longest_gap_at_s <= s.duration_s
    assert s.finish_s is not None and s.finish_s > 0
    # Other tools read summary.json by these keys: they stay exactly these.
    written = json.loads((out.run_dir / "summary.json").read_text())
    assert list(written) == SUMMARY_KEYS
    assert list(written["monitor"]) == MONITOR_KEYS
    assert list(written["traders"][0]) == TRADER_KEYS
    assert written == s.as_json()
    d = out.run_dir
    for f in ("summary.json", "samples.parquet", "trades.parquet", "price.png",
              "exchange.dat", "agents.parquet"):
        assert (d / f).stat().st_size > 0, f
    assert not (d / "INCOMPLETE").exists()
    assert not (d / "trades.csv").exists(), "trades.csv is written only with --csv"
    samples = read_samples(d)
    assert samples["rate"].shape == (len(samples["t"]), 4)
    assert list(samples["names"]) == ["EUR", "USD", "GBP", "CHF"]
    assert samples["wealth"].shape == (len(samples["t"]), s.n_processes)
    agents = pq.read_table(d / "agents.parquet").to_pandas()
    assert list(agents.columns) == ["id", "group", "strategy", "process", "initial_wealth",
                                    "final_wealth", "trades", "rejected"]
    assert agents["id"].tolist() == [0, 1, 2, 3]
    assert agents["trades"].sum() == s.trades
    trades = pd.read_parquet(d / "trades.parquet")
    assert len(trades) == s.trades
    assert (trades["seq"] == np.arange(1, len(trades) + 1)).all()
    assert (np.diff(trades["t_ns"]) >= 0).all()
    with Exchange.open(str(d / "exchange.dat"), writable=False) as ex:
        assert ex.header_int("run_state") == L.RUN_CLEAN
        assert replay(ex) == []
    # Every currency's own sequence is 1..n in the merged ledger's order.
    for c in ("EUR", "USD", "GBP", "CHF"):
        seq = trades["cur_seq"][trades["currency"] == c]
        assert (seq == np.arange(1, len(seq) + 1)).all()


@pytest.mark.timeout(60)
def test_a_figure_that_fails_is_reported_and_costs_no_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The figures are drawn by a process forked at the start of the finish: its failure
    comes back as the summary's plot_error, and every table is still written."""
    import sim.harness.finish as finish

    def broken(data: object) -> None:
        raise ValueError("the wealth axis has no data")

    monkeypatch.setattr(finish, "_draw", broken)
    out = run(tmp_path, figures=True, duration_s=0.3)
    assert out.summary.passed
    assert out.summary.plot_error == "FigureError: ValueError: the wealth axis has no data"
    assert json.loads((out.run_dir / "summary.json").read_text())["plot_error"] == \
        out.summary.plot_error
    for f in ("samples.parquet", "trades.parquet", "agents.parquet"):
        assert (out.run_dir / f).stat().st_size > 0
    assert not list(out.run_dir.glob("*.png"))


@pytest.mark.timeout(90)
def test_eight_traders_on_one_currency_lose_no_update(tmp_path: Path) -> None:
    out = run(tmp_path, duration_s=2.0, currencies=[{"name": "EUR", "rate": 1.1,
                                                     "reserve": 100000}],
              traders=[{"count": 8, "strategy": "random"}])
    s = out.summary
    assert out.exit_status == 0, s.final_violations
    assert s.invariants["trade_counts_agree"].violations == 0
    assert sum(t.trades for t in s.traders) == s.trades == s.currencies[0].trades
    assert s.trades > 1000
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        assert replay(ex) == []


@pytest.mark.timeout(120)
def test_cli_run_prints_a_summary_and_check_replays_it(tmp_path: Path) -> None:
    scn = write_scenario(tmp_path, duration_s=0.5)
    r = sim("run", str(scn), "--out", str(tmp_path / "res"), "--seed", "9")
    assert r.returncode == 0, r.stderr
    assert "trades/s" in r.stdout and "final check: ok" in r.stdout
    (run_dir,) = (tmp_path / "res" / "t").iterdir()
    assert summary(run_dir).seed == 9
    r = sim("check", "--replay", str(run_dir))
    assert r.returncode == 0, r.stdout
    assert "replay: matches the file exactly" in r.stdout
    r = sim("plot", str(run_dir))
    assert r.returncode == 0 and "price.png" in r.stdout
    # A second run never overwrites the first.
    assert sim("run", str(scn), "--out", str(tmp_path / "res")).returncode == 0
    assert len(list((tmp_path / "res" / "t").iterdir())) == 2


@pytest.mark.timeout(60)
def test_the_run_folder_keeps_the_scenario_as_run_after_overrides(tmp_path: Path) -> None:
    scn = write_scenario(tmp_path, seed=1, duration_s=2.0)
    r = sim("run", str(scn), "--out", str(tmp_path / "res"), "--seed", "99",
            "--duration", "0.3")
    assert r.returncode == 0, r.stderr
    (run_dir,) = (tmp_path / "res" / "t").iterdir()
    kept = run_dir / "scenario.yaml"
    ran = load_scenario(kept)
    assert (ran.seed, ran.duration_s) == (99, 0.3)
    assert ran == load_scenario(scn, {"seed": 99, "duration_s": 0.3})
    s = summary(run_dir)
    assert s.seed == 99
    assert s.scenario_sha256 == hashlib.sha256(kept.read_bytes()).hexdigest()


@pytest.mark.timeout(120)
def test_trade_from_stdin_and_inspect_during_a_run(tmp_path: Path) -> None:
    scn = write_scenario(tmp_path, duration_s=4.0)
    proc = start_sim("run", str(scn), "--out", str(tmp_path / "res"))
    try:
        ex_path = running_exchange(tmp_path / "res")
        r = sim("inspect", str(ex_path))
        assert r.returncode == 0, r.stderr
        assert "EUR" in r.stdout and "running" in r.stdout and "active" in r.stdout
        r = sim("trade", str(ex_path), "--cash", "500", stdin=(
            "buy EUR 10\nsell EUR 2.5\nbuy XYZ 1\nbuy EUR -3\nsell EUR 1000\nfly\n"
            "balance\nquit\n"))
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert any(x.startswith("bought 10.00 EUR for ") for x in lines), r.stdout
        assert any(x.startswith("sold 2.50 EUR for ") for x in lines), r.stdout
        assert any("unknown currency 'XYZ'" in x for x in lines)
        assert any("must be a positive number" in x for x in lines)
        assert any("rejected: sell 1,000.00 EUR: not enough units held" in x for x in lines)
        assert any("unknown command 'fly'" in x for x in lines)
        assert any(x.startswith("cash ") and "EUR 7.50" in x for x in lines)
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        reap(proc)
    run_dir = ex_path.parent
    s = summary(run_dir)
    assert s.final_ok and s.joined_slots == [2]
    trades = pd.read_parquet(run_dir / "trades.parquet")
    assert (trades["trader"] == 2).sum() == 2
    assert sim("check", "--replay", str(run_dir)).returncode == 0


@pytest.mark.timeout(60)
def test_trade_against_a_finished_file_conserves(tmp_path: Path) -> None:
    out = run(tmp_path, duration_s=0.3)
    ex_path = out.run_dir / "exchange.dat"
    r = sim("trade", str(ex_path), "--cash", "100", "--holdings", "5",
            stdin="sell USD 5\nbuy USD 1\nrates\n")
    assert r.returncode == 0, r.stderr
    assert "sold 5.00 USD" in r.stdout and "bought 1.00 USD" in r.stdout
    assert "EUR 1." in r.stdout
    r = sim("check", "--replay", str(out.run_dir))
    assert r.returncode == 0, r.stdout


BAD_SCENARIOS = [
    ("traders: [\n  {count: 1", "malformed.yaml", "line"),
    ("traders: [{count: 1}]\nspeed: 3\n", "unknown.yaml", "speed: unknown key"),
    ("traders: [{count: 0}]\n", "count.yaml", r"traders\[0\]\.count: must be > 0"),
    ("traders: [{count: 1, strategy: genius}]\n", "strategy.yaml", "unknown strategy 'genius'"),
    ("duration_s: soon\ntraders: [{count: 1}]\n", "type.yaml", "duration_s: expected a number"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("text", "name", "message"), BAD_SCENARIOS)
def test_bad_scenarios_give_one_line_and_exit_2(tmp_path: Path, text: str, name: str,
                                                 message: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    r = sim("run", str(p), "--out", str(tmp_path / "res"))
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert str(p) in r.stderr
    import re
    assert re.search(message, r.stderr), r.stderr
    assert not (tmp_path / "res").exists()


@pytest.mark.timeout(60)
def test_bad_files_give_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = sim("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"x" * 5000)
    for cmd in (("inspect", str(junk)), ("check", str(junk)), ("trade", str(junk))):
        r = sim(*cmd, stdin="quit\n")
        assert r.returncode == 2, cmd
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert "header field magic" in r.stderr
    assert junk.read_bytes() == b"x" * 5000
    r = sim("inspect", str(tmp_path))
    assert r.returncode == 2 and "is a directory" in r.stderr


@pytest.mark.timeout(30)
def test_schema_is_json_with_the_scenario_fields() -> None:
    r = sim("schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert "traders" in json.dumps(schema)


@pytest.mark.timeout(120)
def test_shipped_population_scenario_runs_briefly_with_its_tables_and_bands(
        tmp_path: Path) -> None:
    r = sim("run", "scenarios/population.yaml", "--out", str(tmp_path / "res"),
            "--duration", "1.5", timeout=110)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "10,000 agents on" in r.stdout
    (run_dir,) = (tmp_path / "res" / "population").iterdir()
    s = summary(run_dir)
    assert s.final_ok and s.n_traders == 10_000
    assert [g.agents for g in s.traders] == [9000, 800, 200]
    assert s.invariants["totals_match_accounts"].checks >= 2
    assert s.arrivals_asked_per_s == 20_000.0 and s.arrivals_per_s > 0
    agents = pq.read_table(run_dir / "agents.parquet")
    assert agents.num_rows == 10_000
    samples = read_samples(run_dir)
    assert samples["audit_bands"].shape[1:] == (3, 3)
    assert list(samples["groups"]) == ["random", "momentum", "fundamentalist"]
    assert (run_dir / "wealth.png").stat().st_size > 0
    assert sim("check", "--replay", str(run_dir), timeout=110).returncode == 0


@pytest.mark.timeout(60)
def test_a_monitor_that_alternates_samples_only_in_even_windows(tmp_path: Path) -> None:
    """``monitor.alternate_ms``: samples and audits only in every other window from the
    run's start (the bench holds their trades against the idle windows')."""
    out = run(tmp_path, duration_s=0.8, monitor={"interval_ms": 2, "alternate_ms": 100})
    s = out.summary
    assert s.passed and s.final_ok
    t = read_samples(out.run_dir)["t"]
    # The last sample is the one taken at the stop, whatever the window.
    windows = (t[:-1] // 0.1).astype(int)
    assert len(windows) > 50 and set(windows % 2) == {0}
    assert {0, 2, 4, 6} <= set(windows)
    assert s.monitor.samples_asked == int(s.duration_s * 0.5 / 0.002) + 1
    assert s.monitor.sample_ratio is not None and s.monitor.sample_ratio > 0.5
