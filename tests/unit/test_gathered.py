"""The monitor's gathered sample: the same words as a full copy, and a torn gather is never
vouched for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.book_checks import Ladders
from sim.core.exchange import Exchange
from sim.core.gathered import CURRENCY_FIELDS, WRITER_FIELDS, SampleRow, SampleWords
from sim.core.snapshot import LOCK_AFTER, OPTIMISTIC, TRYLOCK, Copy, snapshot_into
from sim.core.transaction import Writer
from tests.conftest import make_exchange
from tests.unit.book_market import N_WRITERS, book_exchange, trade_randomly

__all__: list[str] = []


def _same_words(ex: Exchange) -> None:
    """A gather and a full copy of the tables agree on every field the gather holds."""
    row = ex.sample_row()
    assert snapshot_into(ex, row) == Copy(True, False, 0, 1, OPTIMISTIC)
    cur, wri = ex.sample_words.decode(row.words)
    full_cur, full_wri = ex.copy_tables()
    nc = ex.geo.n_currencies
    assert cur.shape == (nc,) and wri.shape == (ex.geo.n_writers,)
    for name in CURRENCY_FIELDS:
        assert cur[name].tobytes() == full_cur[name].tobytes(), name
    for name in WRITER_FIELDS:
        want = full_wri[name][:, :nc] if full_wri[name].ndim == 2 else full_wri[name]
        assert np.array_equal(wri[name], want), name
    # The invariants read the gathered fields by name, as they read the full tables.
    lad = Ladders.of(ex.q, ex.geo)
    assert inv.check_all(cur, wri, ladders=lad) == inv.check_all(full_cur, full_wri,
                                                                 ladders=lad)


def test_a_gather_holds_the_same_words_as_a_full_copy(tmp_path: Path) -> None:
    with make_exchange(tmp_path / "x.dat") as ex:
        w = Writer(ex, 0)
        for k in range(20):
            w.trade(0, k % 2, k % 2, 1_00 + k)
        w.close()
        _same_words(ex)


def test_a_gather_of_a_file_with_books_holds_their_mirrors(tmp_path: Path) -> None:
    with book_exchange(tmp_path / L.EXCHANGE_FILE) as ex:
        writers = [Writer(ex, w) for w in range(N_WRITERS)]
        trade_randomly(writers, 80)
        assert (ex.currencies()["book_live"] > 0).any()  # the mirrors are not all zero
        _same_words(ex)
        for wr in writers:
            wr.close()


def test_the_versions_open_and_close_the_gather(tmp_path: Path) -> None:
    with make_exchange(tmp_path / "x.dat") as ex:
        words = SampleWords(ex.geo)
        nc = ex.geo.n_currencies
        versions = [ex.cword(c, "version") for c in range(nc)]
        assert words.index[:nc].tolist() == versions == words.index[-nc:].tolist()
        assert words.size == len(words.index) == len(set(words.index.tolist())) + nc


def test_a_transaction_committed_inside_a_gather_is_detected(tmp_path: Path) -> None:
    """The gather cut in two around a real trade: pools read before it, the writer's
    totals after it, a state that never existed (cash out of nowhere). The versions at
    the two ends differ, so the row is not settled; without the trade it is."""
    with make_exchange(tmp_path / "x.dat") as ex:
        words = ex.sample_words
        index = words.index
        mid = words.writer_start
        w = Writer(ex, 0)
        for trade in (False, True):
            row = ex.sample_row()
            row.words[:mid] = np.asarray(ex.q)[index[:mid]]
            if trade:
                w.trade(0, 0, L.SIDE_BUY, 5_00)
            row.words[mid:] = np.asarray(ex.q)[index[mid:]]
            cur, wri = words.decode(row.words)
            torn = inv.check_all(cur, wri)
            assert bool(torn["cash_conserved"]) == trade
            assert row.settled() is not trade
        w.close()


def test_an_odd_or_moved_version_is_not_settled(tmp_path: Path) -> None:
    with make_exchange(tmp_path / "x.dat") as ex:
        row = ex.sample_row()
        assert row.gather(ex.words) and row.settled()
        nc = ex.geo.n_currencies
        row.words[-1] += 2  # the last currency's version moved during the gather
        assert not row.settled()
        row.words[nc - 1] += 1
        row.words[-1] -= 1  # both ends odd and equal: a transaction in flight throughout
        assert not row.settled()


def test_a_version_left_odd_is_never_vouched_for_by_a_gather(tmp_path: Path) -> None:
    p = tmp_path / "x.dat"
    with make_exchange(p) as writer, Exchange.open(str(p), writable=False) as ro:
        writer.q[writer.cword(1, "version")] += 1
        row = ro.sample_row()
        assert snapshot_into(ro, row, 3, locking=False) == Copy(False, False, 0, 3)
        # With the locks, the leftover is settled as a dead holder's once every lock is
        # taken, after LOCK_AFTER optimistic rounds.
        got = snapshot_into(writer, writer.sample_row())
        assert got == Copy(True, True, 0, LOCK_AFTER, TRYLOCK)
        assert writer.q[writer.cword(1, "version")] % 2 == 0
        assert snapshot_into(ro, row, 3, locking=False).consistent


def test_a_row_of_another_size_is_refused(tmp_path: Path) -> None:
    with make_exchange(tmp_path / "x.dat") as ex, pytest.raises(ValueError, match="int64"):
        SampleRow(ex.sample_words, np.zeros(ex.sample_words.size + 1, dtype=np.int64), False)


def test_under_sync_none_a_gather_is_never_vouched_for_with_the_locks(tmp_path: Path) -> None:
    with make_exchange(tmp_path / "x.dat", sync="none") as ex:
        row = ex.sample_row()
        assert row.unguarded and row.gather(ex.words)  # settles, and proves nothing
        assert snapshot_into(ex, row) == Copy(False, False, 0, 1)
        # Without locks the caller gets what the seqlock says, and must label it unguarded.
        assert snapshot_into(ex, row, locking=False) == Copy(True, False, 0, 1)
