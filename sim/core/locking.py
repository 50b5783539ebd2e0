"""Synchronisation policies behind one small interface.

``acquire(c)`` takes the lock that guards currency ``c`` and returns True when the
previous holder died holding it (the caller then recovers what that holder left in
flight); ``release(c)`` gives it back. Every wait is bounded by the exchange's lock
timeout and raises :class:`~sim.errors.LockTimeout` past it, so a frozen (SIGSTOPped)
holder is reported instead of hanging everyone.

Policies:

* ``none``: no lock at all; exists to show what goes wrong.
* ``global``: one robust mutex in the header for every trade.
* ``per_currency`` (default): a robust mutex in each currency record. Uncontended it
  never leaves user space (a futex), so traders on different currencies run in
  parallel; a holder's death is reported to the next locker as EOWNERDEAD.
* ``ofd``: a Linux open-file-description record lock on one byte per currency. Released
  by the kernel on death; every lock of one file sits on one kernel list, so it does not
  scale, and it needs a descriptor kept open.

The mutexes are glibc's process-shared robust mutexes, reached through ctypes and
living in the mapped file itself, so a C program mapping the same file takes the same
locks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import signal
import struct
import time
from collections.abc import Callable
from types import FrameType
from typing import Final, Protocol

from sim.core import layout as L
from sim.core.futex import Timespec
from sim.errors import LockTimeout, SimError

__all__ = ["Locks", "RobustMutexes", "init_mutex", "make_locks"]

SPIN_TRIES: Final = 64  # trylocks before a blocking wait: ~15 us of Python calls
OFD_SPIN_TRIES: Final = 16  # the same time in F_OFD_SETLK system calls
_PTHREAD_PROCESS_SHARED: Final = 1
_PTHREAD_MUTEX_ROBUST: Final = 1
_CLOCK_MONOTONIC: Final = 1


# glibc's pthread_mutex_t begins with int __lock, unsigned __count, int __owner.
_OWNER_OFFSET: Final = 8


def _load_pthread() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    if not hasattr(lib, "pthread_mutex_consistent"):
        name = ctypes.util.find_library("pthread")
        if name is None:
            raise SimError("robust mutexes need glibc's pthread library; use sync: ofd")
        lib = ctypes.CDLL(name, use_errno=True)
    for fn in ("pthread_mutex_lock", "pthread_mutex_trylock", "pthread_mutex_unlock",
               "pthread_mutex_consistent", "pthread_mutexattr_init",
               "pthread_mutexattr_setpshared", "pthread_mutexattr_setrobust",
               "pthread_mutex_init"):
        f = getattr(lib, fn)
        f.restype = ctypes.c_int
    lib.pthread_mutex_trylock.argtypes = [ctypes.c_void_p]
    lib.pthread_mutex_unlock.argtypes = [ctypes.c_void_p]
    lib.pthread_mutex_consistent.argtypes = [ctypes.c_void_p]
    return lib


_lib: ctypes.CDLL | None = None


def _pthread() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _load_pthread()
    return _lib


def init_mutex(address: int) -> None:
    """Initialise a process-shared robust mutex at ``address`` inside a mapping."""
    lib = _pthread()
    attr = ctypes.create_string_buffer(64)
    for rc in (lib.pthread_mutexattr_init(attr),
               lib.pthread_mutexattr_setpshared(attr, _PTHREAD_PROCESS_SHARED),
               lib.pthread_mutexattr_setrobust(attr, _PTHREAD_MUTEX_ROBUST),
               lib.pthread_mutex_init(ctypes.c_void_p(address), attr)):
        if rc:
            raise SimError(f"cannot initialise a robust mutex: {os.strerror(rc)}")


def _acquire_in_order(acquire: Callable[[int], bool], release: Callable[[int], None],
                      n: int) -> bool:
    """Take locks ``0..n-1`` in that order (every process does, so none deadlocks); if
    one fails (a timeout), give back those taken. True if any holder had died."""
    died = False
    taken = 0
    try:
        for c in range(n):
            died |= acquire(c)
            taken += 1
    except BaseException:
        for c in reversed(range(taken)):
            release(c)
        raise
    return died


class Locks(Protocol):
    name: str
    recovers: bool

    def acquire(self, c: int) -> bool: ...
    def try_acquire(self, c: int) -> bool | None: ...
    def lock_ids(self) -> range: ...
    def release(self, c: int) -> None: ...
    def acquire_all(self) -> bool: ...
    def release_all(self) -> None: ...
    def covered(self, c: int) -> range: ...
    def close(self) -> None: ...


class NoLocks:
    """The unsynchronised policy: every call is free and nothing is protected."""

    name = "none"
    recovers = False

    def __init__(self, n_currencies: int) -> None:
        self._all = range(n_currencies)

    def acquire(self, c: int) -> bool:
        return False

    def try_acquire(self, c: int) -> bool | None:
        return False

    def lock_ids(self) -> range:
        return range(0)

    def release(self, c: int) -> None:
        return None

    def acquire_all(self) -> bool:
        return False

    def release_all(self) -> None:
        return None

    def covered(self, c: int) -> range:
        return range(c, c + 1)

    def close(self) -> None:
        return None


class RobustMutexes:
    """Robust process-shared pthread mutexes at given addresses of the mapping.

    ``addresses[i]`` guards currency ``i``; the global policy passes one address, which
    then guards every currency.
    """

    recovers = True

    def __init__(self, name: str, addresses: list[int], n_currencies: int,
                 timeout_s: float) -> None:
        lib = _pthread()
        self.name = name
        self._ptrs = [ctypes.c_void_p(a) for a in addresses]
        self._n = n_currencies
        self._single = len(addresses) == 1
        self._trylock: Callable[[ctypes.c_void_p], int] = lib.pthread_mutex_trylock
        self._unlock: Callable[[ctypes.c_void_p], int] = lib.pthread_mutex_unlock
        self._consistent: Callable[[ctypes.c_void_p], int] = lib.pthread_mutex_consistent
        clocklock = getattr(lib, "pthread_mutex_clocklock", None)
        if clocklock is not None:
            clocklock.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(Timespec)]
            clocklock.restype = ctypes.c_int
        self._clocklock = clocklock
        timedlock = lib.pthread_mutex_timedlock
        timedlock.argtypes = [ctypes.c_void_p, ctypes.POINTER(Timespec)]
        timedlock.restype = ctypes.c_int
        self._timedlock = timedlock
        self.timeout_s = timeout_s
        self.owner_dead = 0
        self.waits = 0

    def _ptr(self, c: int) -> ctypes.c_void_p:
        return self._ptrs[0] if self._single else self._ptrs[c]

    def acquire(self, c: int) -> bool:
        # The holder is most likely running on another CPU and done within a few
        # microseconds: retrying is far cheaper than sleeping in the kernel and being
        # woken. Only a holder that stays (descheduled, paused) costs a wait.
        ptr = self._ptrs[0] if self._single else self._ptrs[c]
        rc = self._trylock(ptr)
        if rc == 0:  # the common case, kept free of any further call
            return False
        spins = SPIN_TRIES
        while rc == errno.EBUSY and spins:
            rc = self._trylock(ptr)
            spins -= 1
        if rc == errno.EBUSY:
            self.waits += 1
            rc = self._wait(ptr)
        return self._owned(ptr, rc, c)

    def try_acquire(self, c: int) -> bool | None:
        """One non-blocking try: None if taken, else whether the last holder died."""
        ptr = self._ptr(c)
        rc = self._trylock(ptr)
        return None if rc == errno.EBUSY else self._owned(ptr, rc, c)

    def _owned(self, ptr: ctypes.c_void_p, rc: int, c: int) -> bool:
        """The outcome of a lock call that did not find the lock busy: True if it was
        taken over from a dead holder (now marked consistent; the caller recovers)."""
        if rc == 0:
            return False
        if rc == errno.EOWNERDEAD:
            self._consistent(ptr)
            self.owner_dead += 1
            return True
        if rc == errno.ETIMEDOUT:
            raise LockTimeout(f"{self.name} lock for currency {c}: still held after "
                              f"{self.timeout_s:g} s (holder stopped or stuck)")
        raise SimError(f"{self.name} lock for currency {c}: {os.strerror(rc)}")

    def lock_ids(self) -> range:
        return range(1 if self._single else self._n)

    def _wait(self, ptr: ctypes.c_void_p) -> int:
        if self._clocklock is not None:
            deadline = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + int(self.timeout_s * 1e9)
            ts = Timespec(deadline // 1_000_000_000, deadline % 1_000_000_000)
            return int(self._clocklock(ptr, _CLOCK_MONOTONIC, ctypes.byref(ts)))
        deadline = time.time_ns() + int(self.timeout_s * 1e9)
        ts = Timespec(deadline // 1_000_000_000, deadline % 1_000_000_000)
        return int(self._timedlock(ptr, ctypes.byref(ts)))

    def release(self, c: int) -> None:
        self._unlock(self._ptrs[0] if self._single else self._ptrs[c])

    def acquire_all(self) -> bool:
        if self._single:
            return self.acquire(0)
        return _acquire_in_order(self.acquire, self.release, self._n)

    def release_all(self) -> None:
        for c in reversed(range(1 if self._single else self._n)):
            self.release(c)

    def covered(self, c: int) -> range:
        return range(self._n) if self._single else range(c, c + 1)

    def holder(self, c: int) -> int:
        """The thread id holding currency ``c``'s mutex (0 when free), read racily from
        glibc's ``pthread_mutex_t`` (``__owner``, the third int): for reports and fault
        injection only, never to decide who owns what."""
        ptr = self._ptr(c).value
        assert ptr is not None
        return ctypes.c_int.from_address(ptr + _OWNER_OFFSET).value

    def close(self) -> None:
        self._ptrs = []


class _Alarm(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm


class OfdLocks:
    """One Linux OFD write lock per currency, on the first byte of its lock field.

    The descriptor is this object's own (opened after fork): an OFD lock taken through a
    descriptor inherited across fork would be shared with the parent.
    """

    name = "ofd"
    recovers = True

    def __init__(self, path: str, offsets: list[int], timeout_s: float) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        self._lock = [struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, o, 1, 0)
                      for o in offsets]
        self._unlock = [struct.pack("hhqqi4x", fcntl.F_UNLCK, os.SEEK_SET, o, 1, 0)
                        for o in offsets]
        self._n = len(offsets)
        self.timeout_s = timeout_s
        self.owner_dead = 0
        self.waits = 0

    def acquire(self, c: int) -> bool:
        # As for the mutexes: a few non-blocking tries (each a system call, ~1 us) before
        # a blocking wait, which costs a sleep, a wake-up and the alarm around it.
        for _ in range(OFD_SPIN_TRIES):
            if self.try_acquire(c) is not None:
                return False
        self.waits += 1
        old = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        try:
            fcntl.fcntl(self._fd, fcntl.F_OFD_SETLKW, self._lock[c])
        except _Alarm:
            raise LockTimeout(f"ofd lock for currency {c}: still held after "
                              f"{self.timeout_s:g} s (holder stopped or stuck)") from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        return False

    def try_acquire(self, c: int) -> bool | None:
        """One non-blocking try: None if taken, else False (the kernel drops a dead
        holder's record locks, so there is no heir to tell)."""
        try:
            fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, self._lock[c])
            return False
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        return None

    def lock_ids(self) -> range:
        return range(self._n)

    def release(self, c: int) -> None:
        fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, self._unlock[c])

    def acquire_all(self) -> bool:
        return _acquire_in_order(self.acquire, self.release, self._n)

    def release_all(self) -> None:
        for c in reversed(range(self._n)):
            self.release(c)

    def covered(self, c: int) -> range:
        return range(c, c + 1)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def make_locks(policy: str, path: str, base: int, geo: L.Geometry, timeout_s: float) -> Locks:
    """The lock set of ``policy`` for a mapping of ``path`` starting at address ``base``."""
    offsets = L.lock_offsets(geo)
    if policy == "none":
        return NoLocks(geo.n_currencies)
    if policy == "global":
        return RobustMutexes("global", [base + offsets.global_lock], geo.n_currencies,
                             timeout_s)
    if policy == "per_currency":
        return RobustMutexes("per_currency", [base + o for o in offsets.currencies],
                             geo.n_currencies, timeout_s)
    if policy == "ofd":
        return OfdLocks(path, list(offsets.currencies), timeout_s)
    raise SimError(f"unknown sync policy {policy!r}; expected one of {sorted(L.SYNC_CODES)}")
