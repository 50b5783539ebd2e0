"""All or nothing: an order killed after any number of stores rolls back to the exact bytes.

The engine runs over a wrapper of the words that raises after k stores, for every k
from 0 to the order's last store, on multi-fill sweeps, a crossing order that rests its
remainder, a self-trade, cancels and the fill cap; then ``recover`` must bring back every
byte but the journal's scratch entries, and a rollback killed in turn must finish when
run again.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.book import Book
from sim.core.book_layout import BOOK, BUY, GTC, IOC, POST_ONLY, SELL, BookGeometry
from sim.core.book_result import OK, Result
from tests.unit.book_reference import KillAfter, Killed, Rig, clean

Order = Callable[[Book, dict[str, int]], Result]


def populated() -> tuple[Rig, dict[str, int]]:
    """Four accounts, five levels a side, each three orders deep (one of account 0)."""
    r = Rig(BookGeometry(ticks=40, capacity=40, max_fills=12), [(10**8, 10**5)] * 4)
    ids: dict[str, int] = {}
    for i in range(5):
        for a in range(3):
            ids[f"ask{20 + i}.{a}"] = r.book.limit(a, SELL, 20 + i, 1 + a + i).order_id
            ids[f"bid{14 - i}.{a}"] = r.book.limit(a, BUY, 14 - i, 1 + a + i).order_id
    return r, ids


ORDERS: dict[str, Order] = {
    "market buy sweeping levels": lambda b, ids: b.market(3, BUY, 25),
    "market sell cut at the fill cap": lambda b, ids: b.market(3, SELL, 1000),
    "gtc sell crossing, remainder rests": lambda b, ids: b.limit(3, SELL, 13, 15),
    "ioc buy": lambda b, ids: b.limit(1, BUY, 21, 9, IOC),
    "self-trade": lambda b, ids: b.limit(0, SELL, 14, 2),
    "post-only at a new best": lambda b, ids: b.limit(2, BUY, 16, 3, POST_ONLY),
    "gtc at an empty tick": lambda b, ids: b.limit(1, SELL, 39, 3, GTC),
    "cancel from a level's middle": lambda b, ids: b.cancel(1, ids["ask22.1"]),
    "cancel the last of the best level": lambda b, ids: b.cancel(0, ids["bid14.0"]),
}


def stores_of(r: Rig, order: Callable[[Book], Result]) -> tuple[int, bytes, Result]:
    """Run ``order`` to the end on a copy: its stores, the image after it, its result."""
    saved = bytes(r.buf)
    words = KillAfter(r.q, -1)
    res = order(Book(words, 0, r.accounts))
    after = r.image()
    r.buf[:] = saved
    return words.stores, after, res


def kill_at(r: Rig, order: Callable[[Book], Result], k: int) -> None:
    with pytest.raises(Killed):
        order(Book(KillAfter(r.q, k), 0, r.accounts))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(ORDERS))
def test_a_kill_after_any_store_rolls_back_to_the_same_bytes(name: str) -> None:
    r, ids = populated()
    order: Callable[[Book], Result] = lambda b: ORDERS[name](b, ids)  # noqa: E731
    before, saved = r.image(), bytes(r.buf)
    n, after, res = stores_of(r, order)
    assert res.status == OK and after != before
    if "sweep" in name or "cap" in name:
        assert len(res.fills) >= 5
    if "cap" in name:
        assert res.capped
    version = BOOK.word("version")
    for k in range(n):
        r.buf[:] = saved
        kill_at(r, order, k)
        seen = r.q[version]
        Book(r.q, 0, r.accounts).recover()
        # A seqlock never goes back to a value a reader may have seen with other words.
        assert r.q[version] >= seen and r.q[version] % 2 == 0, (name, k, seen)
        # The last store makes the version even after the commit point: only that stays.
        want = after if k == n - 1 else before
        assert r.image() == want, f"{name}: killed before store {k} of {n}"
    r.buf[:] = saved
    order(Book(r.q, 0, r.accounts))
    assert r.image() == after
    assert not Book(r.q, 0, r.accounts).recover()
    clean(r)


@pytest.mark.timeout(60)
def test_a_rollback_killed_in_turn_finishes_when_run_again() -> None:
    r, ids = populated()
    order: Callable[[Book], Result] = lambda b: ORDERS["market buy sweeping levels"](b, ids)  # noqa: E731
    before, saved = r.image(), bytes(r.buf)
    n, _, _ = stores_of(r, order)
    for k in range(1, n - 1, 5):
        r.buf[:] = saved
        kill_at(r, order, k)
        crashed = bytes(r.buf)
        counter = KillAfter(r.q, -1)
        Book(counter, 0, r.accounts).recover()
        for k2 in range(counter.stores):
            r.buf[:] = crashed
            with pytest.raises(Killed):
                Book(KillAfter(r.q, k2), 0, r.accounts).recover()
            Book(r.q, 0, r.accounts).recover()
            assert r.image() == before, f"killed at {k}, rollback killed at {k2}"


SETUP = st.lists(st.tuples(st.integers(0, 3), st.sampled_from([BUY, SELL]),
                           st.integers(0, 15), st.integers(1, 6)), max_size=25)
LAST = st.one_of(
    st.tuples(st.just("limit"), st.integers(0, 3), st.sampled_from([BUY, SELL]),
              st.integers(0, 15), st.integers(1, 30), st.sampled_from([GTC, IOC, POST_ONLY])),
    st.tuples(st.just("market"), st.integers(0, 3), st.sampled_from([BUY, SELL]),
              st.integers(1, 30), st.just(0), st.just(0)),
    st.tuples(st.just("cancel"), st.integers(0, 3), st.integers(0, 24), st.just(0),
              st.just(0), st.just(0)),
)


@pytest.mark.timeout(120)
@settings(max_examples=40, deadline=None)
@given(setup=SETUP, last=LAST)
def test_random_orders_killed_anywhere_roll_back(
        setup: list[tuple[int, int, int, int]], last: tuple[str, int, int, int, int, int]) -> None:
    r = Rig(BookGeometry(ticks=16, capacity=12, max_fills=4), [(10**6, 10**4)] * 4)
    placed = [(a, r.book.limit(a, side, t, qty).order_id) for a, side, t, qty in setup]
    kind, a, x, y, z, tif = last

    def order(b: Book) -> Result:
        if kind == "limit":
            return b.limit(a, x, y, z, tif)
        if kind == "market":
            return b.market(a, x, y)
        owner, oid = placed[x % len(placed)] if placed else (a, 1)
        return b.cancel(owner, oid)

    before, saved = r.image(), bytes(r.buf)
    n, after, res = stores_of(r, order)
    if res.status != OK:
        assert n == 1  # a rejection stores its counter and nothing else
        return
    for k in range(n):
        r.buf[:] = saved
        kill_at(r, order, k)
        Book(r.q, 0, r.accounts).recover()
        want = after if k == n - 1 else before
        assert r.image() == want, f"killed before store {k} of {n}"
    clean(r)
    r.buf[:] = saved
    order(Book(r.q, 0, r.accounts))
    assert r.image() == after
    clean(r)
