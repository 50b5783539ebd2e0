"""Integration tests of the C trader (examples/c) against files made by sim.core.exchange.

C traders run next to a Python process trading through sim.core.transaction.Writer on the same
mapping, under each sync policy; afterwards money and units are conserved exactly, every
writer's running totals equal its account, every ledger file holds exactly the rows its
writer committed, and replaying the ledgers through sim.core.pricing reproduces the pools.
Here writer i always hosts account i (the files are made that way, and a joiner claims
the first free writer and the first free account). Also: interactive mode on stdin,
refusal of bad files, a C trader SIGKILLed mid-transaction, and bounded lock waits.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.core import layout as L
from sim.core.exchange import CurrencySpec, Exchange, Funding
from sim.core.ledger import drain_writer, ledger_file
from sim.core.pricing import buy_cost, sell_proceeds
from sim.core.transaction import REJECT_REASONS, Writer, recover_writer

__all__: list[str] = []

ROOT = Path(__file__).resolve().parents[2]
SCALE = 100
FEE = 30
CURRENCIES = [
    CurrencySpec("EUR", 110_000 * SCALE, 100_000 * SCALE),
    CurrencySpec("USD", 100_000 * SCALE, 100_000 * SCALE),
    CurrencySpec("GBP", 127_000 * SCALE, 100_000 * SCALE),
]
CASH = 10_000 * SCALE
HOLD = 100 * SCALE
SUMMARY = re.compile(r"^trader writer (\d+) account (?P<account>\d+): (?P<trades>\d+) trades, "
                     r"(?P<rejected>\d+) rejected, [0-9.]+ s, \d+ trades/s\n$")

PY_WORKER = """
import random, sys
from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
path, slot, limit, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ex = Exchange.open(path)
acc = Writer(ex, slot)
q, state = ex.q, L.HEADER.word("run_state")
rng = random.Random(seed)
nc, scale = ex.geo.n_currencies, ex.scale
n = 0
while n < limit and q[state] == L.RUN_RUNNING:
    acc.trade(slot, rng.randrange(nc), rng.randrange(2), rng.randint(scale, 10 * scale))
    n += 1
acc.close()
q[ex.wword(slot, "status")] = L.SLOT_DONE
ex.close()
print(n)
"""


@pytest.fixture(scope="module")
def trader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C trader, built by examples/c/Makefile into a private folder."""
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("gcc and make are needed to build the C trader")
    build = tmp_path_factory.mktemp("cbuild")
    out = subprocess.run(["make", "-C", str(ROOT / "examples" / "c"), f"BUILD={build}"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return build / "trader"


def _env() -> dict[str, str]:
    old = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + old if old else ""))


def make_exchange(tmp_path: Path, sync: str, *, funded: int = 2, n_slots: int = 4,
                  ring_rows: int = 64, currencies: list[CurrencySpec] | None = None,
                  lock_timeout_ms: int = 10_000) -> str:
    """A new exchange file with ``n_slots`` writers and accounts, account i on writer i for
    i < funded, and the run state running."""
    path = str(tmp_path / "exchange.mmx")
    specs = currencies or CURRENCIES
    ex = Exchange.create(path, specs, n_writers=n_slots, n_accounts=n_slots,
                         ring_rows=ring_rows, scale=SCALE, fee_bps=FEE, sync=sync,
                         lock_timeout_ms=lock_timeout_ms)
    try:
        ex.fund_accounts([Funding(i, CASH, [HOLD] * len(specs)) for i in range(funded)],
                         dict.fromkeys(range(funded), L.KIND_C))
        ex.set_header_int("run_state", L.RUN_RUNNING)
    finally:
        ex.close()
    return path


def run_c(trader: Path, *args: str, stdin: str = "", timeout: float = 30
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(trader), *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _ledger(path: str, slot: int) -> np.ndarray[Any, Any]:
    f = ledger_file(path, slot)
    if not os.path.exists(f):
        return np.zeros(0, dtype=L.ROW.dtype)
    return np.fromfile(f, dtype=L.ROW.dtype)


def check_books(path: str) -> dict[str, int]:
    """Conservation, ledger completeness and an exact replay of every pool."""
    with Exchange.open(path) as ex:
        cur, wri, acc = ex.copy_all()
        fee = ex.fee_bps
    claimed = [s for s in range(len(acc)) if acc[s]["status"] != L.SLOT_FREE]
    a = acc[claimed]
    w = wri[claimed]
    assert [int(x) for x in a["writer"]] == claimed
    for field, tot in (("cash", "tot_cash"), ("init_cash", "init_tot_cash"),
                       ("trades", "tot_trades")):
        assert a[field].tolist() == w[tot].tolist(), tot
    assert a["holdings"].tolist() == w["tot_holdings"].tolist()
    assert int(a["cash"].sum()) + int(cur["cash_reserve"].sum()) == (
        int(a["init_cash"].sum()) + int(cur["init_cash_reserve"].sum()))
    for c in range(len(cur)):
        assert int(a["holdings"][:, c].sum()) + int(cur["unit_reserve"][c]) == (
            int(a["init_holdings"][:, c].sum()) + int(cur["init_unit_reserve"][c]))
    assert all(int(x) == L.NO_WRITER for x in cur["inflight"])
    assert all(int(v) % 2 == 0 for v in cur["version"])
    assert all(int(x) == L.JOURNAL_IDLE for x in w["j_state"])
    rows = []
    for s in claimed:
        led = _ledger(path, s)
        count = int(wri[s]["log_count"])
        assert int(wri[s]["log_head"]) == count, f"writer {s}: ring not drained"
        assert len(led) == count, f"writer {s}: {len(led)} ledger rows, log_count {count}"
        assert count == int(acc[s]["trades"])
        assert (led["account"] == s).all()
        cash, hold = int(acc[s]["init_cash"]), [int(x) for x in acc[s]["init_holdings"]]
        for r in led:
            sign = -1 if int(r["side"]) == L.SIDE_BUY else 1
            cash += sign * int(r["cash"])
            hold[int(r["currency"])] -= sign * int(r["qty"])
        assert cash == int(acc[s]["cash"]), f"slot {s}: ledger does not explain its cash"
        assert hold == [int(x) for x in acc[s]["holdings"]]
        rows.append(led)
    merged = np.concatenate(rows) if rows else np.zeros(0, dtype=L.ROW.dtype)
    for c in range(len(cur)):
        mine = np.sort(merged[merged["currency"] == c], order="cur_seq")
        assert [int(x) for x in mine["cur_seq"]] == list(range(1, int(cur["seq"][c]) + 1))
        rc, ru = int(cur["init_cash_reserve"][c]), int(cur["init_unit_reserve"][c])
        vol_u = vol_c = 0
        for r in mine:
            qty = int(r["qty"])
            if int(r["side"]) == L.SIDE_BUY:
                amount = buy_cost(rc, ru, qty, fee)
                rc, ru = rc + amount, ru - qty
            else:
                amount = sell_proceeds(rc, ru, qty, fee)
                rc, ru = rc - amount, ru + qty
            assert amount == int(r["cash"]) and ru == int(r["unit_reserve"])
            vol_u += qty
            vol_c += amount
        assert (rc, ru) == (int(cur["cash_reserve"][c]), int(cur["unit_reserve"][c]))
        assert (vol_u, vol_c) == (int(cur["volume_units"][c]), int(cur["volume_cash"][c]))
    return {"trades": len(merged)}


def _account(path: str, slot: int, field: str) -> int:
    with Exchange.open(path) as ex:
        return int(ex.q[ex.aword(slot, field)])


def _writer(path: str, w: int, field: str) -> int:
    with Exchange.open(path) as ex:
        return int(ex.q[ex.wword(w, field)])


# ---------------------------------------------------------------------- concurrency

@pytest.mark.timeout(60)
@pytest.mark.parametrize("sync", ["per_currency", "global", "ofd"])
def test_two_c_traders_and_python_conserve_everything(
        trader: Path, tmp_path: Path, sync: str, procs: list[subprocess.Popen[str]]) -> None:
    path = make_exchange(tmp_path, sync)
    py = subprocess.Popen([sys.executable, "-c", PY_WORKER, path, "1", "200000", "7"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=_env())
    procs.append(py)
    deadline = time.monotonic() + 20
    while _account(path, 1, "trades") + _account(path, 1, "rejected") == 0:
        assert py.poll() is None, py.communicate()[1]
        assert time.monotonic() < deadline, "the Python trader never started trading"
        time.sleep(0.01)
    orders = 30_000 if sync == "ofd" else 100_000
    c_args = [[path, "--writer", "0", "--account", "0", "--random", str(orders), "--seed", "1"],
              [path, "--random", str(orders), "--seed", "2", "--cash", "5000",
               "--max-qty", "5"]]
    cs = [subprocess.Popen([str(trader), *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True) for a in c_args]
    procs.extend(cs)
    results = [p.communicate(timeout=50) for p in cs]
    still_running = py.poll() is None
    with Exchange.open(path) as ex:
        ex.set_header_int("run_state", L.RUN_STOPPING)
    py_out, py_err = py.communicate(timeout=30)
    assert py.returncode == 0, py_err
    assert still_running, "the Python trader finished before the C traders: no overlap"
    slots = []
    for p, (out, err) in zip(cs, results, strict=True):
        assert p.returncode == 0, err
        assert err == ""
        m = SUMMARY.match(out)
        assert m, out
        slots.append(int(m["account"]))
        assert int(m["trades"]) + int(m["rejected"]) == orders
        assert int(m["trades"]) == _account(path, int(m["account"]), "trades")
    assert slots == [0, 2]
    with Exchange.open(path) as ex:
        acc = ex.accounts()
        wri = ex.writers()
        assert [int(x) for x in wri["status"]] == [L.SLOT_DONE] * 3 + [L.SLOT_FREE]
        assert [int(x) for x in acc["status"]] == [L.SLOT_ACTIVE] * 3 + [L.SLOT_FREE]
        assert int(wri[2]["kind"]) == L.KIND_C
        assert int(acc[2]["init_cash"]) == 5000 * SCALE
        assert [int(x) for x in acc[2]["init_holdings"]] == [0] * L.MAX_CURRENCIES
        assert int(wri[0]["pid"]) == cs[0].pid and int(wri[2]["pid"]) == cs[1].pid
        assert int(py_out) == int(acc[1]["trades"]) + int(acc[1]["rejected"])
    books = check_books(path)
    assert books["trades"] > orders


@pytest.mark.timeout(60)
def test_sync_none_single_c_trader(trader: Path, tmp_path: Path) -> None:
    path = make_exchange(tmp_path, "none", funded=1)
    out = run_c(trader, path, "--writer", "0", "--account", "0", "--random", "50000", "--seed", "9")
    assert out.returncode == 0, out.stderr
    m = SUMMARY.match(out.stdout)
    assert m and m["account"] == "0"
    assert check_books(path)["trades"] == int(m["trades"]) > 0


@pytest.mark.timeout(60)
def test_random_mode_stops_when_the_run_stops(trader: Path, tmp_path: Path) -> None:
    path = make_exchange(tmp_path, "per_currency", funded=1)
    with Exchange.open(path) as ex:
        ex.set_header_int("run_state", L.RUN_STOPPING)
    out = run_c(trader, path, "--writer", "0", "--account", "0", "--random", "1000")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("trader writer 0 account 0: 0 trades, 0 rejected, ")
    assert "the run is over (run state stopping): no orders sent" in out.stderr
    assert _writer(path, 0, "status") == L.SLOT_DONE


@pytest.mark.timeout(60)
@pytest.mark.parametrize("state", [L.RUN_STOPPING, L.RUN_CLEAN])
def test_random_mode_on_a_finished_run_takes_no_account(trader: Path, tmp_path: Path,
                                                        state: int) -> None:
    path = make_exchange(tmp_path, "per_currency", funded=1)
    with Exchange.open(path) as ex:
        ex.set_header_int("run_state", state)
        before = ex.accounts()["status"].copy()
    out = run_c(trader, path, "--random", "1000")
    assert out.returncode == 2
    assert out.stdout == ""
    assert "the run is over" in out.stderr and "no account taken" in out.stderr
    with Exchange.open(path) as ex:
        assert (ex.accounts()["status"] == before).all()


# ---------------------------------------------------------------------- interactive

def _money(minor: int) -> str:
    return f"{minor / SCALE:,.2f}"


@pytest.mark.timeout(60)
def test_interactive_session_on_stdin(trader: Path, tmp_path: Path) -> None:
    path = make_exchange(tmp_path, "per_currency", funded=1)
    script = ("buy EUR 10\n"
              "sell eur 2.5\n"
              "balance\n"
              "frobnicate 3\n"
              "buy XYZ 1\n"
              "buy EUR abc\n"
              "buy EUR 0.001\n"
              "\n"
              "sell EUR 1000\n"
              "quit\n"
              "buy EUR 1\n")
    out = run_c(trader, path, "--cash", "1000", stdin=script)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    eur = CURRENCIES[0]
    rc, ru = eur.cash_reserve, eur.unit_reserve
    paid = buy_cost(rc, ru, 1000, FEE)
    got = sell_proceeds(rc + paid, ru - 1000, 250, FEE)
    cash = 1000 * SCALE - paid + got
    lines = out.stdout.splitlines()
    assert lines[0] == (f"joined {path} as writer 1 with account 1 and 1,000.00 cash; "
                        "currencies EUR USD GBP")
    assert lines[1].startswith("commands: buy CODE QTY")
    assert lines[2:] == [
        f"bought 10.00 EUR for {_money(paid)} (rate {paid / 1000:.4f})",
        f"sold 2.50 EUR for {_money(got)} (rate {got / 250:.4f})",
        f"cash {_money(cash)}  EUR 7.50  USD 0.00  GBP 0.00",
        "error: unknown command 'frobnicate'; commands: buy CODE QTY | sell CODE QTY | "
        "balance | rates | help | quit",
        "error: unknown currency 'XYZ'; expected one of EUR USD GBP",
        "error: amount 'abc' is not a number",
        "error: amount '0.001' is finer than 1/100 of a unit",
        "rejected: sell 1,000.00 EUR: not enough units held",
    ]
    with Exchange.open(path) as ex:
        acc = ex.accounts()[1]
        wri = ex.writers()[1]
        assert int(wri["status"]) == L.SLOT_DONE and int(wri["kind"]) == L.KIND_C
        assert (int(acc["trades"]), int(acc["rejected"]), int(acc["cash"])) == (2, 1, cash)
    check_books(path)


@pytest.mark.timeout(60)
def test_interactive_on_a_funded_slot_ends_at_eof(trader: Path, tmp_path: Path) -> None:
    path = make_exchange(tmp_path, "ofd", funded=1)
    out = run_c(trader, path, "--writer", "0", "--account", "0",
                stdin="sell GBP 100\nsell GBP 1\nbalance")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"attached to {path} as writer 0 with account 0 and "
                               "10,000.00 cash")
    assert lines[2].startswith("sold 100.00 GBP for ")
    assert lines[3] == "rejected: sell 1.00 GBP: not enough units held"
    assert lines[4].endswith("GBP 0.00")
    assert _writer(path, 0, "status") == L.SLOT_DONE
    check_books(path)


ORDERS = [("buy", "EUR", "10"), ("buy", "USD", "2.5"), ("sell", "EUR", "3.33"),
          ("sell", "GBP", "100"), ("sell", "GBP", "0.01"), ("buy", "GBP", "1000000"),
          ("buy", "EUR", "9000"), ("sell", "USD", "0.01"), ("buy", "GBP", "7.77"),
          ("sell", "EUR", "6.67"), ("sell", "EUR", "1")] + [
          ("buy" if k % 3 else "sell", ("EUR", "USD", "GBP")[k % 3], f"{1 + k % 7}.{k % 10}")
          for k in range(60)]


@pytest.mark.timeout(60)
def test_c_and_python_trades_leave_the_same_bytes(trader: Path, tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "py").mkdir()
    c_path = make_exchange(tmp_path / "c", "per_currency", funded=1, ring_rows=16)
    py_path = str(tmp_path / "py" / "exchange.mmx")
    shutil.copyfile(c_path, py_path)
    script = "".join(f"{side} {code} {qty}\n" for side, code, qty in ORDERS)
    out = run_c(trader, c_path, "--writer", "0", "--account", "0", stdin=script)
    assert out.returncode == 0, out.stderr
    assert "error" not in out.stdout
    for reason in REJECT_REASONS.values():
        assert f": {reason}\n" in out.stdout, reason
    with Exchange.open(py_path) as ex:
        acc = Writer(ex, 0)
        names = ex.names()
        for side, code, qty in ORDERS:
            acc.trade(0, names.index(code), L.SIDE_BUY if side == "buy" else L.SIDE_SELL,
                      round(float(qty) * SCALE))
        acc.close()
        ex.q[ex.wword(0, "status")] = L.SLOT_DONE
    with Exchange.open(c_path) as a, Exchange.open(py_path) as b:
        ca, wa, aa = a.copy_all()
        cb, wb, ab = b.copy_all()
        for f in L.CURRENCY.fields:
            if f.kind != "lock":
                assert ca[f.name].tobytes() == cb[f.name].tobytes(), f.name
        for f in L.WRITER.fields:
            if f.name not in ("pid", "heartbeat_ns"):
                assert wa[f.name].tobytes() == wb[f.name].tobytes(), f.name
        for f in L.ACCOUNT.fields:
            assert aa[f.name].tobytes() == ab[f.name].tobytes(), f.name
        assert int(aa[0]["rejected"]) == 4 and int(aa[0]["trades"]) == len(ORDERS) - 4
        rows = int(wa[0]["log_count"])
        ring_a = np.frombuffer(a.ring_rows(0, max(0, rows - 16), rows), dtype=L.ROW.dtype)
        ring_b = np.frombuffer(b.ring_rows(0, max(0, rows - 16), rows), dtype=L.ROW.dtype)
    led_a, led_b = _ledger(c_path, 0), _ledger(py_path, 0)
    assert len(led_a) == len(led_b) == rows
    for x, y in ((led_a, led_b), (ring_a, ring_b)):
        for name in x.dtype.names or ():
            if name != "t_ns":
                assert x[name].tobytes() == y[name].tobytes(), name
    check_books(c_path)


# ---------------------------------------------------------------------- refusals

@pytest.mark.timeout(60)
def test_wrong_version_is_refused_with_one_line(trader: Path, tmp_path: Path) -> None:
    path = make_exchange(tmp_path, "per_currency")
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack("<q", 7), L.HEADER.offsets["version"])
    finally:
        os.close(fd)
    before = Path(path).read_bytes()
    out = run_c(trader, path, "--writer", "0", "--account", "0", "--random", "10")
    assert out.returncode == 2
    assert out.stderr == (f"trader: {path}: format version 7, this program reads version "
                          f"{L.VERSION}\n")
    assert out.stdout == ""
    assert Path(path).read_bytes() == before


@pytest.mark.timeout(60)
def test_truncated_files_are_refused(trader: Path, tmp_path: Path) -> None:
    path = make_exchange(tmp_path, "per_currency")
    size = os.path.getsize(path)
    os.truncate(path, size - L.PAGE)
    out = run_c(trader, path, "--writer", "0", "--account", "0", "--random", "10")
    assert out.returncode == 2
    assert out.stderr == (f"trader: {path}: size is {size - L.PAGE} bytes, header field "
                          f"file_size at offset {L.HEADER.offsets['file_size']} says {size}\n")
    os.truncate(path, 100)
    out = run_c(trader, path, "--random", "10")
    assert out.returncode == 2
    assert out.stderr == (f"trader: {path}: too short: 100 bytes, a header needs "
                          f"{L.HEADER.size}\n")


@pytest.mark.timeout(60)
def test_links_directories_and_garbage_are_refused(trader: Path, tmp_path: Path) -> None:
    path = make_exchange(tmp_path, "per_currency")
    link = tmp_path / "link.mmx"
    link.symlink_to(path)
    out = run_c(trader, str(link), "--writer", "0", "--account", "0", "--random", "10")
    assert (out.returncode, out.stderr) == (2, f"trader: {link}: is a symbolic link (refused)\n")
    out = run_c(trader, str(tmp_path), "--random", "10")
    assert out.returncode == 2 and "is a directory" in out.stderr
    out = run_c(trader, str(tmp_path / "missing.mmx"), "--random", "10")
    assert (out.returncode, out.stderr) == (2, f"trader: {tmp_path}/missing.mmx: no such file\n")
    junk = tmp_path / "junk.mmx"
    junk.write_bytes(b"NOTMMX!\x00" + bytes(L.PAGE))
    out = run_c(trader, str(junk), "--random", "10")
    assert out.returncode == 2 and "header field magic at offset 0" in out.stderr
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack("<q", 5), L.HEADER.offsets["ring_offset"])
    finally:
        os.close(fd)
    out = run_c(trader, path, "--writer", "0", "--account", "0", "--random", "10")
    assert out.returncode == 2
    assert (f"header field ring_offset at offset {L.HEADER.offsets['ring_offset']}: "
            "expected ") in out.stderr
    out = run_c(trader, path, "--bogus")
    assert out.returncode == 2 and "unknown option --bogus" in out.stderr


@pytest.mark.timeout(60)
def test_writer_and_account_must_be_funded_and_run_out(trader: Path, tmp_path: Path) -> None:
    path = make_exchange(tmp_path, "global", funded=1, n_slots=2)
    out = run_c(trader, path, "--writer", "1", "--account", "1", "--random", "10")
    assert out.returncode == 2 and "writer 1 is free, not active" in out.stderr
    out = run_c(trader, path, "--writer", "0", "--account", "1", "--random", "10")
    assert out.returncode == 2 and "account 1 is free, not active" in out.stderr
    out = run_c(trader, path, "--writer", "0", "--random", "10")
    assert out.returncode == 2 and "--writer and --account go together" in out.stderr
    assert run_c(trader, path, "--random", "10").returncode == 0
    out = run_c(trader, path, "--random", "10")
    assert (out.returncode, out.stderr) == (2, f"trader: {path}: all 2 writer records are "
                                               "taken; joiners get the writers and accounts "
                                               "a scenario keeps free: give it a larger "
                                               "spare_slots\n")
    check_books(path)


# ---------------------------------------------------------------------- faults

def _wait_mid_transaction(path: str, slot: int, proc: subprocess.Popen[str]) -> None:
    """Return once ``slot`` has committed a few trades and is inside the next one."""
    deadline = time.monotonic() + 20
    with Exchange.open(path) as ex:
        jw, tw = ex.wword(slot, "j_state"), ex.aword(slot, "trades")
        while not (ex.q[tw] >= 3 and ex.q[jw] == L.JOURNAL_ACTIVE):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "never caught the trader mid-transaction"
            time.sleep(0.001)


def _kill_mid_transaction(trader: Path, path: str, procs: list[subprocess.Popen[str]]
                          ) -> None:
    victim = subprocess.Popen([str(trader), path, "--writer", "0", "--account", "0",
                               "--random", "100000", "--pause-in-txn-us", "20000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(victim)
    _wait_mid_transaction(path, 0, victim)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    with Exchange.open(path) as ex:
        c = int(ex.q[ex.wword(0, "j_currency")])
        assert int(ex.q[ex.wword(0, "j_state")]) == L.JOURNAL_ACTIVE
        assert int(ex.q[ex.wword(0, "j_account")]) == 0
        assert int(ex.q[ex.cword(c, "inflight")]) == 0
        assert int(ex.q[ex.cword(c, "version")]) % 2 == 1
        # The pool already moved, the account not yet: money is not conserved right now.
        assert int(ex.q[ex.cword(c, "cash_reserve")]) != int(ex.q[ex.wword(0, "j_pool_cash")])
        assert int(ex.q[ex.aword(0, "cash")]) == int(ex.q[ex.wword(0, "j_cash")])
        assert int(ex.q[ex.wword(0, "tot_cash")]) == int(ex.q[ex.wword(0, "j_tot_cash")])


@pytest.mark.timeout(60)
def test_sigkill_mid_transaction_is_fixed_by_recover_writer(
        trader: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    path = make_exchange(tmp_path, "per_currency", funded=1, ring_rows=8)
    _kill_mid_transaction(trader, path, procs)
    with Exchange.open(path) as ex:
        assert recover_writer(ex, 0) is True
        drain_writer(ex, 0)
        ex.q[ex.wword(0, "status")] = L.SLOT_DEAD
    check_books(path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sync", ["per_currency", "global", "ofd"])
def test_next_c_trader_rolls_back_a_killed_one(
        trader: Path, tmp_path: Path, sync: str, procs: list[subprocess.Popen[str]]) -> None:
    path = make_exchange(tmp_path, sync, funded=2, currencies=CURRENCIES[:1])
    _kill_mid_transaction(trader, path, procs)
    out = run_c(trader, path, "--writer", "1", "--account", "1", "--random", "2000", "--seed", "3")
    assert out.returncode == 0, out.stderr
    assert out.stderr == (f"trader: {path}: rolled back 1 transaction(s) left by dead "
                          "traders\n")
    with Exchange.open(path) as ex:
        assert int(ex.q[ex.wword(0, "j_state")]) == L.JOURNAL_IDLE
        assert recover_writer(ex, 0) is False
        drain_writer(ex, 0)
    check_books(path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sync", ["per_currency", "global", "ofd"])
def test_lock_wait_is_bounded(trader: Path, tmp_path: Path, sync: str) -> None:
    path = make_exchange(tmp_path, sync, funded=1, lock_timeout_ms=300)
    with Exchange.open(path) as ex:
        ex.locks.acquire(0)
        try:
            t0 = time.monotonic()
            out = run_c(trader, path, "--writer", "0", "--account", "0", "--random", "1000",
                        "--seed", "4")
            waited = time.monotonic() - t0
        finally:
            ex.locks.release(0)
    assert out.returncode == 3, out.stderr
    assert out.stderr.startswith(f"trader: {path}: {sync} lock")
    assert out.stderr.endswith("still held after 0.3 s (holder stopped or stuck)\n")
    assert 0.25 < waited < 10
    assert _writer(path, 0, "status") == L.SLOT_DONE
    check_books(path)

