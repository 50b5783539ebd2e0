"""Command line of ``python -m bench``: plan the runs, interleave them, collect, write, judge.

Every measured point is repeated and its value is the median of its runs. The runs go
round-robin over all points (harness policies, baselines, monitor settings) one repeat
at a time, alternating direction, so a noisy stretch of the machine (other users, a
vCPU that stops giving a full core) lands on every variant alike instead of on one.
One machine speed-up measurement opens each of the first three rounds for the same
reason: the ceiling for N=2 scaling is measured under the same conditions as N=2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Final

from .alternation import ALTERNATE_MS, alternation_cost
from .baselines import run_baseline
from .costs import cost_targets, run_costs
from .harness import run_harness
from .machine import measure_speedup
from .population import population_targets, run_population
from .report import (
    evaluate_targets,
    fmt_rate,
    monitor_table,
    render_markdown,
    verdict_lines,
    write_json,
    write_outputs,
)
from .rss import flat_rss, measure_rss, rss_growth

__all__ = ["Config", "main", "make_config", "run_bench"]

POLICIES: Final = ("none", "global", "per_currency", "ofd")
BASELINES: Final = ("manager", "sqlite")
DEFAULT_POLICY: Final = "per_currency"
MACHINE_REPEATS: Final = 3
MONITOR_FAST_MS: Final = 1.0
MONITOR_SLOW_MS: Final = 100.0
# Pairs of monitor runs (1 kHz against 10 Hz) and seconds per run, reported beside the
# verdict's measure. The monitor's 5 % budget is well inside the run-to-run noise
# (consecutive 0.5 s runs here differ by up to 30 %, 2 s runs by 15 %): the quartiles
# of 12 pairs of 1 s runs spanned -3 to 13 %.
MONITOR_PAIRS_QUICK: Final = (8, 1.0)
MONITOR_PAIRS: Final = (15, 2.0)
# Runs (and seconds each) whose monitor alternates between 1 kHz and idle every 100 ms
# (bench.alternation): the verdict's measure, since it compares within one run. One
# run's median still moves by a few points from run to run (1-5 %), hence several.
MONITOR_ALTERNATING_QUICK: Final = (6, 4.0)
MONITOR_ALTERNATING: Final = (8, 6.0)
RESULTS: Final = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Job:
    """One measured point: ``kind`` is harness, baseline or monitor."""

    kind: str
    variant: str
    n: int
    currencies: int
    repeats: int
    interval_ms: float | None = None
    # Seconds per run, when not the matrix's.
    duration_s: float | None = None
    # A monitor that samples only in every other window of this length.
    alternate_ms: float | None = None

    @property
    def label(self) -> str:
        text = f"{self.variant} n={self.n} c={self.currencies}"
        if self.interval_ms is not None:
            text += f" monitor {self.interval_ms:g} ms"
        if self.alternate_ms is not None:
            text += f", idle every other {self.alternate_ms:g} ms"
        return text


@dataclass(frozen=True)
class Config:
    quick: bool
    long: bool
    population_only: bool
    duration_s: float
    jobs: tuple[Job, ...]
    rss_short_s: float
    rss_long_s: float | None

    @property
    def total_runs(self) -> int:
        return sum(j.repeats for j in self.jobs)


def make_config(quick: bool, long: bool = False, population_only: bool = False) -> Config:
    """The full matrix, or the quick one that fits in two minutes; with
    ``population_only`` just the population series."""
    repeats = 3
    if quick:
        duration, rss_short = 0.5, 2.0
        monitor_repeats, monitor_s = MONITOR_PAIRS_QUICK
        alt_repeats, alt_s = MONITOR_ALTERNATING_QUICK
        ns: tuple[int, ...] = (1, 2, 4)
        harness = [(p, n, 4) for n in ns for p in POLICIES] + [(DEFAULT_POLICY, 2, 1)]
        baselines = [(b, 2, 4) for b in BASELINES]
    else:
        duration, rss_short = 1.0, 5.0
        monitor_repeats, monitor_s = MONITOR_PAIRS
        alt_repeats, alt_s = MONITOR_ALTERNATING
        ns = (1, 2, 4, 8)
        harness = [(p, n, c) for c in (4, 1) for n in ns for p in POLICIES]
        baselines = [(b, n, c) for c in (4, 1) for n in ns for b in BASELINES]
    jobs = [Job("harness", p, n, c, repeats) for p, n, c in harness]
    jobs += [Job("baseline", b, n, c, repeats) for b, n, c in baselines]
    jobs += [Job("monitor", DEFAULT_POLICY, 2, 4, monitor_repeats, ms, monitor_s)
             for ms in (MONITOR_FAST_MS, MONITOR_SLOW_MS)]
    jobs.append(Job("monitor", DEFAULT_POLICY, 2, 4, alt_repeats, MONITOR_FAST_MS, alt_s,
                    alternate_ms=ALTERNATE_MS))
    if population_only:
        jobs = []
    return Config(quick=quick, long=long, population_only=population_only,
                  duration_s=duration, jobs=tuple(jobs), rss_short_s=rss_short,
                  rss_long_s=60.0 if long else None)


@dataclass
class _Runs:
    rates: list[float] = field(default_factory=list)
    conserved: list[bool] = field(default_factory=list)
    sample_ratios: list[float] = field(default_factory=list)
    cpu_shares: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, int, int]] = field(default_factory=list)
    windows: list[list[int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _pct(shares: Sequence[float]) -> float | None:
    return round(100.0 * statistics.median(shares), 2) if shares else None


def _modes(runs: Sequence[tuple[int, int, int]]) -> dict[str, int] | None:
    if not runs:
        return None
    return {k: sum(r[i] for r in runs) for i, k in enumerate(("optimistic", "trylock",
                                                              "waited"))}


def _median(xs: Sequence[float]) -> float | None:
    return round(statistics.median(xs), 1) if xs else None


class _Bench:
    def __init__(self, cfg: Config, scratch: str, out: IO[str]) -> None:
        self.cfg = cfg
        self.scratch = scratch
        self.out = out
        self.runs: dict[Job, _Runs] = {j: _Runs() for j in cfg.jobs}
        self.machine_runs: list[dict[str, float]] = []
        self.done = 0
        self.errors: list[str] = []

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def run_rounds(self) -> None:
        jobs = list(self.cfg.jobs)
        if not jobs:
            return
        rounds = max(j.repeats for j in jobs)
        for r in range(rounds):
            if r < MACHINE_REPEATS:
                self._machine(r)
            order = jobs if r % 2 == 0 else jobs[::-1]
            for job in order:
                if r < job.repeats:
                    self._one(job, r)

    def _machine(self, r: int) -> None:
        m = measure_speedup()
        self.machine_runs.append(m)
        self.say(f"[machine {r + 1}/{MACHINE_REPEATS}] speed-up at 2: {m['speedup']:.2f} "
                 f"(1 process {m['t1_s']:.3f} s, 2 at once {m['t2_s']:.3f} s)")

    def _one(self, job: Job, r: int) -> None:
        self.done += 1
        head = f"[{self.done}/{self.cfg.total_runs}] {job.label} rep {r + 1}"
        rec = self.runs[job]
        dur = job.duration_s or self.cfg.duration_s
        try:
            if job.kind == "baseline":
                b = run_baseline(job.variant, job.n, job.currencies, dur, seed=r,
                                 folder=self.scratch)
                rate, conserved, extra = b.trades_per_s, b.conserved, ""
            else:
                h = run_harness(job.variant, job.n, job.currencies, dur, seed=r,
                                monitor_interval_ms=job.interval_ms, scratch=self.scratch,
                                monitor_alternate_ms=job.alternate_ms)
                rate, conserved = h.trades_per_s, h.conserved
                extra = ""
                if job.kind == "monitor" and h.sample_ratio is not None:
                    rec.sample_ratios.append(h.sample_ratio)
                    extra = f", sample ratio {h.sample_ratio:.3f}"
                    if h.monitor_cpu_share is not None:
                        rec.cpu_shares.append(h.monitor_cpu_share)
                        extra += f", monitor CPU {100 * h.monitor_cpu_share:.1f} %"
                    if h.snapshots is not None:
                        rec.snapshots.append(h.snapshots)
                        o, t, w = h.snapshots
                        extra += f", snapshots {o}/{t}/{w}"
                if h.windows is not None:
                    rec.windows.append(h.windows)
                    one = alternation_cost([h.windows])
                    extra += (f", cost {one['cost_percent']:.1f} % over "
                              f"{one['windows']} windows" if one else "")
                if h.rejected:
                    extra += f", {h.rejected:,} rejected"
        except KeyboardInterrupt:
            raise
        except Exception as e:  # one failed run must not cost the others' results
            msg = f"{job.label} rep {r + 1}: {type(e).__name__}: {e}"
            rec.errors.append(msg)
            self.errors.append(msg)
            self.say(f"{head}: FAILED ({type(e).__name__}: {e})")
            return
        rec.rates.append(rate)
        rec.conserved.append(conserved)
        flag = "" if conserved else " (not conserved)"
        self.say(f"{head}: {rate:,.0f} trades/s{extra}{flag}")

    def rss(self) -> dict[str, Any]:
        cfg = self.cfg
        out: dict[str, Any] = {"policy": DEFAULT_POLICY, "n": 2, "currencies": 4,
                               "short": None, "long": None, "growth_kb": None,
                               "max_growth_kb": None}
        for key, seconds in (("short", cfg.rss_short_s), ("long", cfg.rss_long_s)):
            if seconds is None:
                continue
            try:
                run = measure_rss(seconds, scratch=self.scratch)
            except Exception as e:  # reported, and the RSS target then misses
                msg = f"RSS {seconds:g} s run: {type(e).__name__}: {e}"
                self.errors.append(msg)
                self.say(f"[rss] {msg}")
                continue
            out[key] = {"duration_s": seconds, "trades_per_s": run["trades_per_s"],
                        "peak_rss_kb": run["peak_rss_kb"]}
            shown = ", ".join(f"{k} {v / 1024:.1f} MB"
                              for k, v in flat_rss(run["peak_rss_kb"]).items())
            self.say(f"[rss] {seconds:g} s run ({fmt_rate(run['trades_per_s'])} trades/s): "
                     f"{shown}")
        if out["short"] and out["long"]:
            growth = rss_growth(out["short"]["peak_rss_kb"], out["long"]["peak_rss_kb"])
            out["growth_kb"] = growth
            out["max_growth_kb"] = max(growth.values()) if growth else None
        return out

    def points(self) -> list[dict[str, Any]]:
        return [{"variant": j.variant, "n": j.n, "currencies": j.currencies,
                 "trades_per_s": _median(self.runs[j].rates), "runs": self.runs[j].rates,
                 "conserved": self.runs[j].conserved}
                for j in self.cfg.jobs if j.kind != "monitor"]

    def monitor_overhead(self) -> dict[str, Any]:
        if self.cfg.population_only:
            return {}
        fast = next(self.runs[j] for j in self.cfg.jobs
                    if j.interval_ms == MONITOR_FAST_MS and j.alternate_ms is None)
        slow = next(self.runs[j] for j in self.cfg.jobs if j.interval_ms == MONITOR_SLOW_MS)
        alt = next((self.runs[j] for j in self.cfg.jobs if j.alternate_ms is not None),
                   _Runs())
        f, s = _median(fast.rates), _median(slow.rates)
        # Each round runs the two back to back (order alternating): pair them.
        pairs = [100.0 * (1.0 - a / b) for a, b in zip(fast.rates, slow.rates, strict=False)
                 if b]
        cost = round(statistics.median(pairs), 2) if pairs else None
        q = statistics.quantiles(pairs, n=4) if len(pairs) >= 2 else None
        ratio = statistics.median(fast.sample_ratios) if fast.sample_ratios else None
        job = next(j for j in self.cfg.jobs if j.interval_ms == MONITOR_FAST_MS)
        return {"policy": DEFAULT_POLICY, "n": 2, "currencies": 4,
                "duration_s": job.duration_s or self.cfg.duration_s,
                "interval_ms_fast": MONITOR_FAST_MS, "interval_ms_slow": MONITOR_SLOW_MS,
                "trades_per_s_1khz": f, "trades_per_s_10hz": s,
                "runs_1khz": fast.rates, "runs_10hz": slow.rates, "cost_percent": cost,
                "cost_percent_pairs": [round(x, 2) for x in pairs],
                "cost_percent_iqr": [round(x, 2) for x in q] if q else None,
                "cost_percent_of_medians": (None if f is None or not s
                                            else round(100.0 * (1.0 - f / s), 2)),
                "sample_ratio_1khz": ratio, "sample_ratios_1khz": fast.sample_ratios,
                # The monitor's own CPU time over the run, as a share of one CPU.
                "monitor_cpu_percent_1khz": _pct(fast.cpu_shares),
                "monitor_cpu_percent_10hz": _pct(slow.cpu_shares),
                # How the 1 kHz runs' snapshots were made, summed over the runs.
                "snapshots_1khz": _modes(fast.snapshots),
                "snapshots_10hz": _modes(slow.snapshots),
                # The verdict's measure: within runs, windows with and without sampling.
                "alternating": {**alternation_cost(alt.windows),
                                "duration_s": next(j.duration_s for j in self.cfg.jobs
                                                   if j.alternate_ms is not None),
                                "monitor_cpu_percent": _pct(alt.cpu_shares),
                                "sample_ratio": (statistics.median(alt.sample_ratios)
                                                 if alt.sample_ratios else None),
                                "snapshots": _modes(alt.snapshots)}}


def _machine_info() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def run_bench(cfg: Config, out: IO[str] = sys.stdout) -> tuple[dict[str, Any], list[str]]:
    """Run everything ``cfg`` plans; returns the result mapping and any run errors."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        bench = _Bench(cfg, scratch, out)
        bench.run_rounds()
        rss = bench.rss() if not cfg.population_only else {}
        costs = ({} if cfg.population_only
                 else run_costs(scratch, 2 if cfg.quick else 3, bench.say))
        population = run_population(cfg.quick, scratch, bench.say)
        bench.errors += population["errors"]
    speedups = [m["speedup"] for m in bench.machine_runs]
    ms = round(statistics.median(speedups), 4) if speedups else None
    points = bench.points()
    mo = bench.monitor_overhead()
    result: dict[str, Any] = {
        "timestamp": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": _machine_info(),
        "quick": cfg.quick,
        "machine_speedup_2": ms,
        "machine_runs": bench.machine_runs,
        "points": points,
        "monitor_overhead": mo,
        "rss": rss,
        "costs": costs,
        "population": population,
        "targets": ([] if cfg.population_only else evaluate_targets(points, ms, mo, rss))
        + cost_targets(costs) + population_targets(population),
    }
    return result, bench.errors


def _stem(folder: Path) -> str:
    base = time.strftime("%Y%m%d-%H%M%S")
    stem, k = base, 1
    while any((folder / f"{stem}.{ext}").exists() for ext in ("json", "md", "png")):
        k += 1
        stem = f"{base}-{k}"
    return stem


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Throughput of the harness per sync policy and N, against Manager() and "
                    "SQLite baselines; monitor overhead; peak RSS; the order book beside "
                    "PAMS; target verdicts.")
    p.add_argument("--quick", action="store_true",
                   help="short matrix (N 1, 2, 4 on 4 currencies, 0.5 s runs): ~2 minutes; "
                        "one run per case in the book series")
    p.add_argument("--long", action="store_true",
                   help="also a 60 s run, for the peak RSS growth target")
    p.add_argument("--population", action="store_true",
                   help="only the population series (agents 10 to 100k on 2 processes), "
                        "without the matrix or the sweeps")
    p.add_argument("--out", type=Path, default=RESULTS,
                   help=f"results folder (default {RESULTS})")
    p.add_argument("--series", choices=("all", "matrix", "sweeps", "book", "monitor"),
                   default="all",
                   help="the throughput matrix, the sweep runner and tables, the order "
                        "book beside PAMS, or all three; or only the matrix's monitor "
                        "pairs")
    args = p.parse_args(argv)
    status = 0
    if args.series == "monitor":
        return _monitor(args)
    if args.series in ("all", "matrix") or args.population:
        status = _matrix(args)
    if args.series in ("all", "sweeps") and status != 130 and not args.population:
        status = max(status, _sweeps(args.out))
    if args.series in ("all", "book") and status != 130 and not args.population:
        status = max(status, _book(args.out, args.quick))
    return status


def _monitor(args: argparse.Namespace) -> int:
    """The matrix's monitor pairs alone (with its machine speed-up runs), as the matrix
    runs them: its overhead section and verdict, written as ``<stem>-monitor``."""
    full = make_config(args.quick)
    cfg = replace(full, jobs=tuple(j for j in full.jobs if j.kind == "monitor"))
    print(f"bench: monitor series, {cfg.total_runs} runs{' (quick)' if cfg.quick else ''}",
          flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
            bench = _Bench(cfg, scratch, sys.stdout)
            bench.run_rounds()
    except KeyboardInterrupt:
        print("bench: interrupted; nothing written", file=sys.stderr)
        return 130
    mo = bench.monitor_overhead()
    target = evaluate_targets([], None, mo, {})[-1]
    speedups = ", ".join(f"{m['speedup']:.2f}" for m in bench.machine_runs)
    text = "\n".join([f"# Monitor overhead{' (quick)' if cfg.quick else ''}", "",
                      f"Speed-up of 2 processes on a CPU-bound loop: {speedups}.", "",
                      *monitor_table(mo), "", *verdict_lines([target])]) + "\n"
    if bench.errors:
        text += "\nFailed runs:\n" + "".join(f"- {e}\n" for e in bench.errors)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = _stem(args.out) + "-monitor"
    (args.out / f"{stem}.md").write_text(text)
    write_json({"timestamp": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                "machine": _machine_info(), "quick": cfg.quick,
                "machine_runs": bench.machine_runs, "monitor_overhead": mo,
                "target": target, "errors": bench.errors}, args.out / f"{stem}.json")
    print()
    print(text)
    print(f"written: {args.out / stem}.md, .json")
    return 1 if bench.errors else 0


def _book(folder: Path, quick: bool) -> int:
    from .book_report import render
    from .pams_side import PAMS_VERSION, run_series

    print(f"bench: book series (our order book beside PAMS {PAMS_VERSION} in its own "
          "virtualenv)", flush=True)

    def say(text: str) -> None:
        print(text, flush=True)

    try:
        res, errors = run_series(say, quick)
    except KeyboardInterrupt:
        print("bench: interrupted; nothing written", file=sys.stderr)
        return 130
    result = {"timestamp": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "machine": _machine_info(), **res, "errors": errors}
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(folder) + "-book"
    text = render(result)
    if errors:
        text += "\nFailed runs (left out of the medians):\n" + "".join(
            f"- {e}\n" for e in errors)
    (folder / f"{stem}.md").write_text(text)
    write_json(result, folder / f"{stem}.json")
    print()
    print(text)
    print(f"written: {folder / stem}.md, .json")
    return 1 if errors else 0


def _sweeps(folder: Path) -> int:
    from .sweeps import render, run_series

    print("bench: sweep series (Dask runner against a thread pool; Parquet against CSV)",
          flush=True)
    try:
        res = run_series(sys.stdout)
    except KeyboardInterrupt:
        print("bench: interrupted; nothing written", file=sys.stderr)
        return 130
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(folder) + "-sweeps"
    text = render(res)
    (folder / f"{stem}.md").write_text(text)
    write_json(res, folder / f"{stem}.json")
    print()
    print(text)
    print(f"written: {folder / stem}.md, .json")
    return 0


def _matrix(args: argparse.Namespace) -> int:
    cfg = make_config(args.quick, args.long, args.population)
    started = time.monotonic()
    print(f"bench: {cfg.total_runs} runs of {cfg.duration_s:g} s"
          f"{' (quick)' if cfg.quick else ''}, results in {args.out}", flush=True)
    try:
        result, errors = run_bench(cfg)
    except KeyboardInterrupt:
        print("bench: interrupted; nothing written", file=sys.stderr)
        return 130
    wall = time.monotonic() - started
    pair = next((j for j in cfg.jobs if j.kind == "monitor" and j.alternate_ms is None), None)
    alt = next((j for j in cfg.jobs if j.alternate_ms is not None), None)
    notes = [] if cfg.population_only or pair is None or alt is None else [
        "",
        f"Each point: {cfg.jobs[0].repeats} runs of {cfg.duration_s:g} s, interleaved "
        f"round-robin with every other point; monitor overhead: {alt.repeats} runs of "
        f"{alt.duration_s:g} s whose monitor alternates, and {pair.repeats} runs of "
        f"{pair.duration_s:g} s per interval in back-to-back pairs. Harness runs use the "
        f"`random` strategy "
        f"(default params), monitor every 10 ms, cash 1e6 and holdings 1e4 per trader, "
        f"pools of 1e6 units. `none` loses updates by design: its runs fail their checks.",
        f"Wall time of this benchmark: {wall:.0f} s.",
    ]
    if errors:
        notes += ["", "Failed runs (left out of the medians):", *(f"- {e}" for e in errors)]
    stem = _stem(args.out)
    paths = write_outputs(result, args.out, stem, notes)
    print()
    print(render_markdown(result, notes))
    print("\n".join(verdict_lines(result["targets"])))
    print(f"\nwritten: {', '.join(str(p) for p in paths.values())}")
    print(f"wall time: {wall:.0f} s")
    return 1 if errors else 0
