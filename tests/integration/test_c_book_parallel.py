"""The C trader and Python writers on the same books, in real processes, and killed.

- A C trader (and a C joiner) and Python writers trade one set of books in parallel;
  afterwards every exact invariant holds (conservation with reserves and due cash, the
  books' structure, each account's reserves, the mirrors, the writers' totals), the C's
  orders filled against Python's and the reverse, and the ledgers, replayed, rebuild every
  book exactly.
- A C trader SIGKILLed halfway through the stores of a six-fill match leaves its book's
  journal active; the next Python holder of the lock rolls it back, and the order sent
  again gives the bytes of an uninterrupted run. Killed among Python writers, nothing is
  lost.
- C traders as a command group in a coordinated run on books.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sim.core import layout as L
from sim.core.book_invariants import check_book
from sim.core.book_layout import BUY
from sim.core.exchange import Exchange
from sim.core.ledger import drain_writer
from sim.core.transaction import Writer
from tests.integration.c_book_files import (
    DEADLINE_S,
    EUR,
    SCALE,
    check_all,
    make_exchange,
    rows_of,
    run_c,
    scratch_masked,
    stage,
    start_python,
    stop_python,
    wait_paused_in_commit,
    without_time,
)
from tests.integration.harness import run

__all__: list[str] = []


# ---------------------------------------------------------------------- in parallel

@pytest.mark.timeout(120)
@pytest.mark.parametrize("sync", ["per_currency", "ofd"])
def test_c_and_python_trade_the_same_books_in_parallel(
        c_trader: Path, tmp_path: Path, sync: str, procs: list[subprocess.Popen[str]]) -> None:
    path = make_exchange(tmp_path, sync, spare=True)
    py = start_python(path, procs)
    cs = [subprocess.Popen([str(c_trader), path, *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
          for args in (["--writer", "0", "--account", "0", "--book-orders", "60000",
                        "--seed", "5"],
                       ["--book-orders", "30000", "--cash", "3000", "--seed", "6"])]
    procs.extend(cs)
    results = [p.communicate(timeout=90) for p in cs]
    stop_python(path, py)
    for p, (out, err) in zip(cs, results, strict=True):
        assert p.returncode == 0, err
        assert err == ""
        assert " book orders (" in out and "fills" in out, out
    seen = check_all(path)
    assert seen["c_took_python"] > 50 and seen["python_took_c"] > 50, seen


# ---------------------------------------------------------------------- killed

def _entries(ex: Exchange, c: int) -> list[tuple[int, int]]:
    """The (word, pre-image) pairs of the transaction in flight on ``c``'s book."""
    b = ex.book(c)
    first = b.base + b.geo.journal_first_entry
    stride = b.geo.entry_words
    return [(int(ex.q[first + k * stride]), int(ex.q[first + k * stride + 1]))
            for k in range(b.journal_state())]


def _python_journal(path: str) -> list[tuple[int, int]]:
    """The journal of the sweep sent by Python as writer 0, read halfway through its
    stores."""
    seen: list[tuple[int, int]] = []
    with Exchange.open(path) as ex:
        wr = Writer(ex, 0)
        wr.desk.set_pause(lambda: seen.extend(_entries(ex, EUR)))
        assert len(wr.market(0, EUR, BUY, 30).fills) == 6
        wr.close()
    assert seen
    return seen


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sync", ["per_currency", "global", "ofd"])
def test_a_c_trader_killed_mid_match_is_rolled_back_by_the_next_python_holder(
        c_trader: Path, tmp_path: Path, sync: str, procs: list[subprocess.Popen[str]]) -> None:
    path = make_exchange(tmp_path / "run", sync)
    with Exchange.open(path) as ex:
        stage(ex)
    shutil.copytree(tmp_path / "run", tmp_path / "ref")
    ref = str(tmp_path / "ref" / L.EXCHANGE_FILE)
    shutil.copytree(tmp_path / "run", tmp_path / "py")
    py_journal = _python_journal(str(tmp_path / "py" / L.EXCHANGE_FILE))
    me = ("--writer", "0", "--account", "0")
    sweep = ("--market", "buy EUR 30")  # six makers of four accounts over three levels
    with Exchange.open(path) as ex:
        before = scratch_masked(ex, (0, 1))
    victim = subprocess.Popen([str(c_trader), path, *me, "--pause-in-txn-us", "30000000",
                               *sweep], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    procs.append(victim)
    c, n = wait_paused_in_commit(path, victim)
    assert c == EUR
    with Exchange.open(path) as ex:
        assert int(ex.q[ex.cword(EUR, "version")]) % 2 == 1
        # Half the stores are done: the book is neither before nor after the order.
        assert scratch_masked(ex, (0, 1)) != before
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    with Exchange.open(path) as ex:
        b = ex.book(EUR)
        assert b.journal_state() == n > 6 * 10
        # The words and pre-images Python journals for the same order, in any order.
        assert sorted(_entries(ex, EUR)) == sorted(py_journal)
        found = check_book(ex.q, b.base)
        assert found["journal_idle"]
        # The next holder of the lock, a Python writer, rolls it back before its own order.
        wr = Writer(ex, 1)
        res = wr.limit(1, EUR, BUY, 50, 1)
        wr.close()
        assert res.rested == 1
        assert int(ex.q[ex.wword(1, "rollbacks")]) == 1
        assert b.journal_state() == 0
    out = run_c(c_trader, path, *me, *sweep)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("market buy 30.0000 EUR: bought 27.0000 EUR for 29.5708 in 6 fills "
                          "(7.0000 @ 1.0951, 9.0000 @ 1.0952, 11.0000 @ 1.0953); dropped 3.0000 "
                          "(no more sellers, or the cash ran out)\n"), out.stdout
    # The same orders without the kill.
    with Exchange.open(ref) as ex:
        wr = Writer(ex, 1)
        assert wr.limit(1, EUR, BUY, 50, 1).rested == 1
        wr.close()
    assert run_c(c_trader, ref, *me, *sweep).stdout == out.stdout
    with Exchange.open(path) as a, Exchange.open(ref) as b2:
        # A rollback moves the seqlock on by 2: no reader sees a version again.
        v = a.cword(EUR, "version")
        assert int(a.q[v]) == int(b2.q[v]) + 2
        b2.q[v] = a.q[v]
        assert scratch_masked(a, (0, 1)) == scratch_masked(b2, (0, 1))
    for w in (0, 1):
        assert without_time(rows_of(path, w)) == without_time(rows_of(ref, w))
    check_all(path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sync", ["per_currency", "ofd"])
def test_a_restarted_c_trader_settles_its_own_order_before_trading_elsewhere(
        c_trader: Path, tmp_path: Path, sync: str, procs: list[subprocess.Popen[str]]) -> None:
    # Killed in the middle of an EUR order, writer 0 is started again by hand (no
    # coordinator settles it first); its first order is on GBP. The EUR journal holds
    # pre-images of writer 0's log_count and totals: rolled back only later by the next
    # holder of EUR's lock, it would undo the GBP order's share of them.
    path = make_exchange(tmp_path, sync)
    with Exchange.open(path) as ex:
        stage(ex)
    me = ("--writer", "0", "--account", "0")
    victim = subprocess.Popen([str(c_trader), path, *me, "--pause-in-txn-us", "30000000",
                               "--market", "buy EUR 30"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    procs.append(victim)
    assert wait_paused_in_commit(path, victim)[0] == EUR
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    with Exchange.open(path) as ex:
        ex.q[ex.wword(0, "status")] = L.SLOT_ACTIVE
    out = run_c(c_trader, path, *me, "--limit", "buy GBP 1 @ 1.1700")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("limit buy 1.0000 GBP @ 1.170: rested 1.0000 @ 1.170 as ")
    assert out.stderr == (f"trader: {path}: rolled back 1 transaction(s) left by dead "
                          "traders\n")
    with Exchange.open(path) as ex:
        assert int(ex.q[ex.cword(EUR, "inflight")]) == L.NO_WRITER
        assert int(ex.q[ex.wword(0, "rollbacks")]) == 1
        wr = Writer(ex, 1)
        assert wr.market(1, EUR, BUY, 2).filled == 2
        wr.close()
        assert int(ex.q[ex.wword(1, "rollbacks")]) == 0
    check_all(path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sync", ["per_currency", "ofd"])
def test_a_c_trader_killed_among_python_writers_loses_nothing(
        c_trader: Path, tmp_path: Path, sync: str, procs: list[subprocess.Popen[str]]) -> None:
    path = make_exchange(tmp_path, sync)
    py = start_python(path, procs)
    victim = subprocess.Popen([str(c_trader), path, "--writer", "0", "--account", "0",
                               "--book-orders", "1000000", "--pause-in-txn-us", "20000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(victim)
    deadline = time.monotonic() + DEADLINE_S
    with Exchange.open(path) as ex:
        while int(ex.q[ex.wword(0, "log_count")]) < 20:
            assert victim.poll() is None, victim.communicate()
            assert time.monotonic() < deadline, "the C trader never placed its orders"
            time.sleep(0.01)
    wait_paused_in_commit(path, victim)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    with Exchange.open(path) as ex:
        drain_writer(ex, 0)
        ex.q[ex.wword(0, "status")] = L.SLOT_DEAD
        start = time.monotonic()
        while sum(int(ex.q[ex.wword(w, "rollbacks")]) for w in (1, 2)) == 0:
            assert time.monotonic() - start < DEADLINE_S, "no Python writer rolled it back"
            time.sleep(0.01)
    time.sleep(0.2)
    stop_python(path, py)
    with Exchange.open(path) as ex:
        assert sum(int(ex.q[ex.wword(w, "rollbacks")]) for w in (1, 2)) == 1
    seen = check_all(path)
    assert seen["fills"] > 100


# ---------------------------------------------------------------------- in a run

@pytest.mark.timeout(120)
def test_c_traders_in_a_coordinated_run_on_books(c_trader: Path, tmp_path: Path) -> None:
    c_group = {"count": 2, "cash": 20000, "holdings": 10000,
               "command": [str(c_trader), "{exchange}", "--writer", "{writer}", "--account",
                           "{account}", "--book-orders", "30000", "--seed", "{seed}",
                           "--max-qty", "5"]}
    out = run(tmp_path, duration_s=1.5, processes=1, market="book", scale=SCALE, fee_bps=0,
              currencies=[{"name": "EUR", "rate": 1.1}, {"name": "GBP", "rate": 1.27}],
              traders=[{"count": 2, "strategy": "market_maker", "cash": 100000,
                        "holdings": 50000, "arrival": {"kind": "poisson", "rate_hz": 400}},
                       {"count": 20, "strategy": "noise", "cash": 10000, "holdings": 5000},
                       c_group])
    s = out.summary
    assert out.exit_status == 0 and s.final_ok, s.final_violations
    assert s.live_violations == 0
    procs = s.processes
    assert [p.strategy for p in procs][-2:] == ["command:trader"] * 2
    assert all(p.exit == "done" for p in procs), procs
    path = str(out.run_dir / L.EXCHANGE_FILE)
    seen = check_all(path)
    assert seen["c_took_python"] > 0 and seen["python_took_c"] > 0, seen


@pytest.mark.timeout(120)
def test_c_traders_killed_in_book_orders_by_the_run_lose_nothing(c_trader: Path,
                                                                 tmp_path: Path) -> None:
    # Only C traders, each pausing halfway through the stores of every order: the run's
    # kills land in the middle of book transactions, and restarted traders go on.
    c_group = {"count": 2, "cash": 20000, "holdings": 10000,
               "command": [str(c_trader), "{exchange}", "--writer", "{writer}", "--account",
                           "{account}", "--book-orders", "1000000000", "--seed", "{seed}",
                           "--max-qty", "5", "--pause-in-txn-us", "2000"]}
    out = run(tmp_path, duration_s=2.0, market="book", scale=SCALE, fee_bps=0,
              currencies=[{"name": "EUR", "rate": 1.1}, {"name": "GBP", "rate": 1.27}],
              traders=[c_group],
              faults={"kill_traders": 8, "after_s": 0.2, "every_s": 0.15, "restart": True})
    s = out.summary
    f = s.faults
    # Some kills land while a restarted trader starts: not every one is in an order.
    assert f.kills == 8 and f.kills_in_transaction >= 2, f
    assert f.rolled_back >= f.kills_in_transaction, f
    assert out.exit_status == 0 and s.final_ok, s.final_violations
    check_all(str(out.run_dir / L.EXCHANGE_FILE))
