"""The end of a run: the ledger into tables, the final verdict, the summary, the figures.

Everything here runs after trading stopped and every process was reaped or killed, on a
settled file. The heavy imports (pyarrow for the tables, matplotlib for the figures)
happen only here, so none of them delays the first trade or sits in the memory of a
forked trader. Both CPUs work: the figures' process is forked first and imports
matplotlib while this one reads the ledger, and the trades table is written by a child
while this one writes the rest.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

from sim import __version__
from sim.config.scenario import Scenario, TraderGroup
from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.book_checks import BOOK_AUDIT_NAMES
from sim.core.exchange import Exchange
from sim.core.ledger import load_ledger
from sim.core.quiescence import final_check
from sim.core.valuation import owned, rates
from sim.harness.faults import KillCounts
from sim.harness.gaps import longest_gap
from sim.harness.monitor import MONITOR_DIR, STATS_FILE, merged_stats, on_share
from sim.harness.processes import TraderProcess
from sim.harness.rundir import ORDERS, SCENARIO_FILE, TRADES, group_labels, write_json
from sim.viz.parallel import Forked, Painter

if TYPE_CHECKING:
    from sim.viz.book_data import BookTables
from sim.harness.summary import (
    SUMMARY_FILE,
    BookStats,
    CurrencyResult,
    FaultCounts,
    InvariantCount,
    MarketStats,
    MonitorStats,
    PeakRss,
    ProcessResult,
    RunSummary,
    TraderResult,
    Versions,
    book_stats,
    market_summary,
    write_summary,
)

__all__ = ["FINAL_ONLY", "FinishedRun", "finish_run"]

FINAL_ONLY: Final = ("no_transaction_in_flight", "ledger_complete")


class FinishedRun(Protocol):
    """What the end of a run reads of the coordinator's record of it."""

    scn: Scenario
    run_dir: Path
    csv: bool
    plan: list[TraderGroup]
    traders: list[TraderProcess]
    monitor: Any
    monitor_exit: str
    monitor_generation: int
    resumed: int
    seq_at_start: int
    arrivals_at_start: int
    rss: PeakRss
    killed: KillCounts
    restarts: int


def finish_run(run: FinishedRun, ex: Exchange, reason: str, duration: float,
               settled: dict[str, int], figures: bool) -> RunSummary:
    """The run's tables, verdict and summary.json, and with ``figures`` its PNGs."""
    # Forked before the ledger is read: matplotlib's imports happen there while this
    # process writes the tables (a figure's failure is recorded in the summary).
    with contextlib.ExitStack() as stack:
        painter = Painter(_prepare_figures, _draw) if figures else None
        if painter is not None:
            stack.callback(painter.close)
        return _finish_run(run, ex, reason, duration, settled, painter, stack)


def _finish_run(run: FinishedRun, ex: Exchange, reason: str, duration: float,
                settled: dict[str, int], painter: Painter | None,
                stack: contextlib.ExitStack) -> RunSummary:
    # Imported only now: pyarrow takes a tenth of a second to import, and none of it may
    # delay the first trade (nor sit in the forked processes' memory).
    from sim.harness.agents import AGENTS_FILE, group_stats, write_agents
    from sim.harness.tables import (
        DEPTH,
        ledger_books,
        read_samples,
        write_samples,
        write_trades,
    )
    from sim.viz.book_data import read_book_tables

    t_finish = time.monotonic()
    scn = run.scn
    names = ex.names()
    cur, wri, acc = ex.copy_all()
    rows, _owners = load_ledger(ex, wri)
    del _owners
    # The largest table is written by a child beside the rest of this work (it reads the
    # rows this process holds now); a bad row is found here first.
    trade_tables = Forked(functools.partial(
        write_trades, run.run_dir, rows, names, csv=run.csv,
        books=ledger_books(run.run_dir, rows), checked=True), "table writing")
    stack.callback(trade_tables.close)
    n_rows = len(rows)
    # Pool trades and book fills are trades; orders placed and cancelled are events.
    traded = rows["kind"] <= L.ROW_FILL
    n_trades = int(traded.sum())
    gap = longest_gap(rows["t_ns"][traded])
    # A maker's fills are trades of its account too, though another process's order made
    # them (an account's own counter counts the orders it sent that traded).
    makers = rows["maker"][rows["kind"] == L.ROW_FILL]
    maker_fills = np.bincount(makers[makers >= 0], minlength=len(acc))[: len(acc)]
    del rows, traded, makers
    verdict = final_check(ex, n_rows)
    labels = {t.writer: t.strategy for t in run.traders}
    group_names = group_labels(scn)
    n_samples = write_samples(run.run_dir, run.run_dir / MONITOR_DIR, ex.geo.n_currencies,
                              ex.geo.n_writers, names, labels, group_names)
    # What an account owns on a book (reserves, cash due) counts in its wealth.
    acc = owned(acc, ex.stakes())
    acc["trades"] += maker_fills
    write_agents(run.run_dir, acc, cur, scn.scale, len(run.plan), group_names)
    mon = _monitor_stats(run, n_samples, duration)
    live_counts = mon.invariants or {}
    # The monitor's counts, plus one check each for the final verdict.
    invariants = dict(live_counts)
    books = (*inv.BOOK_NAMES, *BOOK_AUDIT_NAMES) if ex.geo.book_mask else ()
    for name in [*inv.NAMES, *inv.AUDIT_NAMES, *books, *FINAL_ONLY]:
        live = invariants.get(name, InvariantCount(checks=0, violations=0))
        invariants[name] = live.model_copy(update={
            "checks": live.checks + 1,
            "violations": live.violations + (name in verdict["violations"])})
    live_violations = sum(r.violations for r in live_counts.values())
    init_rate, rate = rates(cur, initial=True), rates(cur)
    # Read once: the market statistics and the figures both draw on them.
    samples = read_samples(run.run_dir)
    on_books = [n for c, n in enumerate(names) if ex.is_book(c)]
    ticks = _ticks(ex, names)
    tables = None
    if on_books:
        trade_tables.wait()
        tables = read_book_tables(run.run_dir / TRADES, run.run_dir / ORDERS,
                                  run.run_dir / DEPTH)
    by_book = book_stats(samples, tables, on_books, ticks) if tables is not None else None
    processes = [ProcessResult(
        writer=t.writer, strategy=t.strategy, agents=len(t.agents),
        trades=int(wri["tot_trades"][t.writer]), rollbacks=int(wri["rollbacks"][t.writer]),
        exit=t.exit, deaths=t.deaths) for t in run.traders]
    joined = [int(s) for s in np.flatnonzero(acc["status"] != L.SLOT_FREE)
              if s >= len(run.plan)]
    rejected = int(acc["rejected"][acc["status"] != L.SLOT_FREE].sum())
    expect = scn.expect_violations
    # A locking policy must also keep every live (consistent) sample clean; under none
    # the samples are torn and only the final check judges.
    caught = not verdict["ok"] or live_violations > 0
    passed = caught if expect else verdict["ok"] and (live_violations == 0
                                                      or scn.sync == "none")
    summary = RunSummary(
        scenario=scn.name,
        seed=scn.seed,
        run_dir=str(run.run_dir),
        versions=Versions(python=platform.python_version(), numpy=np.__version__,
                          sim=__version__),
        scenario_sha256=_sha256(run.run_dir / SCENARIO_FILE),
        sync=scn.sync,
        schedule=scn.schedule,
        resumed=run.resumed,
        n_traders=len(run.plan),
        n_processes=len(run.traders),
        joined_slots=joined,
        duration_s=round(duration, 4),
        stopped_by=reason,
        trades=n_trades,
        session_trades=n_trades - run.seq_at_start,
        rejected=rejected,
        trades_per_s=round((n_trades - run.seq_at_start) / duration, 1)
        if duration > 0 else 0.0,
        longest_gap_ms=gap.ms,
        longest_gap_at_s=gap.at_s,
        # Agent arrivals (orders decided, passes included) against what the arrival laws
        # ask for; asap agents ask for nothing in particular.
        arrivals_per_s=round(int(wri["arrivals"].sum() - run.arrivals_at_start) / duration,
                             1) if duration > 0 else 0.0,
        arrivals_asked_per_s=round(sum(g.count * (g.arrival.rate_hz or 0.0)
                                       for g in scn.traders if g.command is None), 1),
        scale=scn.scale,
        invariants=invariants,
        live_violations=live_violations,
        final_ok=verdict["ok"],
        final_violations=verdict["violations"],
        expect_violations=expect,
        passed=passed,
        monitor=mon,
        peak_rss_kb=run.rss,
        faults=FaultCounts(
            kills=run.killed.kills, kills_in_transaction=run.killed.in_transaction,
            kills_in_recovery=run.killed.in_recovery, monitor_kills=run.killed.monitor,
            **({"first_kill_s": round(run.killed.first_ns / 1e9, 4),
                "last_kill_s": round(run.killed.last_ns / 1e9, 4)} if run.killed.kills else {}),
            restarts=run.restarts,
            rolled_back=settled["rolled_back"] + int(wri["rollbacks"].sum())
            + (mon.rolled_back or 0)
            + sum(d.rolled_back for t in run.traders for d in t.deaths)),
        currencies=[CurrencyResult(name=n, initial_rate=float(init_rate[c]),
                                   final_rate=float(rate[c]),
                                   trades=ex.book(c).counter("fills") if ex.is_book(c)
                                   else int(cur["seq"][c]))
                    for c, n in enumerate(names)],
        # One entry per scenario group (the agents table has one row per agent).
        traders=[TraderResult(**g, asked_hz=scn.traders[g["id"]].arrival.rate_hz)
                 for g in group_stats(acc, cur, scn.scale, len(run.plan), group_names)],
        processes=processes,
        agents_table=AGENTS_FILE,
        market=_market(samples, init_rate, rate, by_book),
    )
    if ex.geo.book_mask:
        summary = summary.model_copy(update={"order_events": n_rows - n_trades})
    path = run.run_dir / SUMMARY_FILE
    trade_tables.wait()
    # Written before the figures too: a run whose figures never finish keeps its results.
    write_summary(path, summary)
    if painter is not None:
        try:
            painter.draw((run.run_dir, samples, tables, on_books, ticks, scn.scale))
        except Exception as e:  # a figure must never cost the results of a run
            summary = summary.model_copy(update={"plot_error": f"{type(e).__name__}: {e}"})
    summary = summary.model_copy(update={
        "finish_s": round(time.monotonic() - t_finish, 3)})
    write_summary(path, summary)
    return summary


def _market(samples: dict[str, Any], initial: Any, final: Any,
            books: dict[str, BookStats] | None) -> MarketStats | None:
    """The market statistics of the run's samples and books (None: neither)."""
    if len(samples["t"]) == 0 and not books:
        return None
    return market_summary(samples["t"], samples["rate"], [float(x) for x in initial],
                          [float(x) for x in final], books)


def _ticks(ex: Exchange, names: list[str]) -> dict[str, float]:
    """Each book's price step in cash per unit (a price is cash minor units per lot)."""
    out = {}
    for c, name in enumerate(names):
        if ex.is_book(c):
            book = ex.book(c)
            out[name] = book.price_step / book.lot
    return out


def _prepare_figures() -> None:
    """What drawing a run's figures imports (matplotlib above all)."""
    import sim.viz.book_run
    import sim.viz.figures  # noqa: F401


def _draw(data: tuple[Path, dict[str, Any], BookTables | None, list[str],
                      dict[str, float], int]) -> None:
    draw_figures(*data)


def draw_figures(run_dir: Path, samples: dict[str, Any], tables: BookTables | None,
                 books: list[str], ticks: dict[str, float], scale: int) -> None:
    """A run's figures, and its books' when it has books, drawn at once."""
    # Imported here: matplotlib takes half a second to import, before the first trade.
    from sim.viz.book_run import book_jobs
    from sim.viz.figures import plot_run, run_title

    more = (book_jobs(run_dir, samples, tables, books, run_title(run_dir), scale=scale,
                      ticks=ticks) if tables is not None and books else [])
    plot_run(run_dir, samples, more)


def redraw_figures(run_dir: Path) -> None:
    """Draw a finished (or dead) run's figures again from its folder (``sim plot``)."""
    from sim.harness.tables import DEPTH, ensure_samples, read_samples
    from sim.viz.book_data import read_book_tables

    ensure_samples(run_dir)
    samples = read_samples(run_dir)
    books: list[str] = []
    ticks: dict[str, float] = {}
    scale = 1
    path = run_dir / L.EXCHANGE_FILE
    if path.is_file():
        with Exchange.open(str(path), writable=False) as ex:
            names = ex.names()
            books = [names[c] for c in ex.geo.books]
            ticks = _ticks(ex, names)
            scale = ex.scale
    tables = (read_book_tables(run_dir / TRADES, run_dir / ORDERS, run_dir / DEPTH)
              if books else None)
    draw_figures(run_dir, samples, tables, books, ticks, scale)


def _monitor_stats(run: FinishedRun, n_samples: int, duration: float) -> MonitorStats:
    if run.monitor is None:
        return MonitorStats(enabled=False)
    folder = run.run_dir / MONITOR_DIR
    interval = run.scn.monitor.interval_ms / 1e3
    alternate = run.scn.monitor.alternate_ms
    alternate_s = None if alternate is None else alternate / 1e3
    # Every monitor process streamed its counts: a killed one's checks still count.
    merged = merged_stats(str(folder), run.monitor_generation + 1, duration, interval,
                          alternate_s)
    if merged is not None:
        stats = MonitorStats.model_validate(merged)
    else:
        asked = int(duration * on_share(alternate_s) / interval) + 1
        stats = MonitorStats(samples=n_samples, samples_asked=asked,
                             sample_ratio=round(n_samples / asked, 4), invariants={})
    stats = stats.model_copy(update={"enabled": True, "exit": run.monitor_exit})
    write_json(folder / STATS_FILE, stats.as_json())
    return stats


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
