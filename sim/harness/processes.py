"""The processes of a run: which writer hosts which agents, and how each process starts.

A trader process is a writer hosting agents (a ``multiprocess`` process started with the
``fork`` context, supervised through its sentinel) or an external program of a
``command`` group (a subprocess with one account). The entry points catch the project's
errors so that a process reports one line and its exit status, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from sim.config.scenario import Scenario, TraderGroup
from sim.errors import SimError
from sim.harness.monitor import DEPTH_S, monitor_main
from sim.harness.summary import Death
from sim.market.trader import AgentSpec, TraderSpec, trader_main

__all__ = ["TraderProcess", "assign_writers", "monitor_entry", "trader_entry"]


@dataclass
class TraderProcess:
    """One trader process of the run: a writer hosting agents, or a command instance."""

    writer: int
    strategy: str
    agents: tuple[AgentSpec, ...]
    command: TraderGroup | None = None
    proc: Any = None
    popen: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    generation: int = 0
    deaths: list[Death] = field(default_factory=list)
    exit: str = ""
    # Killed, not yet reaped: no second kill is aimed at it.
    doomed: bool = False

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return bool(self.proc is not None and self.proc.is_alive())

    def exitcode(self) -> int | None:
        if self.popen is not None:
            return self.popen.poll()
        return None if self.proc is None else self.proc.exitcode

    def pid(self) -> int:
        return int(self.popen.pid if self.popen is not None else self.proc.pid)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid(), signal.SIGKILL)

    def reap(self, timeout: float) -> None:
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        elif self.proc is not None:
            self.proc.join(timeout)


def trader_entry(spec: TraderSpec) -> None:
    try:
        trader_main(spec)
    except SimError as e:
        print(f"trader writer {spec.writer}: {e}", file=sys.stderr, flush=True)
        os._exit(e.exit_status)


def monitor_entry(path: str, folder: str, interval_s: float, audit_s: float,
                  n_groups: int, generation: int = 0, depth_s: float = DEPTH_S,
                  alternate_s: float | None = None) -> None:
    try:
        monitor_main(path, folder, interval_s, audit_s, n_groups, generation, depth_s,
                     alternate_s)
    except SimError as e:
        print(f"monitor: {e}", file=sys.stderr, flush=True)
        os._exit(e.exit_status)


def assign_writers(scn: Scenario) -> list[int]:
    """The writer of each account, in account order: strategy agents dealt round-robin
    over the trader processes (writers 0..P-1), then one writer per command instance."""
    plan = scn.trader_plan()
    n_proc = scn.n_processes
    out = []
    k = 0
    cmd = n_proc
    for g in plan:
        if g.command is None:
            out.append(k % n_proc)
            k += 1
        else:
            out.append(cmd)
            cmd += 1
    return out
