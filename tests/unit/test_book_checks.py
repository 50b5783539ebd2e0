"""The books' invariants on a file traded by real orders: clean, then one defect at a time.

Each defect is written into the file by hand (a level total, a stake's reserve, a mirror
total, a mirror price, a crossed pair, a live order's account): the check named for it
fires, in the sample (``check_all`` and the batch ``screen``) or in the audit
(``audit_books``) as it belongs, and the final check fails. A clean file passes all of
them, and the vectorised reserves check agrees with the engine's ``reserves_match``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.book import Book
from sim.core.book_checks import BOOK_AUDIT_NAMES, BookCopy, Ladders, audit_book
from sim.core.book_invariants import reserves_match
from sim.core.book_layout import BUY, LEVEL, NIL, ORDER, SELL, SIDE_FIELDS, BookGeometry
from sim.core.exchange import Exchange
from sim.core.quiescence import audit_books, final_check
from sim.core.snapshot import book_snapshot
from sim.core.stakes import StakeAccounts
from sim.core.transaction import Writer
from tests.unit.book_market import EUR, GBP, N_WRITERS, SHAPE, book_exchange, trade_randomly
from tests.unit.book_reference import Killed

GEO = BookGeometry(*SHAPE)


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    path = tmp_path_factory.mktemp("books") / L.EXCHANGE_FILE
    ex = book_exchange(path)
    writers = [Writer(ex, w) for w in range(N_WRITERS)]
    try:
        trade_randomly(writers, 600)
    finally:
        for wr in writers:
            wr.close()
    yield ex
    ex.close()


@pytest.fixture
def ex(traded: Exchange) -> Iterator[Exchange]:
    """The traded file, restored byte for byte after each test's defect."""
    before = bytes(traded.b)
    yield traded
    traded.b[:] = before


def sample_found(ex: Exchange) -> set[str]:
    cur, wri = ex.copy_tables()
    lad = Ladders.of(ex.q, ex.geo)
    found = {k for k, v in inv.check_all(cur, wri, ladders=lad).items() if v}
    # The batch screen marks every snapshot check_all finds at fault.
    marked = inv.screen(cur[None], wri[None], np.array([True]), None, lad)
    assert bool(marked[0]) or not found
    return found


def audit_found(ex: Exchange) -> set[str]:
    return {k for k, v in audit_books(ex).items() if v}


def level_word(ex: Exchange, c: int, side: int, tick: int, field: str) -> int:
    return ex.geo.book_at(c) // 8 + GEO.level_at(tick) + SIDE_FIELDS * side + LEVEL.word(
        f"bid_{field}")


def test_the_traded_file_is_a_real_test_and_passes_everything(ex: Exchange) -> None:
    cur = ex.currencies()
    for c in (EUR, GBP):
        assert cur["best_bid"][c] != NIL and cur["best_ask"][c] != NIL
        assert cur["book_live"][c] > 10 and cur["volume_units"][c] > 0
    assert cur["book_due_cash"][[EUR, GBP]].sum() > 0
    assert cur["seq"][1] > 0  # the pool traded too
    assert sample_found(ex) == set()
    assert audit_found(ex) == set()
    assert final_check(ex)["ok"]
    found = inv.check_all(*ex.copy_tables(), ladders=Ladders.of(ex.q, ex.geo))
    assert set(found) == {*inv.NAMES, *inv.BOOK_NAMES}


def test_a_file_with_books_is_not_checked_as_a_pool_file(ex: Exchange) -> None:
    with pytest.raises(ValueError, match="with their Ladders"):
        inv.check_all(*ex.copy_tables())


def test_a_level_total_that_is_not_its_orders_sum_breaks_the_structure(ex: Exchange) -> None:
    tick = int(ex.currencies()["best_ask"][GBP])
    ex.q[level_word(ex, GBP, SELL, tick, "qty")] += 1
    assert sample_found(ex) == set()  # the mirrors do not see inside the book
    assert audit_found(ex) == {"book_structure"}
    details = audit_books(ex)["book_structure"]
    assert any(d.startswith(f"GBP: levels_consistent: ask level {tick}: total") for d in details)
    assert not final_check(ex)["ok"]


def test_a_stake_reserve_beside_its_orders_breaks_reserves_and_the_mirror(
        ex: Exchange) -> None:
    st = ex.stakes()
    a = int(np.flatnonzero(st["reserved_cash"][:, EUR] > 0)[0])
    ex.q[ex.geo.stake_at(a, EUR) // 8 + L.STAKE.word("reserved_cash")] += 3
    assert audit_found(ex) == {"book_reserves", "book_mirror_exact"}
    got = audit_books(ex)
    assert any(f"EUR: account {a} reserves cash" in d for d in got["book_reserves"])
    assert any("book_reserved_cash" in d for d in got["book_mirror_exact"])
    # The samples read the mirror, which still balances the writers: only the audit sees.
    assert sample_found(ex) == set()


def test_a_mirror_total_beside_the_stakes_breaks_conservation_and_the_mirror(
        ex: Exchange) -> None:
    ex.q[ex.cword(GBP, "book_due_cash")] += 5
    assert sample_found(ex) == {"cash_conserved"}
    assert audit_found(ex) == {"book_mirror_exact"}
    ex.q[ex.cword(GBP, "book_due_cash")] -= 5
    ex.q[ex.cword(EUR, "book_reserved_units")] -= 2
    assert sample_found(ex) == {"units_conserved"}
    ex.q[ex.cword(EUR, "book_reserved_units")] = -1
    assert "book_mirror" in sample_found(ex)


def test_a_mirror_price_that_is_not_its_ticks_breaks_the_mirror(ex: Exchange) -> None:
    ex.q[ex.cword(EUR, "bid_price")] += 1
    assert sample_found(ex) == {"book_mirror"}
    assert audit_found(ex) == {"book_mirror_exact"}
    ex.q[ex.cword(EUR, "bid_price")] -= 1
    ex.q[ex.cword(1, "best_bid")] = 5  # a pool quoting a book's price
    assert sample_found(ex) == {"book_mirror"}


def test_a_crossed_pair_is_caught_at_a_sample(ex: Exchange) -> None:
    cur = ex.currencies()
    ask = int(cur["best_ask"][EUR])
    ex.q[ex.cword(EUR, "best_bid")] = ask
    ex.q[ex.cword(EUR, "bid_price")] = int(cur["ask_price"][EUR])
    assert sample_found(ex) == {"book_crossed"}
    details = inv.check_all(*ex.copy_tables(), ladders=Ladders.of(ex.q, ex.geo))
    assert details["book_crossed"] == [f"EUR: best bid tick {ask} >= best ask tick {ask}"]
    assert audit_found(ex) == {"book_mirror_exact"}  # the book itself is not crossed


def test_lost_rows_break_the_trade_counts_of_a_file_with_books(ex: Exchange) -> None:
    ex.q[ex.cword(EUR, "seq")] += 1
    assert sample_found(ex) == {"trade_counts_agree"}


def test_an_order_of_no_account_and_a_negative_stake_are_named(ex: Exchange) -> None:
    base = ex.geo.book_at(EUR) // 8
    live = ex.book(EUR).level(BUY, int(ex.currencies()["best_bid"][EUR]))[0]
    o = live.order_id & 0xFFFFFFFF
    ex.q[base + GEO.order_at(o) + ORDER.word("account")] = 99
    found = audit_books(ex)["book_reserves"]
    assert found[0] == "EUR: 1 live orders name no account, e.g. 99 (accounts 0..9)"
    ex.q[base + GEO.order_at(o) + ORDER.word("account")] = live.account
    ex.q[ex.geo.stake_at(4, GBP) // 8 + L.STAKE.word("due_cash")] = -7
    found = audit_books(ex)["book_reserves"]
    assert found == ["GBP: account 4 has a negative stake: due_cash -7, reserved_cash "
                     f"{ex.stakes()['reserved_cash'][4, GBP]}, reserved_units "
                     f"{ex.stakes()['reserved_units'][4, GBP]}"]


def test_reserves_agree_with_the_engines_check(ex: Exchange) -> None:
    """The vectorised reserves check finds what ``reserves_match`` finds, account by
    account, on the clean file and with two stakes moved."""
    for step in range(2):
        for c in (EUR, GBP):
            dst = BookCopy(ex.geo.n_accounts, ex.geo.book_words)
            assert book_snapshot(ex, c, dst).consistent
            mine = audit_book(dst, "X")["book_reserves"]
            theirs = reserves_match(ex.q, [ex.geo.book_at(c) // 8], StakeAccounts(ex.geo, c),
                                    ex.geo.n_accounts)
            assert [d.split()[2] for d in mine] == [d.split()[1] for d in theirs]
            assert len(mine) == step
        for c, a in ((EUR, 1), (GBP, 5)):
            ex.q[ex.geo.stake_at(a, c) // 8 + L.STAKE.word("reserved_units")] += 1


def test_a_journal_in_flight_is_judged_only_under_the_lock(ex: Exchange) -> None:
    dst = BookCopy(ex.geo.n_accounts, ex.geo.book_words)
    journal = ex.geo.book_at(EUR) // 8 + GEO.journal
    ex.q[journal] = 3  # the state word: a commit between its header and its version
    assert book_snapshot(ex, EUR, dst, rounds=1, locking=False).consistent
    assert not any(audit_book(dst, "EUR", journal=False).values())
    assert audit_book(dst, "EUR")["book_structure"] == [
        "EUR: journal_idle: journal holds a transaction of 3 words in flight"]
    assert set(audit_book(dst, "EUR")) == set(BOOK_AUDIT_NAMES)


class DieMidway:
    """Int64 words that die at the fourth store after the seqlock word turns odd."""

    def __init__(self, q: memoryview, version: int) -> None:
        self.q = q
        self.version = version
        self.after = -1

    def __getitem__(self, i: int) -> int:
        return int(self.q[i])

    def __setitem__(self, i: int, v: int) -> None:
        if self.after >= 0:
            self.after += 1
            if self.after > 3:
                raise Killed("killed inside the commit")
        self.q[i] = v
        if i == self.version and v & 1:
            self.after = 0


@pytest.mark.timeout(30)
def test_a_book_left_mid_order_by_a_dead_holder_is_rolled_back_then_copied(
        ex: Exchange) -> None:
    """A process dies inside a multi-fill order holding EUR's lock: the audit's copy
    cannot settle under the seqlock, takes the lock as the heir, rolls the order back and
    copies a book that passes every check."""
    before = audit_books(ex)
    pid = os.fork()
    if pid == 0:
        try:
            child = Exchange.open(ex.path)
            desk = Writer(child, 2).desk
            desk.book(EUR)
            q = DieMidway(child.q, child.cword(EUR, "version"))
            b = Book(q, child.book(EUR).base, desk.stakes[EUR], version=q.version)
            b.extra = desk._extra
            desk.books[EUR], desk.q = b, q  # type: ignore[assignment]
            child.locks.acquire(EUR)
            desk.market(8, EUR, BUY, 30)
        except Killed:
            pass
        finally:
            os._exit(0)  # holding the lock, the order half stored
    os.waitpid(pid, 0)
    assert ex.q[ex.cword(EUR, "version")] & 1
    dst = BookCopy(ex.geo.n_accounts, ex.geo.book_words)
    dst.take(ex.q, ex.b, ex.geo, EUR)  # as it was left: half an order
    assert audit_book(dst, "EUR")["book_structure"]
    copy = book_snapshot(ex, EUR, dst)
    assert (copy.consistent, copy.locked, copy.rolled_back) == (True, True, 1)
    assert not any(audit_book(dst, "EUR").values())
    assert audit_books(ex) == before and final_check(ex)["ok"]


MIRROR_FIELDS = ("market", "best_bid", "best_ask", "bid_price", "ask_price", "book_live",
                 "book_reserved_cash", "book_reserved_units", "book_due_cash", "seq",
                 "cash_reserve", "unit_reserve")
I64 = np.iinfo(np.int64)
nudge = st.tuples(st.sampled_from(MIRROR_FIELDS), st.integers(0, 2),
                  st.sampled_from([-2, -1, 1, 2, I64.max // 2]))


@pytest.fixture(scope="module")
def snapshot(traded: Exchange) -> tuple[np.ndarray, np.ndarray, Ladders]:  # type: ignore[type-arg]
    cur, wri = traded.copy_tables()
    lad = Ladders.of(traded.q, traded.geo)
    assert lad is not None
    return cur.copy(), wri.copy(), lad


@settings(max_examples=150, deadline=None)
@given(batch=st.lists(st.lists(nudge, max_size=3), min_size=1, max_size=6))
def test_the_batch_screen_never_misses_what_a_book_check_finds(
        snapshot: tuple[np.ndarray, np.ndarray, Ladders],  # type: ignore[type-arg]
        batch: list[list[tuple[str, int, int]]]) -> None:
    cur0, wri, lad = snapshot
    curs = []
    cur = cur0.copy()
    for nudges in batch:
        with np.errstate(over="ignore"):
            for field, c, delta in nudges:
                cur[field][c] += delta
        curs.append(cur.copy())
    wris = [wri] * len(curs)
    marked = inv.screen(np.stack(curs), np.stack(wris), np.ones(len(curs), dtype=bool),
                        (cur0, wri), lad)
    before = inv.remember(cur0, wri)
    for i, (c, w) in enumerate(zip(curs, wris, strict=True)):
        if any(inv.check_all(c, w, before, ladders=lad).values()):
            assert marked[i], (i, batch)
        before = inv.remember(c, w)
