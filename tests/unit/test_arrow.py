"""Arrow columns from numpy and back without pandas: the same values as pyarrow's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import arrow

NUMERIC = [np.int64, np.int32, np.int8, np.uint16, np.float64, np.float32]


@pytest.mark.parametrize("dtype", NUMERIC)
def test_numbers_match_pyarrows_own_conversion(dtype: type) -> None:
    x = (np.arange(-50, 50) * 3).astype(dtype)
    a = arrow.array(x)
    assert a.equals(pa.array(x))
    assert np.array_equal(arrow.numpy(a), x)
    # A slice starts at an offset into the buffer.
    assert np.array_equal(arrow.numpy(a.slice(7, 11)), x[7:18])


def test_cast_to_the_asked_type() -> None:
    a = arrow.array(np.array([1, 2, 3], dtype=np.uint8), pa.int64())
    assert a.type == pa.int64() and a.to_pylist() == [1, 2, 3]


@given(st.lists(st.booleans(), max_size=70), st.integers(0, 9))
@settings(max_examples=60, deadline=None)
def test_booleans_round_trip_at_any_offset(values: list[bool], start: int) -> None:
    x = np.array(values, dtype=bool)
    a = arrow.array(x)
    assert a.to_pylist() == values
    start = min(start, len(values))
    assert arrow.numpy(a.slice(start)).tolist() == values[start:]


@given(st.lists(st.text(max_size=6) | st.sampled_from(["\x00", "a\x00", ""]), max_size=30))
@settings(max_examples=60, deadline=None)
def test_strings_and_dictionaries_round_trip(values: list[str]) -> None:
    a = arrow.strings(values)
    assert a.equals(pa.array(values, pa.string()))
    assert arrow.numpy(a).tolist() == values
    names = arrow.strings(["EUR", "USD", "GBP"])
    codes = np.array([i % 3 for i in range(len(values))], dtype=np.int64)
    d = arrow.dictionary(codes, names)
    assert arrow.numpy(d).tolist() == [["EUR", "USD", "GBP"][c] for c in codes]


def test_chunked_columns_nulls_and_empties() -> None:
    col = pa.chunked_array([pa.array([1.5, None]), pa.array([3.0])])
    got = arrow.numpy(col)
    assert got[0] == 1.5 and np.isnan(got[1]) and got[2] == 3.0
    with pytest.raises(ValueError, match="nulls"):
        arrow.numpy(pa.array([1, None], pa.int64()))
    assert arrow.numpy(pa.chunked_array([], pa.int64())).dtype == np.int64
    assert arrow.numpy(pa.chunked_array([], pa.string())).size == 0
    assert arrow.numpy(arrow.array(np.zeros(0, bool))).dtype == bool


def test_tables_write_and_read_back(tmp_path: Path) -> None:
    schema = pa.schema([("t", pa.int64()), ("rate", pa.float64()), ("ok", pa.bool_())])
    t = arrow.table({"t": np.array([3, 1, 2], np.int32), "rate": np.array([1.0, 2.0, 3.0]),
                     "ok": np.array([True, False, True])}, schema)
    pq.write_table(t, tmp_path / "x.parquet")
    back = arrow.read_parquet(tmp_path / "x.parquet", ["t", "ok"])
    assert back.column_names == ["t", "ok"]
    assert arrow.numpy(back.column("t")).tolist() == [3, 1, 2]
    assert arrow.numpy(back.column("ok")).tolist() == [True, False, True]


def test_none_of_it_imports_pandas(tmp_path: Path) -> None:
    code = f"""
import sys, numpy as np, pyarrow.parquet as pq
from sim import arrow
t = arrow.table({{"a": np.arange(5), "s": arrow.strings(list("abcde")),
                 "d": arrow.dictionary(np.zeros(5, np.int32), arrow.strings(["x"]))}})
pq.write_table(t, {str(tmp_path / "t.parquet")!r})
back = arrow.read_parquet({str(tmp_path / "t.parquet")!r})
[arrow.numpy(back.column(c)) for c in back.column_names]
print("pandas" in sys.modules)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, check=True)
    assert p.stdout.strip() == "False"
