"""The monitor's batch screen against one ``check_all`` per snapshot, the reference.

The screen may mark a clean snapshot (it is then checked exactly), but it must never let
a violating one through; and it must let ordinary trading through, or it saves nothing.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core import invariants as inv
from sim.core import layout as L
from tests.unit.test_invariants import tables, trade

FIELDS_CUR = ("cash_reserve", "unit_reserve", "seq", "volume_units", "volume_cash")
FIELDS_ACC = ("tot_cash", "tot_trades", "status")
I64 = np.iinfo(np.int64)


def reference(curs, accs, consistent, prev):  # type: ignore[no-untyped-def]
    """Indices that violate something, checked one by one as the monitor used to."""
    before = inv.remember(*prev) if prev is not None else None
    bad = set()
    for i, (cur, acc) in enumerate(zip(curs, accs, strict=True)):
        if any(inv.check_all(cur, acc, before).values()):
            bad.add(i)
        if consistent[i]:
            before = inv.remember(cur, acc)
    return bad


def screened(curs, accs, consistent, prev):  # type: ignore[no-untyped-def]
    cur = np.stack(curs)
    acc = np.stack(accs)
    return set(np.flatnonzero(inv.screen(cur, acc, np.array(consistent), prev)).tolist())


step = st.one_of(
    st.tuples(st.just("trade"), st.integers(0, 1), st.integers(0, 1),
              st.integers(-50, 50), st.integers(-4, 4)),
    st.tuples(st.just("cur"), st.sampled_from(FIELDS_CUR), st.integers(0, 1),
              st.integers(-3, 3), st.booleans()),
    st.tuples(st.just("acc"), st.sampled_from(FIELDS_ACC), st.integers(0, 2),
              st.integers(-3, 3), st.booleans()),
    st.tuples(st.just("hold"), st.integers(0, 2), st.integers(0, 1),
              st.integers(-3, 3), st.booleans()),
)


def apply(cur, acc, s) -> None:  # type: ignore[no-untyped-def]
    with np.errstate(over="ignore"):  # a crafted state may wrap: it is only bytes
        _apply(cur, acc, s)


def _apply(cur, acc, s) -> None:  # type: ignore[no-untyped-def]
    kind = s[0]
    if kind == "trade":
        _, slot, c, cash, units = s
        trade(cur, acc, slot=slot, c=c, cash=cash, units=units)
        return
    _, a, b, delta, huge = s
    # Huge values sit near the int64 limits, where a plain int64 sum would wrap.
    value = (I64.max - 7 if delta >= 0 else I64.min + 7) if huge else None
    if kind == "cur":
        cur[a][b] = value if value is not None else cur[a][b] + delta
    elif kind == "acc":
        if a == "status":
            acc["status"][b] = L.SLOT_FREE if delta < 0 else L.SLOT_ACTIVE
        else:
            acc[a][b] = value if value is not None else acc[a][b] + delta
    else:
        acc["tot_holdings"][a, b] = (value if value is not None
                                     else acc["tot_holdings"][a, b] + delta)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.lists(step, max_size=3), st.booleans()), min_size=1,
                max_size=12),
       st.booleans())
def test_screen_never_misses_a_violation(seq, with_prev) -> None:  # type: ignore[no-untyped-def]
    cur, acc = tables()
    prev = (cur.copy(), acc.copy()) if with_prev else None
    curs, accs, consistent = [], [], []
    for steps, torn in seq:
        for s in steps:
            apply(cur, acc, s)
        curs.append(cur.copy())
        accs.append(acc.copy())
        consistent.append(not torn)
    assert reference(curs, accs, consistent, prev) <= screened(curs, accs, consistent, prev)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(1, 40),
                          st.integers(1, 3)), max_size=30))
def test_screen_lets_conserving_trades_through(trades) -> None:  # type: ignore[no-untyped-def]
    """Buys that pay more per unit than the pool's rate raise k: nothing to mark."""
    cur, acc = tables()
    acc["tot_cash"] += 10_000
    acc["init_tot_cash"] += 10_000
    prev = (cur.copy(), acc.copy())
    curs, accs = [], []
    for slot, c, cash, units in trades:
        rate = cur["cash_reserve"][c] // cur["unit_reserve"][c] + 1
        trade(cur, acc, slot=slot, c=c, cash=max(cash, rate * units), units=units)
        curs.append(cur.copy())
        accs.append(acc.copy())
    if not curs:
        return
    consistent = [True] * len(curs)
    assert reference(curs, accs, consistent, prev) == set()
    assert screened(curs, accs, consistent, prev) == set()


def test_exact_sums_see_a_difference_a_wrapping_sum_would_hide() -> None:
    cur, acc = tables()
    init = int(acc["init_tot_cash"][:2].sum() + cur["init_cash_reserve"].sum())
    # Two accounts at the int64 maximum: the int64 total wraps round to the initial one.
    acc["tot_cash"][:2] = I64.max
    cur["cash_reserve"][0] = init - int(cur["cash_reserve"][1]) + 2
    wrapped = int(np.concatenate([acc["tot_cash"][:2], cur["cash_reserve"]]).sum())
    assert wrapped == init
    marked = inv.screen(cur[None], acc[None], np.array([True]), None)
    assert marked.tolist() == [True]
    assert inv.check_all(cur, acc)["cash_conserved"]
