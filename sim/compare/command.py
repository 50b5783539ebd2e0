"""``sim compare``: run every variant x repeat of a spec and write the comparison.

Output goes to ``<out_root>/compare-<name>/<run-id>/`` (never overwriting anything):
``runs/r<k>/<variant>/`` (every run's summary and tables, as the workers sent them
back), ``compare.csv`` (one row per run and strategy),
``summary.json``, ``report.md`` and the figures ``pnl.png``, ``wealth.png`` and
``prices.png``.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import yaml

from sim.compare.analysis import analyse, group_stats
from sim.compare.figures import plot_pnl, plot_prices, plot_wealth
from sim.compare.report import print_table, write_csv, write_report
from sim.compare.runner import Job, check_cluster, open_client, run_all
from sim.compare.spec import load_spec, run_timeout
from sim.harness.preflight import check_results_root
from sim.harness.rundir import make_run_dir, mark_complete, write_json

__all__ = ["compare_command"]

def compare_command(spec_path: str, jobs: int | None, out_root: Path, out: IO[str], *,
                    scheduler: str | None = None) -> int:
    """Run every variant × repeat of a spec and write the comparison; 0 if all passed.

    The runs go to the Dask cluster at ``scheduler`` (or Dask's configured one), else to
    a local cluster running ``jobs`` at once (default: one per CPU).
    """
    check_cluster(scheduler, jobs)
    plan = load_spec(spec_path)
    spec = plan.spec
    check_results_root(Path(out_root))
    root = make_run_dir(Path(out_root), f"compare-{spec.name}", spec.seed)
    shutil.copyfile(plan.spec_path, root / "spec.yaml")
    scen_dir = root / "scenarios"
    scen_dir.mkdir()
    texts: dict[str, str] = {}
    for v, data in plan.scenarios.items():
        texts[v] = (f"# variant {v} of {plan.base_path}, written by sim compare\n"
                    + yaml.safe_dump(data, sort_keys=False))
        (scen_dir / f"{v}.yaml").write_text(texts[v])
    job_list = [Job(index=i, variant=v.name, repeat=r, seed=seed, scenario=texts[v.name],
                    out=root / "runs" / f"r{r}" / v.name,
                    timeout_s=run_timeout(spec.timeout_s, plan.scenarios[v.name]))
                for i, (r, seed, v) in enumerate((r, seed, v)
                                                 for r, seed in enumerate(plan.seeds)
                                                 for v in spec.variants)]
    out.write(f"compare {spec.name}: {len(spec.variants)} variants × {spec.repeats} repeats "
              f"= {len(job_list)} runs\n")
    out.write(f"  folder: {root}\n")
    out.flush()
    t0 = time.monotonic()
    with open_client(scheduler, jobs, sys.stderr) as client:
        results = run_all(client, job_list, "compare", sys.stderr)
    wall = time.monotonic() - t0
    # Report in variant order, repeat within; runs were started repeat by repeat so the
    # first results already cover every variant.
    order = {v.name: i for i, v in enumerate(spec.variants)}
    results.sort(key=lambda r: (order[r.job.variant], r.job.repeat))

    analysis = analyse(results)
    variants = [v.name for v in spec.variants]
    stats = group_stats(analysis.rows, variants)
    write_csv(root / "compare.csv", analysis.rows)
    title = f"compare {spec.name}"
    figures: dict[str, str] = {}
    draws: list[tuple[str, Callable[[Path], Path]]] = [
        ("pnl.png", lambda p: plot_pnl(analysis.rows, variants, analysis.strategies, p,
                                       title)),
        ("wealth.png", lambda p: plot_wealth(analysis, variants, p, title)),
        ("prices.png", lambda p: plot_prices(analysis, variants, p, title)),
    ]
    for name, draw in draws:
        try:
            draw(root / name)
        except Exception as e:  # a figure must never cost the numbers of a comparison
            figures[name] = f"{type(e).__name__}: {e}"
    all_passed = bool(results) and all(r.passed for r in results)
    summary = {
        "spec": {**spec.model_dump(by_alias=True), "path": str(plan.spec_path),
                 "base_path": str(plan.base_path)},
        "seeds": plan.seeds,
        "jobs": jobs,
        "scheduler": scheduler,
        "wall_s": round(wall, 3),
        "passed": all_passed,
        "strategies": analysis.strategies,
        "groups": stats,
        "runs": [{"variant": r.job.variant, "repeat": r.job.repeat, "seed": r.job.seed,
                  "run_dir": str(r.run_dir) if r.run_dir else None, "passed": r.passed,
                  "exit_status": r.exit_status, "seconds": round(r.seconds, 3),
                  **({"error": r.error} if r.error else {})} for r in results],
        **({"figure_errors": figures} if figures else {}),
    }
    write_json(root / "summary.json", summary)
    write_report(root / "report.md", plan, stats, results, analysis.strategies, root)
    mark_complete(root)

    out.write(f"\n{len(results)} runs in {wall:.1f} s, "
              f"{sum(r.passed for r in results)} passed\n\n")
    print_table(out, stats)
    for r in results:
        if not r.passed:
            what = "invariants failed" if r.summary else r.error
            out.write(f"  {r.job.label} (seed {r.job.seed}): {what}\n")
    for name, err in figures.items():
        out.write(f"  figure {name} not drawn: {err}\n")
    out.write(f"\n  results: {root}\n  report:  {root / 'report.md'}\n")
    out.flush()
    return 0 if all_passed else 1
