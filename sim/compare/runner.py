"""Running the jobs of a comparison: each a ``python -m sim run`` in its own session.

A run forks traders and installs signal handlers, which is the business of a fresh
process, and a crashed run cannot take the comparison down with it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from sim.config.loading import one_line
from sim.errors import BadInput
from sim.harness.summary import SUMMARY_FILE, RunSummary, load_summary

__all__ = [
    "Job",
    "RunResult",
    "run_all",
]

PROGRESS_WIDTH: Final = 28


TICK_S: Final = 0.5


# A run asked to stop (Ctrl-C) writes its results first; it gets this long before SIGKILL.
STOP_WAIT_S: Final = 30.0


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
    summary: RunSummary | None = None
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.exit_status == 0 and self.summary is not None and self.summary.passed


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
            res.summary = load_summary(res.run_dir / SUMMARY_FILE)
        except BadInput as e:
            res.error = f"no readable {SUMMARY_FILE} ({e})"
    if res.exit_status not in (0, 1) or res.summary is None:
        try:
            tail = [ln for ln in log_path.read_text(errors="replace").splitlines()
                    if ln.strip()]
        except OSError:
            tail = []
        last = tail[-1] if tail else ""
        res.error = one_line(f"exit status {res.exit_status}: {last}" if last
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


def run_all(jobs: list[Job], n_jobs: int, stream: IO[str]) -> list[RunResult]:
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
