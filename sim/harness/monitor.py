"""The monitor process: consistent snapshots of the mapping, invariant checks, samples.

A sample (:func:`sim.core.snapshot.snapshot_into`) is a consistent gather of the words
the per-sample checks read (:mod:`sim.core.gathered`): pools, counters and book mirrors
plus each writer's running totals, whose cost does not grow with the number of agents.
Samples are checked a batch at a time (see ``Sampler``) and stream to
``monitor/samples.f8`` a batch at a time, so memory does not grow with the run. At a
lower rate an audit copies every account too and proves each writer's totals are the
sums of its accounts and no account is negative (:func:`sim.core.invariants.audit`); each
audit also streams percentiles of every group's agents' profit and loss (wealth now at
current rates minus initial wealth at initial rates) to ``monitor/audits.f8``.
Violations go to ``monitor/violations.jsonl`` (the first ``MAX_RECORDED`` in full, all of
them counted); a summary, with how often each check ran, to ``monitor/monitor.json``.

In a file with limit order books, samples also check each currency record's mirror of its
book and record its best bid and ask; each audit copies every book in turn (under its
currency's seqlock, else its lock) and checks its structure, its reserves against the
stakes and the mirror against both; and every ``depth_s`` the top levels of each book,
read under the seqlock, stream to ``monitor/depth.f8``. A pool-only file costs what it did.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import time
from typing import Any, BinaryIO, Final

import numpy as np

from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.book_checks import BOOK_AUDIT_NAMES, BookCopy, Ladders, audit_book
from sim.core.book_depth import DEPTH_LEVELS, consistent_depth, quote_rates
from sim.core.exchange import Exchange
from sim.core.sched import current_slice_ns, request_slice
from sim.core.snapshot import (
    OPTIMISTIC,
    SETTLED,
    TRYLOCK,
    WAITED,
    book_snapshot,
    snapshot_into,
)
from sim.core.valuation import rates, wealth, writer_wealth
from sim.errors import LockTimeout
from sim.harness.faults import proc_state

__all__ = ["AUDITS_FILE", "AUDIT_BANDS", "DEPTH_COLUMNS", "DEPTH_FILE", "DEPTH_S",
           "MONITOR_DIR", "SAMPLES_FILE", "STALLS_FILE", "STATS_FILE", "Sampler",
           "audit_columns", "generation_stats", "merged_stats", "monitor_main", "on_share",
           "sample_columns"]

# Where the monitor writes, inside a run folder: the coordinator and sim plot read these.
MONITOR_DIR: Final = "monitor"
SAMPLES_FILE: Final = "samples.f8"
STATS_FILE: Final = "monitor.json"
AUDITS_FILE: Final = "audits.f8"
# Locks found held too long, one JSON line each: which lock, its holder, its state.
STALLS_FILE: Final = "stalls.jsonl"
# The books' top levels, one row of DEPTH_COLUMNS float64 per level read.
DEPTH_FILE: Final = "depth.f8"
DEPTH_COLUMNS: Final = ("t", "currency", "side", "level", "rate", "qty", "orders")
DEPTH_S: Final = 0.1
# In an idle window (``alternate_s``) the monitor looks at the run's state this often.
IDLE_POLL_S: Final = 0.05

CHUNK: Final = 256  # most snapshots per batch
BATCH_BYTES: Final = 4 << 20  # and at most this many bytes of them
BATCH_S: Final = 0.25  # a batch is checked and written at least this often
MAX_RECORDED: Final = 2000
# A write within one page is never cut short by a kill: the stats file's in-place bound.
STATS_PAGE: Final = 4096
# A sample is a burst of ~0.1 ms CPU: ask for a slice that size so that each wake-up
# preempts a trader at once instead of after the trader's ~1 ms slice (see sched.py).
SLICE_NS: Final = 100_000
# An audit of a large population takes a while and no sample is taken meanwhile: audits
# are spaced so that they take at most this share of the monitor's time.
AUDIT_SHARE: Final = 0.05
# Percentiles of profit and loss across a group's agents that each audit records.
AUDIT_BANDS: Final = (10, 50, 90)

Table = np.ndarray[Any, np.dtype[np.void]]
_START_NS: Final = L.HEADER.word("start_ns")


def _open_rows(path: str, columns: int) -> BinaryIO:
    """A stream of float64 rows of ``columns``, opened to append. A monitor killed while
    writing a batch leaves part of a row at the end: cut off, or every row its successor
    appends would be read shifted."""
    f = open(path, "ab")  # noqa: SIM115
    torn = f.tell() % (8 * columns)
    if torn:
        f.truncate(f.tell() - torn)
    return f


def sample_columns(n_currencies: int, n_writers: int) -> int:
    """Width of one sample row: t, consistent, violations, rates, wealth per writer, then
    best bid and best ask rates (NaN for a pool or an empty side) per currency."""
    return 3 + 3 * n_currencies + n_writers


def audit_columns(n_groups: int) -> int:
    """Width of one audit row: t, then each group's profit-and-loss percentiles."""
    return 1 + n_groups * len(AUDIT_BANDS)


class Sampler:
    """Takes samples, checks invariants, and streams both to a folder.

    Samples are gathered, raw, into the rows of a batch; every ``BATCH_S`` seconds (or
    when the batch is full) the batch is screened at once (``invariants.screen``), the few
    samples it marks are checked one by one for their details, and the rows go to disk.
    A sample thus costs one gather; the checks cost a fraction of their per-sample price.
    """

    def __init__(self, ex: Exchange, folder: str, n_groups: int = 0,
                 generation: int = 0) -> None:
        self.ex = ex
        self.folder = folder
        self.generation = generation
        self.stalls = 0
        self.t0 = time.monotonic()
        os.makedirs(folder, exist_ok=True)
        self.nc = ex.geo.n_currencies
        self.ns = ex.geo.n_writers
        self.n_groups = n_groups
        self.audit_raw = bytearray(ex.tables_size(full=True))
        self.audits = 0
        self.audit_s = 0.0
        self.width = sample_columns(self.nc, self.ns)
        self.words = ex.sample_words
        self.batch_rows = max(1, min(CHUNK, BATCH_BYTES // (8 * self.words.size)))
        self.raw, self._dst = ex.sample_batch(self.batch_rows)
        # The batch's times and consistency, one per gathered row (lists: a numpy store
        # per sample costs more, with cold caches, than the batch's conversion).
        self.t: list[float] = []
        self.consistent: list[bool] = []
        self.n = 0
        self.batch_started = 0.0
        self.samples = 0
        self.torn = 0
        self.locked = 0
        # Snapshots by how they were made: optimistic, every lock tried, every lock waited.
        self.modes = [0, 0, 0]
        self.rolled_back = 0
        # The books' ladders (None for a pool-only file, which then costs what it did).
        self.ladders = Ladders.of(ex.q, ex.geo)
        self.sample_names: tuple[str, ...] = inv.NAMES
        self.audit_names: tuple[str, ...] = inv.AUDIT_NAMES
        self.book_copy: BookCopy | None = None
        self.cur_names = ex.names()
        if self.ladders is not None:
            self.sample_names += inv.BOOK_NAMES
            self.audit_names += BOOK_AUDIT_NAMES
            self.book_copy = BookCopy(ex.geo.n_accounts, ex.geo.book_words)
        self.names = (*self.sample_names, *self.audit_names)
        self.checks = dict.fromkeys(self.names, 0)
        self.violations = dict.fromkeys(self.names, 0)
        self.recorded = 0
        self.prev: tuple[Table, Table] | None = None
        self.scale = ex.scale
        self.depth_reads = 0
        self.depth_skipped = 0
        self._depth_rows: list[list[float]] = []
        self._samples_f = _open_rows(os.path.join(folder, SAMPLES_FILE), self.width)
        self._viol_f = open(os.path.join(folder, "violations.jsonl"), "a")  # noqa: SIM115
        self._audit_f = _open_rows(os.path.join(folder, AUDITS_FILE),
                                   audit_columns(n_groups))
        self._depth_f = (_open_rows(os.path.join(folder, DEPTH_FILE), len(DEPTH_COLUMNS))
                         if self.ladders is not None else None)
        # The stats file, once written, rewritten in place (see _write_stats).
        self._stats_fd = -1
        self._stats_len = 0
        # Asked for before the sampler is made; read once (/proc/self/sched is text).
        self.slice_ns = current_slice_ns()
        self.cpu0 = time.process_time()

    def sample(self) -> None:
        t = (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - self.ex.q[_START_NS]) / 1e9
        i = self.n
        try:
            copy = snapshot_into(self.ex, self._dst[i])
        except LockTimeout as e:
            # A holder stopped or stuck: say who, and go on sampling.
            self._stall(t, str(e))
            return
        self.t.append(t)
        self.consistent.append(copy.consistent)
        self.modes[copy.mode] += 1
        self.samples += 1
        if copy is not SETTLED:
            self.locked += copy.locked
            self.rolled_back += copy.rolled_back
            self.torn += not copy.consistent
        if i == 0:
            self.batch_started = t
        self.n = i + 1
        if self.n == self.batch_rows or t - self.batch_started >= BATCH_S:
            self.flush()

    def _stall(self, t: float, what: str) -> None:
        """Record a lock held too long: every currency a writer is in flight on, with
        that writer's pid and its state from /proc."""
        self.stalls += 1
        ex = self.ex
        q = ex.q
        holders = []
        for c in range(self.nc):
            w = int(q[ex.cword(c, "inflight")])
            if w != L.NO_WRITER:
                pid = int(q[ex.wword(w, "pid")])
                holders.append({"currency": c, "writer": w, "pid": pid,
                                "state": proc_state(pid)})
        rec = {"t": round(t, 6), "lock": what, "holders": holders}
        with open(os.path.join(self.folder, STALLS_FILE), "a") as f:
            f.write(json.dumps(rec) + "\n")
        self._write_stats()

    def _tables(self, n: int) -> tuple[Table, Table]:
        """The batch's first ``n`` samples as B x C and B x S record arrays (views holding
        the gathered fields)."""
        return self.words.decode(self.raw[:n])

    def _check(self, n: int) -> np.ndarray[Any, Any]:
        """Every invariant on the batch's ``n`` snapshots; violations per snapshot."""
        cur, acc = self._tables(n)
        consistent = np.array(self.consistent, dtype=bool)
        suspect = inv.screen(cur, acc, consistent, self.prev, self.ladders)
        n_viol = np.zeros(n)
        for name in self.sample_names:
            self.checks[name] += n
        # The consistent snapshot before each one: what its monotonicity checks compare to.
        last = np.maximum.accumulate(np.where(consistent, np.arange(n), -1))
        for i in np.flatnonzero(suspect).tolist():
            j = int(last[i - 1]) if i > 0 else -1
            earlier = (cur[j], acc[j]) if j >= 0 else self.prev
            prev = inv.remember(*earlier) if earlier is not None else None
            found = inv.check_all(cur[i], acc[i], prev, scale=self.scale,
                                  ladders=self.ladders)
            n_viol[i] += self._record(float(self.t[i]), bool(consistent[i]), found)
        if last[-1] >= 0:
            j = int(last[-1])
            self.prev = (cur[j].copy(), acc[j].copy())
        return n_viol

    def _record(self, t: float, consistent: bool, found: dict[str, list[str]]) -> int:
        """Count and record the violations of one snapshot; returns their number."""
        n = 0
        for name, details in found.items():
            if not details:
                continue
            self.violations[name] += 1
            n += len(details)
            if self.recorded < MAX_RECORDED:
                self.recorded += 1
                rec = {"t": round(t, 6), "invariant": name, "consistent": consistent,
                       "details": details[:8]}
                self._viol_f.write(json.dumps(rec) + "\n")
        return n

    def audit(self) -> None:
        """Copy every account with the pools and writers (consistently, under the locks
        when an optimistic copy fails) and check that the totals match the accounts."""
        t0 = time.monotonic()
        t = self.ex.now_ns() / 1e9
        dst = memoryview(self.audit_raw)
        try:
            copy = snapshot_into(self.ex, dst, rounds=1, full=True)
            consistent = copy.consistent
            self.rolled_back += copy.rolled_back
            cur, wri, acc = self.ex.decode_all(self.audit_raw)
            found = inv.audit(cur, wri, acc) if consistent else {}
            for name in inv.AUDIT_NAMES:
                self.checks[name] += consistent
            self._record(t, consistent, found)
            self._audit_row(t, cur, acc)
            del cur, wri, acc
        finally:
            dst.release()
        if self.book_copy is not None:
            self._audit_books(t, self.book_copy)
        self.audits += 1
        self.audit_s += time.monotonic() - t0
        self._write_stats()

    def _audit_books(self, t: float, dst: BookCopy) -> None:
        """Each book's checks on a consistent copy of it (under its currency's lock when
        the seqlock does not settle: one currency at a time, never all)."""
        for c in self.ex.geo.books:
            try:
                copy = book_snapshot(self.ex, c, dst)
            except LockTimeout as e:
                self._stall(t, str(e))
                continue
            self.rolled_back += copy.rolled_back
            if not copy.consistent:
                continue
            for name in BOOK_AUDIT_NAMES:
                self.checks[name] += 1
            # The journal header is written outside the seqlock: judged under the lock.
            self._record(t, True, audit_book(dst, self.cur_names[c], journal=copy.locked))

    def depth(self) -> None:
        """Read the top levels of every book under the seqlock and keep them as rows; a
        book whose version does not settle in a few tries is skipped this time."""
        ex = self.ex
        lad = self.ladders
        assert lad is not None
        t = ex.now_ns() / 1e9
        for c in ex.geo.books:
            d = consistent_depth(ex.q, ex.geo.book_at(c) // 8, ex.cword(c, "version"),
                                 DEPTH_LEVELS)
            self.depth_reads += 1
            if d is None:
                self.depth_skipped += 1
                continue
            for side, levels in enumerate((d.bids, d.asks)):
                self._depth_rows += [[t, c, side, i, lv.price / d.lot,
                                      lv.lots * d.lot / self.scale, lv.orders]
                                     for i, lv in enumerate(levels)]

    def _audit_row(self, t: float, cur: Table, acc: Table) -> None:
        if not self.n_groups:
            return
        # Free and joined accounts have no group (-1): no mask is needed to leave them out.
        pnl = (wealth(acc, rates(cur), self.scale)
               - wealth(acc, rates(cur, initial=True), self.scale, initial=True))
        group = acc["group"]
        row = np.full(audit_columns(self.n_groups), np.nan)
        row[0] = t
        for g in range(self.n_groups):
            w = pnl[group == g]
            if len(w):
                k = 1 + g * len(AUDIT_BANDS)
                row[k: k + len(AUDIT_BANDS)] = np.percentile(w, AUDIT_BANDS)
        row.tofile(self._audit_f)
        self._audit_f.flush()

    def flush(self) -> None:
        n = self.n
        if n:
            n_viol = self._check(n)
            cur, acc = self._tables(n)
            rate = rates(cur)
            nc, ns = self.nc, self.ns
            rows = np.empty((n, self.width), dtype=np.float64)
            rows[:, 0] = self.t
            rows[:, 1] = self.consistent
            rows[:, 2] = n_viol
            quotes = rows[:, 3 + nc + ns:]
            quotes[:] = np.nan  # a pool quotes nothing
            if self.ladders is not None:
                quotes[:, :nc], quotes[:, nc:] = quote_rates(cur, self.ladders.book,
                                                             self.ladders.lot)
            rows[:, 3: 3 + nc] = rate
            rows[:, 3 + nc: 3 + nc + ns] = writer_wealth(acc, rate, self.scale)
            self.n = 0
            self.t = []
            self.consistent = []
            # Counts first: a monitor killed in between loses rows, never a check.
            self._viol_f.flush()
            self._write_stats()
            rows.tofile(self._samples_f)
            self._samples_f.flush()
        else:
            self._viol_f.flush()
            self._write_stats()
        if self._depth_f is not None and self._depth_rows:
            np.array(self._depth_rows, dtype=np.float64).tofile(self._depth_f)
            self._depth_f.flush()
            self._depth_rows = []

    def _write_stats(self, final: dict[str, Any] | None = None) -> None:
        """This generation's counts so far: checked samples are on disk before their
        counts, so a monitor killed at any instant loses neither.

        The first time (and whenever they outgrow a page) the file is replaced atomically;
        after that it is rewritten in place by one write within its first page, padded
        with blanks over a longer earlier text. A kill cannot cut such a write short (the
        kernel looks for a fatal signal before each page, so it lands whole or not at
        all), and it costs microseconds where a rename over the file costs a millisecond
        (ext4 then forces the new data out), several times a second.
        """
        stats = final if final is not None else self.stats(
            0, 0.0, time.monotonic() - self.t0)
        data = json.dumps(stats).encode()
        if self._stats_fd >= 0 and len(data) <= STATS_PAGE:
            os.pwrite(self._stats_fd, data.ljust(self._stats_len), 0)
            self._stats_len = max(self._stats_len, len(data))
            return
        path = os.path.join(self.folder, generation_stats(self.generation))
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        self._close_stats()
        if len(data) <= STATS_PAGE:
            self._stats_fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            self._stats_len = len(data)

    def _close_stats(self) -> None:
        if self._stats_fd >= 0:
            os.close(self._stats_fd)
            self._stats_fd = -1

    def close(self, asked: int, interval_s: float, elapsed_s: float) -> dict[str, Any]:
        self.flush()
        self._samples_f.close()
        self._viol_f.close()
        self._audit_f.close()
        if self._depth_f is not None:
            self._depth_f.close()
        stats = self.stats(asked, interval_s, elapsed_s)
        stats["closed"] = True
        self._write_stats(stats)
        self._close_stats()
        return stats

    def stats(self, asked: int, interval_s: float, elapsed_s: float) -> dict[str, Any]:
        """The counts so far (``asked`` and ``interval_s`` are known at the end only)."""
        cpu = time.process_time() - self.cpu0
        return {
            "samples": self.samples,
            "samples_asked": asked,
            "sample_ratio": round(self.samples / asked, 4) if asked else 1.0,
            "interval_s": interval_s,
            "slice_ns": self.slice_ns,
            # CPU the sampling took (from the traders, when they keep every CPU busy).
            "cpu_s": round(cpu, 4),
            "cpu_share": round(cpu / elapsed_s, 4) if elapsed_s > 0 else None,
            "torn": self.torn,
            "locked_snapshots": self.locked,
            "optimistic_snapshots": self.modes[OPTIMISTIC],
            "trylock_snapshots": self.modes[TRYLOCK],
            "waited_snapshots": self.modes[WAITED],
            "rolled_back": self.rolled_back,
            "recorded_violations": self.recorded,
            "audits": self.audits,
            "audit_cpu_s": round(self.audit_s, 4),
            # Which checks ran how often: samples check pools and writer totals, audits
            # every account.
            "invariants": {n: {"checks": self.checks[n], "violations": self.violations[n],
                               "rate_hz": round(self.checks[n] / elapsed_s, 2)
                               if elapsed_s > 0 else None}
                           for n in self.names},
            "lock_stalls": self.stalls,
            "elapsed_s": round(elapsed_s, 4),
            # Seqlock reads of the books' top levels, and those skipped (never settled).
            **({"depth_reads": self.depth_reads, "depth_skipped": self.depth_skipped}
               if self.ladders is not None else {}),
        }


_SUMMED: Final = ("samples", "cpu_s", "torn", "locked_snapshots", "optimistic_snapshots",
                   "trylock_snapshots", "waited_snapshots", "rolled_back",
                   "recorded_violations", "audits", "audit_cpu_s", "lock_stalls")


def on_share(alternate_s: float | None) -> float:
    """The share of a run's time the monitor samples in: half of it when it alternates."""
    return 1.0 if alternate_s is None else 0.5


def merged_stats(folder: str, generations: int, elapsed_s: float,
                 interval_s: float, alternate_s: float | None = None
                 ) -> dict[str, Any] | None:
    """The counts of every monitor process of a run (``generations`` of them: the first
    and each restart) added up, as ``monitor.json`` holds them; None if none wrote any.
    Samples are asked for only in the time the monitor samples in (``alternate_s``)."""
    parts = []
    for g in range(generations):
        with contextlib.suppress(FileNotFoundError), open(
                os.path.join(folder, generation_stats(g))) as f:
            parts.append(json.load(f))
    if not parts:
        return None
    out: dict[str, Any] = {k: sum(p.get(k, 0) for p in parts) for k in _SUMMED}
    asked = int(elapsed_s * on_share(alternate_s) / interval_s) + 1
    out.update(samples_asked=asked, sample_ratio=round(out["samples"] / asked, 4),
               interval_s=interval_s, slice_ns=parts[-1]["slice_ns"],
               cpu_share=round(out["cpu_s"] / elapsed_s, 4) if elapsed_s > 0 else None,
               generations=generations)
    for k in ("cpu_s", "audit_cpu_s"):
        out[k] = round(out[k], 4)
    out["invariants"] = {}
    # Every check any generation ran (a file with books has more), in their order.
    names = dict.fromkeys(n for p in parts for n in p["invariants"])
    for n in names:
        checks = sum(p["invariants"].get(n, {}).get("checks", 0) for p in parts)
        out["invariants"][n] = {
            "checks": checks,
            "violations": sum(p["invariants"].get(n, {}).get("violations", 0)
                              for p in parts),
            "rate_hz": round(checks / elapsed_s, 2) if elapsed_s > 0 else None}
    return out


def generation_stats(generation: int) -> str:
    """The file a monitor process of this generation (0, then each restart) streams its
    counts to, inside the monitor folder."""
    return f"monitor-{generation}.json"


def monitor_main(path: str, folder: str, interval_s: float, audit_s: float = 0.5,
                 n_groups: int = 0, generation: int = 0, depth_s: float = DEPTH_S,
                 alternate_s: float | None = None) -> None:
    """Process entry point: sample every ``interval_s``, read the books' top levels every
    ``depth_s`` (a file with books) and audit every ``audit_s`` (or less often, when
    audits would take more than ``AUDIT_SHARE`` of the time) until the run stops, then
    audit once more.

    With ``alternate_s`` all of that happens only in the even windows of that length
    from the run's start; in the odd ones the monitor sleeps, so that the trades of the
    two kinds of window, side by side in one run, measure what the monitor costs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    request_slice(SLICE_NS)
    ex = Exchange.open(path)
    parent = ex.coordinator_pid()
    state = L.HEADER.word("run_state")
    if n_groups:
        # The first percentile imports numpy.ma (~0.1 s): while the traders get ready,
        # not in the first audit, inside the run.
        np.percentile(np.zeros(1), AUDIT_BANDS)
    try:
        while ex.q[state] == L.RUN_INIT:
            if os.getppid() != parent:
                return
            time.sleep(0.001)
        sampler = Sampler(ex, folder, n_groups, generation)
        # Everything inherited from the coordinator (numpy, pydantic, the scenario) and
        # set up so far is long-lived: out of the collector's sight, a full collection
        # stays short. (A collection while the monitor holds every lock stalls all
        # traders: snapshot_into keeps the collector off meanwhile.)
        gc.freeze()
        alt_ns = round(alternate_s * 1e9) if alternate_s else 0
        run_start_ns = ex.header_int("start_ns")
        start = time.monotonic()
        next_audit = start + audit_s
        # Without books there is no depth to read: never due.
        next_depth = start if sampler.ladders is not None else float("inf")
        k = 0
        while True:
            stopping = ex.q[state] != L.RUN_RUNNING or os.getppid() != parent
            if alt_ns and not stopping:
                now_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                window = (now_ns - run_start_ns) // alt_ns
                if window % 2:
                    # Idle: long sleeps (a wake-up costs the traders too), the stop seen
                    # within one of them; then back on the schedule's grid.
                    rest_ns = run_start_ns + (window + 1) * alt_ns - now_ns
                    time.sleep(min(IDLE_POLL_S, rest_ns / 1e9))
                    k = int((time.monotonic() - start) / interval_s)
                    continue
            sampler.sample()
            if time.monotonic() >= next_depth:
                sampler.depth()
                next_depth = max(next_depth + depth_s, time.monotonic())
            if stopping or time.monotonic() >= next_audit:
                t_audit = time.monotonic()
                sampler.audit()
                took = time.monotonic() - t_audit
                next_audit = time.monotonic() + max(audit_s, took / AUDIT_SHARE)
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
        sampler.close(int(elapsed * on_share(alternate_s) / interval_s) + 1, interval_s,
                      elapsed)
    finally:
        ex.close()
