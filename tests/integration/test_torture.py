"""A short kill storm: hundreds of SIGKILLs in a few seconds, then every check."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.torture import report, storm


@pytest.mark.timeout(120)
def test_a_short_storm_loses_nothing_and_leaves_no_process(tmp_path: Path) -> None:
    r = storm(tmp_path, seed=3, kills=300, every_s=0.012, baseline_s=0.5)
    assert r.problems == [], report(r)
    # How many kills land in the time is speed, which the bench measures (make torture);
    # here it is enough that a storm happened, with kills inside transactions.
    assert r.kills >= 100, report(r)
    assert r.in_transaction >= 1 and r.monitor_kills >= 1, report(r)
    # A kill inside a transaction is followed by one of the trader that settles it.
    assert r.in_recovery >= 1, report(r)
    assert r.rollbacks >= 1 and r.trades_per_s > 0, report(r)
    text = report(r)
    assert f"{r.kills} kills" in text and "kills/s" in text
