"""The client's progress display of a sweep or comparison: done, failed, running, ETA.

On a terminal a ``rich`` bar redrawn in place; anywhere else (a log file, CI, a pipe) one
plain line per finished run, so the record reads the same afterwards.
"""

from __future__ import annotations

import time
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["RunProgress", "clock"]


def clock(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 \
        else f"{s // 60}:{s % 60:02d}"


class RunProgress:
    """Counts of a set of runs, shown as they change."""

    def __init__(self, what: str, total: int, stream: IO[str]) -> None:
        self.what = what
        self.total = total
        self.stream = stream
        self.done = 0
        self.failed = 0
        self.running = 0
        self.start = time.monotonic()
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.bar: Progress | None = None
        if tty:
            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("failed {task.fields[failed]}  running {task.fields[running]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=stream), transient=False)
            self.task = self.bar.add_task(what, total=total, failed=0, running=0)
            self.bar.start()

    def eta(self) -> str:
        if not self.done:
            return "--:--"
        elapsed = time.monotonic() - self.start
        return clock(elapsed / self.done * (self.total - self.done))

    def set_running(self, running: int) -> None:
        self.running = running
        if self.bar is not None:
            self.bar.update(self.task, running=running)

    def finished(self, label: str, verdict: str, seconds: float, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, failed=self.failed)
            return
        self.stream.write(f"{self.what}: {self.done}/{self.total} runs  {label} {verdict} "
                          f"in {seconds:.1f} s  failed {self.failed}  running "
                          f"{self.running}  elapsed {clock(time.monotonic() - self.start)}"
                          f"  ETA {self.eta()}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
