"""``sim inspect FILE``: the header, currencies and accounts of any exchange file."""

from __future__ import annotations

from typing import IO

import numpy as np

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.viz.terminal import console, indented, table

__all__ = ["print_exchange"]


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
    rows: list[list[str]] = []
    for c, r in enumerate(cur):
        rows.append([str(c), L.decode_name(bytes(r["name"])),
                     f"{int(r['cash_reserve']) / scale:,.2f}",
                     f"{int(r['unit_reserve']) / scale:,.2f}",
                     f"{r['cash_reserve'] / r['unit_reserve']:.4f}", f"{int(r['seq']):,}",
                     str(int(r["version"])), str(int(r["inflight"]))])
    con = console(out)
    con.print(indented(table(["#", "name", "cash reserve", "unit reserve", "rate", "seq",
                              "version", "inflight"], rows, right={2, 3, 4, 5, 6, 7})))
    con.print()
    nc = len(cur)
    names = [L.decode_name(bytes(n)) for n in cur["name"]]
    header = ["slot", "status", "kind", "pid", "cash", *names, "trades", "rejected",
              "journal"]
    rows = []
    shown = np.arange(len(acc)) if all_slots else np.flatnonzero(acc["status"] != L.SLOT_FREE)
    for s in shown:
        a = acc[s]
        rows.append([str(s), L.SLOT_STATES.get(int(a["status"]), "?"),
                     L.KINDS.get(int(a["kind"]), "?"), str(int(a["pid"])),
                     f"{int(a['cash']) / scale:,.2f}",
                     *[f"{int(a['holdings'][c]) / scale:,.2f}" for c in range(nc)],
                     f"{int(a['trades']):,}", f"{int(a['rejected']):,}",
                     "active" if a["j_state"] else "idle"])
    if not rows:
        con.print("  no account slots in use")
    else:
        con.print(indented(table(header, rows, right=range(3, 5 + nc + 2))))
