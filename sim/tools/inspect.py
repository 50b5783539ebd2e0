"""``sim inspect FILE``: the header, currencies, books, writers and accounts of any exchange
file.

A currency on a limit order book has no pool reserves: its rate is the last fill's, and a
table of the books shows each one's best prices, spread, resting orders, what those
orders hold (reserved cash and units, over all accounts) and the cash makers were paid
and have not yet swept into their accounts; then each book's top levels.
"""

from __future__ import annotations

from typing import IO, Final

import numpy as np

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.tools.bookview import books_view, ladder, read_depth
from sim.viz.terminal import console, indented, table

__all__ = ["MAX_ACCOUNTS_SHOWN", "print_exchange"]

# A population has too many accounts to list: the first ones, unless all are asked for.
MAX_ACCOUNTS_SHOWN: Final = 20


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
    cur, wri, acc = ex.copy_all()
    rows: list[list[str]] = []
    for c, r in enumerate(cur):
        book = int(r["market"]) == L.MARKET_BOOK
        rate = float(r["last_rate"]) if book else int(r["cash_reserve"]) / int(r["unit_reserve"])
        reserves = (["-", "-"] if book else [f"{int(r['cash_reserve']) / scale:,.2f}",
                                             f"{int(r['unit_reserve']) / scale:,.2f}"])
        rows.append([str(c), L.decode_name(bytes(r["name"])), L.MARKETS.get(int(r["market"]), "?"),
                     *reserves, f"{rate:.4f}", f"{int(r['seq']):,}", str(int(r["version"])),
                     str(int(r["inflight"]))])
    con = console(out)
    con.print(indented(table(["#", "name", "market", "cash reserve", "unit reserve", "rate",
                              "seq", "version", "inflight"], rows, right={3, 4, 5, 6, 7, 8})))
    con.print()
    if ex.geo.book_mask:
        lads = {c: ladder(ex, c) for c in ex.geo.books}
        for part in books_view(lads, cur, {c: read_depth(ex, c) for c in lads}):
            con.print(part)
    nc = len(cur)
    names = [L.decode_name(bytes(n)) for n in cur["name"]]
    header = ["writer", "status", "kind", "pid", "accounts", "cash", *names, "trades",
              "ledger", "journal"]
    rows = []
    shown = np.arange(len(wri)) if all_slots else np.flatnonzero(wri["status"] != L.SLOT_FREE)
    for w in shown:
        r = wri[w]
        rows.append([str(w), L.SLOT_STATES.get(int(r["status"]), "?"),
                     L.KINDS.get(int(r["kind"]), "?"), str(int(r["pid"])),
                     f"{int(r['n_accounts']):,}", f"{int(r['tot_cash']) / scale:,.2f}",
                     *[f"{int(r['tot_holdings'][c]) / scale:,.2f}" for c in range(nc)],
                     f"{int(r['tot_trades']):,}", f"{int(r['log_count']):,}",
                     "active" if r["j_state"] else "idle"])
    if not rows:
        con.print("  no writers in use")
    else:
        con.print(indented(table(header, rows, right=range(3, 6 + nc + 2))))
    con.print()
    claimed = np.flatnonzero(acc["status"] != L.SLOT_FREE)
    shown = np.arange(len(acc)) if all_slots else claimed[:MAX_ACCOUNTS_SHOWN]
    header = ["account", "status", "writer", "group", "cash", *names, "trades", "rejected"]
    rows = []
    for a in shown:
        r = acc[a]
        rows.append([str(a), L.SLOT_STATES.get(int(r["status"]), "?"), str(int(r["writer"])),
                     str(int(r["group"])), f"{int(r['cash']) / scale:,.2f}",
                     *[f"{int(r['holdings'][c]) / scale:,.2f}" for c in range(nc)],
                     f"{int(r['trades']):,}", f"{int(r['rejected']):,}"])
    if not rows:
        con.print("  no accounts in use")
        return
    con.print(indented(table(header, rows, right=range(4, 5 + nc + 2))))
    if len(shown) < len(claimed):
        con.print(f"  ... {len(claimed) - len(shown):,} more accounts (--all shows every "
                  "record)")
