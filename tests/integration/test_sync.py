"""Synchronisation: every locking policy is exact and its monitor sees no torn state;
the unsynchronised policy loses updates and the detector catches them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.harness import run, sim, summary, write_scenario

ONE_CURRENCY = [{"name": "EUR", "rate": 1.1, "reserve": 100000}]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("policy", ["global", "per_currency", "ofd"])
def test_locking_policies_are_exact_with_zero_live_violations(tmp_path: Path,
                                                              policy: str) -> None:
    # Three policies x 4 s: 12 s of fully loaded runs under the monitor's live checks (the
    # race tests below catch sync: none within half a second).
    out = run(tmp_path, sync=policy, duration_s=4.0,
              traders=[{"count": 4, "strategy": "random"}], monitor={"interval_ms": 5})
    s = out.summary
    assert out.exit_status == 0, s.final_violations
    assert s.final_ok
    assert s.live_violations == 0
    mon = s.monitor
    assert mon.torn == 0
    assert mon.samples > 600
    # The monitor is not starved under full load.
    assert mon.sample_ratio >= 0.9, mon
    for name, rec in s.invariants.items():
        assert rec.violations == 0, name
        assert rec.checks >= 1


@pytest.mark.timeout(60)
def test_no_locks_lose_updates_and_the_detector_catches_them(tmp_path: Path) -> None:
    out = run(tmp_path, sync="none", race_window_us=50, duration_s=1.0, currencies=ONE_CURRENCY,
              processes=4,
              traders=[{"count": 4, "strategy": "random"}], expect_violations=True)
    s = out.summary
    assert out.exit_status == 0
    assert s.passed and not s.final_ok
    # A lost update on the pool leaves money the accounts paid or received unaccounted.
    assert {"cash_conserved", "units_conserved"} & set(s.final_violations)
    assert s.live_violations > 0


@pytest.mark.timeout(60)
def test_the_same_race_without_the_flag_fails_the_run(tmp_path: Path) -> None:
    out = run(tmp_path, sync="none", race_window_us=50, duration_s=0.5, processes=3,
              currencies=ONE_CURRENCY, traders=[{"count": 3, "strategy": "random"}])
    assert out.exit_status == 1
    assert not out.summary.passed


@pytest.mark.timeout(60)
def test_race_window_makes_detection_certain_on_one_core(tmp_path: Path) -> None:
    cpu = min(os.sched_getaffinity(0))
    # One CPU, but three processes: the race is between processes, not agents.
    p = write_scenario(tmp_path, name="race1", sync="none", race_window_us=200,
                       duration_s=0.8, currencies=ONE_CURRENCY, processes=3,
                       traders=[{"count": 3, "strategy": "random"}], expect_violations=True)
    r = sim("run", str(p), "--out", str(tmp_path / "res"),
            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    assert r.returncode == 0, r.stdout + r.stderr
    (run_dir,) = (tmp_path / "res" / "race1").iterdir()
    s = summary(run_dir)
    assert not s.final_ok
    assert {"cash_conserved", "units_conserved"} & set(s.final_violations)
    assert "violations expected: caught" in r.stdout


@pytest.mark.timeout(60)
def test_shipped_race_scenario_is_caught(tmp_path: Path) -> None:
    r = sim("run", "scenarios/race.yaml", "--out", str(tmp_path / "res"), "--duration", "0.5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "NOT caught" not in r.stdout
