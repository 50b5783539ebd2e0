"""``make torture``: a seeded storm of SIGKILLs on a running market, then every check.

Traders (often inside a transaction, sometimes while settling another's), and the
monitor, are SIGKILLed every few milliseconds and restarted; the coordinator never waits
on one victim before the next kill is due. Afterwards: exact conservation, no
transaction in flight, the ledger replayed exactly, no process of the run left. The same
scenario without kills gives the undisturbed trades/s the storm is measured against.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import multiprocess

from sim.config.scenario import parse_scenario
from sim.core.exchange import Exchange, pid_alive
from sim.harness.coordinator import RunOutcome, run_scenario
from sim.tools.check import replay

__all__ = ["StormResult", "main", "storm"]

KILLS: Final = 10_000
EVERY_S: Final = 0.017
# The coordinator sends kills as fast as it can restart their victims (a fork costs it a
# few milliseconds on top of the traders' load): the run lasts this much longer than
# the kills ask, so that all of them happen.
SLACK: Final = 1.05
# Share of undisturbed trades/s the storm must keep.
KEEP_TARGET: Final = 0.30


def _scenario(seed: int, duration_s: float, kills: int, every_s: float) -> dict[str, Any]:
    return {
        "name": "torture", "seed": seed, "duration_s": duration_s, "sync": "per_currency",
        "processes": 4,
        "currencies": [{"name": n, "rate": r, "reserve": 100000} for n, r in
                       (("EUR", 1.10), ("USD", 1.00), ("GBP", 1.27), ("CHF", 1.13))],
        # Funds for minutes of trading: fees drain the default 10,000 in about 20 s and
        # every order after that is a rejection, not a trade.
        "traders": [{"count": 4, "strategy": "random", "cash": 1_000_000,
                     "holdings": 10_000}],
        "monitor": {"interval_ms": 10},
        "faults": {"kill_traders": kills, "after_s": 0.2, "every_s": every_s,
                   "restart": True, "monitor_share": 0.02,
                   # A few trades pause inside their transaction: kills land there too.
                   "pause_in_txn_us": 300, "pause_prob": 0.002,
                   # And every recovery of a dead writer's transaction pauses: kills land
                   # inside those too.
                   "pause_in_recovery_us": 1000},
    }


@dataclass
class StormResult:
    """What the storm did and what the checks found after it."""

    kills: int
    kills_per_s: float
    in_transaction: int
    in_recovery: int
    monitor_kills: int
    rollbacks: int
    trades_per_s: float
    undisturbed_trades_per_s: float
    storm_s: float
    problems: list[str]

    @property
    def kept(self) -> float:
        u = self.undisturbed_trades_per_s
        return self.trades_per_s / u if u > 0 else 0.0


def _run(root: Path, data: dict[str, Any]) -> RunOutcome:
    scn = parse_scenario(data, "<torture>", "torture")
    return run_scenario(scn, root, None, figures=False)


def _problems(out: RunOutcome) -> list[str]:
    s = out.summary
    found = [f"final check: {name}: {details[:2]}"
             for name, details in s.final_violations.items() if details]
    if not s.final_ok and not found:
        found.append("final check failed")
    if s.live_violations:
        found.append(f"{s.live_violations} live violations")
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        found += [f"replay: {m}" for m in replay(ex)[:3]]
        pids = [int(p) for p in ex.writers()["pid"] if p > 0]
    left = [p for p in pids if pid_alive(p)] + [c.pid for c in multiprocess.active_children()]
    if left:
        found.append(f"processes left: {sorted(set(left))[:5]}")
    return found


def storm(root: Path, seed: int = 7, kills: int = KILLS, every_s: float = EVERY_S,
          baseline_s: float = 2.0) -> StormResult:
    """Run the storm, its checks, then the undisturbed baseline.

    The storm comes first: the end of any run imports pyarrow and pandas, and a
    coordinator that has them takes twice as long to fork each restarted trader.
    """
    out = _run(root, _scenario(seed, 0.2 + kills * every_s * SLACK + 0.3, kills, every_s))
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    base = _run(root, _scenario(seed, baseline_s, 0, every_s)).summary
    s = out.summary
    f = s.faults
    # The storm: from the first kill to the last; its trades from the ledger.
    first, last = f.first_kill_s or 0.0, f.last_kill_s or 0.0
    storm_s = max(last - first, 1e-9)
    t = pq.read_table(out.run_dir / "trades.parquet", columns=["t_ns"]).column(0)
    during = int(pc.sum(pc.and_(pc.greater_equal(t, int(first * 1e9)),
                                pc.less_equal(t, int(last * 1e9)))).as_py() or 0)
    problems = _problems(out)
    if s.stopped_by != "duration":
        exits = sorted({p.exit for p in s.processes})
        problems.append(f"the run stopped early: {s.stopped_by} (trader exits: {exits})")
    return StormResult(
        kills=f.kills, kills_per_s=round(f.kills / storm_s, 1),
        in_transaction=f.kills_in_transaction, in_recovery=f.kills_in_recovery or 0,
        monitor_kills=f.monitor_kills or 0, rollbacks=f.rolled_back,
        trades_per_s=round(during / storm_s, 1),
        undisturbed_trades_per_s=base.trades_per_s,
        storm_s=round(storm_s, 1), problems=problems)


def report(r: StormResult) -> str:
    ok = not r.problems
    lines = [
        f"{r.kills} kills in {r.storm_s:g} s of storm ({r.kills_per_s:,.0f} kills/s): "
        f"{r.in_transaction} inside a transaction, {r.in_recovery} inside the recovery "
        f"of another's, {r.monitor_kills} of the monitor; {r.rollbacks} rollbacks",
        f"trades/s during the storm {r.trades_per_s:,.0f}, undisturbed "
        f"{r.undisturbed_trades_per_s:,.0f}: {r.kept:.0%} kept "
        f"({'PASS' if r.kept >= KEEP_TARGET else 'MISS'}, target {KEEP_TARGET:.0%})",
        "checks: conservation exact, no transaction in flight, ledger replay exact, "
        f"no process left: {'PASS' if ok else 'FAIL'}",
        *(f"  {p}" for p in r.problems),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.torture", description=__doc__)
    ap.add_argument("--kills", type=int, default=KILLS)
    ap.add_argument("--every-ms", type=float, default=EVERY_S * 1e3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="torture-") as d:
        r = storm(Path(d), args.seed, args.kills, args.every_ms / 1e3)
    print(report(r))
    return 0 if not r.problems else 1


if __name__ == "__main__":
    sys.exit(main())
