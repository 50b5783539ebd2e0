"""One benchmark run on the harness's real trade path: ``parse_scenario`` + ``run_scenario``.

Each run gets its own results root in a scratch folder, which is deleted as soon as the
summary is read: a one-second run leaves tens of MB of ledger behind.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sim.config.scenario import parse_scenario
from sim.harness.coordinator import run_scenario

from .alternation import window_counts
from .workload import scenario_data

__all__ = ["HarnessRun", "run_harness"]


@dataclass(frozen=True)
class HarnessRun:
    """What the benchmark keeps of one run's summary."""

    sync: str
    n: int
    currencies: int
    duration_s: float
    trades: int
    rejected: int
    trades_per_s: float
    passed: bool
    conserved: bool
    stopped_by: str
    sample_ratio: float | None
    monitor_cpu_share: float | None
    # The monitor's snapshots: optimistic, under every lock tried, under every lock waited.
    snapshots: tuple[int, int, int] | None
    peak_rss_kb: dict[str, Any]
    # With a monitor that alternates: trades in each window (bench.alternation).
    windows: list[int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_harness(sync: str, n: int, currencies: int, duration_s: float, seed: int = 0,
                monitor_interval_ms: float | None = None,
                scratch: str | None = None,
                monitor_alternate_ms: float | None = None) -> HarnessRun:
    """Run one scenario of ``n`` random traders and return its figures; with
    ``monitor_alternate_ms``, the monitor samples in every other window of that length
    and the trades of each window come back too."""
    data = scenario_data(sync, n, currencies, duration_s, seed, monitor_interval_ms)
    if monitor_alternate_ms is not None:
        data["monitor"] = {**data.get("monitor", {}), "alternate_ms": monitor_alternate_ms}
    scn = parse_scenario(data, source="bench")
    root = Path(tempfile.mkdtemp(prefix="bench-run-", dir=scratch))
    windows = None
    try:
        # The folder is deleted once read: a one-second run leaves tens of MB of ledger.
        outcome = run_scenario(scn, root=root, out=None, figures=False)
        if monitor_alternate_ms is not None:
            windows = window_counts(outcome.run_dir, outcome.summary.duration_s,
                                    monitor_alternate_ms)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    s = outcome.summary
    if s.stopped_by == "interrupted":
        raise KeyboardInterrupt
    broken = s.final_violations
    m = s.monitor
    o, t, w = m.optimistic_snapshots, m.trylock_snapshots, m.waited_snapshots
    return HarnessRun(
        sync=sync, n=n, currencies=currencies, duration_s=s.duration_s,
        trades=s.trades, rejected=s.rejected, trades_per_s=s.trades_per_s, passed=s.passed,
        conserved="cash_conserved" not in broken and "units_conserved" not in broken,
        stopped_by=s.stopped_by, sample_ratio=m.sample_ratio, monitor_cpu_share=m.cpu_share,
        snapshots=(o, t, w) if o is not None and t is not None and w is not None else None,
        peak_rss_kb=s.peak_rss_kb.as_json(), windows=windows)
