"""Scheduler hints for the latency-sensitive monitor.

Linux's fair scheduler (EEVDF, since 6.6) gives a running task a slice of about a
millisecond before a task that just woke may take its CPU. A monitor that wakes every
millisecond beside traders that never sleep would then wait most of a tick for every
sample. Since Linux 6.12 a task may ask for a shorter slice (``sched_attr.sched_runtime``
for ``SCHED_OTHER``, clamped to 0.1..100 ms); a short-slice task preempts on wakeup, runs
its short burst and yields. No privilege is needed: it changes latency, not share.

On kernels without it the call fails or is ignored; the monitor works either way, only
with later wake-ups, which ``monitor.json`` shows as a lower sample ratio.
"""

from __future__ import annotations

import ctypes
import os
from typing import Final

__all__ = ["current_slice_ns", "request_slice"]

_SCHED_SETATTR: Final = {"x86_64": 314, "aarch64": 274, "riscv64": 274, "armv7l": 380,
                         "i686": 351}
_SCHED_OTHER: Final = 0


class _SchedAttr(ctypes.Structure):
    """struct sched_attr (SCHED_ATTR_SIZE_VER1, 56 bytes)."""

    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
                ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
                ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64),
                ("sched_util_min", ctypes.c_uint32), ("sched_util_max", ctypes.c_uint32)]


def request_slice(ns: int) -> bool:
    """Ask for a ``ns`` nanosecond slice for this process; True if the kernel accepted."""
    nr = _SCHED_SETATTR.get(os.uname().machine)
    if nr is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        # The current nice value goes back in: sched_setattr sets it too, and raising
        # priority would need a privilege this process does not ask for.
        attr = _SchedAttr(size=ctypes.sizeof(_SchedAttr), sched_policy=_SCHED_OTHER,
                          sched_nice=os.getpriority(os.PRIO_PROCESS, 0), sched_runtime=ns)
        return int(libc.syscall(nr, 0, ctypes.byref(attr), 0)) == 0
    except (OSError, AttributeError):
        return False


def current_slice_ns() -> int | None:
    """This process's slice as the kernel reports it (``/proc/self/sched``), if it does."""
    try:
        with open("/proc/self/sched") as f:
            for line in f:
                if line.startswith("se.slice"):
                    return int(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return None
