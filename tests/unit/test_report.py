"""The terminal report of a run: numbers that say what they count, and what to do next."""

from __future__ import annotations

import io
from typing import Any

from sim.harness.report import print_run_summary
from sim.harness.summary import RunSummary

WEALTH: dict[str, Any] = {"initial_wealth": 1.0, "final_wealth": 1.0,
                          "final_wealth_percentiles": {"p50": 1.0}}


def _summary(**over: Any) -> RunSummary:
    s: dict[str, Any] = {
        "versions": {"python": "3", "numpy": "2", "sim": "0"}, "scenario_sha256": "0",
        "schedule": "free", "joined_slots": [], "scale": 100, "live_violations": 0,
        "peak_rss_kb": {"coordinator": None, "monitor": None, "traders": {}},
        "scenario": "stylized", "seed": 1, "sync": "per_currency", "n_traders": 2,
        "n_processes": 2, "arrivals_per_s": 1_050.0, "arrivals_asked_per_s": 10_000.0,
        "agents_table": "agents.parquet",
        "duration_s": 2.0, "stopped_by": "duration", "trades": 5_000, "rejected": 10,
        "session_trades": 5_000, "trades_per_s": 2_500.0, "resumed": 0,
        "currencies": [{"name": "EUR", "initial_rate": 1.1, "final_rate": 1.2,
                        "trades": 5_000}],
        "invariants": {"cash_conserved": {"checks": 10, "violations": 0}},
        "monitor": {"enabled": True, "samples": 190, "samples_asked": 200, "exit": "done"},
        "faults": {"kills": 0, "kills_in_transaction": 0, "restarts": 0, "rolled_back": 0},
        "traders": [
            {"id": 0, "strategy": "random", "agents": 1, **WEALTH, "trades": 2_000,
             "rejected": 0, "asked_hz": 5000},
            {"id": 1, "strategy": "momentum", "agents": 1, **WEALTH, "trades": 100,
             "rejected": 0, "asked_hz": 5000},
        ],
        "processes": [
            {"writer": 0, "strategy": "random", "agents": 1, "trades": 2_000, "rollbacks": 0,
             "exit": "done", "deaths": []},
            {"writer": 1, "strategy": "momentum", "agents": 1, "trades": 100, "rollbacks": 0,
             "exit": "done", "deaths": []},
        ],
        "final_ok": True, "final_violations": {}, "expect_violations": False,
        "passed": True, "run_dir": "results/stylized/x",
    }
    s.update(over)
    return RunSummary.model_validate(s)


def _text(s: RunSummary) -> list[str]:
    out = io.StringIO()
    print_run_summary(s, out)
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert all(line == line.rstrip() for line in lines)
    return lines


def test_a_fresh_run() -> None:
    lines = _text(_summary())
    assert "  trades 5,000  rejected 10  2,500 trades/s" in lines
    assert "  monitor: 190 samples of 200 asked, 0 audits of every account (done)" in lines
    assert lines[-2:] == ["  final check: ok   PASS", "  results: results/stylized/x"]


def test_asked_against_sent_for_a_strategy_that_always_orders() -> None:
    lines = _text(_summary())
    # random sent 1,000 orders/s of the 5,000 asked; momentum passes by design: not judged.
    assert ("  random: asked 5,000 orders/s per agent, sent 1,000 (20%): the machine could "
            "not keep up") in lines
    assert not any(line.lstrip().startswith("momentum:") for line in lines)


def test_a_resumed_run_keeps_the_session_apart() -> None:
    lines = _text(_summary(resumed=2, trades=90_000, session_trades=5_000,
                           faults={"kills": 3, "kills_in_transaction": 1, "restarts": 3,
                                   "rolled_back": 7}))
    assert "  this session (resumed 2x): 5,000 trades in 2.00 s, 2,500 trades/s" in lines
    assert "  whole run: trades 90,000  rejected 10" in lines
    assert ("  faults: 3 kills (1 inside a transaction), 3 restarts; 7 rolled back over "
            "the whole run") in lines
    assert not any("orders/s per agent" in line for line in lines)


def test_rejections_that_dominate_are_explained() -> None:
    traders = [{"id": 3, "strategy": "command:trader", "agents": 1, **WEALTH, "trades": 10,
                "rejected": 9_000, "asked_hz": None}]
    lines = _text(_summary(traders=traders))
    assert any(line.startswith("  command:trader (1 agent): 9,000 of 9,010 orders rejected")
               for line in lines)


def test_disabled_monitor_and_a_failure_name_what_is_next() -> None:
    lines = _text(_summary(monitor={"enabled": False}, final_ok=False, passed=False,
                           final_violations={"cash_conserved": ["total cash 1.00 != 2.00"]}))
    assert "  monitor: disabled (only the final check judges)" in lines
    assert "  final cash_conserved: total cash 1.00 != 2.00" in lines
    assert lines[-1] == "  next: sim check --replay results/stylized/x"
