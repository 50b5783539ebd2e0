"""The monitor on a file with books: quotes in the samples, the books in the audits, the
top levels in depth.parquet; and on a pool-only file, nothing more than before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.config.scenario import parse_scenario
from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.book_checks import BOOK_AUDIT_NAMES
from sim.core.book_depth import depth
from sim.core.book_layout import LEVEL, SELL, SIDE_FIELDS, BookGeometry
from sim.core.gathered import SampleWords
from sim.core.transaction import Writer
from sim.errors import BadInput, BadScenario
from sim.harness.monitor import DEPTH_FILE, Sampler, merged_stats, sample_columns
from sim.harness.tables import DEPTH_SCHEMA, read_depth, read_samples, write_samples
from tests.conftest import make_exchange
from tests.unit.book_market import (
    EUR,
    GBP,
    N_WRITERS,
    SCALE,
    SHAPE,
    USD,
    book_exchange,
    trade_randomly,
)


def test_samples_audits_and_depth_of_a_file_with_books(tmp_path: Path) -> None:
    ex = book_exchange(tmp_path / L.EXCHANGE_FILE)
    ex.set_header_int("run_state", L.RUN_RUNNING)
    folder = tmp_path / "monitor"
    s = Sampler(ex, str(folder))
    writers = [Writer(ex, w) for w in range(N_WRITERS)]
    try:
        s.sample()
        s.depth()  # empty books: no rows
        for k in range(5):
            trade_randomly(writers, 60, seed=k)
            s.sample()
            s.depth()
        s.audit()
        cur = ex.currencies()
        want = depth(ex.q, ex.geo.book_at(GBP) // 8)
        # A level total moved behind its orders: only the audit sees inside the book.
        tick = int(cur["best_ask"][EUR])
        lw = (ex.geo.book_at(EUR) // 8 + BookGeometry(*SHAPE).level_at(tick)
              + SIDE_FIELDS * SELL + LEVEL.word("bid_qty"))
        ex.q[lw] += 1
        s.sample()
        s.audit()
        ex.q[lw] -= 1
        stats = s.close(7, 0.01, 0.07)
    finally:
        for wr in writers:
            wr.close()
    names = (*inv.NAMES, *inv.AUDIT_NAMES, *inv.BOOK_NAMES, *BOOK_AUDIT_NAMES)
    assert set(stats["invariants"]) == set(names)
    checks = {n: v["checks"] for n, v in stats["invariants"].items()}
    assert checks == {**dict.fromkeys((*inv.NAMES, *inv.BOOK_NAMES), 7),
                      **dict.fromkeys(inv.AUDIT_NAMES, 2),
                      **dict.fromkeys(BOOK_AUDIT_NAMES, 4)}  # two books, two audits
    bad = {n for n, v in stats["invariants"].items() if v["violations"]}
    assert bad == {"book_structure"}
    assert stats["invariants"]["book_structure"]["violations"] == 1
    assert stats["depth_reads"] == 12 and stats["depth_skipped"] == 0
    rec = [json.loads(x) for x in (folder / "violations.jsonl").read_text().splitlines()]
    assert rec[0]["invariant"] == "book_structure"
    assert f"ask level {tick}" in rec[0]["details"][0]
    # The samples: a book's rate is its last fill; its quotes are the mirror's prices.
    rows = np.fromfile(folder / "samples.f8").reshape(-1, sample_columns(3, N_WRITERS))
    last = rows[-2]
    nc = 3
    q0 = 3 + nc + N_WRITERS
    assert last[3 + EUR] == cur["last_rate"][EUR]
    assert last[3 + USD] == cur["cash_reserve"][USD] / cur["unit_reserve"][USD]
    assert last[q0 + EUR] == cur["bid_price"][EUR] / SCALE
    assert last[q0 + nc + GBP] == cur["ask_price"][GBP] / (SCALE // 10)
    assert np.isnan(last[[q0 + USD, q0 + nc + USD]]).all()
    assert np.isnan(rows[0, q0:]).all()  # nothing rested yet
    # The run's tables.
    assert write_samples(tmp_path, folder, nc, N_WRITERS, ex.names(), {0: "a", 1: "b", 2: "c"}
                         ) == 7
    z = read_samples(tmp_path)
    assert np.array_equal(z["bid"], rows[:, q0: q0 + nc], equal_nan=True)
    assert np.array_equal(z["ask"], rows[:, q0 + nc:], equal_nan=True)
    table = read_depth(tmp_path)
    assert table.schema.equals(DEPTH_SCHEMA)
    d = table.to_pandas()
    assert len(d) == len(np.fromfile(folder / DEPTH_FILE)) // 7
    assert set(d["currency"]) == {"EUR", "GBP"} and set(d["side"]) == {"bid", "ask"}
    t_last = d["t"].max()
    gbp = d[(d["t"] == t_last) & (d["currency"] == "GBP")]
    for side, levels in (("bid", want.bids), ("ask", want.asks)):
        got = gbp[gbp["side"] == side]
        assert got["level"].tolist() == list(range(len(levels)))
        assert got["rate"].tolist() == [lv.price / want.lot for lv in levels]
        assert got["qty"].tolist() == [lv.lots * want.lot / SCALE for lv in levels]
        assert got["orders"].tolist() == [lv.orders for lv in levels]
    ex.close()


def test_a_pool_only_file_is_monitored_as_before(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path / "exchange.dat")
    ex.set_header_int("run_state", L.RUN_RUNNING)
    folder = tmp_path / "monitor"
    s = Sampler(ex, str(folder))
    # No book buffers, no depth stream; a sample gathers words of currencies and writers.
    assert s.ladders is None and s.book_copy is None
    assert s.raw.shape[1] == SampleWords(ex.geo).size
    Writer(ex, 0).trade(0, 0, L.SIDE_BUY, 1_00)
    s.sample()
    s.audit()
    stats = s.close(1, 0.01, 0.01)
    assert list(stats["invariants"]) == [*inv.NAMES, *inv.AUDIT_NAMES]
    assert "depth_reads" not in stats
    assert not (folder / DEPTH_FILE).exists()
    nc, nw = ex.geo.n_currencies, ex.geo.n_writers
    rows = np.fromfile(folder / "samples.f8").reshape(-1, sample_columns(nc, nw))
    assert np.isnan(rows[:, 3 + nc + nw:]).all()  # no quotes on pools
    write_samples(tmp_path, folder, nc, nw, ex.names(), {0: "random"})
    with pytest.raises(BadInput, match=r"no depth\.parquet"):
        read_depth(tmp_path)
    ex.close()


def test_merged_stats_keep_every_check_any_generation_ran(tmp_path: Path) -> None:
    def part(names: tuple[str, ...], k: int) -> dict[str, object]:
        return {"samples": k, "cpu_s": 0.1, "torn": 0, "locked_snapshots": 0,
                "optimistic_snapshots": k, "trylock_snapshots": 0, "waited_snapshots": 0,
                "rolled_back": 0, "recorded_violations": 0, "audits": 1, "audit_cpu_s": 0.0,
                "lock_stalls": 0, "slice_ns": None,
                "invariants": {n: {"checks": k, "violations": 1} for n in names}}

    (tmp_path / "monitor-0.json").write_text(json.dumps(part(("a", "b"), 3)))
    (tmp_path / "monitor-1.json").write_text(json.dumps(part(("a", "b", "c"), 4)))
    out = merged_stats(str(tmp_path), 2, 1.0, 0.01)
    assert out is not None
    assert out["invariants"] == {"a": {"checks": 7, "violations": 2, "rate_hz": 7.0},
                                 "b": {"checks": 7, "violations": 2, "rate_hz": 7.0},
                                 "c": {"checks": 4, "violations": 1, "rate_hz": 4.0}}


def test_depth_ms_is_a_validated_monitor_setting() -> None:
    base = {"name": "s", "currencies": [{"name": "EUR", "rate": 1.1, "reserve": 1000}],
            "traders": [{"count": 1, "strategy": "random"}]}
    assert parse_scenario(base, source="s.yaml").monitor.depth_ms == 100.0
    fast = parse_scenario({**base, "monitor": {"depth_ms": 5}}, source="s.yaml")
    assert fast.monitor.depth_ms == 5
    with pytest.raises(BadScenario, match=r"monitor\.depth_ms: must be > 0 \(found 0\)"):
        parse_scenario({**base, "monitor": {"depth_ms": 0}}, source="s.yaml")
