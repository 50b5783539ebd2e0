"""``sim compare``: run scenario variants repeatedly with paired seeds and compare strategies.

A compare spec (YAML) names a base scenario, variants of it (dotted-key overrides, the
same syntax as :func:`sim.scenario.load_scenario`), a number of repeats and a base seed.
Repeat ``r`` of every variant runs with the same seed derived from the base seed, so the
variants are compared on paired draws (same news path, same first trader's stream) and
differences between them are not just different luck.

Each run is ``python -m sim run`` in its own process: a run forks traders and installs
signal handlers, which is the business of a fresh process, and a crashed run cannot take
the comparison down with it. ``--jobs K`` runs K of them at once.

Output goes to ``<out_root>/compare-<name>/<run-id>/`` (never overwriting anything):
``runs/`` (every run folder), ``compare.csv`` (one row per run and strategy),
``summary.json``, ``report.md`` and the figures ``pnl.png``, ``wealth.png`` and
``prices.png``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import yaml
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import BadInput, BadScenario
from .results import make_run_dir, mark_complete, write_json

# The scenario loader's YAML reading and error formatting, so that a spec's errors read
# exactly like a scenario's: one line, field paths, what was expected.
from .scenario import (
    NAME_PATTERN,
    Float,
    Int,
    Problem,
    _fail,
    _one_line,
    _parse_yaml,
    _path,
    _problems,
    _read_text,
    _walk,
    _with_overrides,
    parse_scenario,
)

__all__ = [
    "CSV_COLUMNS",
    "Analysis",
    "CompareSpec",
    "GroupRow",
    "Plan",
    "RunResult",
    "Samples",
    "Variant",
    "analyse",
    "compare_command",
    "group_stats",
    "load_spec",
    "max_drawdown",
    "mean_ci",
    "paired_seeds",
    "plot_pnl",
    "plot_prices",
    "plot_wealth",
    "t_quantile_975",
    "write_csv",
    "write_report",
]

CSV_COLUMNS: Final = ("variant", "repeat", "seed", "strategy", "traders", "pnl", "return",
                      "max_drawdown", "trades", "rejected")
# Overrides a variant may not set: the spec owns them (seed pairs the repeats, name places
# the run folders).
RESERVED: Final = ("seed", "name")
GRID_POINTS: Final = 200
DPI: Final = 110
# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom.
T_975: Final = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z_975: Final = 1.959963984540054
PROGRESS_WIDTH: Final = 28
TICK_S: Final = 0.5
# A run asked to stop (Ctrl-C) writes its results first; it gets this long before SIGKILL.
STOP_WAIT_S: Final = 30.0


# --------------------------------------------------------------------------- the spec


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Variant(_Model):
    """One variant: a name and the overrides applied to the base scenario."""

    name: str = Field(min_length=1, pattern=NAME_PATTERN,
                      description="variant name; its runs go to runs/r<k>/<name>/")
    overrides: dict[str, Any] = Field(
        default_factory=dict, alias="set",
        description="dotted.field: value overrides of the base scenario, e.g. "
                    "{traders: [...], sync: global, fee_bps: 10}")

    @field_validator("name")
    @classmethod
    def _not_a_parent(cls, v: str) -> str:
        if v in (".", ".."):
            raise ValueError(f"must not be '{v}' (it names a folder)")
        return v

    @field_validator("overrides")
    @classmethod
    def _usable_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        problems: list[Problem] = []
        for key in v:
            if not key or any(not part for part in key.split(".")):
                problems.append(((key,), "expected a field name or dotted.path"))
            elif key in RESERVED:
                why = ("set per repeat from the spec's seed, the same in every variant"
                       if key == "seed" else "the variant's name is the scenario name")
                problems.append(((key,), f"not allowed in a variant: {why}"))
        _fail(problems)
        return v


class CompareSpec(_Model):
    """A comparison: base scenario, variants, repeats and the seed they derive from."""

    name: str = Field(min_length=1, pattern=NAME_PATTERN,
                      description="results go to <out>/compare-<name>/")
    description: str = ""
    base: str = Field(min_length=1,
                      description="base scenario YAML, relative to this spec file")
    repeats: Int = Field(ge=1, le=10_000, description="runs per variant")
    seed: Int = Field(default=0, ge=0, le=2**63 - 1,
                      description="base seed; repeat r uses a seed derived from it")
    duration_s: Float | None = Field(default=None, gt=0,
                                     description="override of every run's duration_s")
    variants: list[Variant] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _not_a_parent(cls, v: str) -> str:
        if v in (".", ".."):
            raise ValueError(f"must not be '{v}' (it names a folder)")
        return v

    @field_validator("variants")
    @classmethod
    def _unique(cls, v: list[Variant]) -> list[Variant]:
        seen: dict[str, int] = {}
        problems: list[Problem] = []
        for i, var in enumerate(v):
            if var.name in seen:
                problems.append(((i, "name"), f"duplicate variant '{var.name}' (also "
                                              f"variants[{seen[var.name]}])"))
            seen.setdefault(var.name, i)
        _fail(problems)
        return v


@dataclass(frozen=True)
class Plan:
    """A validated spec with each variant's scenario data, ready to run."""

    spec: CompareSpec
    spec_path: Path
    base_path: Path
    scenarios: dict[str, dict[str, Any]]
    seeds: list[int]


def _spec_error(src: str, e: ValidationError) -> BadScenario:
    problems = sorted(_problems(e, CompareSpec), key=lambda p: _walk(CompareSpec, p[0])[1])
    return BadScenario(_one_line(f"{src}: " + "; ".join(f"{_path(loc)}: {msg}"
                                                        for loc, msg in problems)))


def load_spec(spec_path: str | os.PathLike[str]) -> Plan:
    """Read and validate a spec and every variant's scenario; raises one-line BadScenario."""
    src = os.fspath(spec_path)
    path = Path(src)
    data = _parse_yaml(_read_text(path, src), src)
    if data is None:
        raise BadScenario(f"{src}: is empty; expected a mapping with name, base, repeats "
                          "and variants")
    if not isinstance(data, Mapping):
        raise BadScenario(f"{src}: top level must be a mapping of keys to values")
    try:
        spec = CompareSpec.model_validate(dict(data))
    except ValidationError as e:
        raise _spec_error(src, e) from None
    base_path = (path.parent / spec.base) if not Path(spec.base).is_absolute() \
        else Path(spec.base)
    base_src = os.fspath(base_path)
    base = _parse_yaml(_read_text(base_path, f"{src}: base {base_src}"), base_src)
    if not isinstance(base, dict):
        parse_scenario(base, source=f"{src}: base {base_src}")  # raises the right message
        raise BadScenario(f"{src}: base {base_src}: expected a scenario mapping")
    scenarios: dict[str, dict[str, Any]] = {}
    for i, var in enumerate(spec.variants):
        where = f"{src}: variants[{i}] '{var.name}' applied to {base_src}"
        overrides: dict[str, Any] = {}
        if spec.duration_s is not None:
            overrides["duration_s"] = spec.duration_s
        overrides.update(var.overrides)
        overrides["name"] = var.name
        merged = _with_overrides(base, overrides, where)
        parse_scenario(merged, source=where)  # every variant is checked before any run
        scenarios[var.name] = merged
    return Plan(spec, path, base_path, scenarios, paired_seeds(spec.seed, spec.repeats))


def paired_seeds(seed: int, repeats: int) -> list[int]:
    """Seed of each repeat: child r of the base seed's SeedSequence, as a 32-bit integer.

    Spawned children do not depend on how many are spawned, so adding repeats keeps the
    seeds (and so the runs) of the earlier ones.
    """
    children = np.random.SeedSequence(seed).spawn(repeats)
    return [int(c.generate_state(1, np.uint32)[0]) for c in children]


# --------------------------------------------------------------------------- statistics


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (df >= 1).

    A table up to 30, beyond it the Cornish-Fisher expansion around the normal quantile,
    which is within 1e-4 of the exact value there.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2))


def mean_ci(values: Sequence[float]) -> tuple[float, float | None, float | None]:
    """Mean and 95 % t-interval of finite ``values``; no interval below two values."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return math.nan, None, None
    m = float(v.mean())
    if len(v) < 2:
        return m, None, None
    half = t_quantile_975(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return m, m - half, m + half


def max_drawdown(wealth: np.ndarray[Any, Any], start: float) -> float:
    """Largest peak-to-trough fall as a fraction of the peak, starting from ``start``."""
    w = np.asarray(wealth, dtype=np.float64)
    w = np.concatenate([[start], w[np.isfinite(w)]])
    if not np.isfinite(w).all() or len(w) < 2:
        return math.nan
    peak = np.maximum.accumulate(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, (peak - w) / peak, 0.0)
    return float(dd.max())


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Job:
    """One run to make: a variant at a repeat, with that repeat's seed."""

    index: int
    variant: str
    repeat: int
    seed: int
    scenario: Path
    out: Path

    @property
    def label(self) -> str:
        return f"{self.variant} r{self.repeat}"


@dataclass
class RunResult:
    """What one run left: exit status, folder and summary (None if it made none)."""

    job: Job
    exit_status: int | None = None
    seconds: float = 0.0
    run_dir: Path | None = None
    summary: dict[str, Any] | None = None
    error: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.exit_status == 0 and self.summary is not None
                    and self.summary.get("passed"))


class _Runner:
    """Starts ``sim run`` subprocesses and can ask every live one to stop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def run(self, job: Job) -> RunResult:
        res = RunResult(job)
        job.out.mkdir(parents=True, exist_ok=True)
        log_path = job.out / f"{job.variant}.log"
        cmd = [sys.executable, "-m", "sim", "run", str(job.scenario), "--out", str(job.out),
               "--seed", str(job.seed)]
        t0 = time.monotonic()
        with open(log_path, "wb") as log:
            with self.lock:
                if self.stopping:
                    res.error = "not started (interrupted)"
                    return res
                # A session of its own: a Ctrl-C at the terminal reaches only this
                # process, which then asks each run to stop exactly once.
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                self.live[job.index] = proc
            try:
                res.exit_status = proc.wait()
            finally:
                with self.lock:
                    self.live.pop(job.index, None)
        res.seconds = time.monotonic() - t0
        _collect(res, log_path)
        return res

    def stop_all(self) -> None:
        with self.lock:
            self.stopping = True
            procs = list(self.live.values())
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # sim run stops its traders, writes results
        deadline = time.monotonic() + STOP_WAIT_S
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _collect(res: RunResult, log_path: Path) -> None:
    """Find the run folder the job made and read its summary."""
    folder = res.job.out / res.job.variant
    dirs = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if dirs:
        res.run_dir = dirs[-1]
        try:
            res.summary = json.loads((res.run_dir / "summary.json").read_text())
        except (OSError, ValueError) as e:
            res.error = f"no readable summary.json ({type(e).__name__})"
    if res.exit_status not in (0, 1) or res.summary is None:
        try:
            tail = [ln for ln in log_path.read_text(errors="replace").splitlines()
                    if ln.strip()]
        except OSError:
            tail = []
        last = tail[-1] if tail else ""
        res.error = _one_line(f"exit status {res.exit_status}: {last}" if last
                              else f"exit status {res.exit_status}") + (
            f"; {res.error}" if res.error else "")


class _Progress:
    """A text bar on a terminal; one plain line per finished run otherwise."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = total
        self.stream = stream
        try:
            self.tty = stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.start = time.monotonic()
        self.done = 0

    def _times(self) -> str:
        elapsed = time.monotonic() - self.start
        eta = (elapsed / self.done * (self.total - self.done)) if self.done else None
        return (f"elapsed {_clock(elapsed)}  ETA "
                f"{_clock(eta) if eta is not None else '--:--'}")

    def show(self, running: Iterable[str] = ()) -> None:
        if not self.tty:
            return
        filled = round(PROGRESS_WIDTH * self.done / self.total) if self.total else 0
        bar = "#" * filled + "." * (PROGRESS_WIDTH - filled)
        now = ", ".join(running)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} runs  {self._times()}"
                          + (f"  running {now}" if now else "") + "\x1b[K")
        self.stream.flush()

    def finished(self, res: RunResult, running: Iterable[str] = ()) -> None:
        self.done += 1
        if self.tty:
            self.show(running)
            return
        verdict = "passed" if res.passed else ("FAILED" if res.summary else "ERROR")
        self.stream.write(f"compare: {self.done}/{self.total} runs  {res.job.label} "
                          f"seed {res.job.seed} {verdict} in {res.seconds:.1f} s  "
                          f"{self._times()}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 \
        else f"{s // 60}:{s % 60:02d}"


def _run_all(jobs: list[Job], n_jobs: int, stream: IO[str]) -> list[RunResult]:
    runner = _Runner()
    progress = _Progress(len(jobs), stream)
    results: dict[int, RunResult] = {}
    pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="compare")
    pending: dict[Future[RunResult], Job] = {}
    try:
        pending = {pool.submit(runner.run, j): j for j in jobs}
        progress.show()
        while pending:
            done, _ = wait(list(pending), timeout=TICK_S, return_when=FIRST_COMPLETED)
            for fut in done:
                pending.pop(fut)
                res = fut.result()
                results[res.job.index] = res
                progress.finished(res, _running(runner, jobs))
            if not done:
                progress.show(_running(runner, jobs))
    except KeyboardInterrupt:
        for fut in pending:
            fut.cancel()
        runner.stop_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
    return [results[j.index] for j in jobs]


def _running(runner: _Runner, jobs: list[Job]) -> list[str]:
    with runner.lock:
        live = sorted(runner.live)
    return [jobs[i].label for i in live]


# --------------------------------------------------------------------------- analysis


@dataclass
class GroupRow:
    """One row of compare.csv: one strategy's traders in one run, summed."""

    variant: str
    repeat: int
    seed: int
    strategy: str
    traders: int
    pnl: float
    ret: float
    max_drawdown: float
    trades: int
    rejected: int
    initial: float

    def csv(self) -> list[str]:
        return [self.variant, str(self.repeat), str(self.seed), self.strategy,
                str(self.traders), _num(self.pnl, 4), _num(self.ret, 8),
                _num(self.max_drawdown, 8), str(self.trades), str(self.rejected)]


def _num(x: float, digits: int) -> str:
    # Empty, not "nan", is what spreadsheets and csv readers take as a missing value.
    return f"{x:.{digits}f}" if math.isfinite(x) else ""


@dataclass
class Samples:
    """The parts of a run's samples.npz the figures need."""

    t: np.ndarray[Any, Any]
    rate: np.ndarray[Any, Any]
    names: list[str]
    wealth: np.ndarray[Any, Any]
    strategy: list[str]


@dataclass
class Analysis:
    """Everything read back from the runs: csv rows, wealth curves, price paths."""

    rows: list[GroupRow] = field(default_factory=list)
    # (variant, strategy) -> one (t, wealth change as a fraction) curve per repeat
    curves: dict[tuple[str, str], list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]] = \
        field(default_factory=dict)
    prices: dict[str, Samples | None] = field(default_factory=dict)
    strategies: list[str] = field(default_factory=list)


def _load_samples(run_dir: Path) -> Samples | None:
    f = run_dir / "samples.npz"
    try:
        with np.load(f, allow_pickle=False) as z:
            t = np.asarray(z["t"], dtype=np.float64)
            rate = np.asarray(z["rate"], dtype=np.float64).reshape(len(t), -1)
            wealth = np.asarray(z["wealth"], dtype=np.float64).reshape(len(t), -1)
            return Samples(t, rate, [str(x) for x in z["names"]], wealth,
                           [str(x) for x in z["strategy"]])
    except (OSError, ValueError, KeyError):
        return None


def analyse(results: list[RunResult]) -> Analysis:
    """Per run and strategy: PnL, return, drawdown, counts; wealth curves; price paths."""
    a = Analysis()
    for res in results:
        s = res.summary
        job = res.job
        if s is None or res.run_dir is None:
            if job.repeat == 0:
                a.prices.setdefault(job.variant, None)
            continue
        samples = _load_samples(res.run_dir)
        if job.repeat == 0:
            a.prices[job.variant] = samples
        groups: dict[str, list[dict[str, Any]]] = {}
        for tr in s.get("traders", []):
            groups.setdefault(str(tr["strategy"]), []).append(tr)
        for strat, members in groups.items():
            if strat not in a.strategies:
                a.strategies.append(strat)
            initial = float(sum(m["initial_wealth"] for m in members))
            final = float(sum(m["final_wealth"] for m in members))
            pnl = final - initial
            curve = np.zeros(0)
            t = np.zeros(0)
            if samples is not None and len(samples.t):
                cols = [i for i, name in enumerate(samples.strategy) if name == strat]
                if cols:
                    w = samples.wealth[:, cols]
                    ok = np.isfinite(w).all(axis=1)
                    t, curve = samples.t[ok], w[ok].sum(axis=1)
            dd = max_drawdown(curve, initial) if len(curve) else math.nan
            a.rows.append(GroupRow(
                variant=job.variant, repeat=job.repeat, seed=job.seed, strategy=strat,
                traders=len(members), pnl=pnl, ret=pnl / initial if initial else math.nan,
                max_drawdown=dd, trades=int(sum(m["trades"] for m in members)),
                rejected=int(sum(m.get("rejected", 0) for m in members)), initial=initial))
            if len(curve) and initial:
                a.curves.setdefault((job.variant, strat), []).append(
                    (t, curve / initial - 1.0))
    return a


def _win_rates(rows: list[GroupRow]) -> dict[tuple[str, str], float | None]:
    """Share of pairings with another strategy of the same variant and repeat won on return.

    Returns, not PnL: groups differ in size and endowment, a return does not. A tie counts
    half.
    """
    by_run: dict[tuple[str, int], list[GroupRow]] = {}
    for r in rows:
        by_run.setdefault((r.variant, r.repeat), []).append(r)
    score: dict[tuple[str, str], list[float]] = {}
    for group in by_run.values():
        for r in group:
            for o in group:
                if o is r or not (math.isfinite(r.ret) and math.isfinite(o.ret)):
                    continue
                won = 1.0 if r.ret > o.ret else 0.5 if r.ret == o.ret else 0.0
                score.setdefault((r.variant, r.strategy), []).append(won)
    out: dict[tuple[str, str], float | None] = {}
    for r in rows:
        s = score.get((r.variant, r.strategy))
        out[(r.variant, r.strategy)] = float(np.mean(s)) if s else None
    return out


def group_stats(rows: list[GroupRow], variants: list[str]) -> dict[str, dict[str, Any]]:
    """variant -> strategy -> mean PnL with 95 % CI, win rate, mean trades and more."""
    wins = _win_rates(rows)
    out: dict[str, dict[str, Any]] = {}
    for v in variants:
        per: dict[str, Any] = {}
        strategies = list(dict.fromkeys(r.strategy for r in rows if r.variant == v))
        for strat in strategies:
            rs = [r for r in rows if r.variant == v and r.strategy == strat]
            m, lo, hi = mean_ci([r.pnl for r in rs])
            mr, rlo, rhi = mean_ci([r.ret for r in rs])
            dd = [r.max_drawdown for r in rs if math.isfinite(r.max_drawdown)]
            per[strat] = {
                "runs": len(rs),
                "traders": round(float(np.mean([r.traders for r in rs]))),
                "mean_pnl": _json_num(m),
                "pnl_ci95": [_json_num(lo), _json_num(hi)] if lo is not None else None,
                "mean_return": _json_num(mr),
                "return_ci95": [_json_num(rlo), _json_num(rhi)] if rlo is not None else None,
                "win_rate": wins.get((v, strat)),
                "mean_trades": float(np.mean([r.trades for r in rs])),
                "mean_rejected": float(np.mean([r.rejected for r in rs])),
                "mean_max_drawdown": float(np.mean(dd)) if dd else None,
            }
        out[v] = per
    return out


def _json_num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# --------------------------------------------------------------------------- figures


def _colours(n: int, qualitative: str) -> list[Any]:
    # Qualitative maps keep neighbours apart; past 20 only a sampled perceptual map has
    # enough distinct hues.
    if n <= colormaps[qualitative].N:
        cmap = colormaps[qualitative]
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = colormaps["tab20"]
        return [cmap(i) for i in range(n)]
    cmap = colormaps["turbo"]
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=10, color="0.35", wrap=True)


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(1, n))
    return math.ceil(n / cols), cols


def _save(fig: Figure, out: Path) -> Path:
    fig.savefig(out, dpi=DPI, bbox_inches="tight")
    fig.clear()
    return out


def plot_pnl(rows: list[GroupRow], variants: list[str], strategies: list[str],
             out: Path, title: str) -> Path:
    """pnl.png: per variant, a box and the single repeats of each strategy's PnL per trader.

    Per trader (group PnL / group size), so a group of 8 is not 4 times "better" than a
    group of 2.
    """
    colours = dict(zip(strategies, _colours(len(strategies), "Dark2"), strict=True))
    k = max(1, len(strategies))
    fig = Figure(figsize=(max(7.0, 2.0 + 0.8 * len(variants) * k), 5.5),
                 layout="constrained")
    ax = fig.subplots()
    ax.set_title(f"{title}\nPnL per trader by strategy (box: quartiles; dots: repeats)")
    ax.set_xlabel("variant")
    ax.set_ylabel("PnL per trader (home money)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.axhline(0.0, color="0.4", lw=0.8)
    width = 0.8 / k
    drawn = False
    for i, v in enumerate(variants):
        for j, strat in enumerate(strategies):
            vals = np.array([r.pnl / r.traders for r in rows
                             if r.variant == v and r.strategy == strat and r.traders
                             and math.isfinite(r.pnl)])
            if not len(vals):
                continue
            x = i - 0.4 + width * (j + 0.5)
            c = colours[strat]
            bp = ax.boxplot([vals], positions=[x], widths=width * 0.8, patch_artist=True,
                            showfliers=False, manage_ticks=False)
            for box in bp["boxes"]:
                box.set_facecolor((*c[:3], 0.25))
                box.set_edgecolor(c)
            for part in ("whiskers", "caps", "medians"):
                for line in bp[part]:
                    line.set_color(c)
            # Fixed offsets instead of random jitter: the figure is the same every time.
            jitter = (np.linspace(-0.25, 0.25, len(vals)) if len(vals) > 1
                      else np.zeros(1)) * width
            ax.plot(x + jitter, vals, "o", color=c, ms=4, alpha=0.85, mec="white", mew=0.5)
            drawn = True
    ax.set_xticks(range(len(variants)), variants, rotation=20 if len(variants) > 4 else 0)
    ax.set_xlim(-0.6, len(variants) - 0.4)
    if drawn:
        ax.legend([Patch(facecolor=(*colours[s][:3], 0.25), edgecolor=colours[s])
                   for s in strategies], strategies, title="strategy", fontsize=8,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        _note(ax, "no finished runs")
    return _save(fig, out)


def _band(curves: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
          grid: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
    # Outside its samples a curve holds its end values: wealth is frozen once a run
    # stopped, and runs of one comparison end a sample or two apart, which would otherwise
    # show as a jump where the median loses a member.
    m = np.array([np.interp(grid, t, y) for t, y in curves if len(t)])
    if not len(m):
        nan = np.full(len(grid), np.nan)
        return nan, nan, nan
    q = np.percentile(m, [10.0, 50.0, 90.0], axis=0)
    return q[0], q[1], q[2]


def plot_wealth(a: Analysis, variants: list[str], out: Path, title: str) -> Path:
    """wealth.png: one panel per variant; each strategy's wealth change over time.

    Every repeat is resampled onto a common time grid; the line is the median across
    repeats and the band spans their 10th to 90th percentiles.
    """
    colours = dict(zip(a.strategies, _colours(len(a.strategies), "Dark2"), strict=True))
    rows, cols = _grid(len(variants))
    fig = Figure(figsize=(5.2 * cols + 1.8, 3.8 * rows + 0.8), layout="constrained")
    # Each panel keeps its own wealth scale: one variant with a bubble would flatten the
    # others; pnl.png is where variants are compared on one axis.
    # Not sharex: a column whose bottom panel is unused would lose its tick labels.
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    fig.suptitle(f"{title}\nwealth of each strategy's traders over time: median and "
                 "10–90 % band across repeats")
    ends = [float(t[-1]) for cs in a.curves.values() for t, _ in cs if len(t)]
    grid = np.linspace(0.0, max(ends) if ends else 1.0, GRID_POINTS)
    for ax, v in zip(axes, variants, strict=False):
        ax.set_title(v)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("wealth change (% of initial)")
        ax.grid(True, alpha=0.3)
        ax.axhline(0.0, color="0.4", lw=0.8)
        any_curve = False
        for strat in a.strategies:
            curves = a.curves.get((v, strat), [])
            if not curves:
                continue
            lo, med, hi = _band(curves, grid)
            c = colours[strat]
            ax.fill_between(grid, 100 * lo, 100 * hi, color=c, alpha=0.2, lw=0)
            ax.plot(grid, 100 * med, color=c, lw=2.0)
            any_curve = True
        if not any_curve:
            _note(ax, "no samples")
    for ax in axes[len(variants):]:
        ax.set_visible(False)
    # A (band, line) tuple per entry draws both in the key, as they appear in the panels.
    handles: list[Any] = [(Patch(color=colours[s], alpha=0.2),
                           Line2D([], [], color=colours[s], lw=2.0)) for s in a.strategies]
    if handles:
        fig.legend(handles, a.strategies, title="strategy", loc="outside right upper",
                   fontsize=8, frameon=False)
    return _save(fig, out)


def plot_prices(a: Analysis, variants: list[str], out: Path, title: str) -> Path:
    """prices.png: repeat 0 of each variant, one panel each: every rate / its first sample."""
    rows, cols = _grid(len(variants))
    fig = Figure(figsize=(5.2 * cols + 1.8, 3.8 * rows + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    fig.suptitle(f"{title}\nprice paths of repeat 0 (same seed in every variant)")
    legend: dict[str, Any] = {}
    ends = [float(s.t[-1]) for s in a.prices.values() if s is not None and len(s.t)]
    for ax, v in zip(axes, variants, strict=False):
        ax.set_title(v)
        if ends:
            ax.set_xlim(0.0, max(ends))
        ax.set_xlabel("time (s)")
        ax.set_ylabel("rate / first rate (1)")
        ax.grid(True, alpha=0.3)
        s = a.prices.get(v)
        if s is None or len(s.t) < 1 or s.rate.shape[1] == 0:
            _note(ax, "no samples")
            continue
        first = s.rate[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = s.rate / np.where(first > 0, first, np.nan)
        colours = _colours(len(s.names), "tab10")
        marker = "o" if len(s.t) < 30 else None
        for j, name in enumerate(s.names):
            (line,) = ax.plot(s.t, rel[:, j], color=colours[j], lw=1.0, marker=marker, ms=3)
            legend.setdefault(name, line)
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
    for ax in axes[len(variants):]:
        ax.set_visible(False)
    if legend:
        fig.legend(list(legend.values()), list(legend), title="currency",
                   loc="outside right upper", fontsize=8, frameon=False,
                   ncol=max(1, math.ceil(len(legend) / 16)))
    return _save(fig, out)


# --------------------------------------------------------------------------- writing


def write_csv(path: Path, rows: list[GroupRow]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow(r.csv())


def _fmt(x: Any, digits: int = 2, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    v = float(x) * (100.0 if pct else 1.0)
    return f"{v:,.{digits}f}" + (" %" if pct else "")


def write_report(path: Path, plan: Plan, stats: dict[str, dict[str, Any]],
                 results: list[RunResult], strategies: list[str], root: Path) -> None:
    spec = plan.spec
    n_ok = sum(r.passed for r in results)
    lines = [f"# Comparison: {spec.name}", ""]
    if spec.description:
        lines += [spec.description, ""]
    dur = f"{spec.duration_s:g} s" if spec.duration_s is not None else "as in the base"
    lines += [
        f"Spec `{plan.spec_path}`, base scenario `{plan.base_path}`; "
        f"{len(spec.variants)} variants × {spec.repeats} repeats, duration {dur}, "
        f"base seed {spec.seed}. Repeat *r* runs with the same seed in every variant "
        f"(paired): {', '.join(str(s) for s in plan.seeds)}.",
        "",
        f"Runs: {len(results)}, passed: {n_ok}.",
        "",
        "PnL is final minus initial wealth (cash plus holdings at pool rates, home money), "
        "summed over the strategy's traders; return is PnL / initial wealth. The 95 % "
        "interval is a t-interval over repeats. Win rate: share of pairings with each other "
        "strategy of the same variant and repeat that had the higher return (ties count "
        "half). Max drawdown: largest peak-to-trough fall of the group's summed wealth, as "
        "a fraction of the peak.",
        "",
    ]
    for strat in strategies:
        lines += [f"## {strat}", "",
                  "| variant | runs | traders | mean PnL | 95 % CI of PnL | mean return | "
                  "win rate | mean trades | mean rejected | mean max drawdown |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for v in (var.name for var in spec.variants):
            st = stats.get(v, {}).get(strat)
            if st is None:
                continue  # this strategy does not trade in that variant
            ci = st["pnl_ci95"]
            ci_text = f"{_fmt(ci[0])} … {_fmt(ci[1])}" if ci else "–"
            lines.append(
                f"| {v} | {st['runs']} | {st['traders']} | {_fmt(st['mean_pnl'])} | "
                f"{ci_text} | {_fmt(st['mean_return'], 3, pct=True)} | "
                f"{_fmt(st['win_rate'], 0, pct=True)} | {_fmt(st['mean_trades'], 0)} | "
                f"{_fmt(st['mean_rejected'], 0)} | "
                f"{_fmt(st['mean_max_drawdown'], 2, pct=True)} |")
        lines.append("")
    lines += ["## Figures", "",
              "- [pnl.png](pnl.png): PnL per trader of each strategy, per variant",
              "- [wealth.png](wealth.png): wealth over time, median and 10–90 % band",
              "- [prices.png](prices.png): price paths of repeat 0 of each variant", "",
              "![PnL per trader](pnl.png)", "", "![wealth over time](wealth.png)", "",
              "![price paths](prices.png)", "", "## Runs", "",
              "| variant | repeat | seed | result | seconds | folder |",
              "| --- | ---: | ---: | --- | ---: | --- |"]
    for r in results:
        verdict = "passed" if r.passed else ("FAILED" if r.summary else f"error: {r.error}")
        rel = os.path.relpath(r.run_dir, root) if r.run_dir else ""
        link = f"[{rel}]({rel})" if rel else "–"
        lines.append(f"| {r.job.variant} | {r.job.repeat} | {r.job.seed} | {verdict} | "
                     f"{r.seconds:.1f} | {link} |")
    path.write_text("\n".join(lines) + "\n")


def _print_table(out: IO[str], stats: dict[str, dict[str, Any]]) -> None:
    rows = [["variant", "strategy", "traders", "mean PnL", "95 % CI", "win rate"]]
    for v, per in stats.items():
        for strat, st in per.items():
            ci = st["pnl_ci95"]
            rows.append([v, strat, str(st["traders"]), _fmt(st["mean_pnl"]),
                         f"{_fmt(ci[0])} … {_fmt(ci[1])}" if ci else "–",
                         _fmt(st["win_rate"], 0, pct=True)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        cells = [c.rjust(w) if i >= 2 else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.write("  " + "  ".join(cells).rstrip() + "\n")
        if n == 0:
            out.write("  " + "  ".join("-" * w for w in widths) + "\n")


# --------------------------------------------------------------------------- command


def compare_command(spec_path: str, jobs: int, out_root: Path, out: IO[str]) -> int:
    """Run every variant × repeat of a spec and write the comparison; 0 if all passed."""
    if jobs < 1:
        raise BadInput(f"--jobs: expected a whole number >= 1 (found {jobs})")
    plan = load_spec(spec_path)
    spec = plan.spec
    root = make_run_dir(Path(out_root), f"compare-{spec.name}", spec.seed)
    shutil.copyfile(plan.spec_path, root / "spec.yaml")
    scen_dir = root / "scenarios"
    scen_dir.mkdir()
    files: dict[str, Path] = {}
    for v, data in plan.scenarios.items():
        f = scen_dir / f"{v}.yaml"
        f.write_text(f"# variant {v} of {plan.base_path}, written by sim compare\n"
                     + yaml.safe_dump(data, sort_keys=False))
        files[v] = f
    job_list = [Job(index=i, variant=v.name, repeat=r, seed=seed, scenario=files[v.name],
                    out=root / "runs" / f"r{r}")
                for i, (r, seed, v) in enumerate((r, seed, v)
                                                 for r, seed in enumerate(plan.seeds)
                                                 for v in spec.variants)]
    out.write(f"compare {spec.name}: {len(spec.variants)} variants × {spec.repeats} repeats "
              f"= {len(job_list)} runs, {min(jobs, len(job_list))} at a time\n")
    out.write(f"  folder: {root}\n")
    out.flush()
    t0 = time.monotonic()
    results = _run_all(job_list, jobs, sys.stderr)
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
    _print_table(out, stats)
    for r in results:
        if not r.passed:
            what = "invariants failed" if r.summary else r.error
            out.write(f"  {r.job.label} (seed {r.job.seed}): {what}\n")
    for name, err in figures.items():
        out.write(f"  figure {name} not drawn: {err}\n")
    out.write(f"\n  results: {root}\n  report:  {root / 'report.md'}\n")
    out.flush()
    return 0 if all_passed else 1
