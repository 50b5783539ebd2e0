"""The terminal report of a finished run: headline, tables, verdict and where results are."""

from __future__ import annotations

from typing import IO, Final

from rich.text import Text

from sim.harness.summary import BookStats, RunSummary, TradeReturnStats
from sim.market.strategies import BUILTINS
from sim.viz.terminal import console, indented, table

__all__ = ["book_lines", "print_run_summary"]

# An arrival rate delivered below this share of what the scenario asked is reported:
# the traders could not keep up (CPU-bound), so the scenario is not what it says.
DELIVERED_SHARE: Final = 0.9


def _headline(s: RunSummary) -> list[str]:
    head = (f"{s.scenario}  seed {s.seed}  sync {s.sync}  "
            f"{s.n_traders:,} agents on {s.n_processes} processes  {s.duration_s:.2f} s  "
            f"({s.stopped_by})")
    rate = f"{s.trades_per_s:,.0f} trades/s"
    if not s.resumed:
        return [head, f"  trades {s.trades:,}  rejected {s.rejected:,}  {rate}"]
    this = f"{s.session_trades:,} trades in " if s.session_trades is not None else ""
    return [head,
            f"  this session (resumed {s.resumed}x): {this}{s.duration_s:.2f} s, {rate}",
            f"  whole run: trades {s.trades:,}  rejected {s.rejected:,}"]


def _rejections(s: RunSummary) -> list[str]:
    """Groups that spent most orders on rejections (for example, out of cash)."""
    by: dict[str, list[int]] = {}
    for t in s.traders:
        r = by.setdefault(t.strategy, [0, 0, 0])
        r[0] += t.agents
        r[1] += t.trades
        r[2] += t.rejected
    out = []
    for name, (n, trades, rejected) in by.items():
        if rejected > trades:
            who = f"{n:,} agent" + ("s" if n != 1 else "")
            out.append(f"  {name} ({who}): {rejected:,} of {trades + rejected:,} orders "
                       "rejected (out of funds or holdings: see trades and rejected per "
                       "account with sim inspect)")
    return out


def _asked(s: RunSummary) -> list[str]:
    """Groups whose traders sent fewer orders than their arrival rate asked.

    Only for strategies that never pass (a strategy that passes sends fewer by design),
    and not for a resumed run, whose counts cover every session.
    """
    if s.resumed or s.duration_s <= 0:
        return []
    by: dict[str, list[float]] = {}
    for t in s.traders:
        cls = BUILTINS.get(t.strategy)
        if not t.asked_hz or cls is None or not cls.always_orders:
            continue
        r = by.setdefault(t.strategy, [0, 0.0, 0.0])
        r[0] += t.agents
        r[1] += t.asked_hz * t.agents
        r[2] += (t.trades + t.rejected) / s.duration_s
    out = []
    for name, (n, asked, sent) in by.items():
        if sent < DELIVERED_SHARE * asked:
            out.append(f"  {name}: asked {asked / n:,.0f} orders/s per agent, sent "
                       f"{sent / n:,.0f} ({sent / asked:.0%}): the machine could not keep up")
    return out


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def book_lines(name: str, b: BookStats, scale: int) -> list[str]:
    """Lines on a book: spread, depth and volume; the stylized facts of its trade-time
    returns and of its mid's returns between samples."""
    sp, d, v, r = b.spread, b.depth, b.volume, b.returns
    ticks = "tick" if sp.median_ticks == 1 else "ticks"
    spread = (f"spread median {_fmt(sp.median_ticks, 'g')} {ticks} "
              f"({_fmt(sp.median_bps, '.1f')} bps)" if sp.both_sides else "spread -")
    depth = (f"depth at best {_fmt(d.bid_best, ',.4g')}/{_fmt(d.ask_best, ',.4g')} units "
             f"(bid/ask)" if d.snapshots else "depth -")
    orders = ("" if v.placed is None else
              f", {v.placed:,} placed, {v.cancelled or 0:,} cancelled")
    head = (f"  book {name}: {spread}, {depth}, {v.fills:,} fills of "
            f"{v.units / scale:,.6g} units{orders}")
    out = [head, _facts("trade-time returns", r)]
    if b.mid_returns is not None:
        out.append(_facts("mid returns, per sample", b.mid_returns))
    return out


def _facts(what: str, r: TradeReturnStats) -> str:
    acf1 = r.acf[0] if r.acf else None
    acf1_abs = r.acf_abs[0] if r.acf_abs else None
    if r.excess_kurtosis is None and acf1 is None:
        return f"    {what}: too few to say anything (n={r.n:,})"
    return (f"    {what} (n={r.n:,}): excess kurtosis {_fmt(r.excess_kurtosis, '.2f')}, "
            f"lag-1 autocorrelation {_fmt(acf1, '+.3f')} (95 % band ±{_fmt(r.band, '.3f')}), "
            f"of |returns| {_fmt(acf1_abs, '+.3f')}")


def print_run_summary(s: RunSummary, out: IO[str]) -> None:
    con = console(out)
    verdict = "PASS" if s.passed else "FAIL"
    if s.expect_violations:
        verdict += " (violations expected: " + ("caught" if s.passed else "NOT caught") + ")"
    con.print()
    for line in _headline(s):
        con.print(line)
    con.print()
    con.print(indented(table(
        ["currency", "initial rate", "final rate", "trades"],
        ([c.name, f"{c.initial_rate:.4f}", f"{c.final_rate:.4f}", f"{c.trades:,}"]
         for c in s.currencies), right={1, 2, 3})))
    con.print()
    con.print(indented(table(
        ["invariant", "checks", "violations", "rate"],
        ([name, f"{rec.checks:,}", f"{rec.violations:,}",
          "-" if rec.rate_hz is None else f"{rec.rate_hz:,.1f}/s"]
         for name, rec in s.invariants.items()), right={1, 2, 3})))
    notes: list[str] = []
    mon = s.monitor
    if mon.enabled:
        notes.append(f"  monitor: {mon.samples or 0:,} samples of "
                     f"{mon.samples_asked or 0:,} asked, {mon.audits or 0:,} audits of every "
                     f"account ({mon.exit or ''})")
        if mon.optimistic_snapshots is not None:
            notes.append(f"  snapshots: {mon.optimistic_snapshots:,} optimistic, "
                         f"{mon.trylock_snapshots or 0:,} under locks tried, "
                         f"{mon.waited_snapshots or 0:,} under locks waited for"
                         + (f"; {mon.lock_stalls} locks held too long (monitor/stalls.jsonl)"
                            if mon.lock_stalls else ""))
    else:
        notes.append("  monitor: disabled (only the final check judges)")
    if s.longest_gap_ms is not None:
        notes.append(f"  longest pause between trades: {s.longest_gap_ms:g} ms at "
                     f"t = {s.longest_gap_at_s:g} s; after trading: {s.finish_s or 0:g} s")
    if s.market is not None and s.market.books:
        for name, b in s.market.books.items():
            notes += book_lines(name, b, s.scale)
    notes += _asked(s)
    notes += _rejections(s)
    f = s.faults
    if f.kills or any(t.deaths for t in s.processes):
        whole = " over the whole run" if s.resumed else ""
        mon_kills = f", {f.monitor_kills} of the monitor" if f.monitor_kills else ""
        notes.append(f"  faults: {f.kills} kills ({f.kills_in_transaction} inside a "
                     f"transaction{mon_kills}), {f.restarts} restarts; {f.rolled_back} "
                     f"rolled back{whole}")
    notes += [f"  trader process (writer {t.writer}): {t.exit}" for t in s.processes
              if t.exit not in ("done", "")]
    notes += [f"  final {name}: {details[0]}" for name, details in s.final_violations.items()]
    con.print()
    for line in notes:
        con.print(line)
    con.print()
    final = Text(f"  final check: {'ok' if s.final_ok else 'VIOLATED'}   ")
    final.append(verdict, style="bold green" if s.passed else "bold red")
    con.print(final)
    con.print(f"  results: {s.run_dir}")
    if not s.final_ok and not s.expect_violations:
        con.print(f"  next: sim check --replay {s.run_dir}")
