"""The matching engine's rules, one at a time, and invariant checks that can fail."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.book import Book
from sim.core.book_invariants import check_book, conservation, reserves_match
from sim.core.book_journal import JournalFull, commit
from sim.core.book_layout import (
    BOOK,
    BUY,
    FILL_WORDS,
    IOC,
    JOURNAL,
    LEVEL,
    NIL,
    ORDER,
    POST_ONLY,
    SELL,
    BookGeometry,
    split_id,
)
from sim.core.book_result import (
    OK,
    REJ_CANCEL,
    REJ_CROSS,
    REJ_FULL,
    REJ_FUNDS,
    REJ_PRICE,
    REJ_QTY,
)
from sim.errors import BadExchangeFile, BadInput
from tests.unit.book_reference import Rig, clean

RICH = (10**9, 10**6)


def rig(ticks: int = 50, capacity: int = 16, max_fills: int = 8, n: int = 4) -> Rig:
    return Rig(BookGeometry(ticks, capacity, max_fills), [RICH] * n)


def test_price_then_time_priority_at_the_makers_price() -> None:
    r = rig()
    b = r.book
    first = b.limit(0, SELL, 12, 5).order_id
    second = b.limit(1, SELL, 12, 5).order_id
    better = b.limit(2, SELL, 11, 3).order_id
    res = b.limit(3, BUY, 20, 10)
    assert [(f.maker_id, f.tick, f.price, f.qty) for f in res.fills] == [
        (better, 11, 111, 3), (first, 12, 112, 5), (second, 12, 112, 2)]
    assert res.cash == 3 * 111 + 7 * 112 and res.rested == 0
    assert [(o.order_id, o.qty) for o in b.level(SELL, 12)] == [(second, 3)]
    assert r.accounts.balances(3) == (RICH[0] - res.cash, RICH[1] + 10, 0, 0)
    assert r.accounts.balances(1) == (RICH[0] + 2 * 112, RICH[1] - 5, 0, 3)
    clean(r)


def test_a_crossing_gtc_rests_its_remainder_with_its_reserve() -> None:
    r = rig()
    b = r.book
    b.limit(0, SELL, 10, 4)
    res = b.limit(1, BUY, 15, 10)
    assert (res.filled, res.rested) == (4, 6)
    assert b.best(BUY) == 15 and b.best(SELL) == NIL
    assert r.accounts.balances(1) == (RICH[0] - 4 * 110 - 6 * 115, RICH[1] + 4, 6 * 115, 0)
    assert b.cancel(1, res.order_id).cancelled == 6
    assert r.accounts.balances(1) == (RICH[0] - 4 * 110, RICH[1] + 4, 0, 0)
    clean(r)


def test_ioc_and_market_drop_what_they_cannot_fill() -> None:
    r = rig()
    b = r.book
    b.limit(0, BUY, 5, 3)
    res = b.limit(1, SELL, 5, 10, IOC)
    assert (res.filled, res.rested, res.dropped, res.order_id) == (3, 0, 7, 0)
    assert b.market(1, SELL, 4).dropped == 4
    assert b.counter("dropped") == 11 and b.best(BUY) == NIL
    clean(r)


def test_market_buy_spends_at_most_its_cash() -> None:
    r = Rig(BookGeometry(50, 8, 8), [RICH, (1000, 0)])
    b = r.book
    b.limit(0, SELL, 0, 5)  # price 100
    b.limit(0, SELL, 10, 5)  # price 110
    res = b.market(1, BUY, 100)
    assert [(f.price, f.qty) for f in res.fills] == [(100, 5), (110, 4)]
    assert r.accounts.balances(1) == (1000 - 940, 9, 0, 0)
    assert res.dropped == 91
    clean(r)


def test_the_fill_cap_cuts_an_order_and_is_counted() -> None:
    r = rig(max_fills=3)
    b = r.book
    for _ in range(5):
        b.limit(0, SELL, 10, 1)
    res = b.limit(1, BUY, 10, 5)
    assert len(res.fills) == 3 and res.capped and res.dropped == 2 and res.rested == 0
    assert b.counter("capped") == 1 and len(b.level(SELL, 10)) == 2
    res = b.market(1, BUY, 2)
    assert len(res.fills) == 2 and not res.capped
    clean(r)


def test_rejections_change_nothing_but_their_counter() -> None:
    r = Rig(BookGeometry(50, 2, 8), [RICH, (100, 1)])
    b = r.book
    b.limit(0, BUY, 5, 1)
    b.limit(0, SELL, 9, 1)
    cases = [
        (lambda: b.limit(0, BUY, 5, 0), REJ_QTY, "rej_qty"),
        (lambda: b.market(0, SELL, -3), REJ_QTY, "rej_qty"),
        (lambda: b.limit(0, BUY, 50, 1), REJ_PRICE, "rej_price"),
        (lambda: b.limit(0, SELL, -1, 1), REJ_PRICE, "rej_price"),
        (lambda: b.limit(1, BUY, 0, 2), REJ_FUNDS, "rej_funds"),
        (lambda: b.limit(1, SELL, 9, 2), REJ_FUNDS, "rej_funds"),
        (lambda: b.market(1, SELL, 2), REJ_FUNDS, "rej_funds"),
        (lambda: b.limit(0, BUY, 9, 1, POST_ONLY), REJ_CROSS, "rej_cross"),
        (lambda: b.limit(0, SELL, 5, 1, POST_ONLY), REJ_CROSS, "rej_cross"),
        (lambda: b.limit(0, BUY, 6, 1), REJ_FULL, "rej_full"),
        (lambda: b.limit(0, SELL, 6, 1), REJ_FULL, "rej_full"),
        (lambda: b.cancel(1, 1 << 32), REJ_CANCEL, "rej_cancel"),
        (lambda: b.cancel(0, -1), REJ_CANCEL, "rej_cancel"),
    ]
    for order, code, counter in cases:
        before = r.image()
        count = b.counter(counter)
        assert order().status == code
        assert b.counter(counter) == count + 1
        b.q[BOOK.word(counter)] = count
        assert r.image() == before, counter
    # A full pool still takes an order that does not rest, and one that frees a record.
    assert b.limit(0, SELL, 5, 1).status == OK
    assert b.limit(0, BUY, 6, 1).status == OK
    clean(r)


def test_cancel_needs_the_live_id_and_the_owner() -> None:
    r = rig(capacity=1)
    b = r.book
    oid = b.limit(0, BUY, 5, 2).order_id
    assert b.cancel(1, oid).status == REJ_CANCEL
    assert b.cancel(0, oid + 1).status == REJ_CANCEL  # another record's index
    b.limit(1, SELL, 5, 2)  # fills it: the record is free again
    assert b.cancel(0, oid).status == REJ_CANCEL
    again = b.limit(0, BUY, 5, 2).order_id
    assert split_id(again)[1] == split_id(oid)[1] and again != oid  # reused, new generation
    assert b.cancel(0, oid).status == REJ_CANCEL
    assert b.cancel(0, again).status == OK
    clean(r)


def test_cancel_unlinks_from_the_middle_of_a_level() -> None:
    r = rig()
    b = r.book
    ids = [b.limit(a, SELL, 7, 1 + a).order_id for a in range(4)]
    b.limit(0, SELL, 9, 1)
    assert b.cancel(1, ids[1]).status == OK
    assert [o.order_id for o in b.level(SELL, 7)] == [ids[0], ids[2], ids[3]]
    clean(r)
    for a in (0, 3, 2):
        b.cancel(a, ids[a])
        clean(r)
    assert b.best(SELL) == 9 and b.depth(SELL, 5) == [(9, 1, 1)]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), side=st.sampled_from([BUY, SELL]))
def test_bitmaps_find_every_next_best_level(data: st.DataObject, side: int) -> None:
    ticks = 9000  # 143 leaf words, 3 summary words
    edges = [0, 1, 61, 62, 63, 64, 125, 126, 3968, 3969, 3970, 4031, 7937, 7938, 8999]
    chosen = data.draw(st.lists(st.sampled_from(edges) | st.integers(0, ticks - 1),
                                min_size=1, max_size=12, unique=True))
    r = rig(ticks=ticks, capacity=len(chosen) * 2, max_fills=len(chosen) * 2)
    b = r.book
    ids = {t: b.limit(0, side, t, 1).order_id for t in chosen}
    order = sorted(chosen, reverse=side == BUY)
    assert [t for t, _, _ in b.depth(side, ticks)] == order
    gone = data.draw(st.lists(st.sampled_from(chosen), unique=True))
    for t in gone:
        assert b.cancel(0, ids[t]).status == OK
        order.remove(t)
        assert [t for t, _, _ in b.depth(side, ticks)] == order
        assert b.best(side) == (order[0] if order else NIL)
    sweep = b.market(1, 1 - side, len(order))
    assert [f.tick for f in sweep.fills] == order
    assert b.best(side) == NIL
    clean(r)


def _corrupt(r: Rig, word: int, value: int) -> dict[str, list[str]]:
    r.q[word] = value
    return {k: v for k, v in check_book(r.q, 0).items() if v}


def test_each_invariant_catches_its_corruption() -> None:
    r = rig()
    b = r.book
    geo = r.geo
    a = b.limit(0, BUY, 5, 2).order_id
    b.limit(1, BUY, 5, 3)
    b.limit(2, SELL, 8, 4)
    clean(r)
    o = split_id(a)[1]
    cases = [
        (BOOK.word("best_bid"), 9, "not_crossed"),
        (BOOK.word("best_ask"), 7, "bitmaps_and_best"),
        (geo.level_at(5) + LEVEL.word("bid_qty"), 6, "levels_consistent"),
        (geo.level_at(5) + LEVEL.word("bid_count"), 1, "levels_consistent"),
        (geo.order_at(o) + ORDER.word("prev"), 3, "levels_consistent"),
        (geo.order_at(o) + ORDER.word("qty"), 0, "levels_consistent"),
        (BOOK.word("live"), 2, "pool_complete"),
        (BOOK.word("free_head"), NIL, "pool_complete"),
        (geo.bid_leaf, 1, "bitmaps_and_best"),
        (geo.ask_summary, 0, "bitmaps_and_best"),
        (geo.journal + JOURNAL.word("state"), 4, "journal_idle"),
    ]
    for word, value, name in cases:
        old = r.q[word]
        assert name in _corrupt(r, word, value), name
        r.q[word] = old
        clean(r)
    acc = r.accounts.words(1)
    r.q[acc[2]] += 1
    assert reserves_match(r.q, [0], r.accounts, r.n)
    assert conservation(r.q, r.accounts, r.n, r.cash, r.units)


def test_attach_validates_and_create_refuses_bad_prices() -> None:
    r = rig()
    assert Book(r.q, 0, r.accounts).ticks == 50
    r.q[BOOK.word("ticks")] = 0
    with pytest.raises(BadExchangeFile, match="book at word 0: book ticks 0"):
        Book(r.q, 0, r.accounts)
    with pytest.raises(BadInput, match="price_base 0"):
        Book.create(r.q, 0, r.geo, r.accounts, price_base=0, price_step=1)
    with pytest.raises(BadInput, match="capacity 0"):
        BookGeometry(10, 0, 1)
    r.q[BOOK.word("ticks")] = 50
    book = Book(r.q, 0, r.accounts)
    with pytest.raises(BadInput, match="side 2, tif 0; expected side 0"):
        book.limit(0, 2, 5, 1)
    with pytest.raises(BadInput, match="side 0, tif 3"):
        book.limit(0, BUY, 5, 1, 3)
    with pytest.raises(BadInput, match="market order: side -1"):
        book.market(0, -1, 1)


def test_journal_refuses_more_words_than_it_holds_before_any_store() -> None:
    words = memoryview(bytearray(8 * 16)).cast("q")
    words[JOURNAL.word("entries")] = 2
    before = bytes(words.cast("B"))
    with pytest.raises(JournalFull):
        commit(words, 0, 0, {10: 1, 11: 2, 13: 3}, 12)
    assert bytes(words.cast("B")) == before


def test_the_journal_bound_holds_for_the_widest_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # 64 makers of 64 accounts, each alone on a level in a leaf and a summary word of its
    # own, all filled and emptied by one buy whose remainder rests: every word a fill can
    # write, written.
    import sim.core.book as engine

    spacing = 63 * 63
    geo = BookGeometry(ticks=64 * spacing, capacity=70, max_fills=64)
    r = Rig(geo, [RICH] * 66)
    for a in range(64):
        assert r.book.limit(a, SELL, a * spacing, 1).status == OK
    sizes: list[int] = []
    real = engine.commit

    def counting(q, base, journal, writes, version, pause=None):  # type: ignore[no-untyped-def]
        sizes.append(len(writes) + (version not in writes))
        return real(q, base, journal, writes, version, pause)

    monkeypatch.setattr(engine, "commit", counting)
    res = r.book.limit(65, BUY, geo.ticks - 1, 100)
    assert len(res.fills) == 64 and res.rested == 36 and not res.capped
    # 11 words a fill (FILL_WORDS keeps one to spare) and the order's own.
    assert 64 * (FILL_WORDS - 1) < sizes[-1] <= geo.journal_entries
    clean(r)
