"""``sim watch``: a live terminal view of any exchange file, attached read-only.

The file is mapped read-only, so no lock can be taken (a process-shared mutex must be
written to be locked). Every frame is read with the optimistic seqlock alone: read each
currency's ``version``, copy both tables, read the versions again; if all were even and
none moved, no transaction wrote during the copy. A copy that never settles within
``SNAPSHOT_TRIES`` attempts is shown anyway, marked torn, and its invariants are not
judged (a torn copy "violates" conservation without anything being wrong).

A currency on a limit order book shows its last fill as its rate and its fills as its
trades; below the currencies, a table of the books (best prices, spread, resting orders,
what they hold, cash due to makers: the currency records' mirror of each book, in the
same copy) and each book's top levels (read under the same seqlock, separately). An
account's wealth counts what its resting orders hold and the cash it is due.

Under ``sync: none`` a settled seqlock proves nothing (racing traders can lose version
increments as well as money), so those frames are labelled unguarded.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from sim.config.scenario import load_scenario
from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.book_checks import Ladders
from sim.core.exchange import Exchange
from sim.core.snapshot import snapshot_into
from sim.core.valuation import rates, wealth
from sim.errors import BadInput, SimError
from sim.harness.rundir import SCENARIO_FILE, strategy_labels
from sim.tools.bookview import LEVELS_SHOWN, Depth, Ladder, books_view, ladder, read_depth
from sim.viz.terminal import console, indented, is_tty, plain_lines, table

__all__ = ["BookFrame", "Frame", "rates", "read_snapshot", "render", "screen", "sparkline",
           "trades", "watch_command"]

# A trade holds a currency's version odd for a few microseconds and busy runs make
# hundreds of thousands per second, so the first tries are back to back; a writer
# preempted mid-transaction (more traders than CPUs) is waited for by the later, paced
# tries (sim.core.snapshot.TIGHT_TRIES): about 40 ms in all.
SNAPSHOT_TRIES: Final = 200
SPARK_LEN: Final = 30
SPARK_CHARS: Final = "▁▂▃▄▅▆▇█"
TOP_ACCOUNTS: Final = 10
# Trades per second are measured over this window, so one slow refresh does not spike.
RATE_WINDOW_S: Final = 1.0
# The coordinator beats every 50 ms; a beat older than this means it is gone or stuck.
STALE_HEARTBEAT_S: Final = 2.0
SEPARATOR: Final = "-" * 72

Table = np.ndarray[Any, np.dtype[np.void]]
Floats = np.ndarray[Any, np.dtype[np.float64]]


@dataclass
class Snapshot:
    """The currency and writer tables as copied, and whether the seqlock vouched for the
    copy; ``accounts`` is copied beside it, unguarded (display only: the monitor's audits
    are what check accounts)."""

    cur: Table
    acc: Table
    settled: bool
    tries: int
    accounts: Table | None = None
    stakes: Table | None = None


@dataclass(frozen=True)
class BookFrame:
    """One book on the screen: its ladder (to print prices), its top levels and its
    fills so far (its currency's ``seq`` counts orders placed and cancelled too)."""

    ladder: Ladder
    depth: Depth
    fills: int = 0


@dataclass
class Frame:
    """Everything one refresh shows; :func:`screen` draws it, :func:`render` as text."""

    path: str
    header: dict[str, int]
    names: list[str]
    snap: Snapshot
    history: list[list[float]]
    trades_per_s: float | None
    strategies: dict[int, str]
    invariants: dict[str, list[str]] | None
    now_ns: int
    refresh_hz: float
    books: dict[int, BookFrame] = field(default_factory=dict)


@dataclass
class _State:
    history: list[deque[float]] = field(default_factory=list)
    seq_times: deque[tuple[float, int]] = field(default_factory=deque)
    prev: inv.Previous | None = None
    ladders: dict[int, Ladder] = field(default_factory=dict)
    # What the invariants need of the books (None for a pool-only file).
    checks: Ladders | None = None


def read_snapshot(ex: Exchange, tries: int = SNAPSHOT_TRIES) -> Snapshot:
    """Copy the currency and writer tables with the optimistic seqlock only (works on a
    read-only mapping), and the accounts after them; after ``tries`` unsettled attempts
    the last copy is returned marked unsettled."""
    raw = bytearray(ex.tables_size())
    copy = snapshot_into(ex, memoryview(raw), tries, locking=False)
    cur, acc = ex.decode_tables(raw)
    return Snapshot(cur, acc, copy.consistent, copy.tries, ex.accounts(),
                    ex.stakes() if ex.geo.book_mask else None)


def trades(cur: Table, books: dict[int, BookFrame]) -> list[int]:
    """Trades of each currency: a pool's accepted trades, a book's fills."""
    out = [int(x) for x in cur["seq"]]
    for c, b in books.items():
        out[c] = b.fills
    return out


def _stake_worth(stakes: Table | None, n: int, rate: Floats, scale: int) -> Floats:
    """What each account's resting orders hold and the cash it is due, valued at
    ``rate`` (zero without books)."""
    if stakes is None or not len(stakes):
        return np.zeros(n)
    units = stakes["reserved_units"].astype(np.float64)
    held = np.where(units != 0, units * rate, 0.0).sum(axis=1)
    cash = (stakes["reserved_cash"] + stakes["due_cash"]).sum(axis=1).astype(np.float64)
    out: Floats = (cash + held) / scale
    return out


def sparkline(values: list[float] | deque[float]) -> str:
    """Unicode bars of ``values`` scaled to their own range; a flat series is a flat line."""
    v = [x for x in values if math.isfinite(x)]
    if not v:
        return ""
    lo, hi = min(v), max(v)
    top = len(SPARK_CHARS) - 1
    if hi - lo <= 1e-12 * max(abs(hi), 1.0):
        return SPARK_CHARS[top // 2] * len(v)
    return "".join(SPARK_CHARS[round((x - lo) / (hi - lo) * top)] for x in v)


def _strategies(path: str) -> dict[int, str]:
    """Account -> strategy, from the scenario.yaml a run keeps next to its exchange file."""
    f = Path(path).parent / SCENARIO_FILE
    if not f.is_file():
        return {}
    try:
        return strategy_labels(load_scenario(f))
    except SimError:
        return {}  # labels are a convenience; the file itself is what is watched


def _money(x: float) -> str:
    return f"{x:,.2f}" if math.isfinite(x) else "nan"


def _invariant_lines(f: Frame) -> list[Text]:
    if f.invariants is None:
        return [Text("invariants: not checked (torn snapshot)", style="yellow")]
    bad = {k: v for k, v in f.invariants.items() if v}
    if not bad:
        return [Text("invariants: ok", style="green")]
    return [Text(f"invariants: VIOLATED {name}: {details[0]}"
                 + (f" (+{len(details) - 1} more)" if len(details) > 1 else ""), style="bold red")
            for name, details in bad.items()]


def screen(f: Frame) -> Group:
    """One frame as a rich renderable: a pure function of ``f``, nothing read or written."""
    h = f.header
    scale = max(1, h["scale"])
    cur, acc = f.snap.cur, f.snap.acc
    state = L.RUN_STATES.get(h["run_state"], f"unknown ({h['run_state']})")
    sync = L.SYNC_NAMES.get(h["sync"], "?")
    parts: list[RenderableType] = [Text(f"sim watch  {f.path}", style="bold")]
    head = Text(f"run {state}   sync {sync}")
    if h["schedule"] == L.SCHEDULE_DETERMINISTIC:
        head.append(f"   deterministic, turn {h['turns']:,}")
    if h["run_state"] in (L.RUN_RUNNING, L.RUN_STOPPING):
        head.append(f"   t {max(0, f.now_ns - h['start_ns']) / 1e9:,.1f} s")
        beat = (f.now_ns - h["heartbeat_ns"]) / 1e9
        if h["heartbeat_ns"] and beat > STALE_HEARTBEAT_S:
            head.append(f"   coordinator silent for {beat:,.0f} s (sim check shows what "
                        "it left)", style="bold yellow")
    parts.append(head)

    counts = trades(cur, f.books)
    seq = sum(counts)
    accounts = f.snap.accounts if f.snap.accounts is not None else np.zeros(
        0, dtype=L.ACCOUNT.dtype)
    rejected = int(accounts["rejected"][accounts["status"] != L.SLOT_FREE].sum())
    tps = "-" if f.trades_per_s is None else f"{f.trades_per_s:,.0f}"
    if sync == "none":
        snap = "unguarded (sync none: no snapshot is provably consistent)"
    elif f.snap.settled:
        snap = "consistent"
    else:
        snap = f"torn (never settled in {f.snap.tries} tries)"
    parts += [Text(f"trades {seq:,}   {tps} trades/s   rejected {rejected:,}   "
                   f"snapshot {snap}   refresh {f.refresh_hz:g}/s"), Text("")]

    rate, init = rates(cur), rates(cur, initial=True)
    rows = []
    for c, name in enumerate(f.names):
        change = (rate[c] / init[c] - 1.0) * 100.0
        rows.append([name, f"{rate[c]:.5f}", f"{change:+.2f}%",
                     sparkline(f.history[c]).ljust(SPARK_LEN),
                     _money(int(cur["volume_units"][c]) / scale),
                     _money(int(cur["volume_cash"][c]) / scale), f"{counts[c]:,}"])
    parts += [indented(table(["currency", "rate", "vs start",
                              f"trend (last {SPARK_LEN} refreshes)", "volume (units)",
                              "volume (cash)", "trades"], rows, right={1, 2, 4, 5, 6})),
              Text("")]
    if f.books:
        parts += books_view({c: b.ladder for c, b in f.books.items()}, cur,
                            {c: b.depth for c, b in f.books.items()})

    claimed = np.flatnonzero(accounts["status"] != L.SLOT_FREE)
    worth = wealth(accounts, rate, scale) + _stake_worth(f.snap.stakes, len(accounts), rate,
                                                         scale)
    start = wealth(accounts, init, scale, initial=True)
    # Top N without sorting a population: partition, then order the few.
    cand = claimed
    if len(cand) > TOP_ACCOUNTS:
        cand = cand[np.argpartition(-worth[cand], TOP_ACCOUNTS)[:TOP_ACCOUNTS]]
    shown = sorted(cand.tolist(), key=lambda s: (-worth[s], s))
    more = len(claimed) - len(shown)
    held = ", with what resting orders hold and cash due" if f.books else ""
    parts.append(Text(f"top accounts by wealth (cash + holdings at current rates{held}), "
                      f"{len(shown)} of {len(claimed)}"))
    if shown:
        rows = []
        for s in shown:
            a = accounts[s]
            w = int(a["writer"])
            pid = int(acc["pid"][w]) if 0 <= w < len(acc) else 0
            rows.append([str(s), str(w), str(pid), f.strategies.get(s, ""),
                         _money(worth[s]), f"{worth[s] - start[s]:+,.2f}",
                         _money(int(a["cash"]) / scale),
                         f"{int(a['trades']):,}", f"{int(a['rejected']):,}"])
        parts.append(indented(table(["account", "writer", "pid", "strategy", "wealth",
                                     "vs start", "cash", "trades", "rejected"], rows,
                                    right={0, 1, 2, 4, 5, 6, 7, 8})))
        if more:
            parts.append(Text(f"  ... and {more} more"))
    else:
        parts.append(Text("  no accounts in use"))
    parts.append(Text(""))
    parts += _invariant_lines(f)
    return Group(*parts)


def render(f: Frame) -> list[str]:
    """The lines of one frame as plain text (what a pipe or a file receives)."""
    return plain_lines(screen(f))


def _frame(ex: Exchange, st: _State, strategies: dict[int, str], interval_s: float) -> Frame:
    hdr = ex.header()
    header = {k: int(hdr[k]) for k in ("run_state", "sync", "schedule", "turns", "scale",
                                       "start_ns", "heartbeat_ns")}
    snap = read_snapshot(ex)
    books = {c: BookFrame(lad, read_depth(ex, c, LEVELS_SHOWN), ex.book(c).counter("fills"))
             for c, lad in st.ladders.items()}
    now = time.monotonic()
    names = [L.decode_name(bytes(n)) for n in snap.cur["name"]]
    rate = rates(snap.cur)
    if not st.history:
        st.history = [deque(maxlen=SPARK_LEN) for _ in names]
    for c, h in enumerate(st.history):
        h.append(float(rate[c]))
    seq = sum(trades(snap.cur, books))
    st.seq_times.append((now, seq))
    while len(st.seq_times) > 2 and now - st.seq_times[1][0] >= RATE_WINDOW_S:
        st.seq_times.popleft()
    t0, s0 = st.seq_times[0]
    tps = (seq - s0) / (now - t0) if now > t0 else None
    checked: dict[str, list[str]] | None = None
    if snap.settled:
        # Monotonicity is judged against this watcher's own last settled frame.
        checked = inv.check_all(snap.cur, snap.acc, st.prev, scale=max(1, header["scale"]),
                                ladders=st.checks)
        st.prev = inv.remember(snap.cur, snap.acc)
    return Frame(path=ex.path, header=header, names=names, snap=snap,
                 history=[list(h) for h in st.history], trades_per_s=tps,
                 strategies=strategies, invariants=checked,
                 now_ns=time.clock_gettime_ns(time.CLOCK_MONOTONIC),
                 refresh_hz=round(1.0 / interval_s, 1) if interval_s > 0 else 0.0, books=books)


def watch_command(path: str, out: IO[str], interval_s: float = 0.25, once: bool = False,
                  max_seconds: float | None = None) -> int:
    """Show ``path`` live until Ctrl-C, ``max_seconds``, or the run's clean shutdown."""
    if not interval_s > 0 or not math.isfinite(interval_s):
        raise BadInput(f"--interval: expected a positive number of seconds, got {interval_s}")
    ex = Exchange.open(path, writable=False)
    tty = is_tty(out) and not once
    st = _State(ladders={c: ladder(ex, c) for c in ex.geo.books},
                checks=Ladders.of(ex.q, ex.geo))
    strategies = _strategies(path)
    start = time.monotonic()
    next_tick = start
    shown = 0
    live: Live | None = None
    try:
        if tty:
            # Redrawn in place; a frame taller than the window is cut, not scrolled.
            live = Live(console=console(out), auto_refresh=False, transient=False,
                        redirect_stdout=False, redirect_stderr=False)
            live.start()
        while True:
            frame = _frame(ex, st, strategies, interval_s)
            if live is not None:
                live.update(screen(frame), refresh=True)
            else:
                if shown:
                    out.write(SEPARATOR + "\n")
                out.write("".join(line + "\n" for line in render(frame)))
                out.flush()
            shown += 1
            if once:
                return 0
            if frame.header["run_state"] == L.RUN_CLEAN:
                if live is not None:
                    live.stop()
                    live = None
                out.write("run ended\n")
                out.flush()
                return 0
            if max_seconds is not None and time.monotonic() - start >= max_seconds:
                return 0
            # Ticks on the monotonic clock keep the rate regular; a late frame skips ahead
            # instead of bursting to catch up.
            now = time.monotonic()
            next_tick = max(next_tick + interval_s, now)
            time.sleep(next_tick - now)
    except KeyboardInterrupt:
        if live is None:
            out.write("\n")
        return 0
    finally:
        if live is not None:
            live.stop()
        out.flush()
        ex.close()
