"""A run's tables: trades.parquet and orders.parquet (the merged ledger), samples.parquet
and, with books, depth.parquet (the monitor's).

Kept apart from :mod:`sim.harness.rundir` because pyarrow (and the pandas it pulls in)
costs most of a second to import: ``sim watch`` and other folder tools need only names.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sim.arrow import array, dictionary, numpy, read_parquet, strings
from sim.arrow import table as arrow_table
from sim.config.loading import one_line
from sim.config.scenario import load_scenario
from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.errors import BadInput
from sim.harness.monitor import (
    AUDIT_BANDS,
    AUDITS_FILE,
    DEPTH_COLUMNS,
    DEPTH_FILE,
    MONITOR_DIR,
    SAMPLES_FILE,
    audit_columns,
    sample_columns,
)
from sim.harness.rundir import ORDERS, SAMPLES, SCENARIO_FILE, TRADES, group_labels

__all__ = [
    "DEPTH",
    "DEPTH_SCHEMA",
    "ORDER_SCHEMA",
    "PARQUET_OPTIONS",
    "TRADE_SCHEMA",
    "ensure_samples",
    "ledger_books",
    "ledger_order",
    "read_depth",
    "read_samples",
    "write_samples",
    "write_trades",
]

SAMPLES_META: Final = "sim.samples"
DEPTH: Final = "depth.parquet"
DEPTH_SCHEMA: Final = pa.schema([
    ("t", pa.float64()), ("currency", pa.string()), ("side", pa.string()),
    ("level", pa.int64()), ("rate", pa.float64()), ("qty", pa.float64()),
    ("orders", pa.int64()),
])
DEPTH_SIDES: Final = np.array(["bid", "ask"])
PARQUET_OPTIONS: Final[dict[str, Any]] = {"compression": "zstd", "compression_level": 1}
# Time in integer nanoseconds (exact, like the ledger) and delta-coded integers: a 1 s
# default run's trade table is 5.9x smaller than the same rows as CSV (bench, sweeps
# series); with float seconds and plain encoding it was 2.2x (time alone took 9 bytes).
# Delta coding leaves zstd little to do: 2 % smaller for 40 % more time to write (460k
# trades: 5.28 MB in 95 ms against 5.40 MB in 67 ms), so the ledger's tables go without.
LEDGER_OPTIONS: Final[dict[str, Any]] = {"compression": "none"}
TRADE_OPTIONS: Final[dict[str, Any]] = {
    **LEDGER_OPTIONS, "use_dictionary": ["currency", "side"],
    "column_encoding": {c: "DELTA_BINARY_PACKED"
                        for c in ("seq", "t_ns", "trader", "qty", "cash", "cur_seq",
                                  "unit_reserve", "maker", "maker_order", "tick")},
}
ORDER_OPTIONS: Final[dict[str, Any]] = {
    **LEDGER_OPTIONS, "use_dictionary": ["currency", "event", "side"],
    "column_encoding": {c: "DELTA_BINARY_PACKED"
                        for c in ("seq", "t_ns", "trader", "qty", "cash", "cur_seq",
                                  "order_id", "tick")},
}
BLOCK_ROWS: Final = 262_144
CSV_OPTIONS: Final = pacsv.WriteOptions(include_header=False, quoting_style="none")
SIDES: Final = strings(["buy", "sell"])
# Indexed by row kind - ROW_PLACED.
EVENTS: Final = strings(["placed", "cancelled"])
_DICT: Final = pa.dictionary(pa.int32(), pa.string())
TRADE_SCHEMA: Final = pa.schema([
    ("seq", pa.int64()), ("t_ns", pa.int64()), ("trader", pa.int64()),
    ("currency", _DICT), ("side", _DICT),
    ("qty", pa.int64()), ("cash", pa.int64()), ("cur_seq", pa.int64()),
    ("unit_reserve", pa.int64()), ("maker", pa.int64()), ("maker_order", pa.int64()),
    ("tick", pa.int64()),
])
ORDER_SCHEMA: Final = pa.schema([
    ("seq", pa.int64()), ("t_ns", pa.int64()), ("trader", pa.int64()),
    ("currency", _DICT), ("event", _DICT), ("side", _DICT),
    ("qty", pa.int64()), ("cash", pa.int64()), ("cur_seq", pa.int64()),
    ("order_id", pa.int64()), ("tick", pa.int64()),
])


def _plain(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its dictionary columns as plain strings (what CSV holds)."""
    return pa.schema([
        pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
        for f in schema])




def ledger_order(rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Order of the ledger rows by time, then by their currency's sequence (time is read
    under each currency's lock, so this is consistent with every currency's sequence);
    position ``i`` in it is global sequence ``i + 1``. Rows of equal time and sequence
    keep their order in ``rows``.

    The rows arrive as a few runs already in time order (one per writer), which a stable
    sort merges at once (16 ms for 600k rows against 63 ms for sorting by both keys);
    only the rows read at the same nanosecond as another (a few dozen) are then put in
    order of their sequence."""
    t = np.ascontiguousarray(rows["t_ns"])
    order = np.argsort(t, kind="stable")
    ts = t[order]
    tied = np.flatnonzero(ts[1:] == ts[:-1])
    if len(tied):
        involved = np.zeros(len(order), dtype=bool)
        involved[tied] = involved[tied + 1] = True
        pos = np.flatnonzero(involved)
        sub = order[pos]
        order[pos] = sub[np.lexsort((rows["cur_seq"][sub], t[sub]))]
    return order


def _columns(rows: np.ndarray[Any, Any], sel: np.ndarray[Any, Any],
             fields: tuple[str, ...]) -> dict[str, np.ndarray[Any, Any]]:
    """The rows at positions ``sel``, one array a field: gathered field by field, since
    copying whole 128-byte rows first costs twice the time."""
    return {f: rows[f][sel] for f in fields}


def _trade_block(rows: np.ndarray[Any, Any], sel: np.ndarray[Any, Any],
                 seq: np.ndarray[Any, Any], names: pa.Array) -> pa.RecordBatch:
    """The trades at positions ``sel`` of ``rows``, numbered ``seq``."""
    c = _columns(rows, sel, ("kind", "t_ns", "account", "currency", "side", "qty", "cash",
                             "cur_seq", "unit_reserve", "maker", "order_id", "tick"))
    pool = c["kind"] == L.ROW_TRADE
    # A pool trade has no maker, order or tick, whatever its writer left in those words
    # (the C trader leaves 0).
    return pa.RecordBatch.from_arrays([
        array(seq), array(c["t_ns"]), array(c["account"]),
        dictionary(c["currency"], names), dictionary(c["side"], SIDES),
        *(array(c[f]) for f in ("qty", "cash", "cur_seq", "unit_reserve")),
        array(np.where(pool, -1, c["maker"])), array(np.where(pool, 0, c["order_id"])),
        array(np.where(pool, -1, c["tick"])),
    ], schema=TRADE_SCHEMA)


def _order_block(rows: np.ndarray[Any, Any], sel: np.ndarray[Any, Any],
                 seq: np.ndarray[Any, Any], names: pa.Array) -> pa.RecordBatch:
    """The order events at positions ``sel`` of ``rows``, numbered ``seq``."""
    c = _columns(rows, sel, ("kind", "t_ns", "account", "currency", "side", "qty", "cash",
                             "cur_seq", "order_id", "tick"))
    return pa.RecordBatch.from_arrays([
        array(seq), array(c["t_ns"]), array(c["account"]),
        dictionary(c["currency"], names), dictionary(c["kind"] - L.ROW_PLACED, EVENTS),
        dictionary(c["side"], SIDES),
        *(array(c[f]) for f in ("qty", "cash", "cur_seq", "order_id", "tick")),
    ], schema=ORDER_SCHEMA)


class _Table:
    """One Parquet table (and, given ``csv_out``, its CSV twin) written block by block."""

    def __init__(self, stack: contextlib.ExitStack, path: Path, schema: pa.Schema,
                 options: dict[str, Any], csv_out: IO[bytes] | None) -> None:
        self.parquet = stack.enter_context(pq.ParquetWriter(path, schema, **options))
        self.csv_schema = _plain(schema)
        self.csv = None
        if csv_out is not None:
            # The header by hand: pyarrow quotes header names whatever the quoting style.
            csv_out.write((",".join(self.csv_schema.names) + "\n").encode())
            self.csv = stack.enter_context(pacsv.CSVWriter(csv_out, self.csv_schema,
                                                           write_options=CSV_OPTIONS))

    def write(self, batch: pa.RecordBatch) -> None:
        self.parquet.write_batch(batch, row_group_size=BLOCK_ROWS)
        if self.csv is not None and batch.num_rows:
            # pyarrow's writer, not Python string formatting: 5x faster for the same
            # text (0.07 s against 0.38 s for 170k rows).
            self.csv.write_batch(pa.RecordBatch.from_arrays(
                [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c
                 for c in batch.columns], schema=self.csv_schema))


def ledger_books(run: Path, rows: np.ndarray[Any, Any], books: bool | None = None) -> bool:
    """Whether the ledger's tables include orders.parquet (``books``, or with None
    whether any row is of a book); raises BadInput for a row of no known kind, or for
    order events when ``books`` is False."""
    kinds = rows["kind"]
    # Two reductions over the strided field, no temporary arrays: a scan of a long ledger.
    lo, hi = (int(kinds.min()), int(kinds.max())) if len(kinds) else (L.ROW_TRADE,) * 2
    if lo < L.ROW_TRADE or hi > L.ROW_CANCELLED:
        bad = np.flatnonzero((kinds < L.ROW_TRADE) | (kinds > L.ROW_CANCELLED))
        raise BadInput(f"ledger row {int(bad[0])}: kind {int(kinds[bad[0]])}, expected "
                       f"{L.ROW_TRADE}..{L.ROW_CANCELLED}")
    if books is None:
        return hi != L.ROW_TRADE
    if not books and hi >= L.ROW_PLACED:
        raise BadInput(f"{run}: the ledger has order events but the file has no book")
    return books


def write_trades(run: Path, rows: np.ndarray[Any, Any], names: list[str], *,
                 csv: bool = False, books: bool | None = None, checked: bool = False
                 ) -> int:
    """The merged ledger as trades.parquet and, with books, orders.parquet (and their
    CSV twins with ``csv``); returns the ledger rows written to both.

    trades.parquet holds pool trades and book fills, orders.parquet the orders placed and
    cancelled on books. ``seq`` numbers the whole ledger in time order, so the two tables
    merge back by it. ``books`` says whether the file has a book (orders.parquet is
    written, empty or not); None infers it from the rows. Written in blocks of the time
    order, so a long run's ledger is never held twice. ``checked`` says the rows and
    ``books`` already passed :func:`ledger_books` (a scan of every row spared).
    """
    if not checked or books is None:
        books = ledger_books(run, rows, books)
    kinds = rows["kind"]
    order = ledger_order(rows)
    cur = strings(names)
    with contextlib.ExitStack() as stack:
        trades = _Table(stack, run / TRADES, TRADE_SCHEMA, TRADE_OPTIONS,
                        stack.enter_context(open(run / "trades.csv", "wb")) if csv else None)
        orders = _Table(stack, run / ORDERS, ORDER_SCHEMA, ORDER_OPTIONS,
                        stack.enter_context(open(run / "orders.csv", "wb")) if csv else None
                        ) if books else None
        for i in range(0, max(len(order), 1), BLOCK_ROWS):
            idx = order[i: i + BLOCK_ROWS]
            seq = np.arange(i + 1, i + 1 + len(idx), dtype=np.int64)
            if orders is None:
                trades.write(_trade_block(rows, idx, seq, cur))
                continue
            is_trade = kinds[idx] <= L.ROW_FILL
            trades.write(_trade_block(rows, idx[is_trade], seq[is_trade], cur))
            orders.write(_order_block(rows, idx[~is_trade], seq[~is_trade], cur))
    return len(order)


def write_samples(run: Path, monitor_dir: Path, n_currencies: int, n_writers: int,
                  names: list[str], strategies: dict[int, str],
                  groups: list[str] | None = None) -> int:
    """Assemble the monitor's streamed rows into samples.parquet; returns the sample count.

    One row per sample, wide: ``t``, ``consistent``, ``violations``, ``rate_<CUR>`` per
    currency (a book's: its last fill), ``wealth_<writer>`` per trader process (its
    running totals), and ``bid_<CUR>``, ``ask_<CUR>`` per currency (best bid and ask
    rates; NaN for a pool or an empty side). The currency order, each process's strategy
    label and the audits (per scenario group, percentiles of the agents' profit and loss
    at each audit: few rows, in the metadata) ride in the file's metadata, so the arrays
    come back exactly. The books' top levels the monitor read, if any, become
    depth.parquet (:data:`DEPTH_SCHEMA`).
    """
    width = sample_columns(n_currencies, n_writers)
    f = monitor_dir / SAMPLES_FILE
    raw = np.fromfile(f, dtype=np.float64) if f.exists() else np.zeros(0)
    raw = raw[: len(raw) // width * width].reshape(-1, width)
    slots = sorted(strategies)
    cols: dict[str, Any] = {
        "t": raw[:, 0],
        "consistent": raw[:, 1].astype(bool),
        "violations": raw[:, 2].astype(np.int64),
    }
    for c, name in enumerate(names):
        cols[f"rate_{name}"] = raw[:, 3 + c]
    for s in slots:
        cols[f"wealth_{s}"] = raw[:, 3 + n_currencies + s]
    quotes = 3 + n_currencies + n_writers
    for k, side in enumerate(("bid", "ask")):
        for c, name in enumerate(names):
            cols[f"{side}_{name}"] = raw[:, quotes + k * n_currencies + c]
    n_groups = len(groups or [])
    aw = audit_columns(n_groups)
    fa = monitor_dir / AUDITS_FILE
    audits = np.fromfile(fa, dtype=np.float64) if fa.exists() and n_groups else np.zeros(0)
    audits = audits[: len(audits) // aw * aw].reshape(-1, aw)
    meta = {"names": list(names), "trader": slots,
            "strategy": [strategies[s] for s in slots], "groups": list(groups or []),
            "bands": list(AUDIT_BANDS), "audit_t": audits[:, 0].tolist(),
            # NaN (a group with no agent) is not JSON: None stands for it.
            "audit_bands": [[None if np.isnan(v) else float(v) for v in row]
                            for row in audits[:, 1:].tolist()]}
    table = arrow_table(cols).replace_schema_metadata({SAMPLES_META: json.dumps(meta)})
    pq.write_table(table, run / SAMPLES, **PARQUET_OPTIONS)
    _write_depth(run, monitor_dir, names)
    return len(raw)


def _write_depth(run: Path, monitor_dir: Path, names: list[str]) -> None:
    """The monitor's stream of the books' top levels as depth.parquet (nothing without
    books): one row per level read, best first within a read."""
    f = monitor_dir / DEPTH_FILE
    if not f.exists():
        return
    width = len(DEPTH_COLUMNS)
    raw = np.fromfile(f, dtype=np.float64)
    raw = raw[: len(raw) // width * width].reshape(-1, width)
    col = {n: raw[:, i] for i, n in enumerate(DEPTH_COLUMNS)}
    table = arrow_table({
        "t": col["t"],
        "currency": strings([names[c] for c in col["currency"].astype(np.int64).tolist()]),
        "side": strings(DEPTH_SIDES[col["side"].astype(np.int64)].tolist()),
        "level": col["level"].astype(np.int64),
        "rate": col["rate"],
        "qty": col["qty"],
        "orders": col["orders"].astype(np.int64),
    }, schema=DEPTH_SCHEMA)
    pq.write_table(table, run / DEPTH, **PARQUET_OPTIONS)


def read_depth(run: Path) -> pa.Table:
    """A run's depth.parquet (books only) as a table of :data:`DEPTH_SCHEMA`."""
    f = Path(run) / DEPTH
    if not f.is_file():
        raise BadInput(f"{run}: no {DEPTH} (expected the folder of a run with books)")
    try:
        return pq.read_table(f, schema=DEPTH_SCHEMA)
    except (OSError, ValueError, pa.ArrowException) as e:
        raise BadInput(f"{f}: unreadable ({one_line(str(e))})") from None


def read_samples(run: Path) -> dict[str, np.ndarray[Any, Any]]:
    """A run's samples as arrays: ``t``, ``consistent``, ``violations`` (S), ``rate``,
    ``bid`` and ``ask`` (S x C; NaN for a pool, an empty side, or a run recorded before
    books), ``names`` (C), ``wealth`` (S x T), ``trader`` and ``strategy`` (T)."""
    f = Path(run) / SAMPLES
    if not f.is_file():
        raise BadInput(f"{run}: no {SAMPLES} (expected a run folder)")
    try:
        table = read_parquet(f)
        meta = json.loads((table.schema.metadata or {})[SAMPLES_META.encode()])
        names = [str(n) for n in meta["names"]]
        trader = [int(s) for s in meta["trader"]]
        strategy = [str(s) for s in meta["strategy"]]

        def block(cols: list[str]) -> np.ndarray[Any, Any]:
            if not cols:
                return np.zeros((table.num_rows, 0))
            return np.column_stack([numpy(table.column(c)) for c in cols])

        def quotes(side: str) -> np.ndarray[Any, Any]:
            cols = [f"{side}_{n}" for n in names]
            if names and cols[0] not in table.column_names:
                return np.full((table.num_rows, len(names)), np.nan)
            return block(cols)

        return {
            "t": numpy(table.column("t")),
            "consistent": numpy(table.column("consistent")),
            "violations": numpy(table.column("violations")),
            "rate": block([f"rate_{n}" for n in names]),
            "bid": quotes("bid"),
            "ask": quotes("ask"),
            "names": np.array(names, dtype=str),
            "wealth": block([f"wealth_{s}" for s in trader]),
            "trader": np.array(trader, dtype=np.int64),
            "strategy": np.array(strategy, dtype=str),
            **_audits(meta),
        }
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
        raise BadInput(f"{f}: unreadable ({one_line(str(e))})") from None


def _audits(meta: dict[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
    groups = [str(g) for g in meta.get("groups", [])]
    bands = [int(b) for b in meta.get("bands", AUDIT_BANDS)]
    rows = meta.get("audit_bands", [])
    flat = np.array([[np.nan if v is None else v for v in row] for row in rows],
                    dtype=np.float64).reshape(len(rows), len(groups) * len(bands))
    return {"audit_t": np.array(meta.get("audit_t", []), dtype=np.float64),
            "audit_bands": flat.reshape(len(rows), len(groups), len(bands)),
            "groups": np.array(groups, dtype=str), "bands": np.array(bands, dtype=np.int64)}


def ensure_samples(run: Path) -> None:
    """Assemble samples.parquet from the monitor's stream if the run died before doing it."""
    if (run / SAMPLES).exists() or not (run / MONITOR_DIR / SAMPLES_FILE).exists():
        return
    with Exchange.open(str(run / L.EXCHANGE_FILE), writable=False) as ex:
        names, nc, nw = ex.names(), ex.geo.n_currencies, ex.geo.n_writers
        claimed = [int(x) for x in np.flatnonzero(ex.writers()["status"] != L.SLOT_FREE)]
    strategies = dict.fromkeys(claimed, "unknown")
    groups: list[str] = []
    if (run / SCENARIO_FILE).exists():
        groups = group_labels(load_scenario(run / SCENARIO_FILE))
    write_samples(run, run / MONITOR_DIR, nc, nw, names, strategies, groups)
