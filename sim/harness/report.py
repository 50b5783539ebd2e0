"""The terminal report of a finished run."""

from __future__ import annotations

from typing import IO

from sim.harness.summary import RunSummary
from sim.viz.tables import write_table as _table

__all__ = ["print_run_summary"]


def print_run_summary(s: RunSummary, out: IO[str]) -> None:
    verdict = "PASS" if s.passed else "FAIL"
    if s.expect_violations:
        verdict += " (violations expected: " + ("caught" if s.passed else "NOT caught") + ")"
    out.write(f"\n{s.scenario}  seed {s.seed}  sync {s.sync}  "
              f"{s.n_traders} traders  {s.duration_s:.2f} s  ({s.stopped_by})\n")
    out.write(f"  trades {s.trades:,}  rejected {s.rejected:,}  "
              f"{s.trades_per_s:,.0f} trades/s\n\n")
    rows = [["currency", "initial rate", "final rate", "trades"]]
    for c in s.currencies:
        rows.append([c.name, f"{c.initial_rate:.4f}", f"{c.final_rate:.4f}", f"{c.trades:,}"])
    _table(rows, out, {1, 2, 3})
    out.write("\n")
    rows = [["invariant", "checks", "violations"]]
    for name, rec in s.invariants.items():
        rows.append([name, f"{rec.checks:,}", f"{rec.violations:,}"])
    _table(rows, out, {1, 2})
    mon = s.monitor
    if mon.enabled:
        out.write(f"\n  monitor: {mon.samples or 0:,} samples of "
                  f"{mon.samples_asked or 0:,} asked ({mon.exit or ''})\n")
    f = s.faults
    if f.kills or any(t.deaths for t in s.traders):
        out.write(f"  faults: {f.kills} kills ({f.kills_in_transaction} inside a "
                  f"transaction), {f.restarts} restarts, {f.rolled_back} rolled back\n")
    for t in s.traders:
        if t.exit not in ("done", ""):
            out.write(f"  trader {t.id}: {t.exit}\n")
    for name, details in s.final_violations.items():
        out.write(f"  final {name}: {details[0]}\n")
    out.write(f"\n  final check: {'ok' if s.final_ok else 'VIOLATED'}   {verdict}\n")
    out.write(f"  results: {s.run_dir}\n")
