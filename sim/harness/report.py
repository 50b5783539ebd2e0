"""The terminal report of a finished run: headline, tables, verdict and where results are."""

from __future__ import annotations

from typing import IO, Any, Final

from rich.text import Text

from sim.market.strategies import BUILTINS
from sim.viz.terminal import console, indented, table

__all__ = ["print_run_summary"]

# An arrival rate delivered below this share of what the scenario asked is reported:
# the traders could not keep up (CPU-bound), so the scenario is not what it says.
DELIVERED_SHARE: Final = 0.9


def _headline(s: dict[str, Any]) -> list[str]:
    head = (f"{s['scenario']}  seed {s['seed']}  sync {s['sync']}  "
            f"{s['n_traders']} traders  {s['duration_s']:.2f} s  ({s['stopped_by']})")
    rate = f"{s['trades_per_s']:,.0f} trades/s"
    resumed = int(s.get("resumed", 0))
    if not resumed:
        return [head, f"  trades {s['trades']:,}  rejected {s['rejected']:,}  {rate}"]
    session = s.get("session_trades")
    this = f"{session:,} trades in " if session is not None else ""
    return [head,
            f"  this session (resumed {resumed}x): {this}{s['duration_s']:.2f} s, {rate}",
            f"  whole run: trades {s['trades']:,}  rejected {s['rejected']:,}"]


def _rejections(s: dict[str, Any]) -> list[str]:
    """Groups that spent most orders on rejections (for example, out of cash)."""
    by: dict[str, list[int]] = {}
    for t in s["traders"]:
        r = by.setdefault(t["strategy"], [0, 0, 0])
        r[0] += 1
        r[1] += int(t.get("trades", 0))
        r[2] += int(t.get("rejected", 0))
    out = []
    for name, (n, trades, rejected) in by.items():
        if rejected > trades and rejected > 0:
            who = f"{n} trader" + ("s" if n != 1 else "")
            out.append(f"  {name} ({who}): {rejected:,} of {trades + rejected:,} orders "
                       "rejected (out of funds or holdings: see trades and rejected per "
                       "account with sim inspect)")
    return out


def _asked(s: dict[str, Any]) -> list[str]:
    """Groups whose traders sent fewer orders than their arrival rate asked."""
    if s.get("resumed") or s["duration_s"] <= 0:
        return []
    by: dict[str, list[float]] = {}
    for t in s["traders"]:
        asked = t.get("asked_hz")
        cls = BUILTINS.get(t["strategy"])
        if not asked or cls is None or not cls.always_orders:
            continue
        r = by.setdefault(t["strategy"], [0, 0.0, 0.0])
        r[0] += 1
        r[1] += float(asked)
        r[2] += (int(t["trades"]) + int(t["rejected"])) / s["duration_s"]
    out = []
    for name, (n, asked, sent) in by.items():
        if sent < DELIVERED_SHARE * asked:
            out.append(f"  {name}: asked {asked / n:,.0f} orders/s per trader, sent "
                       f"{sent / n:,.0f} ({sent / asked:.0%}): the machine could not keep up")
    return out


def print_run_summary(s: dict[str, Any], out: IO[str]) -> None:
    con = console(out)
    passed = bool(s["passed"])
    verdict = "PASS" if passed else "FAIL"
    if s["expect_violations"]:
        verdict += " (violations expected: " + ("caught" if passed else "NOT caught") + ")"
    con.print()
    for line in _headline(s):
        con.print(line)
    con.print()
    con.print(indented(table(
        ["currency", "initial rate", "final rate", "trades"],
        ([c["name"], f"{c['initial_rate']:.4f}", f"{c['final_rate']:.4f}", f"{c['trades']:,}"]
         for c in s["currencies"]), right={1, 2, 3})))
    con.print()
    con.print(indented(table(
        ["invariant", "checks", "violations"],
        ([name, f"{rec['checks']:,}", f"{rec['violations']:,}"]
         for name, rec in s["invariants"].items()), right={1, 2})))
    notes: list[str] = []
    mon = s["monitor"]
    if mon.get("enabled"):
        notes.append(f"  monitor: {mon.get('samples', 0):,} samples of "
                     f"{mon.get('samples_asked', 0):,} asked ({mon.get('exit', '')})")
    else:
        notes.append("  monitor: disabled (only the final check judges)")
    notes += _asked(s)
    notes += _rejections(s)
    f = s["faults"]
    if f["kills"] or any(t["deaths"] for t in s["traders"]):
        whole = " over the whole run" if s.get("resumed") else ""
        notes.append(f"  faults: {f['kills']} kills ({f['kills_in_transaction']} inside a "
                     f"transaction), {f['restarts']} restarts; {f['rolled_back']} rolled "
                     f"back{whole}")
    notes += [f"  trader {t['id']}: {t['exit']}" for t in s["traders"]
              if t["exit"] not in ("done", "")]
    for name, details in (s["final_violations"] or {}).items():
        notes.append(f"  final {name}: {details[0]}")
    con.print()
    for line in notes:
        con.print(line)
    con.print()
    final = Text(f"  final check: {'ok' if s['final_ok'] else 'VIOLATED'}   ")
    final.append(verdict, style="bold green" if passed else "bold red")
    con.print(final)
    con.print(f"  results: {s['run_dir']}")
    if not s["final_ok"] and not s["expect_violations"]:
        con.print(f"  next: sim check --replay {s['run_dir']}")
