"""``sim check --replay`` on books: the ledger rebuilds every book and account exactly.

Random orders of nine accounts hosted by three writers, on two books beside a pool, with
many fills, cancels, self-trades, and orders that sweep due cash without writing a row;
the rings wrap several times, so pool rows land on slots that held book rows. The replay
must match the file exactly; then a tampered ledger (a fill dropped, a quantity changed)
and a tampered file (an order's quantity, a stake) are each caught with a clear line.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np
import pytest

from sim.core import layout as L
from sim.core.book import Book
from sim.core.book_layout import BUY, GTC, IOC, ORDER, POST_ONLY, SELL, BookGeometry, split_id
from sim.core.exchange import BookSpec, CurrencySpec, Exchange, Funding
from sim.core.ledger import ledger_file, load_ledger, pool_rows_by_market
from sim.core.transaction import Writer
from sim.errors import BadInput
from sim.tools.check import check_command, replay
from tests.unit.book_reference import KillAfter, Killed

SCALE: Final = 10_000
SHAPE: Final = (200, 256, 16)
N_ACC: Final = 9
CASH: Final = 5_000 * SCALE
UNITS: Final = 2_000 * SCALE
ORDERS: Final = 2500


def book_exchange(path: Path, shape: tuple[int, int, int] = SHAPE) -> Exchange:
    """Two books (EUR, GBP of lot 0.1) beside a pool (USD); nine funded accounts, hosted
    by writers 0, 1, 2 in turn."""
    specs = [CurrencySpec("EUR", 0, 0, BookSpec(10_000, 1, SCALE, 1.01)),
             CurrencySpec("USD", 100_000 * SCALE, 100_000 * SCALE),
             CurrencySpec("GBP", 0, 0, BookSpec(12_600, 2, SCALE // 10, 1.27))]
    ex = Exchange.create(str(path / L.EXCHANGE_FILE), specs, n_writers=3,
                         n_accounts=N_ACC + 1, ring_rows=128, scale=SCALE, fee_bps=0,
                         book_shape=shape)
    ex.fund_accounts([Funding(a % 3, CASH, [UNITS, UNITS, UNITS]) for a in range(N_ACC)],
                     {0: L.KIND_TRADER, 1: L.KIND_TRADER, 2: L.KIND_TRADER})
    return ex


def new_seen() -> dict[str, int]:
    return {"fills": 0, "self": 0, "rested": 0, "cancels": 0, "pool": 0, "silent_sweeps": 0}


def random_order(ex: Exchange, wr: Writer, a: int, rng: np.random.Generator,
                 live: list[tuple[int, int]], seen: dict[str, int]) -> None:
    """One random order of account ``a`` (a pool trade, a cancel of one of its ``live``
    orders, a market order, or a limit order of any kind); counts what it did."""
    side = int(rng.integers(2))
    r = rng.random()
    if r < 0.15:
        seen["pool"] += wr.trade(a, 1, side, int(rng.integers(1, 20)) * SCALE) > 0
        return
    c = int(rng.choice([0, 2]))
    # Read without the lock: only the owner's own orders take it away.
    due = int(ex.q[ex.geo.stake_at(a, c) // 8 + L.STAKE.word("due_cash")])
    if r < 0.35 and live:
        c, oid = live.pop(int(rng.integers(len(live))))
        res = wr.cancel(a, c, oid)
        seen["cancels"] += res.cancelled > 0
    elif r < 0.45:
        res = wr.market(a, c, side, int(rng.integers(1, 30)))
    else:
        tick = int(rng.normal(100, 8)) + (3 if side == SELL else -3)
        tif = int(rng.choice([GTC, GTC, GTC, IOC, IOC, POST_ONLY]))
        res = wr.limit(a, c, side, tick, int(rng.integers(1, 40)), tif)
        if res.rested:
            live.append((c, res.order_id))
    seen["fills"] += len(res.fills)
    seen["self"] += sum(f.maker_account == a for f in res.fills)
    seen["rested"] += res.rested > 0
    # An accepted order that wrote no row, yet swept the account's due cash (a maker
    # paid later, between the read and this order, only adds to what it swept).
    seen["silent_sweeps"] += (res.status == 0 and due > 0 and not res.fills
                              and not res.rested and not res.cancelled)


def _trade(ex: Exchange, seed: int) -> dict[str, int]:
    """Random orders by every account of three writers; what kinds of event happened."""
    writers = [Writer(ex, w) for w in range(3)]
    rng = np.random.default_rng(seed)
    live: dict[int, list[tuple[int, int]]] = {a: [] for a in range(N_ACC)}
    seen = new_seen()
    try:
        for _ in range(ORDERS):
            a = int(rng.integers(N_ACC))
            random_order(ex, writers[a % 3], a, rng, live[a], seen)
    finally:
        for wr in writers:
            wr.close()
    return seen


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    path = tmp_path_factory.mktemp("replay")
    with book_exchange(path) as ex:
        seen = _trade(ex, 11)
    yield path, seen


@pytest.fixture
def copy(traded: tuple[Path, dict[str, int]], tmp_path: Path) -> Path:
    """A copy of the traded exchange file and its ledger, to tamper with."""
    src = traded[0]
    for p in [src / L.EXCHANGE_FILE, *sorted((src / "ledger").iterdir())]:
        dst = tmp_path / p.relative_to(src)
        dst.parent.mkdir(exist_ok=True)
        dst.write_bytes(p.read_bytes())
    return tmp_path


def _rows(ex: Exchange, w: int) -> np.ndarray:  # type: ignore[type-arg]
    return np.fromfile(ledger_file(ex.path, w), dtype=L.ROW.dtype)


def test_random_orders_replay_exactly(traded: tuple[Path, dict[str, int]]) -> None:
    path, seen = traded
    assert seen["fills"] > 300 and seen["cancels"] > 100 and seen["rested"] > 300, seen
    assert seen["self"] > 5 and seen["pool"] > 100 and seen["silent_sweeps"] > 5, seen
    with Exchange.open(str(path / L.EXCHANGE_FILE), writable=False) as ex:
        # The rings wrapped: some pool rows sit on slots that held book rows.
        assert int(ex.writers()["log_count"].min()) > 3 * ex.geo.ring_rows
        assert int(ex.currencies()["book_live"][[0, 2]].min()) > 10
        assert replay(ex) == []
    out = io.StringIO()
    check_command(str(path), repair=False, do_replay=True, out=out)
    assert "replay: matches the file exactly\n" in out.getvalue()


def test_pool_rows_load_as_pool_trades_whatever_their_ring_slot_held(
        traded: tuple[Path, dict[str, int]]) -> None:
    with Exchange.open(str(traded[0] / L.EXCHANGE_FILE), writable=False) as ex:
        raw = np.concatenate([_rows(ex, w) for w in range(3)])
        rows, _ = load_ledger(ex, ex.writers())
        book_mask = ex.geo.book_mask
    pool = rows["currency"] == 1
    # The pool writer names its rows whole, though its ring slots wrapped over book rows.
    assert (raw["kind"][raw["currency"] == 1] == L.ROW_TRADE).all()
    assert (raw["maker"][raw["currency"] == 1] == -1).all()
    # A writer that does not (an older C trader) is read by its currency's market.
    raw["kind"][raw["currency"] == 1] = L.ROW_FILL
    raw["tick"][raw["currency"] == 1] = 7
    pool_rows_by_market(raw, book_mask)
    assert (raw["kind"][raw["currency"] == 1] == L.ROW_TRADE).all()
    assert (raw["tick"][raw["currency"] == 1] == -1).all()
    assert (rows["kind"][pool] == L.ROW_TRADE).all()
    assert (rows["maker"][pool] == -1).all() and (rows["tick"][pool] == -1).all()
    assert (rows["order_id"][pool] == 0).all()
    assert (rows["kind"][~pool] != L.ROW_TRADE).all()


def test_full_books_and_capped_orders_replay_exactly(tmp_path: Path) -> None:
    # 40 order records and 1 fill an order: resting orders are refused for a full book
    # and sweeps are cut short at the cap, their remainders dropped without a row.
    with book_exchange(tmp_path, (200, 40, 1)) as ex:
        seen = _trade(ex, 5)
        assert seen["fills"] > 200 and seen["silent_sweeps"] > 0, seen
        for c in (0, 2):
            assert ex.book(c).counter("rej_full") > 5
            assert ex.book(c).counter("capped") > 20
        assert replay(ex) == []


def _fill_rows(rows: np.ndarray, c: int) -> np.ndarray:  # type: ignore[type-arg]
    return np.flatnonzero((rows["kind"] == L.ROW_FILL) & (rows["currency"] == c))


def test_a_dropped_fill_row_is_caught(copy: Path) -> None:
    with Exchange.open(str(copy / L.EXCHANGE_FILE)) as ex:
        rows = _rows(ex, 1)
        k = int(_fill_rows(rows, 0)[len(_fill_rows(rows, 0)) // 2])
        dropped = rows[k]
        kept = np.delete(rows, k)
        kept.tofile(ledger_file(ex.path, 1))
        # The writer agrees with its shorter ledger: only the replay can tell.
        for field in ("log_count", "log_head"):
            ex.q[ex.wword(1, field)] -= 1
        problems = replay(ex)
    cs = int(dropped["cur_seq"])
    assert f"currency 0 cur_seq {cs + 1}: expected cur_seq {cs}" in "\n".join(problems)
    # The maker's order kept what the lost fill took from it.
    assert any(f"order {int(dropped['order_id'])}" in p or "total: file" in p
               for p in problems), problems


def test_a_changed_fill_quantity_is_caught(copy: Path) -> None:
    with Exchange.open(str(copy / L.EXCHANGE_FILE), writable=False) as ex:
        rows = _rows(ex, 2)
        k = int(_fill_rows(rows, 2)[3])
        rows["qty"][k] += 2 * SCALE // 10
        rows.tofile(ledger_file(ex.path, 2))
        problems = replay(ex)
    cs = int(rows["cur_seq"][k])
    mine = [p for p in problems if f"currency 2 cur_seq {cs}:" in p]
    assert any("logged cash" in p and "lots gives" in p for p in mine), problems


def test_a_changed_order_in_the_file_is_caught(copy: Path) -> None:
    with Exchange.open(str(copy / L.EXCHANGE_FILE)) as ex:
        b = ex.book(0)
        bid = b.best(BUY)
        o = b.level(BUY, bid)[0]
        geo = BookGeometry(*SHAPE)
        ex.q[b.base + geo.orders + split_id(o.order_id)[1] * (ORDER.size // 8)
             + ORDER.word("qty")] += 1
        problems = replay(ex)
    assert (f"currency EUR book bid tick {bid} order 1 of the level: file order "
            f"{o.order_id} account {o.account} {o.qty + 1} lots, replay order {o.order_id} "
            f"account {o.account} {o.qty} lots") in problems, problems


def test_a_changed_stake_is_caught(copy: Path) -> None:
    with Exchange.open(str(copy / L.EXCHANGE_FILE)) as ex:
        st = ex.stakes()
        a = int(np.flatnonzero(st["reserved_units"][:, 2])[0])
        units = int(st["reserved_units"][a, 2])
        ex.q[ex.geo.stake_at(a, 2) // 8 + L.STAKE.word("reserved_units")] += 7
        a2 = int(np.flatnonzero(st["due_cash"][:, 0] == 0)[0])
        ex.q[ex.geo.stake_at(a2, 0) // 8 + L.STAKE.word("due_cash")] += 5
        problems = replay(ex)
    assert (f"account {a} stake GBP reserved_units: file {units + 7}, replay {units}"
            in problems), problems
    assert any(p.startswith(f"account {a2} stake EUR due_cash: file 5") for p in problems), \
        problems
    out = io.StringIO()
    assert check_command(str(copy), repair=False, do_replay=True, out=out) == 1
    assert "replay: MISMATCH" in out.getvalue()


def test_replay_needs_every_drained_row(copy: Path) -> None:
    with Exchange.open(str(copy / L.EXCHANGE_FILE), writable=False) as ex:
        f = ledger_file(ex.path, 0)
        os.truncate(f, os.path.getsize(f) - L.ROW.size)
        with pytest.raises(BadInput, match=r"ledger holds \d+ rows, writer says \d+ were"):
            replay(ex)


def test_repair_rolls_back_a_book_order_killed_before_its_first_store(tmp_path: Path) -> None:
    """Killed after its journal's state but before the version store: the version is
    even, so only the book's journal tells; ``--repair`` rolls it back, and the replay
    matches."""
    ex = book_exchange(tmp_path)
    writers = [Writer(ex, w) for w in range(3)]
    try:
        for k, a in enumerate((0, 1, 2, 3)):
            assert writers[a % 3].limit(a, 0, SELL, 101 + k % 2, 4 + k).rested
        before = bytes(ex.b)
        desk = writers[2].desk
        version = ex.cword(0, "version")
        for k in range(400):
            ex.b[:] = before
            q = KillAfter(ex.q, k)
            b = Book(q, ex.book(0).base, desk.stakes[0], version=version)
            b.extra = desk._extra
            desk.books[0], desk.q = b, q  # type: ignore[assignment]
            try:
                desk.market(8, 0, BUY, 12)
                pytest.fail("the order ran to its end before its journal was active")
            except Killed:
                pass
            finally:
                desk.books.pop(0)
                desk.q = ex.q
            if ex.book(0).journal_state():
                break
        assert ex.q[version] % 2 == 0
        for wr in writers:
            wr.close()
        out = io.StringIO()
        assert check_command(str(ex.path), repair=False, do_replay=False, out=out) == 1
        assert "unfinished: currency EUR: book transaction in flight" in out.getvalue()
        out = io.StringIO()
        check_command(str(ex.path), repair=True, do_replay=True, out=out)
        assert "repair: 1 transactions rolled back" in out.getvalue(), out.getvalue()
        assert "replay: matches the file exactly" in out.getvalue(), out.getvalue()
        assert ex.book(0).journal_state() == 0
    finally:
        for wr in writers:
            wr.close()
        ex.close()
