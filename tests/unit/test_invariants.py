"""Each invariant on crafted snapshots: holds on a clean state, fires on its own defect.

A sample is currencies plus writers (each writer's running totals over its accounts);
an audit adds the accounts."""

from __future__ import annotations

import numpy as np

from sim.core import invariants as inv
from sim.core import layout as L


def tables() -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    cur = np.zeros(2, dtype=L.CURRENCY.dtype)
    cur["name"] = [b"EUR", b"USD"]
    cur["cash_reserve"] = cur["init_cash_reserve"] = [1000, 2000]
    cur["unit_reserve"] = cur["init_unit_reserve"] = [500, 2000]
    acc = np.zeros(3, dtype=L.WRITER.dtype)
    acc["status"] = [L.SLOT_ACTIVE, L.SLOT_ACTIVE, L.SLOT_FREE]
    acc["tot_cash"] = acc["init_tot_cash"] = [100, 200, 999]
    acc["tot_holdings"][:, :2] = acc["init_tot_holdings"][:, :2] = [[10, 20], [30, 40],
                                                                   [9, 9]]
    return cur, acc


def trade(cur, acc, slot=0, c=0, cash=20, units=5):  # type: ignore[no-untyped-def]
    """A conserving buy: the account pays cash, the pool hands out units."""
    cur["cash_reserve"][c] += cash
    cur["unit_reserve"][c] -= units
    cur["seq"][c] += 1
    acc["tot_cash"][slot] -= cash
    acc["tot_holdings"][slot, c] += units
    acc["tot_trades"][slot] += 1


def failing(cur, acc, prev=None) -> set[str]:  # type: ignore[no-untyped-def]
    return {k for k, v in inv.check_all(cur, acc, prev).items() if v}


def test_clean_state_and_a_conserving_trade_pass() -> None:
    cur, acc = tables()
    assert failing(cur, acc) == set()
    prev = inv.remember(cur, acc)
    trade(cur, acc)
    assert failing(cur, acc, prev) == set()


def test_free_slots_do_not_count() -> None:
    cur, acc = tables()
    acc["tot_cash"][2] = -5
    assert failing(cur, acc) == set()


def test_lost_update_is_caught_by_cash_units_and_counts() -> None:
    cur, acc = tables()
    trade(cur, acc)
    # A second trader's update that the pool never saw (its write was overwritten).
    acc["tot_cash"][1] -= 7
    acc["tot_holdings"][1, 0] += 3
    acc["tot_trades"][1] += 1
    assert failing(cur, acc) >= {"cash_conserved", "units_conserved", "trade_counts_agree"}


def test_negative_balance_and_empty_pool() -> None:
    cur, acc = tables()
    acc["tot_cash"][0] -= 200
    cur["cash_reserve"][0] += 200
    assert failing(cur, acc) == {"non_negative"}
    cur, acc = tables()
    acc["tot_holdings"][1, 1] += cur["unit_reserve"][1]
    cur["unit_reserve"][1] = 0
    assert "non_negative" in failing(cur, acc)


def test_k_decrease_is_caught_against_initial_and_previous() -> None:
    cur, acc = tables()
    cur["cash_reserve"][0] -= 1
    acc["tot_cash"][0] += 1
    assert failing(cur, acc) == {"k_non_decreasing"}
    cur, acc = tables()
    trade(cur, acc, cash=100, units=1)
    prev = inv.remember(cur, acc)
    cur["cash_reserve"][0] -= 50
    acc["tot_cash"][0] += 50
    assert "k_non_decreasing" in failing(cur, acc, prev)


def test_counters_going_backwards() -> None:
    cur, acc = tables()
    trade(cur, acc)
    prev = inv.remember(cur, acc)
    cur["seq"][0] -= 1
    acc["tot_trades"][0] -= 1
    assert failing(cur, acc, prev) == {"counters_monotone"}


def test_details_name_the_currency_and_the_difference() -> None:
    cur, acc = tables()
    acc["tot_holdings"][0, 1] += 4
    details = inv.check_all(cur, acc)["units_conserved"]
    assert details == ["USD: total units 2,064 != initial 2,060 (diff +4)"]
    # In major units, as every report prints money and quantities.
    details = inv.check_all(cur, acc, scale=100)["units_conserved"]
    assert details == ["USD: total units 20.64 != initial 20.60 (diff +0.04)"]
    acc["tot_cash"][0] -= 150
    details = inv.check_all(cur, acc, scale=100)["cash_conserved"]
    assert details[0].endswith("(diff -1.50)")


def accounts(wri: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """Accounts that add up to ``wri``'s totals: writer 0 hosts two, writer 1 one."""
    acc = np.zeros(5, dtype=L.ACCOUNT.dtype)
    acc["status"] = [L.SLOT_ACTIVE] * 3 + [L.SLOT_FREE] * 2
    acc["writer"] = [0, 0, 1, -1, -1]
    acc["cash"] = acc["init_cash"] = [60, 40, 200, 0, 0]
    acc["holdings"][:3, :2] = acc["init_holdings"][:3, :2] = [[4, 20], [6, 0], [30, 40]]
    return acc


def test_audit_passes_when_totals_are_the_sums_of_the_accounts() -> None:
    cur, wri = tables()
    acc = accounts(wri)
    assert not any(inv.audit(cur, wri, acc).values())


def test_audit_catches_totals_that_drift_from_the_accounts() -> None:
    cur, wri = tables()
    acc = accounts(wri)
    acc["cash"][1] += 5  # an account changed without its writer's total
    found = inv.audit(cur, wri, acc)
    assert found["totals_match_accounts"] == [
        "writer 0: tot_cash 100 != sum of its accounts' cash 105"]
    acc = accounts(wri)
    acc["holdings"][2, 1] -= 1
    assert inv.audit(cur, wri, acc)["totals_match_accounts"]


def test_audit_catches_a_negative_account_behind_a_positive_total() -> None:
    cur, wri = tables()
    acc = accounts(wri)
    acc["cash"][0] -= 70
    acc["cash"][1] += 70
    found = inv.audit(cur, wri, acc)
    assert found["accounts_non_negative"] == ["account 0: cash -10 < 0"]
    assert not found["totals_match_accounts"]
