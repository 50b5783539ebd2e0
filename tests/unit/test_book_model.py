"""The engine against the sorted-list reference: same fills, same book, same money, every step.

Random sequences of limit (GTC, IOC, post-only), market and cancel orders from a few
accounts, some too poor for their orders, on a small book (a full pool and the fill cap
are hit often) and on a wide sparse ladder (levels far apart, across bitmap words and
summary words). After every step: the whole book, every balance and every counter
agree with the reference, and every invariant holds.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sim.core.book_invariants import check_book, conservation, reserves_match
from sim.core.book_layout import BUY, GTC, IOC, POST_ONLY, SELL, BookGeometry
from sim.core.book_result import OK, Result
from tests.unit.book_reference import COUNTERS, Reference, Rig, ROutcome

BALANCES = [(10**7, 10**4), (10**6, 10**3), (3_000, 40), (700, 0), (0, 15)]
SIDES = st.sampled_from([BUY, SELL])
TIFS = st.sampled_from([GTC, GTC, IOC, POST_ONLY])
ACCOUNTS = st.integers(0, len(BALANCES) - 1)


class BookMachine(RuleBasedStateMachine):
    # Few ticks, so levels hold several orders (cancels from the middle of a FIFO).
    geo = BookGeometry(ticks=8, capacity=6, max_fills=3)
    ticks = st.integers(-1, 8)
    # Mostly small, so levels fill up with several orders and sweeps hit the fill cap.
    qtys = st.integers(1, 4) | st.sampled_from([-1, 0, 12])

    def __init__(self) -> None:
        super().__init__()
        self.rig = Rig(self.geo, BALANCES)
        self.ref = Reference(self.geo, 100, 1, BALANCES)
        self.ids: dict[int, int] = {}  # reference id -> engine id
        self.issued: list[int] = []  # every engine id ever given, live or stale

    def same(self, got: Result, want: ROutcome) -> None:
        assert got.status == want.status, (got, want)
        if want.status != OK:
            return
        fills = [(f.maker_id, f.maker_account, f.taker_account, f.tick, f.price, f.qty)
                 for f in got.fills]
        assert fills == [(self.ids[r], *rest) for r, *rest in want.fills]
        assert (got.rested, got.dropped, got.cancelled, got.capped) == (
            want.rested, want.dropped, want.cancelled, want.capped)
        assert got.filled == sum(f[5] for f in want.fills)
        assert got.cash == sum(f[4] * f[5] for f in want.fills)
        if want.rid is not None:
            self.ids[want.rid] = got.order_id
            self.issued.append(got.order_id)

    @rule(account=ACCOUNTS, side=SIDES, tick=st.data(), qty=st.data(), tif=TIFS)
    def limit(self, account: int, side: int, tick: st.DataObject, qty: st.DataObject,
              tif: int) -> None:
        t, n = tick.draw(self.ticks), qty.draw(self.qtys)
        self.same(self.rig.book.limit(account, side, t, n, tif),
                  self.ref.limit(account, side, t, n, tif))

    @rule(account=st.integers(0, 1), data=st.data(), qty=st.integers(1, 3))
    def deepen(self, account: int, data: st.DataObject, qty: int) -> None:
        """A GTC limit that rests without crossing, so levels grow several orders deep."""
        t = data.draw(self.ticks.filter(lambda t: 0 <= t < self.geo.ticks))
        ask, bid = self.ref.best(SELL), self.ref.best(BUY)
        side = BUY if ask is None or t < ask else SELL
        if side == SELL and bid is not None and t <= bid:
            return
        self.same(self.rig.book.limit(account, side, t, qty),
                  self.ref.limit(account, side, t, qty, GTC))

    @rule(account=ACCOUNTS, side=SIDES, qty=st.integers(-1, 40))
    def market(self, account: int, side: int, qty: int) -> None:
        self.same(self.rig.book.market(account, side, qty),
                  self.ref.market(account, side, qty))

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        live = sorted(self.ref.s.live.values(), key=lambda o: o.rid)
        kind = data.draw(st.sampled_from(["own", "own", "own", "issued", "any"]))
        if kind == "own" and live:
            o = data.draw(st.sampled_from(live))
            account, oid = o.account, self.ids[o.rid]
        else:
            account = data.draw(ACCOUNTS)
            if kind == "issued" and self.issued:
                oid = data.draw(st.sampled_from(self.issued))
            else:
                oid = data.draw(st.integers(-5, 2**40))
        rid = next((r for r, e in self.ids.items() if e == oid), -1)
        self.same(self.rig.book.cancel(account, oid), self.ref.cancel(account, rid))

    @invariant()
    def agree(self) -> None:
        book, ref = self.rig.book, self.ref
        back = {e: r for r, e in self.ids.items()}
        for side in (BUY, SELL):
            want = ref.s.levels[side]
            got = {}
            for t, _, _ in book.depth(side, self.geo.ticks):
                got[t] = [(back[o.order_id], o.account, o.qty) for o in book.level(side, t)]
            assert got == {t: [(o.rid, o.account, o.qty) for o in lv]
                           for t, lv in want.items()}
            assert book.best(side) == (-1 if ref.best(side) is None else ref.best(side))
        acc = self.rig.accounts
        assert [list(acc.balances(a)) for a in range(self.rig.n)] == ref.s.balances
        assert {c: book.counter(c) for c in COUNTERS} == ref.s.counters

    @invariant()
    def invariants_hold(self) -> None:
        rig = self.rig
        assert check_book(rig.q, 0) == {k: [] for k in check_book(rig.q, 0)}
        assert reserves_match(rig.q, [0], rig.accounts, rig.n) == []
        assert conservation(rig.q, rig.accounts, rig.n, rig.cash, rig.units) == []


class WideBookMachine(BookMachine):
    # 4,100 ticks: 66 leaf words, 2 summary words; ticks at both edges of each.
    geo = BookGeometry(ticks=4100, capacity=12, max_fills=5)
    ticks = st.sampled_from([-1, 0, 1, 62, 63, 64, 125, 126, 2000, 3968, 3969, 3970, 4030,
                             4099, 4100])


TestBook = BookMachine.TestCase
TestBook.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestWideBook = WideBookMachine.TestCase
TestWideBook.settings = settings(max_examples=30, stateful_step_count=30, deadline=None)
