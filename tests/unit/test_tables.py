"""Run tables: trades.parquet in global order (and its CSV twin), samples.parquet arrays."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.core import layout as L
from sim.errors import BadInput
from sim.harness.monitor import sample_columns
from sim.harness.rundir import claim_run_dir
from sim.harness.tables import read_samples, write_samples, write_trades


def ledger_rows(n: int, seed: int = 3) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, dtype=L.ROW.dtype)
    rows["t_ns"] = np.sort(rng.integers(0, 10**9, n))[rng.permutation(n)]
    rows["account"] = rng.integers(0, 4, n)
    rows["currency"] = rng.integers(0, 2, n)
    rows["side"] = rng.integers(0, 2, n)
    rows["qty"] = rng.integers(1, 1000, n)
    rows["cash"] = rng.integers(1, 10**6, n)
    rows["unit_reserve"] = rng.integers(10**6, 10**7, n)
    for c in range(2):
        at = np.flatnonzero(rows["currency"] == c)
        rows["cur_seq"][at[np.argsort(rows["t_ns"][at], kind="stable")]] = np.arange(
            1, len(at) + 1)
    return rows


@pytest.mark.parametrize("n", [0, 1, 1000])
def test_trades_table_is_the_ledger_in_time_order(tmp_path: Path, n: int) -> None:
    rows = ledger_rows(n)
    assert write_trades(tmp_path, rows, ["EUR", "USD"], csv=True) == n
    t = pd.read_parquet(tmp_path / "trades.parquet")
    assert list(t.columns) == ["seq", "t_ns", "trader", "currency", "side", "qty", "cash",
                               "cur_seq", "unit_reserve", "maker", "maker_order", "tick"]
    assert len(t) == n and (t["seq"] == np.arange(1, n + 1)).all()
    assert (np.diff(t["t_ns"]) >= 0).all()
    order = np.lexsort((rows["cur_seq"], rows["t_ns"]))
    assert (t["qty"].to_numpy() == rows["qty"][order]).all()
    assert (t["cash"].to_numpy() == rows["cash"][order]).all()
    assert (t["currency"].astype(str).to_numpy()
            == np.array(["EUR", "USD"])[rows["currency"][order]]).all()
    assert (t["side"].astype(str).to_numpy()
            == np.array(["buy", "sell"])[rows["side"][order]]).all()
    with open(tmp_path / "trades.csv", newline="") as f:
        body = list(csv.reader(f))
    assert body[0] == list(t.columns) and len(body) == n + 1
    back = pd.read_csv(tmp_path / "trades.csv")
    for col in t.columns:
        assert (back[col].astype(str) == t[col].astype(str)).all(), col


def test_no_csv_unless_asked(tmp_path: Path) -> None:
    write_trades(tmp_path, ledger_rows(10), ["EUR", "USD"])
    assert not (tmp_path / "trades.csv").exists()


def test_samples_round_trip(tmp_path: Path) -> None:
    nc, ns, s = 3, 6, 50
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(s, sample_columns(nc, ns)))
    raw[:, 1] = rng.integers(0, 2, s)
    raw[:, 2] = rng.integers(0, 3, s)
    mon = tmp_path / "monitor"
    mon.mkdir()
    raw.tofile(mon / "samples.f8")
    strategies = {0: "random", 2: "momentum", 5: "command:trader"}
    assert write_samples(tmp_path, mon, nc, ns, ["EUR", "USD", "GBP"], strategies) == s
    z = read_samples(tmp_path)
    assert np.array_equal(z["t"], raw[:, 0])
    assert np.array_equal(z["consistent"], raw[:, 1].astype(bool))
    assert np.array_equal(z["violations"], raw[:, 2].astype(np.int64))
    assert np.array_equal(z["rate"], raw[:, 3:6])
    assert np.array_equal(z["wealth"], raw[:, [6 + 0, 6 + 2, 6 + 5]])
    assert np.array_equal(z["bid"], raw[:, 12:15]) and np.array_equal(z["ask"], raw[:, 15:18])
    assert list(z["names"]) == ["EUR", "USD", "GBP"]
    assert list(z["trader"]) == [0, 2, 5]
    assert list(z["strategy"]) == ["random", "momentum", "command:trader"]
    df = pd.read_parquet(tmp_path / "samples.parquet")
    assert list(df.columns) == ["t", "consistent", "violations", "rate_EUR", "rate_USD",
                                "rate_GBP", "wealth_0", "wealth_2", "wealth_5", "bid_EUR",
                                "bid_USD", "bid_GBP", "ask_EUR", "ask_USD", "ask_GBP"]
    assert not (tmp_path / "depth.parquet").exists()  # no books, no depth


def test_missing_or_corrupt_samples_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"no samples\.parquet \(expected a run folder\)"):
        read_samples(tmp_path)
    (tmp_path / "samples.parquet").write_bytes(b"not parquet")
    with pytest.raises(BadInput, match="unreadable"):
        read_samples(tmp_path)


def test_a_named_run_folder_is_new_or_empty_never_one_with_files(tmp_path: Path) -> None:
    run = claim_run_dir(tmp_path / "a" / "b")
    assert sorted(p.name for p in run.iterdir()) == ["INCOMPLETE"]
    with pytest.raises(BadInput, match="already exists and is not an empty folder"):
        claim_run_dir(run)
    (tmp_path / "empty").mkdir()
    assert claim_run_dir(tmp_path / "empty") == tmp_path / "empty"


def test_book_rows_split_into_trades_and_orders_by_kind(tmp_path: Path) -> None:
    n = 400
    rows = ledger_rows(n, seed=5)
    rng = np.random.default_rng(6)
    rows["kind"] = rng.integers(0, 4, n)
    rows["order_id"] = rng.integers(1, 10**9, n)
    rows["maker"] = rng.integers(0, 4, n)
    rows["tick"] = rng.integers(0, 4000, n)
    # A pool trade's book words hold whatever its writer left (the C trader: 0).
    pool = rows["kind"] == L.ROW_TRADE
    rows["maker"][pool] = rows["order_id"][pool] = rows["tick"][pool] = 0
    assert write_trades(tmp_path, rows, ["EUR", "USD"], csv=True) == n
    t = pd.read_parquet(tmp_path / "trades.parquet")
    o = pd.read_parquet(tmp_path / "orders.parquet")
    assert list(o.columns) == ["seq", "t_ns", "trader", "currency", "event", "side", "qty",
                               "cash", "cur_seq", "order_id", "tick"]
    order = np.lexsort((rows["cur_seq"], rows["t_ns"]))
    kinds = rows["kind"][order]
    # One global sequence over both tables: merged by seq they are the ledger in order.
    assert sorted([*t["seq"], *o["seq"]]) == list(range(1, n + 1))
    assert (t["seq"].to_numpy() == 1 + np.flatnonzero(kinds <= L.ROW_FILL)).all()
    assert (o["seq"].to_numpy() == 1 + np.flatnonzero(kinds >= L.ROW_PLACED)).all()
    tr = rows[order][kinds <= L.ROW_FILL]
    fill = tr["kind"] == L.ROW_FILL
    assert (t["maker"].to_numpy() == np.where(fill, tr["maker"], -1)).all()
    assert (t["maker_order"].to_numpy() == np.where(fill, tr["order_id"], 0)).all()
    assert (t["tick"].to_numpy() == np.where(fill, tr["tick"], -1)).all()
    ev = rows[order][kinds >= L.ROW_PLACED]
    assert (o["event"].astype(str).to_numpy()
            == np.where(ev["kind"] == L.ROW_PLACED, "placed", "cancelled")).all()
    for f in ("qty", "cash", "cur_seq", "order_id", "tick"):
        assert (o[f].to_numpy() == ev[f]).all(), f
    back = pd.read_csv(tmp_path / "orders.csv")
    for col in o.columns:
        assert (back[col].astype(str) == o[col].astype(str)).all(), col


def test_orders_table_only_with_books_and_bad_kinds_refused(tmp_path: Path) -> None:
    write_trades(tmp_path, ledger_rows(10), ["EUR", "USD"])
    assert not (tmp_path / "orders.parquet").exists()
    write_trades(tmp_path, ledger_rows(10), ["EUR", "USD"], books=True)
    assert len(pd.read_parquet(tmp_path / "orders.parquet")) == 0
    rows = ledger_rows(10)
    rows["kind"][3] = 7
    out = tmp_path / "bad"
    out.mkdir()
    with pytest.raises(BadInput, match=r"ledger row 3: kind 7, expected 0\.\.3"):
        write_trades(out, rows, ["EUR", "USD"])
    rows["kind"][3] = L.ROW_PLACED
    with pytest.raises(BadInput, match="order events but the file has no book"):
        write_trades(out, rows, ["EUR", "USD"], books=False)
    assert list(out.iterdir()) == []
