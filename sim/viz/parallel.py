"""Draw several figures at once: one forked process per CPU, each saving its share.

A run's figures are independent files drawn from the same arrays, and matplotlib spends
most of a figure's time in Python (text layout, artists): on two CPUs, two processes
draw three figures in about the time of the longest two. The children are forked after
the caller has imported matplotlib and read its data, so they start at once; each
reports failure as one line on a pipe. Without ``fork`` (or with one CPU) the figures
are drawn one after another.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["FigureError", "Job", "draw_all"]

Job = Callable[[], Path]


class FigureError(RuntimeError):
    """A figure could not be drawn; the message names it."""


def _run_share(jobs: Sequence[Job]) -> None:
    for job in jobs:
        job()


def draw_all(jobs: Sequence[Job], workers: int | None = None) -> None:
    """Run every job (each draws and saves one figure), ``workers`` processes at a time
    (default: the CPUs this process may use); raises FigureError for the first failure."""
    n = workers or len(os.sched_getaffinity(0))
    n = max(1, min(n, len(jobs)))
    if n == 1 or not hasattr(os, "fork"):
        _run_share(jobs)
        return
    shares = [jobs[i::n] for i in range(n)]
    children: list[tuple[int, int]] = []
    try:
        for share in shares[1:]:
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: draw, report, and leave without any cleanup
                os.close(rfd)
                status = 0
                try:
                    _run_share(share)
                except BaseException as e:
                    os.write(wfd, f"{type(e).__name__}: {e}".encode()[:4000])
                    status = 1
                finally:
                    os._exit(status)
            os.close(wfd)
            children.append((pid, rfd))
        _run_share(shares[0])
    finally:
        errors = []
        for pid, rfd in children:
            _, status = os.waitpid(pid, 0)
            with os.fdopen(rfd, "rb") as f:
                msg = f.read().decode(errors="replace")
            if status != 0:
                errors.append(msg or f"a drawing process ended with status {status}")
    if errors:
        raise FigureError(errors[0])
