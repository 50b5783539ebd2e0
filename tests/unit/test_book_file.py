"""Limit order books inside the exchange file: money, mirrors, totals and crashes.

Random orders of accounts hosted by three writers, on two book currencies beside a pool,
each checked after it ran: exact conservation of cash and units counting reserves and
due cash; the currency records' mirrors equal the sums over the stakes; each writer's
running totals equal the sums over its accounts; every book passes its structural
checks and every account's reserves equal what its live orders promise; the ledger
count follows the currency's sequence. Then an order that fills several makers of
several writers is killed before each of its stores in turn: rolling back restores every
byte of the file but scratch, and the order run again gives the uninterrupted bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pytest

from sim.core import layout as L
from sim.core.book import Book
from sim.core.book_layout import BUY, GTC, IOC, POST_ONLY, SELL, BookGeometry
from sim.core.book_txn import BookDesk
from sim.core.exchange import BookSpec, CurrencySpec, Exchange, Funding
from sim.core.transaction import Writer, recover_currency
from tests.book_file_check import check_file
from tests.unit.book_reference import KillAfter, Killed

SCALE: Final = 10_000
SHAPE: Final = (200, 256, 16)
N_ACC: Final = 9
CASH: Final = 5_000 * SCALE
UNITS: Final = 2_000 * SCALE


def _exchange(tmp_path: Path) -> Exchange:
    specs = [CurrencySpec("EUR", 0, 0, BookSpec(10_000, 1, SCALE, 1.01)),
             CurrencySpec("USD", 100_000 * SCALE, 100_000 * SCALE),
             CurrencySpec("GBP", 0, 0, BookSpec(12_600, 2, SCALE // 10, 1.27))]
    ex = Exchange.create(str(tmp_path / L.EXCHANGE_FILE), specs, n_writers=3,
                         n_accounts=N_ACC + 1, ring_rows=256, scale=SCALE, fee_bps=0,
                         book_shape=SHAPE)
    ex.fund_accounts([Funding(a % 3, CASH, [UNITS, UNITS, UNITS]) for a in range(N_ACC)],
                     {0: L.KIND_TRADER, 1: L.KIND_TRADER, 2: L.KIND_TRADER})
    (tmp_path / "ledger").mkdir()
    return ex


def _check(ex: Exchange) -> None:
    check_file(ex)
    cur = ex.currencies()
    wri = ex.writers()
    assert int(wri["log_count"].sum()) == int(cur["seq"].sum())


def test_random_orders_keep_every_invariant(tmp_path: Path) -> None:
    ex = _exchange(tmp_path)
    writers = [Writer(ex, w) for w in range(3)]
    rng = np.random.default_rng(7)
    live: dict[int, list[tuple[int, int]]] = {a: [] for a in range(N_ACC)}
    kinds = {"fill": 0, "rested": 0, "cancel": 0}
    try:
        for i in range(1200):
            a = int(rng.integers(N_ACC))
            c = int(rng.choice([0, 2]))
            wr = writers[a % 3]
            side = int(rng.integers(2))
            r = rng.random()
            if r < 0.25 and live[a]:
                c, oid = live[a].pop(int(rng.integers(len(live[a]))))
                res = wr.cancel(a, c, oid)
                kinds["cancel"] += res.cancelled > 0
            elif r < 0.35:
                res = wr.market(a, c, side, int(rng.integers(1, 30)))
            else:
                tick = int(rng.normal(100, 8)) + (3 if side == SELL else -3)
                tif = int(rng.choice([GTC, GTC, GTC, IOC, POST_ONLY]))
                res = wr.limit(a, c, side, tick, int(rng.integers(1, 40)), tif)
                if res.rested:
                    live[a].append((c, res.order_id))
            kinds["fill"] += len(res.fills)
            kinds["rested"] += res.rested > 0
            if i % 3 == 0:
                _check(ex)
        _check(ex)
        assert min(kinds.values()) > 50, kinds
        assert int(ex.currencies()["book_due_cash"][[0, 2]].sum()) > 0
    finally:
        for wr in writers:
            wr.close()
        ex.close()


def _bytes_but_scratch(ex: Exchange) -> bytes:
    """The file's bytes with the books' journal entries, the ledger rings and the
    currencies' seqlock versions (a rollback moves them forward; even at rest) zeroed."""
    raw = bytearray(ex.b)
    geo = ex.geo
    for c in range(geo.n_currencies):
        v = geo.currency_at(c) + L.CURRENCY.offsets["version"]
        assert int.from_bytes(raw[v: v + 8], "little") % 2 == 0
        raw[v: v + 8] = bytes(8)
    raw[geo.ring_offset: geo.stake_offset] = bytes(geo.stake_offset - geo.ring_offset)
    bg = BookGeometry(*geo.book_shape)
    for c in geo.books:
        first = geo.book_at(c) + bg.journal_first_entry * 8
        raw[first: geo.book_at(c) + bg.bid_leaf * 8] = bytes(bg.bid_leaf * 8
                                                            - bg.journal_first_entry * 8)
    return bytes(raw)


def _sweep_killed_at(ex: Exchange, desk: BookDesk, k: int) -> int:
    """Account 8's market buy of 30 lots on EUR through words that die before store ``k``
    (-1: never); returns the stores made."""
    q = KillAfter(ex.q, k)
    b = Book(q, ex.book(0).base, desk.book(0).accounts,
             version=ex.cur_base[0] + L.CURRENCY.word("version"))
    b.extra = desk._extra
    desk.books[0], desk.q = b, q  # type: ignore[assignment]
    try:
        desk.market(8, 0, BUY, 30)
    finally:
        desk.books.pop(0)
        desk.q = ex.q
    return q.stores


def _stage(ex: Exchange, writers: list[Writer]) -> None:
    """Resting sells of six accounts of all three writers at three ticks, a buy too."""
    for k, a in enumerate((0, 1, 2, 3, 4, 5)):
        assert writers[a % 3].limit(a, 0, SELL, 101 + k % 3, 4 + k).rested
    assert writers[1].limit(7, 0, BUY, 99, 5).rested


@pytest.mark.timeout(60)
def test_an_order_killed_before_any_store_rolls_back_to_the_same_bytes(tmp_path: Path) -> None:
    ex = _exchange(tmp_path)
    writers = [Writer(ex, w) for w in range(3)]
    try:
        _stage(ex, writers)
        before = _bytes_but_scratch(ex)
        taker = writers[2]
        res = taker.market(8, 0, BUY, 30)
        assert len(res.fills) >= 5 and len({f.maker_account % 3 for f in res.fills}) == 3
        after = _bytes_but_scratch(ex)
        desk = taker.desk

        def killed_at(k: int) -> int:
            ex.b[:] = before
            return _sweep_killed_at(ex, desk, k)

        stores = killed_at(-1)
        assert stores > 40
        for k in range(stores):
            with pytest.raises(Killed):
                killed_at(k)
            recover_currency(ex, 0)
            # The last store makes the version even after the commit point.
            want = after if k == stores - 1 else before
            assert _bytes_but_scratch(ex) == want, f"killed before store {k}"
            if k < stores - 1:
                assert taker.market(8, 0, BUY, 30).fills == res.fills
                assert _bytes_but_scratch(ex) == after
    finally:
        for wr in writers:
            wr.close()
        ex.close()


def test_a_restarted_writer_settles_its_dead_order_before_trading_again(
        tmp_path: Path) -> None:
    # Writer 2 dies inside an order on EUR (journal live, half its words stored); it comes
    # back and trades on GBP first. Its dead order's pre-images hold its own ledger count,
    # totals and cash: rolled back only later, they would undo the GBP orders.
    ex = _exchange(tmp_path)
    writers = [Writer(ex, w) for w in range(3)]
    try:
        _stage(ex, writers)
        desk = writers[2].desk
        saved = bytes(ex.b)

        stores = _sweep_killed_at(ex, desk, -1)
        ex.b[:] = saved
        ex.q[ex.cur_base[0] + L.CURRENCY.word("inflight")] = 2
        with pytest.raises(Killed):
            _sweep_killed_at(ex, desk, stores - 10)  # values half stored, the journal live
        assert ex.book(0).journal_state() > 0
        writers[2].close()
        writers[2] = Writer(ex, 2)  # the restart
        assert ex.book(0).journal_state() == 0
        assert ex.q[ex.cur_base[0] + L.CURRENCY.word("inflight")] == L.NO_WRITER
        assert ex.q[ex.wword(2, "rollbacks")] == 1
        for k in range(5):
            writers[2].limit(8, 2, SELL, 110 + k, 3)
        _check(ex)
    finally:
        for wr in writers:
            wr.close()
        ex.close()
