"""Sleep until a word of the mapping changes, and wake who sleeps on it (Linux futex).

The deterministic schedule hands the turn from process to process through one word of
the header. Spinning on it costs nothing when every process has a CPU of its own, but
when the CPUs are shared a spinner burns the slice of the very process it waits for: the
waiter then sleeps in the kernel on the word instead (``FUTEX_WAIT`` returns at once if
the word no longer holds the value it saw, so no wake-up is lost), and whoever moves the
word wakes the sleepers. The futex is shared (not ``FUTEX_PRIVATE``): the word is in a
``MAP_SHARED`` file mapping, which the kernel keys by file and offset for every process.
Only the low 32 bits of the int64 word are compared (little-endian: its first 4 bytes).
"""

from __future__ import annotations

import ctypes
import os
from typing import Final

__all__ = ["Futex", "Timespec"]

_SYS_FUTEX: Final = {"x86_64": 202, "aarch64": 98, "riscv64": 98, "i686": 240,
                     "armv7l": 240}
_FUTEX_WAIT: Final = 0
_FUTEX_WAKE: Final = 1
_WAKE_ALL: Final = 0x7FFFFFFF
_LOW: Final = 0xFFFFFFFF


class Timespec(ctypes.Structure):
    """struct timespec, for the futex and mutex calls that take one."""

    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class Futex:
    """Wait and wake on the 32-bit futex at ``address`` (an int64 word of the mapping).

    ``available`` is False where the system call is unknown; callers then spin or yield.
    """

    def __init__(self, address: int) -> None:
        self.address = address
        self._addr = ctypes.c_void_p(address)
        self._nr = _SYS_FUTEX.get(os.uname().machine)
        self._libc = ctypes.CDLL(None, use_errno=True) if self._nr is not None else None
        self.available = self._libc is not None

    def wait(self, seen: int, timeout_s: float) -> None:
        """Sleep while the word still holds ``seen`` (its low 32 bits), at most
        ``timeout_s``; spurious and early returns are the caller's to re-check."""
        if self._libc is None:
            return
        ts = Timespec(int(timeout_s), int((timeout_s % 1.0) * 1e9))
        self._libc.syscall(self._nr, self._addr, _FUTEX_WAIT,
                           ctypes.c_uint32(seen & _LOW), ctypes.byref(ts), None, 0)

    def wake(self) -> None:
        """Wake every process sleeping on the word."""
        if self._libc is None:
            return
        self._libc.syscall(self._nr, self._addr, _FUTEX_WAKE, _WAKE_ALL, None, None, 0)
