"""The sweep series of ``make bench``: the Dask runner against a thread pool, Parquet vs CSV.

Runner: 16 short runs (the default scenario, 0.3 s each, paired seeds) through the Dask
local runner (cluster start included: a user pays it) and through what ``sim compare
--jobs 2`` was before it: a pool of two threads, each starting ``python -m sim run`` and
waiting for it. Both run the same command line per run (``--no-figures``), so the
difference is the runner's. Rounds alternate the order; each side's value is the median.

Tables: one default run of 1 s written with ``--csv``: the size of trades.parquet against
trades.csv, and the median time to load each into pandas.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Final

import pandas as pd
import yaml

from sim.compare.runner import Job, open_client, run_all
from sim.compare.spec import paired_seeds

__all__ = ["RUNS", "render", "run_series"]

REPO: Final = Path(__file__).resolve().parents[1]
RUNS: Final = 16
JOBS: Final = 2
ROUNDS: Final = 3
RUN_S: Final = 0.3
TABLE_RUN_S: Final = 1.0
LOADS: Final = 5
RUNNER_TARGET: Final = 1.10  # Dask wall within 10 % of the pool's
SIZE_TARGET: Final = 5.0  # Parquet at least 5x smaller than CSV


def _scenario(duration_s: float) -> str:
    data = yaml.safe_load((REPO / "scenarios" / "default.yaml").read_text())
    data.update(duration_s=duration_s, monitor={"interval_ms": 20})
    return yaml.safe_dump(data, sort_keys=False)


def _dask(text: str, seeds: list[int], scratch: Path) -> float:
    jobs = [Job(index=i, variant="bench", repeat=i, seed=s, scenario=text,
                out=scratch / f"r{i}", timeout_s=120.0) for i, s in enumerate(seeds)]
    t0 = time.perf_counter()
    with open_client(None, JOBS, io.StringIO()) as client:
        results = run_all(client, jobs, "bench", io.StringIO())
    wall = time.perf_counter() - t0
    bad = [r.error or r.verdict for r in results if not r.passed]
    if bad:
        raise RuntimeError(f"dask runner: {len(bad)} runs did not pass: {bad[0]}")
    return wall


def _pool(text: str, seeds: list[int], scratch: Path) -> float:
    scen = scratch / "scenario.yaml"
    scen.write_text(text)

    def one(i: int) -> int:
        cmd = [sys.executable, "-m", "sim", "run", str(scen), "--out", str(scratch / f"r{i}"),
               "--seed", str(seeds[i]), "--no-figures"]
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True,
                              timeout=120).returncode

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        codes = list(pool.map(one, range(len(seeds))))
    wall = time.perf_counter() - t0
    if any(codes):
        raise RuntimeError(f"thread pool: exit statuses {codes}")
    return wall


def _median_load(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(LOADS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _tables(scratch: Path) -> dict[str, Any]:
    scen = scratch / "table.yaml"
    scen.write_text(_scenario(TABLE_RUN_S))
    subprocess.run([sys.executable, "-m", "sim", "run", str(scen), "--run-dir",
                    str(scratch / "table-run"), "--no-figures", "--csv"], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=120)
    run = scratch / "table-run"
    pq_path, csv_path = run / "trades.parquet", run / "trades.csv"
    rows = len(pd.read_parquet(pq_path))
    return {"rows": rows, "parquet_bytes": pq_path.stat().st_size,
            "csv_bytes": csv_path.stat().st_size,
            "parquet_load_s": _median_load(lambda: pd.read_parquet(pq_path)),
            "csv_load_s": _median_load(lambda: pd.read_csv(csv_path))}


def run_series(out: IO[str]) -> dict[str, Any]:
    """Measure both; returns the numbers and the target verdicts."""
    text = _scenario(RUN_S)
    seeds = paired_seeds(1, RUNS)
    walls: dict[str, list[float]] = {"dask": [], "pool": []}
    sides: dict[str, Callable[[str, list[int], Path], float]] = {"dask": _dask,
                                                                   "pool": _pool}
    with tempfile.TemporaryDirectory(prefix="bench-sweeps-") as tmp:
        for r in range(ROUNDS):
            for name in (("dask", "pool") if r % 2 == 0 else ("pool", "dask")):
                scratch = Path(tmp) / f"{name}-{r}"
                scratch.mkdir()
                w = sides[name](text, seeds, scratch)
                walls[name].append(w)
                out.write(f"[sweeps {r + 1}/{ROUNDS}] {name}: {RUNS} runs in {w:.1f} s\n")
                out.flush()
        tables = _tables(Path(tmp))
    dask, pool = statistics.median(walls["dask"]), statistics.median(walls["pool"])
    ratio = dask / pool
    smaller = tables["csv_bytes"] / tables["parquet_bytes"]
    faster = tables["csv_load_s"] / tables["parquet_load_s"]
    return {
        "runs": RUNS, "jobs": JOBS, "run_s": RUN_S, "rounds": ROUNDS,
        "dask_wall_s": walls["dask"], "pool_wall_s": walls["pool"],
        "dask_median_s": round(dask, 2), "pool_median_s": round(pool, 2),
        "dask_over_pool": round(ratio, 3),
        "tables": tables, "csv_over_parquet_bytes": round(smaller, 2),
        "csv_over_parquet_load": round(faster, 2),
        "targets": [
            {"name": "Dask local runner within 10 % of the --jobs 2 thread pool",
             "value": round(ratio, 3), "target": RUNNER_TARGET, "met": ratio <= RUNNER_TARGET},
            {"name": "trades.parquet at least 5x smaller than trades.csv",
             "value": round(smaller, 2), "target": SIZE_TARGET, "met": smaller >= SIZE_TARGET},
            {"name": "trades.parquet loads into pandas faster than trades.csv",
             "value": round(faster, 2), "target": 1.0, "met": faster > 1.0},
        ],
    }


def render(res: dict[str, Any]) -> str:
    t = res["tables"]
    lines = [
        "## Sweeps: runner and tables", "",
        f"{res['runs']} runs of {res['run_s']:g} s (default scenario), {res['jobs']} at a "
        f"time, {res['rounds']} alternating rounds; medians.", "",
        "| runner | wall s (median) | runs |", "| --- | ---: | --- |",
        f"| Dask local cluster (start included) | {res['dask_median_s']:.2f} | "
        f"{', '.join(f'{w:.2f}' for w in res['dask_wall_s'])} |",
        f"| thread pool of {res['jobs']} (old `--jobs {res['jobs']}`) | "
        f"{res['pool_median_s']:.2f} | {', '.join(f'{w:.2f}' for w in res['pool_wall_s'])} |",
        "",
        f"Trade table of a {TABLE_RUN_S:g} s default run ({t['rows']:,} trades):", "",
        "| file | bytes | load into pandas, median ms |", "| --- | ---: | ---: |",
        f"| trades.parquet | {t['parquet_bytes']:,} | {1000 * t['parquet_load_s']:.1f} |",
        f"| trades.csv | {t['csv_bytes']:,} | {1000 * t['csv_load_s']:.1f} |", "",
    ]
    for g in res["targets"]:
        lines.append(f"- {'PASS' if g['met'] else 'MISS'}  {g['name']}: {g['value']} "
                     f"(target {g['target']})")
    return "\n".join(lines) + "\n"
