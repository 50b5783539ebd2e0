"""The layout is defined once: offsets, FORMAT.md and hand-packed bytes elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sim.codegen import formatdoc
from sim.core import layout as L

ROOT = Path(__file__).resolve().parents[2]


def test_records_are_aligned_and_locks_own_their_cache_line() -> None:
    for rec in (L.HEADER, L.CURRENCY, L.WRITER, L.ACCOUNT, L.ROW):
        assert rec.size % 64 == 0
        assert rec.dtype.itemsize == rec.size
        for f in rec.fields:
            if f.kind == "lock":
                assert rec.offsets[f.name] % 64 == 0
    assert L.CURRENCY.offsets["lock"] == 0
    assert L.CURRENCY.offsets["name"] == 64


def test_geometry_places_tables_without_overlap() -> None:
    geo = L.Geometry(4, 12, 1000, 256)
    assert geo.currency_offset >= L.HEADER.size
    assert geo.writer_offset >= geo.currency_offset + 4 * L.CURRENCY.size
    assert geo.account_offset >= geo.writer_offset + 12 * L.WRITER.size
    assert geo.ring_offset >= geo.account_offset + 1000 * L.ACCOUNT.size
    assert geo.file_size >= geo.ring_offset + 12 * 256 * L.ROW.size
    assert geo.file_size % 4096 == 0


def test_numpy_dtype_round_trips_every_field() -> None:
    buf = bytearray(L.WRITER.size)
    view = np.frombuffer(buf, dtype=L.WRITER.dtype, count=1)
    view["tot_cash"] = 123456789
    view["tot_holdings"][0, 3] = -7
    view["j_last_rate"] = 1.25
    words = memoryview(buf).cast("q")
    assert words[L.WRITER.word("tot_cash")] == 123456789
    assert words[L.WRITER.word("tot_holdings") + 3] == -7
    assert memoryview(buf).cast("d")[L.WRITER.word("j_last_rate")] == 1.25


def test_format_md_matches_the_layout() -> None:
    text = (ROOT / "docs" / "FORMAT.md").read_text()
    start = text.index(formatdoc.BEGIN)
    end = text.index(formatdoc.END) + len(formatdoc.END)
    assert text[start:end] == formatdoc.render(), (
        "docs/FORMAT.md is out of date: run sim.codegen.formatdoc.update")


def test_no_module_packs_mapping_bytes_by_hand() -> None:
    # Only layout (and the OFD lock's struct flock, which is not mapping bytes) may use
    # struct; offsets elsewhere must come from layout, never literal numbers.
    allowed = {"layout.py", "locking.py"}
    for path in (ROOT / "sim").rglob("*.py"):
        if path.name in allowed:
            continue
        src = path.read_text()
        assert not re.search(r"\bstruct\.(pack|unpack)", src), path.name
        assert not re.search(r"\bimport struct\b", src), path.name


# A word of the mapping at a literal offset from a record's base (``q[r + 5]``), or at a
# literal absolute index (``ex.q[12]``): both bypass the layout tables.
LITERAL_OFFSET = re.compile(r"\b[qd]\[\s*[\w.]+\s*[+-]\s*\d+\s*\]|\.[qd]\[\s*\d+\s*\]")


def test_the_literal_offset_pattern_catches_what_it_must() -> None:
    for bad in ("q[r + 1] = seq + 1", "d[ab+7]", "self.q[base - 2]", "ex.q[12]"):
        assert LITERAL_OFFSET.search(bad), bad
    for good in ("q[r + _ROW_SEQ] = seq + 1", "q[ab + _HOLD + c]", "ex.q[ex.cword(c, 'seq')]",
                 "q[h0 + c] = q[i0 + c] = v", "return q[0], q[1], q[2]"):
        assert not LITERAL_OFFSET.search(good), good


def test_no_module_reads_or_writes_the_mapping_at_literal_offsets() -> None:
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in sorted((ROOT / "sim").rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if LITERAL_OFFSET.search(line)]
    assert not found, "take word indexes from the layout (L.ROW.word(...)):\n" + "\n".join(found)
