"""Draw several figures at once: one forked process per CPU, each saving its share.

A run's figures are independent files drawn from the same arrays, and matplotlib spends
most of a figure's time in Python (text layout, artists): on two CPUs, two processes
draw three figures in about the time of the longest two. The children are forked after
the caller has imported matplotlib and read its data, so they start at once; each
reports failure as one line on a pipe. Without ``fork`` (or with one CPU) the figures
are drawn one after another.

A :class:`Painter` starts earlier still: forked before its parent's last work, it
imports what drawing needs meanwhile, then draws the data it is sent.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FigureError", "Job", "Painter", "draw_all"]

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


class Painter:
    """A forked process that gets ready to draw while its parent still has work to do.

    ``prepare`` (the imports: matplotlib alone takes a third of a second) runs in the
    child at once; :meth:`draw` then sends it the data, pickled through a pipe, and waits
    for ``draw(data)`` to finish there. On two CPUs the end of a run writes its tables
    while the figures' imports happen beside it. Forked before the parent reads anything
    large, so the child copies none of it. Without ``fork``, both run in this process
    when :meth:`draw` is called.
    """

    def __init__(self, prepare: Callable[[], None], draw: Callable[[Any], None]) -> None:
        self._draw = draw
        self._prepare = prepare
        self._pid = 0
        self._to = self._back = -1
        if not hasattr(os, "fork"):
            return
        rfd, self._to = os.pipe()
        self._back, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: prepare, wait for the data, draw, report, leave
            os.close(self._to)
            os.close(self._back)
            status = 0
            try:
                prepare()
                with os.fdopen(rfd, "rb") as f:
                    raw = f.read()
                if raw:
                    draw(pickle.loads(raw))
            except BaseException as e:
                os.write(wfd, f"{type(e).__name__}: {e}".encode()[:4000])
                status = 1
            finally:
                os._exit(status)
        os.close(rfd)
        os.close(wfd)
        self._pid = pid

    def draw(self, data: Any) -> None:
        """Have ``data`` drawn and wait for it; raises FigureError if drawing failed."""
        if not self._pid:
            self._prepare()
            self._draw(data)
            return
        try:
            with os.fdopen(self._to, "wb") as f:
                self._to = -1
                f.write(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
        except BrokenPipeError:
            pass  # the child is gone: its status and message say why
        self._reap()

    def close(self) -> None:
        """Stop the child if it is still waiting (the parent failed before drawing)."""
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(FigureError):
                self._reap()

    def _reap(self) -> None:
        pid, self._pid = self._pid, 0
        if self._to >= 0:
            os.close(self._to)
            self._to = -1
        _, status = os.waitpid(pid, 0)
        with os.fdopen(self._back, "rb") as f:
            self._back = -1
            msg = f.read().decode(errors="replace")
        if status != 0:
            if os.WIFSIGNALED(status):
                raise FigureError(msg or f"the drawing process died (signal "
                                         f"{os.WTERMSIG(status)})")
            raise FigureError(msg or f"the drawing process ended with status {status}")
