"""The OFD policy's bounded wait: a real second process holds the lock."""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Final

import pytest

from sim.core.exchange import Exchange
from sim.errors import LockTimeout
from tests.conftest import CURRENCIES

__all__: list[str] = []

TIMEOUT_MS: Final = 300
HOLDER_READY_S: Final = 10.0


def _hold_lock(path: str, c: int, ready_w: int) -> None:
    """Child: take currency ``c``'s OFD lock through its own descriptor, say so, wait."""
    code = 1
    try:
        ex = Exchange.open(path)
        ex.locks.acquire(c)
        os.write(ready_w, b"x")
        time.sleep(60)  # killed long before
        code = 0
    finally:
        os._exit(code)


def _not_ours(signum: int, frame: FrameType | None) -> None:
    raise AssertionError("the caller's SIGALRM handler ran")


@pytest.mark.timeout(30)
def test_ofd_acquire_times_out_and_restores_the_alarm(tmp_path: Path) -> None:
    path = str(tmp_path / "x.dat")
    ex = Exchange.create(path, CURRENCIES, n_writers=2, n_accounts=2, ring_rows=16,
                         sync="ofd", lock_timeout_ms=TIMEOUT_MS)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        _hold_lock(path, 1, ready_w)
    os.close(ready_w)
    old = signal.signal(signal.SIGALRM, _not_ours)
    try:
        ready, _, _ = select.select([ready_r], [], [], HOLDER_READY_S)
        assert ready and os.read(ready_r, 1) == b"x", "the holder never took the lock"
        locks = ex.locks
        assert locks.try_acquire(1) is None, "the child's lock is not held"
        t0 = time.monotonic()
        with pytest.raises(LockTimeout, match=r"ofd lock for currency 1: still held after "
                                              r"0\.3 s"):
            locks.acquire(1)
        waited = time.monotonic() - t0
        assert waited >= TIMEOUT_MS / 1000 * 0.9, waited
        assert waited < TIMEOUT_MS / 1000 + 5.0, waited
        # The wait's alarm is gone and the caller's handler is back.
        assert signal.getsignal(signal.SIGALRM) is _not_ours
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        # Other currencies were never blocked; the holder's death frees its lock.
        assert locks.acquire(0) is False
        locks.release(0)
        # All or nothing: a timeout on currency 1 gives back currency 0, which another
        # descriptor (another process's view) can then take.
        with pytest.raises(LockTimeout):
            locks.acquire_all()
        with Exchange.open(path) as other:
            assert other.locks.try_acquire(0) is False, "acquire_all kept currency 0"
            other.locks.release(0)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pid = 0
        assert locks.acquire(1) is False
        locks.release(1)
    finally:
        signal.signal(signal.SIGALRM, old)
        os.close(ready_r)
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        ex.close()
