"""The ``book`` series of ``python -m bench``: our order book and PAMS 0.3.0, side by side.

PAMS runs in its own virtualenv, ``bench/.venv-pams``, never in the project's: on first use
it is created with ``python -m venv`` and ``pip install pams==0.3.0`` (a stamp file marks a
finished install; a half-made one is removed and made again). If that fails, for example
because the package registry cannot be reached, PAMS is reported as "not measured" with the
reason, never with a number. Each PAMS run is a subprocess of that venv running
``bench/pams_run.py``: its FCN-agent sample at 100 and 1,000 agents, and its order
processing alone on the start of the flow our engine is fed; its output is parsed here.
Our side is ``bench.book``'s engine benchmark, called from ``our_rate`` alone so that
switching it to the book in the exchange file changes one function. Runs of both sides
alternate, repeat by repeat, so a noisy stretch of the shared machine lands on both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from sim.core.book_layout import BookGeometry

from . import book_file
from .book_report import evaluate

__all__ = [
    "OUR_CASES",
    "PAMS_CASES",
    "PAMS_VERSION",
    "STAMP_NAME",
    "VENV",
    "NotMeasured",
    "OurCase",
    "PamsCase",
    "PamsRun",
    "ensure_pams",
    "our_rate",
    "parse_pams_output",
    "run_pams",
    "run_series",
]

PAMS_VERSION: Final = "0.3.0"
HERE: Final = Path(__file__).resolve().parent
VENV: Final = HERE / ".venv-pams"
RUNNER: Final = HERE / "pams_run.py"
STAMP_NAME: Final = f".installed-pams-{PAMS_VERSION}"
VENV_TIMEOUT_S: Final = 300.0
PIP_TIMEOUT_S: Final = 900.0
PAMS_RUN_TIMEOUT_S: Final = 300.0
# The engine benchmark's own defaults (docs/BOOK.md, "Measured").
GEOMETRY: Final = BookGeometry(ticks=10_000, capacity=100_000, max_fills=64)
ORDERS: Final = 200_000
QUICK_ORDERS: Final = 50_000
REPEATS: Final = 3
QUICK_REPEATS: Final = 1

# PAMS's matching costs grow with the book (a heapify per matching pass, a list search
# per cancel): 20,000 orders of our flow took 31 CPU s, 2,000 took 0.3. So a short start.
PAMS_MIX_ORDERS: Final = 5_000

_INIT = re.compile(r"^# INITIALIZATION TIME ([0-9.eE+-]+)\s*$", re.M)
_EXEC = re.compile(r"^# EXECUTION TIME ([0-9.eE+-]+)\s*$", re.M)
_BENCH = re.compile(r"^# BENCH (\{.*\})\s*$", re.M)
_URL = re.compile(r"\S+://\S+")


@dataclass(frozen=True)
class OurCase:
    """One configuration of our side: ``procs`` processes over ``books`` books."""

    label: str
    procs: int
    books: int
    shared: bool
    # The orders sent by the C trader (examples/c) rather than Python writers: the same
    # file, the same transaction, the same checks after the run.
    c: bool = False


OUR_CASES: Final = (
    OurCase("1 book, P=1", 1, 1, False),
    OurCase("1 book, P=2", 2, 1, True),
    OurCase("4 books, P=2", 2, 4, True),
    OurCase("C trader, 1 book, P=2", 2, 1, True, c=True),
    OurCase("C trader, 4 books, P=2", 2, 4, True, c=True),
)


@dataclass(frozen=True)
class PamsCase:
    """One PAMS configuration: its FCN sample with ``agents`` agents, or, when ``mix`` is
    set, its order processing alone on the first ``mix`` orders of our flow."""

    label: str
    agents: int
    mix: int = 0


PAMS_CASES: Final = (
    PamsCase("FCN sample, 100 agents", 100),
    PamsCase("FCN sample, 1,000 agents", 1_000),
    PamsCase(f"orders alone, our flow ({PAMS_MIX_ORDERS:,})", 64, PAMS_MIX_ORDERS),
)


@dataclass(frozen=True)
class PamsRun:
    """One PAMS run as its output tells it; ``orders_per_s`` is over its execution time
    (PAMS's own ``# EXECUTION TIME`` for the sample; the order loop for ``mix``)."""

    mode: str
    agents: int
    steps: int
    orders: int
    cancels: int
    executed_volume: int
    init_s: float
    execution_s: float
    execution_cpu_s: float
    main_wall_s: float
    process_wall_s: float
    resting: int | None = None

    @property
    def orders_per_s(self) -> float:
        return (self.orders + self.cancels) / self.execution_s

    @property
    def orders_per_cpu_s(self) -> float:
        return (self.orders + self.cancels) / self.execution_cpu_s


@dataclass(frozen=True)
class NotMeasured:
    """Why PAMS could not be run: one line for the report."""

    reason: str


def _one_line(text: str) -> str:
    """The last informative line of a tool's output, without addresses."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    line = (errors or lines or ["no output"])[-1]
    return _URL.sub("<address>", line)[:300]


def _run_tool(argv: Sequence[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``argv`` in its own session, its whole process group killed on timeout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, start_new_session=True) as p:
        try:
            out, err = p.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_pams(venv: Path = VENV, say: Callable[[str], None] = print) -> Path | NotMeasured:
    """The interpreter of PAMS's venv, creating it on first use; or why it cannot be had."""
    python, stamp = _python(venv), venv / STAMP_NAME
    if stamp.exists() and python.exists():
        return python
    if venv.exists():
        shutil.rmtree(venv)  # a half-made venv of an interrupted install: make it again
    say(f"[book] creating {venv} with pams=={PAMS_VERSION} (once)")
    steps: list[tuple[str, list[str], float]] = [
        ("python -m venv", [sys.executable, "-m", "venv", str(venv)], VENV_TIMEOUT_S),
        (f"pip install pams=={PAMS_VERSION}",
         [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          f"pams=={PAMS_VERSION}"], PIP_TIMEOUT_S),
        ("import pams", [str(python), "-I", "-c", "import pams; print(pams.__version__)"],
         VENV_TIMEOUT_S),
    ]
    for what, argv, timeout_s in steps:
        try:
            done = _run_tool(argv, timeout_s)
        except (OSError, subprocess.TimeoutExpired) as e:
            shutil.rmtree(venv, ignore_errors=True)
            return NotMeasured(f"{what} failed: {type(e).__name__}: {_one_line(str(e))}")
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            return NotMeasured(f"{what} failed (exit {done.returncode}): "
                               f"{_one_line(done.stderr or done.stdout)}")
    version = done.stdout.strip()
    if version != PAMS_VERSION:
        shutil.rmtree(venv, ignore_errors=True)
        return NotMeasured(f"pip installed pams {version!r}, not {PAMS_VERSION}")
    stamp.write_text(version + "\n")
    return python


def parse_pams_output(text: str, process_wall_s: float = 0.0) -> PamsRun:
    """A ``PamsRun`` from the stdout of ``pams_run.py``; ValueError naming what is missing.

    A sample run's times are PAMS's own ``# INITIALIZATION TIME`` and ``# EXECUTION TIME``
    lines; a ``mix`` run's come in its ``# BENCH`` line."""
    bench = _BENCH.search(text)
    if bench is None:
        raise ValueError("PAMS output has no '# BENCH' line")
    try:
        data = json.loads(bench.group(1))
        mode = data["mode"]
        if mode == "sample":
            found = {"# INITIALIZATION TIME": _INIT.search(text),
                     "# EXECUTION TIME": _EXEC.search(text)}
            missing = [repr(name) for name, m in found.items() if m is None]
            if missing:
                raise ValueError(f"PAMS output has no {', '.join(missing)} line")
            init, execution = (float(m.group(1)) for m in found.values() if m is not None)
        elif mode == "mix":
            init, execution = 0.0, float(data["execution_s"])
        else:
            raise ValueError(f"PAMS output's mode {mode!r}: expected 'sample' or 'mix'")
        resting = data.get("resting")
        run = PamsRun(mode=mode, agents=int(data["agents"]), steps=int(data["steps"]),
                      orders=int(data["orders"]), cancels=int(data["cancels"]),
                      executed_volume=int(data["executed_volume"]), init_s=init,
                      execution_s=execution, execution_cpu_s=float(data["execution_cpu_s"]),
                      main_wall_s=float(data["main_wall_s"]),
                      process_wall_s=process_wall_s,
                      resting=None if resting is None else int(resting))
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"PAMS output's '# BENCH' line is not the expected JSON: {e}") from e
    if data.get("pams_version") != PAMS_VERSION:
        raise ValueError(f"PAMS output is from pams {data.get('pams_version')!r}, "
                         f"not {PAMS_VERSION}")
    if min(run.execution_s, run.execution_cpu_s) <= 0 or run.orders + run.cancels <= 0:
        raise ValueError(f"PAMS output counts {run.orders + run.cancels} orders in "
                         f"{run.execution_s} s ({run.execution_cpu_s} s CPU): expected all "
                         "positive")
    return run


def run_pams(python: Path, case: PamsCase, seed: int, *, warmup_steps: int | None = None,
             trading_steps: int | None = None, timeout_s: float = PAMS_RUN_TIMEOUT_S
             ) -> PamsRun:
    """One PAMS run in a subprocess of its venv; RuntimeError if it fails."""
    argv = [str(python), "-I", str(RUNNER), "--agents", str(case.agents), "--seed", str(seed)]
    if case.mix:
        argv += ["--mix", str(case.mix)]
    if warmup_steps is not None:
        argv += ["--warmup-steps", str(warmup_steps)]
    if trading_steps is not None:
        argv += ["--trading-steps", str(trading_steps)]
    t0 = time.perf_counter()
    try:
        done = _run_tool(argv, timeout_s)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"PAMS run '{case.label}' passed {timeout_s:g} s") from e
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"PAMS run '{case.label}' exited {done.returncode}: "
                           f"{_one_line(done.stderr)}")
    return parse_pams_output(done.stdout, wall)


def our_rate(case: OurCase, orders: int, seed: int, folder: str | None
             ) -> tuple[float, float | None]:
    """Orders/s of our book in one run of ``case``, wall and per CPU second of the slowest
    process (None when processes share a book: CPU time leaves their lock waits out). The
    one place that measures our side.

    The books in the exchange file, as traders' orders reach them (``bench.book_file``):
    every order one journaled transaction under its currency's lock, with its ledger
    rows, stakes, writers' totals and the currency's mirror; every exact invariant of the
    file checked after the run. Processes run side by side; a rate is all orders over the
    time from the first start to the last end."""
    how = book_file.run_c if case.c else book_file.run
    r = how(case.procs, case.books, orders, seed, capacity=GEOMETRY.capacity,
            max_fills=GEOMETRY.max_fills, folder=folder)
    return r.rate, None if case.shared else r.orders / r.cpu_seconds


def _median(xs: Sequence[float]) -> float | None:
    return round(statistics.median(xs), 1) if xs else None


class _Series:
    """The runs of both sides so far, and any errors."""

    def __init__(self, out: Callable[[str], None], repeats: int, orders: int,
                 python: Path | NotMeasured) -> None:
        self.out, self.repeats, self.orders, self.python = out, repeats, orders, python
        self.ours: dict[str, list[float]] = {c.label: [] for c in OUR_CASES}
        self.ours_cpu: dict[str, list[float]] = {c.label: [] for c in OUR_CASES}
        self.pams: dict[PamsCase, list[PamsRun]] = {c: [] for c in PAMS_CASES}
        self.errors: list[str] = []
        self.folder = "/dev/shm" if os.path.isdir("/dev/shm") else None

    def round(self, r: int) -> None:
        head = f"[book {r + 1}/{self.repeats}]"
        for side in (("ours", "pams") if r % 2 == 0 else ("pams", "ours")):
            if side == "ours":
                self._ours(r, head)
            elif not isinstance(self.python, NotMeasured):
                self._pams(self.python, r, head)

    def _ours(self, r: int, head: str) -> None:
        for case in OUR_CASES:
            try:
                rate, cpu = our_rate(case, self.orders, 1 + 100 * r, self.folder)
            except Exception as e:  # one failed run must not cost the others
                self.errors.append(f"ours {case.label} rep {r + 1}: {type(e).__name__}: {e}")
                self.out(f"{head} ours {case.label}: FAILED ({e})")
                continue
            self.ours[case.label].append(rate)
            on_cpu = ""
            if cpu is not None:
                self.ours_cpu[case.label].append(cpu)
                on_cpu = f", {cpu:,.0f} per CPU second"
            self.out(f"{head} ours {case.label}: {rate:,.0f} orders/s{on_cpu}")

    def _pams(self, python: Path, r: int, head: str) -> None:
        for case in PAMS_CASES:
            try:
                run = run_pams(python, case, 1 + 100 * r)  # the seed of our run of round r
            except (RuntimeError, ValueError) as e:
                self.errors.append(f"PAMS {case.label} rep {r + 1}: {e}")
                self.out(f"{head} PAMS {case.label}: FAILED ({e})")
                continue
            self.pams[case].append(run)
            self.out(f"{head} PAMS {case.label}: {run.orders_per_s:,.0f} orders/s, "
                     f"{run.orders_per_cpu_s:,.0f} per CPU second "
                     f"({run.orders + run.cancels} orders in {run.execution_s:.3f} s)")

    def our_part(self) -> list[dict[str, Any]]:
        return [{"label": c.label, "procs": c.procs, "books": c.books, "shared": c.shared,
                 "orders": self.orders, "runs": [round(x, 1) for x in self.ours[c.label]],
                 "orders_per_s": _median(self.ours[c.label]),
                 "cpu_runs": [round(x, 1) for x in self.ours_cpu[c.label]],
                 "orders_per_cpu_s": _median(self.ours_cpu[c.label])} for c in OUR_CASES]

    def pams_part(self) -> dict[str, Any]:
        why = self.python.reason if isinstance(self.python, NotMeasured) else None
        if why is None and not any(self.pams.values()):
            why = "every PAMS run failed: " + "; ".join(
                e for e in self.errors if e.startswith("PAMS"))
        cases = [{"label": c.label, "agents": c.agents, "mix_orders": c.mix,
                  "runs": [asdict(x) | {"orders_per_s": round(x.orders_per_s, 1),
                                        "orders_per_cpu_s": round(x.orders_per_cpu_s, 1)}
                           for x in runs],
                  "orders_per_s": _median([x.orders_per_s for x in runs]),
                  "orders_per_cpu_s": _median([x.orders_per_cpu_s for x in runs])}
                 for c, runs in self.pams.items()]
        return {"version": PAMS_VERSION, "not_measured": why, "cases": cases}


def run_series(out: Callable[[str], None], quick: bool = False, venv: Path = VENV
               ) -> tuple[dict[str, Any], list[str]]:
    """Both sides, alternating repeat by repeat; returns the result and any run errors."""
    load_start = os.getloadavg()[0]
    python = ensure_pams(venv, out)
    if isinstance(python, NotMeasured):
        out(f"[book] PAMS not measured: {python.reason}")
    series = _Series(out, QUICK_REPEATS if quick else REPEATS,
                     QUICK_ORDERS if quick else ORDERS, python)
    for r in range(series.repeats):
        series.round(r)
    ours, pams = series.our_part(), series.pams_part()
    ratios, targets = evaluate(ours, pams)
    result = {"quick": quick, "repeats": series.repeats, "cpus": os.cpu_count(),
              "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
              "geometry": {"ticks": GEOMETRY.ticks, "capacity": GEOMETRY.capacity,
                           "max_fills": GEOMETRY.max_fills},
              "ours": ours, "pams": pams, "ratios": ratios, "targets": targets}
    return result, series.errors
