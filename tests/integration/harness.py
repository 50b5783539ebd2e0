"""Helpers for tests that run real processes: scenarios in tmp_path, bounded waits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import yaml

from sim.config.scenario import parse_scenario
from sim.core import layout as L
from sim.harness.coordinator import RunOutcome, run_scenario
from sim.harness.summary import RunSummary, load_summary

ROOT: Final = Path(__file__).resolve().parents[2]
C_TRADER: Final = ROOT / "examples" / "c" / "build" / "trader"
WAIT_S: Final = 30.0


def scenario(**fields: Any) -> dict[str, Any]:
    """A small scenario with generous funds; fields override."""
    base: dict[str, Any] = {
        "name": "t",
        "seed": 1,
        "duration_s": 1.0,
        "currencies": [{"name": "EUR", "rate": 1.1, "reserve": 100000},
                       {"name": "USD", "rate": 1.0, "reserve": 100000}],
        "traders": [{"count": 2, "strategy": "random", "cash": 10000, "holdings": 100}],
        "monitor": {"interval_ms": 10},
    }
    base.update(fields)
    return base


def run(tmp: Path, *, figures: bool = False, **fields: Any) -> RunOutcome:
    """Run a scenario in this process (traders and monitor are real forked processes);
    its figures only with ``figures`` (drawing them is most of a short run's finish)."""
    data = scenario(**fields)
    scn = parse_scenario(data, "<test>", "t")
    return run_scenario(scn, tmp / "results", out=None, figures=figures)


def write_scenario(tmp: Path, **fields: Any) -> Path:
    p = tmp / f"{fields.get('name', 't')}.yaml"
    p.write_text(yaml.safe_dump(scenario(**fields)))
    return p


def sim(*args: str, stdin: str | None = None, timeout: float = 60,
        **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run the command line as a user would."""
    return subprocess.run([sys.executable, "-m", "sim", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)


def start_sim(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "sim", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, **kw)


def wait_for(pred: Any, what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def running_exchange(root: Path) -> Path:
    """The exchange file of the one run under ``root``, once it is trading."""

    def find() -> Path | None:
        for p in root.glob("*/*/exchange.dat"):
            try:
                with open(p, "rb") as f:
                    f.seek(L.HEADER.offsets["run_state"])
                    state = int.from_bytes(f.read(8), "little")
                if state == L.RUN_RUNNING and p.read_bytes()[:8] == L.MAGIC:
                    return p
            except OSError:
                pass
        return None

    return Path(wait_for(find, f"a running exchange under {root}"))


def summary(run_dir: Path) -> RunSummary:
    return load_summary(run_dir / "summary.json")


def reap(proc: subprocess.Popen[str]) -> None:
    """Never leave a process behind: terminate, wait, kill."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()


def pids_gone(pids: list[int]) -> bool:
    from sim.core.exchange import pid_alive

    return not any(pid_alive(p) for p in pids if p > 0 and p != os.getpid())
