"""Work in forked processes: a run's figures drawn at once, and the end of a run's work
done beside them.

A run's figures are independent files drawn from the same arrays, and matplotlib spends
most of a figure's time in Python (text layout, artists): on two CPUs, two processes
draw three figures in about the time of the longest two (:func:`draw_all`). The
children are forked after the caller has imported matplotlib and read its data, so they
start at once. A :class:`Painter` starts earlier still: forked before its parent's last
work, it imports what drawing needs meanwhile, then draws the data it is sent. A
:class:`Forked` job is any other work that reads only what its parent holds at the fork
(copy-on-write, nothing is sent), such as writing a table.

Every child reports its failure as one line on a pipe and leaves without any cleanup;
the parent reaps it and raises :class:`ChildError` (:class:`FigureError` for a figure).
Without ``fork`` the work runs in the calling process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sim.errors import SimError

__all__ = ["ChildError", "FigureError", "Forked", "Job", "Painter", "draw_all"]

Job = Callable[[], Path]
CAN_FORK = hasattr(os, "fork")


class ChildError(SimError):
    """Work in a forked process failed; the message says how."""

    exit_status = 1


class FigureError(ChildError):
    """A figure could not be drawn; the message names it."""


def _fork(work: Callable[[], object]) -> tuple[int, int]:
    """Run ``work`` in a forked child; its pid and the pipe it reports a failure on."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        status = 0
        try:
            work()
        except BaseException as e:
            os.write(wfd, f"{type(e).__name__}: {e}".encode()[:4000])
            status = 1
        finally:
            os._exit(status)
    os.close(wfd)
    return pid, rfd


def _reap(pid: int, rfd: int, what: str) -> str | None:
    """Wait for a child of :func:`_fork`; None if it succeeded, else what went wrong."""
    _, status = os.waitpid(pid, 0)
    with os.fdopen(rfd, "rb") as f:
        msg = f.read().decode(errors="replace")
    if status == 0:
        return None
    if os.WIFSIGNALED(status):
        return msg or f"the {what} process died (signal {os.WTERMSIG(status)})"
    return msg or f"the {what} process ended with status {os.WEXITSTATUS(status)}"


def _run_share(jobs: Sequence[Job]) -> None:
    for job in jobs:
        job()


def draw_all(jobs: Sequence[Job], workers: int | None = None) -> None:
    """Run every job (each draws and saves one figure), ``workers`` processes at a time
    (default: the CPUs this process may use); raises FigureError for the first failure."""
    n = workers or len(os.sched_getaffinity(0))
    n = max(1, min(n, len(jobs)))
    if n == 1 or not CAN_FORK:
        _run_share(jobs)
        return
    shares = [jobs[i::n] for i in range(n)]
    children: list[tuple[int, int]] = []
    try:
        for share in shares[1:]:
            children.append(_fork(functools.partial(_run_share, share)))
        _run_share(shares[0])
    finally:
        errors = [e for pid, rfd in children if (e := _reap(pid, rfd, "drawing"))]
    if errors:
        raise FigureError(errors[0])


class Forked:
    """``work()`` in a forked child, started at once; :meth:`wait` waits for it and
    raises ChildError if it failed. Without ``fork`` it runs in :meth:`wait`."""

    def __init__(self, work: Callable[[], object], what: str) -> None:
        self._work, self._what = work, what
        self._child = _fork(work) if CAN_FORK else None
        self._done = False

    def wait(self) -> None:
        if self._done:
            return
        self._done = True
        if self._child is None:
            self._work()
        elif msg := _reap(*self._child, self._what):
            raise ChildError(msg)

    def close(self) -> None:
        """Stop the child if it is still running (its parent failed meanwhile)."""
        if self._done:
            return
        self._done = True
        if self._child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._child[0], signal.SIGKILL)
            _reap(*self._child, self._what)


class Painter:
    """A forked process that gets ready to draw while its parent still has work to do.

    ``prepare`` (the imports: matplotlib alone takes a third of a second) runs in the
    child at once; :meth:`draw` then sends it the data, pickled through a pipe, and waits
    for ``draw(data)`` to finish there. On two CPUs the end of a run writes its tables
    while the figures' imports happen beside it. Forked before the parent reads anything
    large, so the child copies none of it.
    """

    def __init__(self, prepare: Callable[[], None], draw: Callable[[Any], None]) -> None:
        self._draw = draw
        self._prepare = prepare
        self._pid = 0
        self._to = self._back = -1
        if not CAN_FORK:
            return
        rfd, self._to = os.pipe()

        def child() -> None:
            os.close(self._to)
            prepare()
            with os.fdopen(rfd, "rb") as f:
                # Length first: a process forked later may hold this pipe open too, so
                # its end is no sign that the data is complete.
                head = f.read(8)
                raw = f.read(int.from_bytes(head, "little")) if len(head) == 8 else b""
            if raw:
                draw(pickle.loads(raw))

        self._pid, self._back = _fork(child)
        os.close(rfd)

    def draw(self, data: Any) -> None:
        """Have ``data`` drawn and wait for it; raises FigureError if drawing failed."""
        if not self._pid:
            self._prepare()
            self._draw(data)
            return
        try:
            with os.fdopen(self._to, "wb") as f:
                self._to = -1
                raw = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
                f.write(len(raw).to_bytes(8, "little") + raw)
        except BrokenPipeError:
            pass  # the child is gone: its status and message say why
        if msg := self._finish():
            raise FigureError(msg)

    def close(self) -> None:
        """Stop the child if it is still waiting (the parent failed before drawing)."""
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._finish()

    def _finish(self) -> str | None:
        pid, self._pid = self._pid, 0
        if self._to >= 0:
            os.close(self._to)
            self._to = -1
        return _reap(pid, self._back, "drawing")
