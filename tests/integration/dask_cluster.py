"""A real Dask cluster on 127.0.0.1 for tests: a ``dask scheduler`` and ``dask worker``s.

Every process is started with its own node-local temporary folder (``TMPDIR``), so the
runs of a test can be found by path in ``/proc`` and nothing else is mistaken for them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

DASK: Final = Path(sys.executable).parent / "dask"
START_S: Final = 60.0
STOP_S: Final = 10.0


@dataclass
class LoopbackCluster:
    address: str
    node: Path  # the workers' TMPDIR: every run folder is made inside it
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)


def processes_under(node: Path) -> list[tuple[int, str]]:
    """Live run processes (guard, coordinator, traders, monitor) whose command line names
    a run folder in ``node`` (read from /proc)."""
    found = []
    needle = str(node / "sim-run-").encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmd and state != "Z":
            found.append((int(d.name), cmd.replace(b"\0", b" ").decode(errors="replace")))
    return found


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(d.name))
    return out


def wait_until(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _reap(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(STOP_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(STOP_S)


@contextlib.contextmanager
def dask_cluster(tmp: Path, n_workers: int = 2) -> Iterator[LoopbackCluster]:
    """A scheduler and ``n_workers`` one-thread workers, no nanny, all on loopback."""
    node = tmp / "node"
    node.mkdir()
    env = {**os.environ, "TMPDIR": str(node)}
    sched_file = tmp / "scheduler.json"
    logs = tmp / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with open(logs / f"{name}.log", "wb") as log:
            p = subprocess.Popen([str(DASK), *args], env=env, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    try:
        sched = start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                    "--no-dashboard", "--scheduler-file", str(sched_file)])
        wait_until(lambda: sched_file.exists() and sched_file.stat().st_size > 0, START_S,
                   "the scheduler file")
        address = json.loads(sched_file.read_text())["address"]
        cluster = LoopbackCluster(address, node, sched)
        for i in range(n_workers):
            cluster.workers.append(start(f"worker-{i}", [
                "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                "--no-dashboard", "--name", f"w{i}", "--local-directory", str(node)]))
        from distributed import Client

        with Client(address, timeout=START_S) as c:
            c.wait_for_workers(n_workers, timeout=START_S)
        yield cluster
    finally:
        for p in reversed(procs):
            _reap(p)
