"""``sim check``: judge an exchange file, repair what dead processes left, replay the ledger.

The replay starts from the initial state the file itself records (initial pool reserves
and each account's initial funding), applies every committed ledger row of every writer in
each currency's sequence order (no gap), re-prices each pool trade with
:mod:`sim.core.pricing`, rebuilds every book from its order events and fills
(:mod:`sim.tools.replay_book`), and then compares pools, books, stakes, every account, and
every writer's counters with the file, exactly. Each row must come from the ledger of the
writer that hosts its account.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import numpy as np

from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.book_checks import BOOK_AUDIT_NAMES
from sim.core.exchange import Exchange, pid_alive
from sim.core.ledger import load_ledger
from sim.core.pricing import buy_cost, sell_proceeds
from sim.core.quiescence import final_check, settle
from sim.core.transaction import lock_and_recover, recover_currency
from sim.errors import BadInput
from sim.harness.rundir import INCOMPLETE
from sim.tools.replay_book import BookReplay

__all__ = ["check_command", "replay"]

_BLOCK_ROWS: Final = 262_144
_FIELDS: Final = ("currency", "account", "side", "qty", "cash", "cur_seq", "unit_reserve",
                  "kind", "order_id", "maker", "tick", "t_ns")


def _exchange_path(target: str) -> str:
    p = Path(target)
    if p.is_dir() and not p.is_symlink():
        f = p / L.EXCHANGE_FILE
        if not f.exists():
            raise BadInput(f"{target}: folder has no {L.EXCHANGE_FILE} (expected a run "
                           "folder)")
        return str(f)
    return target


def unfinished(ex: Exchange) -> list[str]:
    """Transactions a dead process left: active journals and currencies naming one."""
    cur, wri = ex.copy_tables()
    out = []
    names = ex.names()
    for c in np.flatnonzero(cur["inflight"] != L.NO_WRITER):
        out.append(f"currency {names[c]}: transaction of writer {int(cur['inflight'][c])} "
                   "in flight")
    claimed = wri["status"] != L.SLOT_FREE
    for w in np.flatnonzero(claimed & (wri["j_state"] == L.JOURNAL_ACTIVE)):
        out.append(f"writer {w}: journal active on currency "
                   f"{names[int(wri['j_currency'][w])]}")
    for b in ex.geo.books:
        n = ex.book(b).journal_state()
        if n:
            out.append(f"currency {names[b]}: book transaction in flight ({n} pre-images "
                       "in its journal)")
    for w in np.flatnonzero(claimed & (wri["log_count"] > wri["log_head"])):
        out.append(f"writer {w}: {int(wri['log_count'][w] - wri['log_head'][w])} ledger "
                   "rows not yet drained to its ledger file")
    return out


def _settle_books(ex: Exchange) -> int:
    """Roll back every book transaction a dead process left; returns how many.

    ``settle`` finds a dead order by the writer its currency names in flight or by its odd
    version; a writer that does not name itself in flight, killed after its journal's
    state but before the version store, leaves only an active journal (nothing stored
    yet: the rollback writes back the same words). The next order on that book would roll
    it back; a file nobody trades on is settled here.
    """
    rolled = 0
    for c in ex.geo.books:
        if ex.book(c).journal_state():
            rolled += lock_and_recover(ex, c)
            try:
                rolled += recover_currency(ex, c)
            finally:
                ex.locks.release(c)
    return rolled


def replay(ex: Exchange) -> list[str]:
    """Replay the whole ledger from the initial state; returns every mismatch found."""
    cur, wri, acc = ex.copy_all()
    rows, owners = load_ledger(ex, wri)
    fee = ex.fee_bps
    nc = ex.geo.n_currencies
    book_mask = ex.geo.book_mask
    claimed = acc["status"] != L.SLOT_FREE
    pool_cash = [int(x) for x in cur["init_cash_reserve"]]
    pool_units = [int(x) for x in cur["init_unit_reserve"]]
    seq = [0] * nc
    vol_u = [0] * nc
    vol_c = [0] * nc
    cash = acc["init_cash"].astype(object)
    hold = acc["init_holdings"][:, :nc].astype(object)
    trades = [0] * len(acc)
    w_trades = [0] * len(wri)
    host = acc["writer"].tolist()
    ok = claimed.tolist()
    books = BookReplay(ex, cash, hold, ok) if book_mask else None
    # Due cash of books that no row shows swept: a pool buy may have spent it.
    unswept = books.unswept if books is not None else {}
    problems: list[str] = []
    for c, a, side, qty, amount, cs, ur, kind, oid, maker, tick, t, w in _in_time_order(
            rows, owners):
        # The row's name is formatted only for a problem: most rows have none.
        if not (0 <= a < len(ok) and ok[a]) or not 0 <= c < nc:
            problems.append(f"{_where(w, a, c, cs)}: names an unclaimed account or unknown "
                            "currency")
            continue
        if host[a] != w:
            problems.append(f"{_where(w, a, c, cs)}: account {a} is hosted by writer "
                            f"{host[a]}")
        if cs != seq[c] + 1:
            # Once per gap: the rows after it go on from the sequence they carry.
            problems.append(f"{_where(w, a, c, cs)}: expected cur_seq {seq[c] + 1}")
        seq[c] = cs
        if book_mask >> c & 1 and books is not None:
            new, found = books.row(kind, c, a, side, qty, amount, oid, maker, tick, t)
            if found:
                problems += [f"{_where(w, a, c, cs)}: {p}" for p in found]
            if new:
                trades[a] += 1
                w_trades[w] += 1
            if kind == L.ROW_FILL:
                vol_u[c] += qty
                vol_c[c] += amount
        else:
            if side == L.SIDE_BUY:
                want = buy_cost(pool_cash[c], pool_units[c], qty, fee)
                ok_funds = 0 < want <= cash[a] + unswept.get(a, 0)
                pool_cash[c] += amount
                pool_units[c] -= qty
                cash[a] -= amount
                hold[a, c] += qty
            else:
                want = sell_proceeds(pool_cash[c], pool_units[c], qty, fee)
                ok_funds = qty <= hold[a, c] and want > 0
                pool_cash[c] -= amount
                pool_units[c] += qty
                cash[a] += amount
                hold[a, c] -= qty
            if want != amount:
                problems.append(f"{_where(w, a, c, cs)}: logged cash {amount}, pricing gives "
                                f"{want}")
            if not ok_funds:
                problems.append(f"{_where(w, a, c, cs)}: the account could not afford this "
                                "trade")
            if ur != pool_units[c]:
                problems.append(f"{_where(w, a, c, cs)}: logged unit_reserve {ur}, replay "
                                f"has {pool_units[c]}")
            vol_u[c] += qty
            vol_c[c] += amount
            trades[a] += 1
            w_trades[w] += 1
        if len(problems) > 50:
            problems.append("... stopping after 50 mismatches")
            return problems
    for c in range(nc):
        for field, mine in (("cash_reserve", pool_cash[c]), ("unit_reserve", pool_units[c]),
                            ("seq", seq[c]), ("volume_units", vol_u[c]),
                            ("volume_cash", vol_c[c])):
            if int(cur[field][c]) != mine:
                problems.append(f"currency {c} {field}: file {int(cur[field][c])}, "
                                f"replay {mine}")
    if books is not None:
        stakes = ex.stakes()
        problems += books.compare(ex, cur, stakes)
        moved, found = books.silent_sweeps(stakes)
        problems += found
        # Cash that orders without a row swept out of the due cash, into the account.
        for a, x in moved.items():
            cash[a] += x
    problems += _compare_accounts(acc, claimed, cash, hold, np.array(trades, dtype=np.int64))
    per_writer = np.bincount(owners, minlength=len(wri)) if len(owners) else np.zeros(
        len(wri), dtype=np.int64)
    for w in np.flatnonzero(wri["status"] != L.SLOT_FREE).tolist():
        for field, mine in (("log_count", per_writer[w]), ("tot_trades", w_trades[w])):
            if int(wri[field][w]) != int(mine):
                problems.append(f"writer {w} {field}: file {int(wri[field][w])}, ledger "
                                f"{int(mine)}")
    return problems[:51]


def _in_time_order(rows: np.ndarray[Any, Any], owners: np.ndarray[Any, Any]
                   ) -> Iterator[tuple[int, ...]]:
    """Each row's fields as Python ints, and its writer, in time order.

    Time order (each row's clock was read under its currency's lock) is consistent with
    every currency's sequence and with every account's own order of orders. Converted a
    block at a time: a long run's ledger as Python ints at once would take several bytes
    per row more than its 128-byte rows.
    """
    order = np.lexsort((rows["cur_seq"], rows["t_ns"]))
    for i in range(0, len(order), _BLOCK_ROWS):
        idx = order[i: i + _BLOCK_ROWS]
        cols = [rows[f][idx].tolist() for f in _FIELDS]
        yield from zip(*cols, owners[idx].tolist(), strict=True)


def _where(w: int, a: int, c: int, cs: int) -> str:
    return f"ledger row writer {w} account {a} currency {c} cur_seq {cs}"


def _compare_accounts(acc: np.ndarray[Any, Any], claimed: np.ndarray[Any, Any],
                      cash: np.ndarray[Any, Any], hold: np.ndarray[Any, Any],
                      trades: np.ndarray[Any, Any]) -> list[str]:
    """Mismatches between the replayed accounts and the file's (vectorised: a
    population has many accounts), the first few in detail."""
    nc = hold.shape[1]
    out: list[str] = []
    file_hold = acc["holdings"][:, :nc]
    checks = (("cash", acc["cash"] != cash.astype(np.int64), acc["cash"], cash),
              ("trades", acc["trades"] != trades, acc["trades"], trades))
    for field, bad, file_v, mine in checks:
        for a in np.flatnonzero(bad & claimed)[:10].tolist():
            out.append(f"account {a} {field}: file {int(file_v[a])}, replay {int(mine[a])}")
    bad_h = (file_hold != hold.astype(np.int64)) & claimed[:, None]
    for a, c in list(zip(*np.nonzero(bad_h), strict=True))[:10]:
        out.append(f"account {int(a)} holding {int(c)}: file {int(file_hold[a, c])}, "
                   f"replay {int(hold[a, c])}")
    return out


def check_command(target: str, *, repair: bool, do_replay: bool, out: IO[str]) -> int:
    path = _exchange_path(target)
    with Exchange.open(path, writable=repair) as ex:
        h = ex.header()
        pid = int(h["coordinator_pid"])
        state = int(h["run_state"])
        if repair and state in (L.RUN_RUNNING, L.RUN_STOPPING) and pid_alive(pid):
            raise BadInput(f"{path}: in use by a running coordinator (pid {pid}); "
                           "repair only a file nobody trades on")
        out.write(f"{path}: run state {L.RUN_STATES.get(state, '?')}, "
                  f"sync {ex.sync}, {ex.geo.n_currencies} currencies, "
                  f"{int((ex.writers()['status'] != L.SLOT_FREE).sum())} writers, "
                  f"{int((ex.accounts()['status'] != L.SLOT_FREE).sum())} accounts\n")
        gone = state in (L.RUN_INIT, L.RUN_RUNNING, L.RUN_STOPPING) and pid > 0 \
            and not pid_alive(pid)
        if gone:
            out.write(f"the coordinator (pid {pid}) is gone: the run did not finish"
                      + (f"; continue it with: sim run --resume {_run_dir(path)}\n"
                         if _run_dir(path) else "\n"))
        if repair:
            done = settle(ex)
            done["rolled_back"] += _settle_books(ex)
            out.write(f"repair: {done['rolled_back']} transactions rolled back, "
                      f"{done['drained_rows']} ledger rows drained\n")
        pending = unfinished(ex)
        for p in pending:
            out.write(f"unfinished: {p}\n")
        verdict = final_check(ex)
        books = (*inv.BOOK_NAMES, *BOOK_AUDIT_NAMES) if ex.geo.book_mask else ()
        for name in (*inv.NAMES, *inv.AUDIT_NAMES, *books, "no_transaction_in_flight"):
            details = verdict["violations"].get(name, [])
            out.write(f"  {name:<26} {'ok' if not details else 'VIOLATED: ' + details[0]}\n")
        ok = verdict["ok"]
        if do_replay:
            problems = replay(ex)
            for p in problems:
                out.write(f"replay: {p}\n")
            out.write(f"replay: {'matches the file exactly' if not problems else 'MISMATCH'}\n")
            ok = ok and not problems
        if ok:
            out.write("ok\n")
        elif pending and not repair:
            out.write(f"NOT ok: dead processes left unfinished work; settle it with: "
                      f"sim check --repair {target}\n")
        else:
            out.write("NOT ok: the file itself breaks an invariant (--repair only settles "
                      "unfinished transactions)"
                      + ("" if do_replay else f"; compare it with its ledger: "
                                              f"sim check --replay {target}") + "\n")
        return 0 if ok else 1


def _run_dir(exchange_path: str) -> str | None:
    """The run folder holding ``exchange_path`` if it is an unfinished run's, else None."""
    folder = Path(exchange_path).parent
    if (folder / INCOMPLETE).exists() and (folder / "scenario.yaml").exists():
        return str(folder)
    return None

