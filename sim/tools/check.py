"""``sim check``: judge an exchange file, repair what dead processes left, replay the ledger.

The replay starts from the initial state the file itself records (initial pool reserves
and each account's initial funding), applies every committed ledger row of every slot in
each currency's sequence order, re-prices each trade with :mod:`sim.pricing`, and then
compares pools, accounts and counters with the file, exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np

from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.exchange import Exchange, pid_alive
from sim.core.ledger import load_ledger
from sim.core.pricing import buy_cost, sell_proceeds
from sim.core.quiescence import final_check, settle
from sim.errors import BadInput
from sim.harness.rundir import INCOMPLETE

__all__ = ["check_command", "replay"]


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
    cur, acc = ex.copy_tables()
    out = []
    names = ex.names()
    for c in np.flatnonzero(cur["inflight"] != L.NO_SLOT):
        out.append(f"currency {names[c]}: transaction of slot {int(cur['inflight'][c])} in "
                   "flight")
    claimed = acc["status"] != L.SLOT_FREE
    for s in np.flatnonzero(claimed & (acc["j_state"] == L.JOURNAL_ACTIVE)):
        out.append(f"slot {s}: journal active on currency {names[int(acc['j_currency'][s])]}")
    for s in np.flatnonzero(claimed & (acc["log_count"] > acc["log_head"])):
        out.append(f"slot {s}: {int(acc['log_count'][s] - acc['log_head'][s])} ledger rows "
                   "not yet drained to its ledger file")
    return out


def replay(ex: Exchange) -> list[str]:
    """Replay the whole ledger from the initial state; returns every mismatch found."""
    cur, acc = ex.copy_tables()
    rows = load_ledger(ex, acc)
    fee = ex.fee_bps
    nc = ex.geo.n_currencies
    claimed = [int(s) for s in np.flatnonzero(acc["status"] != L.SLOT_FREE)]
    pool_cash = [int(x) for x in cur["init_cash_reserve"]]
    pool_units = [int(x) for x in cur["init_unit_reserve"]]
    seq = [0] * nc
    vol_u = [0] * nc
    vol_c = [0] * nc
    cash = {s: int(acc["init_cash"][s]) for s in claimed}
    hold = {s: [int(x) for x in acc["init_holdings"][s][:nc]] for s in claimed}
    trades = dict.fromkeys(claimed, 0)
    problems: list[str] = []
    # Time order (each row's clock was read under its currency's lock) is consistent with
    # every currency's sequence and with every account's own order of trades.
    order = np.lexsort((rows["cur_seq"], rows["t_ns"]))
    for r in rows[order]:
        c, s, side, qty, amount = (int(r["currency"]), int(r["slot"]), int(r["side"]),
                                   int(r["qty"]), int(r["cash"]))
        where = f"ledger row slot {s} currency {c} cur_seq {int(r['cur_seq'])}"
        if s not in cash or not 0 <= c < nc:
            problems.append(f"{where}: names an unclaimed slot or unknown currency")
            continue
        if int(r["cur_seq"]) != seq[c] + 1:
            problems.append(f"{where}: expected cur_seq {seq[c] + 1}")
        if side == L.SIDE_BUY:
            want = buy_cost(pool_cash[c], pool_units[c], qty, fee)
            ok_funds = 0 < want <= cash[s]
            pool_cash[c] += amount
            pool_units[c] -= qty
            cash[s] -= amount
            hold[s][c] += qty
        else:
            want = sell_proceeds(pool_cash[c], pool_units[c], qty, fee)
            ok_funds = qty <= hold[s][c] and want > 0
            pool_cash[c] -= amount
            pool_units[c] += qty
            cash[s] += amount
            hold[s][c] -= qty
        if want != amount:
            problems.append(f"{where}: logged cash {amount}, pricing gives {want}")
        if not ok_funds:
            problems.append(f"{where}: the account could not afford this trade")
        if int(r["unit_reserve"]) != pool_units[c]:
            problems.append(f"{where}: logged unit_reserve {int(r['unit_reserve'])}, "
                            f"replay has {pool_units[c]}")
        seq[c] += 1
        vol_u[c] += qty
        vol_c[c] += amount
        trades[s] += 1
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
    for s in claimed:
        if int(acc["cash"][s]) != cash[s]:
            problems.append(f"slot {s} cash: file {int(acc['cash'][s])}, replay {cash[s]}")
        for c in range(nc):
            if int(acc["holdings"][s][c]) != hold[s][c]:
                problems.append(f"slot {s} holding {c}: file {int(acc['holdings'][s][c])}, "
                                f"replay {hold[s][c]}")
        for field, mine in (("trades", trades[s]), ("log_count", trades[s])):
            if int(acc[field][s]) != mine:
                problems.append(f"slot {s} {field}: file {int(acc[field][s])}, replay {mine}")
    return problems


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
                  f"{int((ex.accounts()['status'] != L.SLOT_FREE).sum())} accounts\n")
        gone = state in (L.RUN_INIT, L.RUN_RUNNING, L.RUN_STOPPING) and pid > 0 \
            and not pid_alive(pid)
        if gone:
            out.write(f"the coordinator (pid {pid}) is gone: the run did not finish"
                      + (f"; continue it with: sim run --resume {_run_dir(path)}\n"
                         if _run_dir(path) else "\n"))
        if repair:
            done = settle(ex)
            out.write(f"repair: {done['rolled_back']} transactions rolled back, "
                      f"{done['drained_rows']} ledger rows drained\n")
        pending = unfinished(ex)
        for p in pending:
            out.write(f"unfinished: {p}\n")
        verdict = final_check(ex)
        for name in (*inv.NAMES, "no_transaction_in_flight"):
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

