"""The machine's own speed-up at 2 processes: a CPU-bound pure-Python loop, 1 vs 2 at once.

The speed-up is the aggregate throughput ratio ``2 * t1 / t2``: ``t1`` is the time of one
loop alone, ``t2`` the time from the first start to the last end of two loops started
together. 2.0 means two full cores; the vCPUs here often give less, and that is the
ceiling the harness's own N=2 scaling is judged against.
"""

from __future__ import annotations

import time
from typing import Any, Final

import multiprocess

__all__ = ["SPIN_ITERATIONS", "measure_speedup", "spin"]

# About 0.5 s of one core on the 2-vCPU reference machine; fixed so runs compare.
SPIN_ITERATIONS: Final = 15_000_000
_WAIT_S: Final = 60.0


def spin(iterations: int) -> int:
    """Pure-Python integer work that touches no memory beyond a few objects."""
    x = 0
    for i in range(iterations):
        x += i & 7
    return x


def _child(iterations: int, go: Any, conn: Any) -> None:
    conn.send("ready")
    go.wait(_WAIT_S)
    start = time.monotonic()
    spin(iterations)
    conn.send((start, time.monotonic()))
    conn.close()


def _together(k: int, iterations: int) -> float:
    """Seconds from the first start to the last end of ``k`` loops released at once."""
    ctx = multiprocess.get_context("fork")
    go = ctx.Event()
    procs, conns = [], []
    try:
        for _ in range(k):
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_child, args=(iterations, go, w), daemon=True)
            p.start()
            w.close()
            procs.append(p)
            conns.append(r)
        for r in conns:
            if not r.poll(_WAIT_S):
                raise RuntimeError("a speed-up process did not start")
            r.recv()
        go.set()
        spans = []
        for r in conns:
            if not r.poll(_WAIT_S):
                raise RuntimeError("a speed-up process did not finish")
            spans.append(r.recv())
        for p in procs:
            p.join(_WAIT_S)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        for r in conns:
            r.close()
    return float(max(e for _, e in spans) - min(s for s, _ in spans))


def measure_speedup(iterations: int = SPIN_ITERATIONS) -> dict[str, float]:
    """One measurement: ``t1_s``, ``t2_s`` and ``speedup`` = 2 * t1 / t2."""
    t1 = _together(1, iterations)
    t2 = _together(2, iterations)
    return {"t1_s": round(t1, 4), "t2_s": round(t2, 4), "speedup": round(2 * t1 / t2, 4)}
