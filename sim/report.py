"""Text reports: a run's summary table and the contents of an exchange file."""

from __future__ import annotations

from typing import IO, Any

import numpy as np

from . import layout as L
from .exchange import Exchange

__all__ = ["print_exchange", "print_run_summary"]


def _table(rows: list[list[str]], out: IO[str], right: set[int] | None = None) -> None:
    right = right or set()
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.write("  " + "  ".join(cells).rstrip() + "\n")
        if n == 0:
            out.write("  " + "  ".join("-" * w for w in widths) + "\n")


def print_run_summary(s: dict[str, Any], out: IO[str]) -> None:
    verdict = "PASS" if s["passed"] else "FAIL"
    if s["expect_violations"]:
        verdict += " (violations expected: " + ("caught" if s["passed"] else "NOT caught") + ")"
    out.write(f"\n{s['scenario']}  seed {s['seed']}  sync {s['sync']}  "
              f"{s['n_traders']} traders  {s['duration_s']:.2f} s  ({s['stopped_by']})\n")
    out.write(f"  trades {s['trades']:,}  rejected {s['rejected']:,}  "
              f"{s['trades_per_s']:,.0f} trades/s\n\n")
    rows = [["currency", "initial rate", "final rate", "trades"]]
    for c in s["currencies"]:
        rows.append([c["name"], f"{c['initial_rate']:.4f}", f"{c['final_rate']:.4f}",
                     f"{c['trades']:,}"])
    _table(rows, out, {1, 2, 3})
    out.write("\n")
    rows = [["invariant", "checks", "violations"]]
    for name, rec in s["invariants"].items():
        rows.append([name, f"{rec['checks']:,}", f"{rec['violations']:,}"])
    _table(rows, out, {1, 2})
    mon = s["monitor"]
    if mon.get("enabled"):
        out.write(f"\n  monitor: {mon.get('samples', 0):,} samples of "
                  f"{mon.get('samples_asked', 0):,} asked ({mon.get('exit', '')})\n")
    f = s["faults"]
    if f["kills"] or any(t["deaths"] for t in s["traders"]):
        out.write(f"  faults: {f['kills']} kills ({f['kills_in_transaction']} inside a "
                  f"transaction), {f['restarts']} restarts, {f['rolled_back']} rolled back\n")
    dead = [t for t in s["traders"] if t["exit"] not in ("done", "")]
    for t in dead:
        out.write(f"  trader {t['id']}: {t['exit']}\n")
    if s["final_violations"]:
        for name, details in s["final_violations"].items():
            out.write(f"  final {name}: {details[0]}\n")
    out.write(f"\n  final check: {'ok' if s['final_ok'] else 'VIOLATED'}   {verdict}\n")
    out.write(f"  results: {s['run_dir']}\n")


def print_exchange(ex: Exchange, out: IO[str], all_slots: bool = False) -> None:
    h = ex.header()
    scale = int(h["scale"])
    out.write(f"{ex.path}\n")
    skip = {"magic", "global_lock", "registry_lock"}
    for f in L.HEADER.fields:
        if f.name in skip:
            continue
        v = h[f.name]
        extra = ""
        if f.name == "run_state":
            extra = f" ({L.RUN_STATES.get(int(v), '?')})"
        elif f.name == "sync":
            extra = f" ({L.SYNC_NAMES.get(int(v), '?')})"
        out.write(f"  {f.name:<16} {v}{extra}\n")
    out.write("\n")
    cur, acc = ex.copy_tables()
    rows = [["#", "name", "cash reserve", "unit reserve", "rate", "seq", "version",
             "inflight"]]
    for c, r in enumerate(cur):
        rows.append([str(c), L.decode_name(bytes(r["name"])),
                     f"{int(r['cash_reserve']) / scale:,.2f}",
                     f"{int(r['unit_reserve']) / scale:,.2f}",
                     f"{r['cash_reserve'] / r['unit_reserve']:.4f}", f"{int(r['seq']):,}",
                     str(int(r["version"])), str(int(r["inflight"]))])
    _table(rows, out, {2, 3, 4, 5, 6, 7})
    out.write("\n")
    nc = len(cur)
    names = [L.decode_name(bytes(n)) for n in cur["name"]]
    rows = [["slot", "status", "kind", "pid", "cash", *names, "trades", "rejected",
             "journal"]]
    shown = np.arange(len(acc)) if all_slots else np.flatnonzero(acc["status"] != L.SLOT_FREE)
    for s in shown:
        a = acc[s]
        rows.append([str(s), L.SLOT_STATES.get(int(a["status"]), "?"),
                     L.KINDS.get(int(a["kind"]), "?"), str(int(a["pid"])),
                     f"{int(a['cash']) / scale:,.2f}",
                     *[f"{int(a['holdings'][c]) / scale:,.2f}" for c in range(nc)],
                     f"{int(a['trades']):,}", f"{int(a['rejected']):,}",
                     "active" if a["j_state"] else "idle"])
    if len(rows) == 1:
        out.write("  no account slots in use\n")
    else:
        _table(rows, out, set(range(3, 5 + nc + 2)))
