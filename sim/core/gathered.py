"""The words a monitor sample holds: which int64 words of the file, in what order, decoded how.

A sample is not a copy of whole tables: it is the few words the per-sample checks and the
sample rows read (each currency's pool, counters and book mirror; each writer's status,
ledger count and running totals), gathered by one ``numpy.take`` through a precomputed
index. Every currency's ``version`` opens and closes the index, so one gather is a whole
seqlock read (versions, words, versions again) whose window is the gather alone, well
under a microsecond.

The words keep their record names: ``SampleWords.decode`` gives record arrays with just
these fields (a writer's per-currency totals cut to the file's currencies), which the
invariants read by name exactly as they read full tables.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from sim.core import layout as L

__all__ = ["CURRENCY_FIELDS", "WRITER_FIELDS", "SampleRow", "SampleWords"]

# What samples read of each currency: pools, counters, rates, and the books' mirrors.
CURRENCY_FIELDS: Final = (
    "name", "market", "cash_reserve", "unit_reserve", "init_cash_reserve",
    "init_unit_reserve", "seq", "volume_units", "volume_cash", "last_rate", "init_rate",
    "best_bid", "best_ask", "bid_price", "ask_price", "book_live", "book_reserved_cash",
    "book_reserved_units", "book_due_cash",
)
# And of each writer: whether it is claimed, its ledger rows and its running totals.
WRITER_FIELDS: Final = (
    "status", "log_count", "tot_trades", "tot_cash", "init_tot_cash", "tot_holdings",
    "init_tot_holdings",
)
_VERSION: Final = L.CURRENCY.word("version")

Ints = np.ndarray[Any, np.dtype[np.int64]]
Table = np.ndarray[Any, np.dtype[np.void]]


def _record_words(rec: L.Record, fields: tuple[str, ...],
                  n_currencies: int) -> tuple[list[int], np.dtype[np.void]]:
    """Word indexes (from the record's start) of ``fields``, per-currency fields cut to
    ``n_currencies``, and the dtype that reads them back packed in that order."""
    words: list[int] = []
    names, formats, offsets = [], [], []
    for name in fields:
        field = rec.dtype[name]
        base, shape = field.subdtype or (field, ())
        count = n_currencies if shape else 1
        if base.itemsize != 8:
            raise AssertionError(f"{rec.name}.{name} is not one 8-byte word per value")
        names.append(name)
        formats.append((base, (count,)) if shape else base)
        offsets.append(8 * len(words))
        words += [rec.word(name) + k for k in range(count)]
    dtype: np.dtype[np.void] = np.dtype({"names": names, "formats": formats,
                                         "offsets": offsets, "itemsize": 8 * len(words)})
    return words, dtype


class SampleWords:
    """The gather of one file's geometry: ``index`` (word indexes into the file's int64
    view, ``size`` of them) and how a gathered row decodes.

    Row layout: the ``n_currencies`` versions, each currency's ``CURRENCY_FIELDS``, each
    writer's ``WRITER_FIELDS``, the versions again.
    """

    def __init__(self, geo: L.Geometry) -> None:
        nc, nw = geo.n_currencies, geo.n_writers
        self.n_currencies = nc
        self.n_writers = nw
        cur_words, self.currency_dtype = _record_words(L.CURRENCY, CURRENCY_FIELDS, nc)
        wri_words, self.writer_dtype = _record_words(L.WRITER, WRITER_FIELDS, nc)
        versions = [geo.currency_at(c) // 8 + _VERSION for c in range(nc)]
        index = list(versions)
        for c in range(nc):
            index += [geo.currency_at(c) // 8 + w for w in cur_words]
        for w in range(nw):
            index += [geo.writer_at(w) // 8 + x for x in wri_words]
        index += versions
        self.index: np.ndarray[Any, np.dtype[np.intp]] = np.array(index, dtype=np.intp)
        self.size = len(index)
        self.writer_start = nc + nc * len(cur_words)
        self._cur_stride = self.currency_dtype.itemsize
        self._wri_stride = self.writer_dtype.itemsize

    def row(self, *, unguarded: bool) -> SampleRow:
        """A new row to gather into (``Exchange.sample_row`` says ``unguarded``)."""
        return SampleRow(self, np.zeros(self.size, dtype=np.int64), unguarded)

    def batch(self, rows: int, *, unguarded: bool) -> tuple[Ints, list[SampleRow]]:
        """A new ``rows`` x ``size`` block, and each of its rows to gather into."""
        block = np.zeros((rows, self.size), dtype=np.int64)
        return block, [SampleRow(self, r, unguarded) for r in block]

    def decode(self, rows: Ints) -> tuple[Table, Table]:
        """Views of a row (C and W records) or of a block of rows (B x C, B x W) as the
        currency and writer records they hold, fields by name."""
        nc, nw = self.n_currencies, self.n_writers
        lead = rows.shape[:-1]
        step = rows.strides[:-1]
        cur: Table = np.ndarray((*lead, nc), dtype=self.currency_dtype, buffer=rows,
                                offset=8 * nc, strides=(*step, self._cur_stride))
        wri: Table = np.ndarray((*lead, nw), dtype=self.writer_dtype, buffer=rows,
                                offset=8 * self.writer_start,
                                strides=(*step, self._wri_stride))
        return cur, wri


class SampleRow:
    """One row to gather a sample into (``words``: int64, a view into a batch or its own).

    ``unguarded``: the file's policy is ``none``, so no gather proves anything. The
    views of the row's two ends of versions are made once: a monitor gathers 1,000 times
    a second, each time with cold caches, where slicing anew (or any further call) costs
    microseconds.
    """

    __slots__ = ("_head", "_odd", "_tail", "index", "unguarded", "words")

    def __init__(self, of: SampleWords, words: Ints, unguarded: bool) -> None:
        if words.shape != (of.size,) or words.dtype != np.int64:
            raise ValueError(f"a sample row is {of.size} int64, not {words.shape} {words.dtype}")
        nc = of.n_currencies
        self.words = words
        self.index = of.index
        self.unguarded = unguarded
        self._head = words[:nc]
        self._tail = words[-nc:]
        # Bit 0 of every version, in the head's bytes read as one little-endian int.
        self._odd = sum(1 << (64 * c) for c in range(nc))

    def gather(self, source: Ints) -> bool:
        """Gather the row's words from ``source`` (the file's int64 words) and say whether
        they settled (see ``settled``): one seqlock read."""
        # ``clip``: the indexes are valid by construction, and with ``out`` the default
        # mode gathers into a scratch copy first.
        source.take(self.index, out=self.words, mode="clip")
        return self.settled()

    def settled(self) -> bool:
        """Whether the row holds one consistent state: every version even, and the same
        at both ends (no transaction wrote between them)."""
        before = self._head.tobytes()
        return before == self._tail.tobytes() and not int.from_bytes(before, "little") & self._odd
