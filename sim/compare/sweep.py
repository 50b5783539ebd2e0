"""``sim sweep``: run every point x variant x repeat of a sweep spec and write its table.

Output goes to ``<out_root>/sweep-<name>/<run-id>/`` (never overwriting anything):
``spec.yaml``, ``runs/<point>/r<k>/<variant>/`` (each run's summary and tables, as the
workers sent them back), ``sweep.parquet`` (one row per run and strategy group: point,
swept keys, variant, repeat, seed, the metrics of compare.csv, verdict) and
``summary.json``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd
import yaml

from sim.compare.analysis import analyse
from sim.compare.grid import SweepPlan, load_sweep
from sim.compare.runner import Job, RunResult, check_cluster, open_client, run_all
from sim.harness.rundir import make_run_dir, mark_complete, write_json
from sim.harness.tables import PARQUET_OPTIONS

__all__ = ["SWEEP_TABLE", "SweepOutcome", "run_sweep", "sweep_command", "sweep_jobs",
           "sweep_table"]

SWEEP_TABLE = "sweep.parquet"


@dataclass
class SweepOutcome:
    """A finished sweep: its folder, table and runs."""

    root: Path
    table: pd.DataFrame
    results: list[RunResult]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def sweep_jobs(plan: SweepPlan, root: Path) -> list[Job]:
    """Every run of a plan, repeat by repeat (so early results cover every point)."""
    jobs: list[Job] = []
    for r, seed in enumerate(plan.seeds):
        for pt in plan.points:
            for v in plan.variants:
                text = yaml.safe_dump(plan.scenarios[(pt.id, v)], sort_keys=False)
                jobs.append(Job(index=len(jobs), variant=v, repeat=r, seed=seed,
                                scenario=text, out=root / "runs" / pt.id / f"r{r}" / v,
                                timeout_s=plan.timeout_s, point=pt.id, params=pt.params,
                                show_variant=bool(plan.spec.variants)))
    return jobs


def _column(values: list[Any]) -> list[Any]:
    """A swept key's values as one Parquet type: numbers, text, or JSON text."""
    if all(isinstance(v, bool) for v in values) or all(isinstance(v, str) for v in values):
        return values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    return [json.dumps(v, sort_keys=True) for v in values]


def sweep_table(results: list[RunResult], keys: list[str], root: Path) -> pd.DataFrame:
    """One row per run and strategy group (one row with no strategy for a run that left
    no summary), the swept keys as columns."""
    analysis = analyse(results)
    by_run: dict[int, list[Any]] = {}
    for g in analysis.rows:
        by_run.setdefault(g.run, []).append(g)
    recs: list[dict[str, Any]] = []
    for res in results:
        j = res.job
        head = {"point": j.point, **{k: j.params.get(k) for k in keys}, "variant": j.variant,
                "repeat": j.repeat, "seed": j.seed}
        tail = {"passed": res.passed, "exit_status": res.exit_status,
                "run_dir": os.path.relpath(res.run_dir, root) if res.run_dir else None,
                "error": res.error or None}
        groups = by_run.get(j.index) or [None]
        for g in groups:
            metrics: dict[str, Any] = {
                "strategy": g.strategy if g else None, "traders": g.traders if g else 0,
                "pnl": g.pnl if g else math.nan, "return": g.ret if g else math.nan,
                "max_drawdown": g.max_drawdown if g else math.nan,
                "trades": g.trades if g else 0, "rejected": g.rejected if g else 0}
            recs.append({**head, **metrics, **tail})
    df = pd.DataFrame.from_records(recs)
    for k in keys:
        df[k] = _column(list(df[k]))
    return df.astype({"exit_status": "Int64", "strategy": "string", "error": "string",
                      "run_dir": "string", "point": "string", "variant": "string"})


def run_sweep(spec_path: str, out_root: Path, stream: IO[str], *,
              scheduler: str | None = None, jobs: int | None = None) -> SweepOutcome:
    """Run a sweep spec on a Dask cluster and write its folder; returns its table."""
    check_cluster(scheduler, jobs)
    plan = load_sweep(spec_path)
    spec = plan.spec
    root = make_run_dir(Path(out_root), f"sweep-{spec.name}", spec.seed)
    shutil.copyfile(plan.spec_path, root / "spec.yaml")
    job_list = sweep_jobs(plan, root)
    stream.write(f"sweep {spec.name}: {len(plan.points)} points x {len(plan.variants)} "
                 f"variants x {spec.repeats} repeats = {len(job_list)} runs\n"
                 f"  folder: {root}\n")
    stream.flush()
    t0 = time.monotonic()
    with open_client(scheduler, jobs, stream) as client:
        results = run_all(client, job_list, "sweep", stream)
    wall = time.monotonic() - t0
    table = sweep_table(results, spec.grid.keys, root)
    table.to_parquet(root / SWEEP_TABLE, index=False, **PARQUET_OPTIONS)
    outcome = SweepOutcome(root, table, results)
    write_json(root / "summary.json", {
        "spec": {**spec.model_dump(by_alias=True), "path": str(plan.spec_path),
                 "base_path": str(plan.base_path)},
        "points": [{"id": p.id, **p.params} for p in plan.points],
        "seeds": plan.seeds,
        "scheduler": scheduler,
        "wall_s": round(wall, 3),
        "passed": outcome.passed,
        "runs": [{"point": r.job.point, "variant": r.job.variant, "repeat": r.job.repeat,
                  "seed": r.job.seed, "passed": r.passed, "exit_status": r.exit_status,
                  "seconds": round(r.seconds, 3), "host": r.host,
                  "run_dir": os.path.relpath(r.run_dir, root) if r.run_dir else None,
                  **({"error": r.error} if r.error else {})} for r in results],
    })
    mark_complete(root)
    return outcome


def sweep_command(spec_path: str, out_root: Path, out: IO[str], err: IO[str], *,
                  scheduler: str | None = None, jobs: int | None = None) -> int:
    """``sim sweep``: 0 if every run passed, 1 otherwise."""
    t0 = time.monotonic()
    o = run_sweep(spec_path, out_root, err, scheduler=scheduler, jobs=jobs)
    n_ok = sum(r.passed for r in o.results)
    out.write(f"\n{len(o.results)} runs in {time.monotonic() - t0:.1f} s, {n_ok} passed\n")
    for r in o.results:
        if not r.passed:
            out.write(f"  {r.job.label} (seed {r.job.seed}): "
                      f"{'invariants failed' if r.summary is not None else r.error}\n")
    out.write(f"\n  table:   {o.root / SWEEP_TABLE} ({len(o.table)} rows)\n"
              f"  results: {o.root}\n")
    out.flush()
    return 0 if o.passed else 1
