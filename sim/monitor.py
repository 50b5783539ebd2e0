"""The monitor process: consistent snapshots of the mapping, invariant checks, samples.

A snapshot is first tried optimistically (seqlock): read every currency's ``version``,
copy both tables, read the versions again; if all were even and none moved, no
transaction wrote during the copy, because every write to a pool or an account happens
while its currency's version is odd. After ``OPTIMISTIC_TRIES`` failures the monitor
takes every lock (recovering anything a dead holder left) and copies under them, so it is
never starved. Under ``sync: none`` there is nothing to make a copy consistent: its
samples are marked torn, and the final check at quiescence is the verdict.

Samples stream to ``monitor/samples.f8`` in chunks of ``CHUNK`` rows (memory does not
grow with the run); violations to ``monitor/violations.jsonl`` (the first
``MAX_RECORDED`` in full, all of them counted); a summary to ``monitor/monitor.json``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from . import invariants as inv
from . import layout as L
from .exchange import Exchange
from .trading import recover_currency

__all__ = ["OPTIMISTIC_TRIES", "Sampler", "monitor_main", "sample_columns", "take_snapshot"]

OPTIMISTIC_TRIES: Final = 32
YIELD_AFTER: Final = 8
CHUNK: Final = 256
MAX_RECORDED: Final = 2000
_VERSION: Final = L.CURRENCY.word("version")
_INFLIGHT: Final = L.CURRENCY.word("inflight")

Table = np.ndarray[Any, np.dtype[np.void]]


@dataclass
class Snap:
    cur: Table
    acc: Table
    consistent: bool
    locked: bool
    rolled_back: int = 0


def take_snapshot(ex: Exchange, tries: int = OPTIMISTIC_TRIES) -> Snap:
    """A copy of both tables; consistent unless the policy is ``none``."""
    q = ex.q
    vw = [b + _VERSION for b in ex.cur_base]
    policy_none = ex.sync == "none"
    for i in range(tries):
        if i >= YIELD_AFTER:
            # A writer is mid-transaction; it may be waiting for this very CPU.
            os.sched_yield()
        before = [q[w] for w in vw]
        if any(v & 1 for v in before):
            continue
        cur, acc = ex.copy_tables()
        if all(q[w] == v for w, v in zip(vw, before, strict=True)):
            return Snap(cur, acc, not policy_none, False)
    if policy_none:
        cur, acc = ex.copy_tables()
        return Snap(cur, acc, False, False)
    locks = ex.locks
    locks.acquire_all()
    rolled = 0
    try:
        # Recover whatever a dead holder left (for OFD the kernel does not tell us who).
        for c in range(ex.geo.n_currencies):
            if q[ex.cur_base[c] + _INFLIGHT] != L.NO_SLOT or q[vw[c]] & 1:
                rolled += recover_currency(ex, c)
        cur, acc = ex.copy_tables()
    finally:
        locks.release_all()
    return Snap(cur, acc, True, True, rolled)


def sample_columns(n_currencies: int, n_slots: int) -> int:
    """Width of one sample row: t, consistent, violations, rates, wealth per slot."""
    return 3 + n_currencies + n_slots


def rates_and_wealth(cur: Table, acc: Table, scale: int) -> tuple[np.ndarray[Any, Any],
                                                                    np.ndarray[Any, Any]]:
    """Pool rates (home money per unit) and each claimed slot's wealth (NaN if free)."""
    nc = len(cur)
    rate = cur["cash_reserve"].astype(np.float64) / cur["unit_reserve"].astype(np.float64)
    wealth = (acc["cash"].astype(np.float64)
              + acc["holdings"][:, :nc].astype(np.float64) @ rate) / scale
    wealth[acc["status"] == L.SLOT_FREE] = np.nan
    return rate, wealth


class Sampler:
    """Takes samples, checks invariants, and streams both to a folder."""

    def __init__(self, ex: Exchange, folder: str) -> None:
        self.ex = ex
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.nc = ex.geo.n_currencies
        self.width = sample_columns(self.nc, ex.geo.n_slots)
        self.buf = np.empty((CHUNK, self.width), dtype=np.float64)
        self.n_buf = 0
        self.samples = 0
        self.torn = 0
        self.locked = 0
        self.rolled_back = 0
        self.checks = dict.fromkeys(inv.NAMES, 0)
        self.violations = dict.fromkeys(inv.NAMES, 0)
        self.recorded = 0
        self.prev: inv.Previous | None = None
        self.scale = ex.scale
        self._samples_f = open(os.path.join(folder, "samples.f8"), "ab")  # noqa: SIM115
        self._viol_f = open(os.path.join(folder, "violations.jsonl"), "a")  # noqa: SIM115

    def sample(self) -> int:
        t = self.ex.now_ns() / 1e9
        snap = take_snapshot(self.ex)
        self.locked += snap.locked
        self.rolled_back += snap.rolled_back
        facts = inv.Facts(snap.cur, snap.acc)
        found = inv.check_all(snap.cur, snap.acc, self.prev, facts)
        n_viol = 0
        for name, details in found.items():
            self.checks[name] += 1
            if details:
                self.violations[name] += 1
                n_viol += len(details)
                if self.recorded < MAX_RECORDED:
                    self.recorded += 1
                    rec = {"t": round(t, 6), "invariant": name, "consistent": snap.consistent,
                           "details": details[:8]}
                    self._viol_f.write(json.dumps(rec) + "\n")
        if snap.consistent:
            self.prev = inv.remember(snap.cur, snap.acc, facts)
        else:
            self.torn += 1
        rate, wealth = rates_and_wealth(snap.cur, snap.acc, self.scale)
        row = self.buf[self.n_buf]
        row[0] = t
        row[1] = snap.consistent
        row[2] = n_viol
        row[3: 3 + self.nc] = rate
        row[3 + self.nc:] = wealth
        self.n_buf += 1
        self.samples += 1
        if self.n_buf == CHUNK:
            self.flush()
        return n_viol

    def flush(self) -> None:
        if self.n_buf:
            self.buf[: self.n_buf].tofile(self._samples_f)
            self._samples_f.flush()
            self.n_buf = 0
        self._viol_f.flush()

    def close(self, asked: int, interval_s: float) -> dict[str, Any]:
        self.flush()
        self._samples_f.close()
        self._viol_f.close()
        stats = {
            "samples": self.samples,
            "samples_asked": asked,
            "sample_ratio": round(self.samples / asked, 4) if asked else 1.0,
            "interval_s": interval_s,
            "torn": self.torn,
            "locked_snapshots": self.locked,
            "rolled_back": self.rolled_back,
            "recorded_violations": self.recorded,
            "invariants": {n: {"checks": self.checks[n], "violations": self.violations[n]}
                           for n in inv.NAMES},
        }
        with open(os.path.join(self.folder, "monitor.json"), "w") as f:
            json.dump(stats, f, indent=2)
        return stats


def monitor_main(path: str, folder: str, interval_s: float) -> None:
    """Process entry point: sample every ``interval_s`` until the run stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ex = Exchange.open(path)
    parent = ex.header_int("coordinator_pid") or os.getppid()
    state = L.HEADER.word("run_state")
    try:
        while ex.q[state] == L.RUN_INIT:
            if os.getppid() != parent:
                return
            time.sleep(0.001)
        sampler = Sampler(ex, folder)
        start = time.monotonic()
        k = 0
        while True:
            stopping = ex.q[state] != L.RUN_RUNNING or os.getppid() != parent
            sampler.sample()
            if stopping:
                break
            k += 1
            delay = start + k * interval_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                # Fell behind: skip the missed ticks rather than bursting to catch up.
                k = int((time.monotonic() - start) / interval_s)
        elapsed = time.monotonic() - start
        sampler.close(int(elapsed / interval_s) + 1, interval_s)
    finally:
        ex.close()
