"""The Dask runner of sweeps and comparisons: each run a ``python -m sim run`` on a worker.

A task (:func:`execute`) runs one scenario in a node-local temporary folder, through
:mod:`sim.compare.guard` in a session of its own, and returns what the run wrote (the
summary, the Parquet tables, its log) as bytes through Dask: the client needs no shared
file system. The task kills the run's whole process group in a ``finally``, on timeout
and when its key is cancelled; the guard does it when the worker itself dies.

A run whose invariants fail is a result, not an error: the task returns normally and
Dask never runs it again. A worker lost mid-run is another matter: the scheduler gives
its task to another worker (up to ``distributed.scheduler.allowed-failures`` times).

With no scheduler address (neither ``--scheduler`` nor Dask's ``scheduler-address``
configuration) the client starts a local cluster: one worker with a thread per run at
once, in this process, since a task only waits on its subprocess.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from sim.compare.progress import RunProgress
from sim.config.loading import one_line
from sim.errors import BadInput
from sim.harness.rundir import INCOMPLETE, SAMPLES, SCENARIO_FILE, TRADES
from sim.harness.summary import SUMMARY_FILE, RunSummary, load_summary, write_summary

__all__ = [
    "RUN_FILES",
    "Job",
    "Payload",
    "RunResult",
    "check_cluster",
    "execute",
    "open_client",
    "run_all",
    "store",
]

# What a task sends back of a run folder (never the exchange file: it stays on the node).
RUN_FILES: Final = (SUMMARY_FILE, TRADES, SAMPLES, SCENARIO_FILE, INCOMPLETE)
LOG: Final = "run.log"
POLL_S: Final = 0.1
TICK_S: Final = 0.25
# A task that raised (not a failed run: those return) is tried this many more times.
RETRIES: Final = 2
# How long a cancelled sweep waits for its local runs' process groups to be gone.
CANCEL_WAIT_S: Final = 10.0
CONNECT_TIMEOUT_S: Final = 30.0

# Runs started by tasks of this process: a local cluster's tasks run here, and a Ctrl-C
# at the client kills them directly instead of waiting for cancellation to reach them.
_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Job:
    """One run to make: a variant of a grid point at a repeat, with that repeat's seed."""

    index: int
    variant: str
    repeat: int
    seed: int
    scenario: str  # the scenario's YAML text
    out: Path  # the client-side run folder to write
    timeout_s: float
    point: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    show_variant: bool = True  # False in a sweep without variants: all are "base"

    @property
    def label(self) -> str:
        parts = (self.point, self.variant if self.show_variant else "", f"r{self.repeat}")
        return " ".join(x for x in parts if x)


@dataclass
class Payload:
    """What a task returns: the run's exit status, its files as bytes, where it ran."""

    exit_status: int | None
    seconds: float
    files: dict[str, bytes]
    error: str = ""
    host: str = ""


@dataclass
class RunResult:
    """What one run left: exit status, folder and summary (None if it made none)."""

    job: Job
    exit_status: int | None = None
    seconds: float = 0.0
    run_dir: Path | None = None
    summary: RunSummary | None = None
    error: str = ""
    host: str = ""

    @property
    def passed(self) -> bool:
        return self.exit_status == 0 and self.summary is not None and self.summary.passed

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else ("FAILED" if self.summary is not None else "ERROR")


# --------------------------------------------------------------------------- worker side

def _cancelled() -> bool:
    """Whether this task's key was cancelled or released (False outside a worker)."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state  # type: ignore[attr-defined]

        worker, key = get_worker(), thread_state.key
    except (ImportError, ValueError, AttributeError):
        return False
    ts = worker.state.tasks.get(key)
    return ts is None or ts.state in ("cancelled", "released", "forgotten")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the run's whole process group and wait until every member is gone.

    The guard leads the group; while any member lives its pid stays reserved as the
    group id, so this never reaches an unrelated process. Death after SIGKILL is not
    instant: the task returns only once the group is empty, so that "finished" means no
    trader of the run is still there.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(CANCEL_WAIT_S)
    deadline = time.monotonic() + CANCEL_WAIT_S
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(POLL_S / 10)


def execute(scenario: str, seed: int, timeout_s: float) -> Payload:
    """Run one scenario on this node and return its results (a Dask task)."""
    tmp = Path(tempfile.mkdtemp(prefix="sim-run-"))
    status: int | None = None
    error = ""
    t0 = time.monotonic()
    try:
        (tmp / SCENARIO_FILE).write_text(scenario)
        cmd = [sys.executable, "-m", "sim.compare.guard", str(os.getpid()), str(tmp), "--",
               sys.executable, "-m", "sim", "run", str(tmp / SCENARIO_FILE),
               "--run-dir", str(tmp / "run"), "--seed", str(seed), "--no-figures"]
        deadline = t0 + timeout_s
        with open(tmp / LOG, "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        with _LIVE_LOCK:
            _LIVE.add(proc)
        try:
            while status is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    status = proc.wait(POLL_S)
                    break
                if time.monotonic() > deadline:
                    error = f"timed out after {timeout_s:g} s"
                    break
                if _cancelled():
                    error = "cancelled"
                    break
        finally:
            _kill_group(proc)
            with _LIVE_LOCK:
                _LIVE.discard(proc)
        return Payload(status, time.monotonic() - t0, _files(tmp), error,
                       socket.gethostname())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _files(tmp: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in RUN_FILES:
        with contextlib.suppress(OSError):
            files[name] = (tmp / "run" / name).read_bytes()
    with contextlib.suppress(OSError):
        files[LOG] = (tmp / LOG).read_bytes()
    return files


def stop_local_runs() -> None:
    """Kill every run started by a task of this process (a local cluster's)."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- client side

def check_cluster(scheduler: str | None, jobs: int | None) -> str | None:
    """The scheduler address to use (None: a local cluster); refuses a bad ``jobs``.

    Called before anything is written, so a refused option leaves nothing behind.
    """
    import dask

    address: str | None = scheduler or dask.config.get("scheduler-address", None)
    if address and jobs is not None:
        raise BadInput("--jobs sizes the local cluster; with a scheduler the cluster's "
                       "workers decide how many runs go at once")
    if jobs is not None and jobs < 1:
        raise BadInput(f"--jobs: expected a whole number >= 1 (found {jobs})")
    return address


@contextlib.contextmanager
def open_client(scheduler: str | None, jobs: int | None, stream: IO[str]
                ) -> Iterator[Any]:
    """A Dask client: of the cluster at ``scheduler`` (or Dask's configured one), else
    of a local cluster with ``jobs`` runs at once (default: one per CPU)."""
    from distributed import Client, LocalCluster

    address = check_cluster(scheduler, jobs)
    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as e:
            raise BadInput(f"--scheduler {address}: cannot connect "
                           f"({one_line(str(e)) or type(e).__name__})") from None
        with client:
            threads = client.nthreads()
            stream.write(f"  cluster: {address}, {len(threads)} workers, "
                         f"{sum(threads.values())} runs at once\n")
            stream.flush()
            yield client
        return
    threads = jobs or os.cpu_count() or 1
    dashboard = importlib.util.find_spec("bokeh") is not None
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=threads,
                      dashboard_address=":0" if dashboard else None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        link = cluster.dashboard_link if dashboard else "off (needs the bokeh package)"
        stream.write(f"  local cluster: {threads} runs at once, dashboard {link}\n")
        stream.flush()
        yield client


def run_all(client: Any, jobs: list[Job], what: str, stream: IO[str]) -> list[RunResult]:
    """Run every job on the client's cluster; results in the order of ``jobs``.

    Each run's files are written to ``job.out`` as its result arrives. Ctrl-C cancels
    what is left and kills the runs going on (those of a local cluster at once).
    """
    from distributed import as_completed

    progress = RunProgress(what, len(jobs), stream)
    futures: dict[Any, Job] = {}
    results: dict[int, RunResult] = {}
    try:
        for j in jobs:
            fut = client.submit(execute, j.scenario, j.seed, j.timeout_s, pure=False,
                                retries=RETRIES, key=f"sim-{what}-{j.index}-{os.getpid()}"
                                                     f"-{time.monotonic_ns()}")
            futures[fut] = j
        pending = as_completed(list(futures))
        while not pending.is_empty():
            batch = pending.next_batch(block=False)
            for fut in batch:
                res = _result(fut, futures[fut])
                results[res.job.index] = res
                progress.finished(res.job.label, res.verdict, res.seconds, res.passed)
            if not batch:
                progress.set_running(_running(client, futures))
                time.sleep(TICK_S)
    except KeyboardInterrupt:
        client.cancel(list(futures), force=True)
        stop_local_runs()
        _wait_local_gone()
        raise
    finally:
        progress.close()
    return [results[j.index] for j in jobs]


def _running(client: Any, futures: dict[Any, Job]) -> int:
    """Runs going now: a worker's tasks in processing, at most its thread count (the
    scheduler hands a worker more tasks than it has threads, to keep it busy)."""
    keys = {f.key for f in futures if not f.done()}
    try:
        processing = client.processing()
        threads = client.nthreads()
    except (OSError, TimeoutError):
        return 0
    return sum(min(sum(1 for k in ks if k in keys), threads.get(w, 1))
               for w, ks in processing.items())


def _wait_local_gone() -> None:
    deadline = time.monotonic() + CANCEL_WAIT_S
    while time.monotonic() < deadline:
        with _LIVE_LOCK:
            if not _LIVE:
                return
        time.sleep(POLL_S)


def _result(fut: Any, job: Job) -> RunResult:
    try:
        payload: Payload = fut.result()
    except Exception as e:  # a lost worker past its retries, or a task that raised
        return RunResult(job, error=one_line(f"{type(e).__name__}: {e}"))
    return store(job, payload)


def store(job: Job, payload: Payload) -> RunResult:
    """Write a task's files into ``job.out`` and read the run's summary back from them."""
    res = RunResult(job, exit_status=payload.exit_status, seconds=payload.seconds,
                    host=payload.host)
    job.out.mkdir(parents=True, exist_ok=False)
    for name, data in payload.files.items():
        (job.out / name).write_bytes(data)
    res.run_dir = job.out
    if SUMMARY_FILE in payload.files:
        path = job.out / SUMMARY_FILE
        try:
            # Where the client keeps the run, not the node's temporary folder.
            res.summary = load_summary(path).model_copy(update={"run_dir": str(job.out)})
            write_summary(path, res.summary)
        except BadInput as e:
            res.error = f"no readable {SUMMARY_FILE} ({e})"
    if res.exit_status not in (0, 1) or res.summary is None or payload.error:
        lines = [ln for ln in payload.files.get(LOG, b"").decode(errors="replace")
                 .splitlines() if ln.strip()]
        why = payload.error or f"exit status {res.exit_status}"
        res.error = one_line(f"{why}: {lines[-1]}" if lines else why) + (
            f"; {res.error}" if res.error else "")
    return res
