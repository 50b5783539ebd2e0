"""Arrow columns from numpy arrays and back, without pandas.

pyarrow's own conversions (``pa.array``, ``pa.table`` of arrays, ``Array.to_numpy``,
``pq.read_table``) import pandas the first time they run when it is installed: a third of
a second at the end of every run, for tables that hold only numbers and a few strings.
These build the arrays from their buffers instead, and read them back the same way.
Only what the run's tables hold is covered: integers, floats and booleans without
nulls (floats may carry NaN), strings, and dictionaries of strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["array", "dictionary", "numpy", "read_parquet", "strings", "table"]

_TYPES: Final[dict[np.dtype[Any], pa.DataType]] = {
    np.dtype(np.int64): pa.int64(),
    np.dtype(np.int32): pa.int32(),
    np.dtype(np.int16): pa.int16(),
    np.dtype(np.int8): pa.int8(),
    np.dtype(np.uint64): pa.uint64(),
    np.dtype(np.uint32): pa.uint32(),
    np.dtype(np.uint16): pa.uint16(),
    np.dtype(np.uint8): pa.uint8(),
    np.dtype(np.float64): pa.float64(),
    np.dtype(np.float32): pa.float32(),
}
_DTYPES: Final = {t: d for d, t in _TYPES.items()}


def array(x: np.ndarray[Any, Any], type: pa.DataType | None = None) -> pa.Array:
    """A 1-D numeric or boolean numpy array as an Arrow array of ``type`` (by default
    the array's own), without nulls. Numbers are cast to ``type`` first."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {x.shape}")
    if x.dtype == np.bool_ and type in (None, pa.bool_()):
        bits = np.packbits(x, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(x), [None, pa.py_buffer(bits)])
    want = type if type is not None else _TYPES.get(x.dtype)
    if want is None or want not in _DTYPES:
        raise TypeError(f"no Arrow column for numpy {x.dtype} as {type}")
    data = np.ascontiguousarray(x, dtype=_DTYPES[want])
    return pa.Array.from_buffers(want, len(data), [None, pa.py_buffer(data)])


def strings(values: Sequence[str]) -> pa.Array:
    """Python strings as an Arrow string array."""
    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def dictionary(codes: np.ndarray[Any, Any], values: pa.Array) -> pa.DictionaryArray:
    """``values[codes]`` as a dictionary array (int32 codes)."""
    return pa.DictionaryArray.from_arrays(array(codes, pa.int32()), values)


def table(columns: Mapping[str, pa.Array | np.ndarray[Any, Any]],
          schema: pa.Schema | None = None) -> pa.Table:
    """A table of named columns, numpy ones converted by :func:`array` (to the schema's
    type for that column, if a schema is given)."""
    arrays = []
    for name, col in columns.items():
        if isinstance(col, np.ndarray):
            col = array(col, schema.field(name).type if schema is not None else None)
        arrays.append(col)
    if schema is not None:
        return pa.Table.from_arrays(arrays, schema=schema)
    return pa.Table.from_arrays(arrays, names=list(columns))


def read_parquet(path: str | Path, columns: Sequence[str] | None = None) -> pa.Table:
    """A Parquet file's table (or its ``columns``)."""
    with pq.ParquetFile(path) as f:
        return f.read(columns=list(columns) if columns is not None else None)


def numpy(col: pa.Array | pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """An Arrow column as a numpy array: numbers (a null float reads as NaN), booleans,
    and strings or dictionaries of strings (as an object array of Python strings)."""
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    if not chunks:
        return _empty(col.type)
    parts = [_chunk(c) for c in chunks]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _empty(t: pa.DataType) -> np.ndarray[Any, Any]:
    if pa.types.is_boolean(t):
        return np.zeros(0, dtype=bool)
    if t in _DTYPES:
        return np.zeros(0, dtype=_DTYPES[t])
    return np.zeros(0, dtype=object)


def _chunk(a: pa.Array) -> np.ndarray[Any, Any]:
    t = a.type
    n, off = len(a), a.offset
    if pa.types.is_dictionary(t):
        assert isinstance(a, pa.DictionaryArray)
        values = _chunk(a.dictionary)
        return values[_chunk(a.indices).astype(np.intp)] if n else _empty(t.value_type)
    bufs = a.buffers()
    if pa.types.is_boolean(t):
        if a.null_count:
            raise ValueError("a boolean column with nulls")
        if not n:
            return _empty(t)
        raw = np.frombuffer(bufs[1], dtype=np.uint8)
        return np.unpackbits(raw, bitorder="little", count=off + n)[off:].astype(bool)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if not n:
            return _empty(t)
        width = np.int64 if pa.types.is_large_string(t) else np.int32
        offsets = np.frombuffer(bufs[1], dtype=width, count=off + n + 1)[off:]
        data = bytes(bufs[2]) if bufs[2] is not None else b""
        # Python strings in an object array, as pyarrow gives them: numpy's own string
        # type would drop a string's trailing NUL characters.
        out = np.empty(n, dtype=object)
        out[:] = [data[offsets[i]:offsets[i + 1]].decode() for i in range(n)]
        return out
    dtype = _DTYPES.get(t)
    if dtype is None:
        raise TypeError(f"no numpy array for Arrow {t}")
    if not n:
        return _empty(t)
    values = np.frombuffer(bufs[1], dtype=dtype, count=off + n)[off:]
    if a.null_count:
        if not np.issubdtype(dtype, np.floating):
            raise ValueError(f"an {t} column with nulls")
        valid = np.unpackbits(np.frombuffer(bufs[0], dtype=np.uint8), bitorder="little",
                              count=off + n)[off:].astype(bool)
        values = np.where(valid, values, np.nan)
    return values
