"""The byte layout of the exchange file, defined once.

Every other view of the file derives from the tables below: the numpy dtypes used to
decode snapshots, the int64 word indexes used on the trade path, docs/FORMAT.md and the
C header printed by ``sim header``.

File::

    offset 0               header            (HEADER.size bytes)
    currency_offset        n_currencies x CURRENCY.size     (64-byte aligned records)
    writer_offset          n_writers x WRITER.size          (one per trading process)
    account_offset         n_accounts x ACCOUNT.size        (one per agent)
    ring_offset            n_writers x ring_rows x ROW.size (each writer's ledger ring)
    stake_offset           n_accounts x n_currencies x STAKE.size (only with a book)
    book_offset            one book region per book currency, book_words x 8 bytes each
    file_size              the end rounded up to a 4096-byte page

A *writer* is a process that trades (a trader process hosting many agents, a ``sim
trade`` session, a C trader): its record holds what belongs to the process (pid,
heartbeat, the journal of its one transaction in flight, its ledger ring's bookkeeping)
and running totals over the accounts it hosts, updated inside each transaction. An
*account* is one agent's money: a few hundred bytes, no ring, so the file grows little
per agent. Currencies and writers are contiguous: a monitor sample copies just them.

All integers are little-endian int64; money and quantities are minor units (1/scale of
a unit). Floats are IEEE-754 float64 and only for display (rates); no invariant reads
them. A ``lock`` field is 64 opaque bytes holding a process-shared robust pthread mutex,
on a cache line of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = [
    "ACCOUNT",
    "CURRENCY",
    "EXCHANGE_FILE",
    "HEADER",
    "MAGIC",
    "MARKETS",
    "MARKET_BOOK",
    "MARKET_POOL",
    "MAX_CURRENCIES",
    "ROW",
    "ROW_KINDS",
    "STAKE",
    "VERSION",
    "WRITER",
    "Geometry",
    "LockOffsets",
    "Record",
    "lock_offsets",
]

MAGIC: Final = b"MMEXCHG\x00"
# The name of the exchange file in a run folder, beside its ledger/ folder.
EXCHANGE_FILE: Final = "exchange.dat"
VERSION: Final = 3
MAX_CURRENCIES: Final = 16
NAME_LEN: Final = 8
LOCK_SIZE: Final = 64
ALIGN: Final = 64
PAGE: Final = 4096

# Values of enumerated fields, shared by every language that maps the file.
RUN_INIT: Final = 0
RUN_RUNNING: Final = 1
RUN_STOPPING: Final = 2
RUN_CLEAN: Final = 3
RUN_STATES: Final = {RUN_INIT: "init", RUN_RUNNING: "running", RUN_STOPPING: "stopping",
                     RUN_CLEAN: "clean shutdown"}

SLOT_FREE: Final = 0
SLOT_ACTIVE: Final = 1
SLOT_DONE: Final = 2
SLOT_DEAD: Final = 3
SLOT_STATES: Final = {SLOT_FREE: "free", SLOT_ACTIVE: "active", SLOT_DONE: "done",
                      SLOT_DEAD: "dead"}

KIND_TRADER: Final = 0
KIND_INTERACTIVE: Final = 1
KIND_C: Final = 2
KINDS: Final = {KIND_TRADER: "trader", KIND_INTERACTIVE: "interactive", KIND_C: "c"}

JOURNAL_IDLE: Final = 0
JOURNAL_ACTIVE: Final = 1

SIDE_BUY: Final = 0
SIDE_SELL: Final = 1

MARKET_POOL: Final = 0
MARKET_BOOK: Final = 1
MARKETS: Final = {MARKET_POOL: "pool", MARKET_BOOK: "book"}

ROW_TRADE: Final = 0
ROW_FILL: Final = 1
ROW_PLACED: Final = 2
ROW_CANCELLED: Final = 3
ROW_KINDS: Final = {ROW_TRADE: "trade", ROW_FILL: "fill", ROW_PLACED: "placed",
                    ROW_CANCELLED: "cancelled"}

SYNC_CODES: Final = {"none": 0, "global": 1, "per_currency": 2, "ofd": 3}
SYNC_NAMES: Final = {v: k for k, v in SYNC_CODES.items()}

SCHEDULE_FREE: Final = 0
SCHEDULE_DETERMINISTIC: Final = 1
NO_SLOT: Final = -1
NO_WRITER: Final = -1
NO_GROUP: Final = -1


@dataclass(frozen=True)
class Field:
    """One field of a record: ``kind`` is i8 (int64), f8 (float64), name or lock."""

    name: str
    kind: str
    doc: str
    count: int = 1


_KIND_SIZE: Final = {"i8": 8, "f8": 8, "name": NAME_LEN, "lock": LOCK_SIZE}
_KIND_DTYPE: Final = {"i8": "<i8", "f8": "<f8", "name": f"S{NAME_LEN}", "lock": f"V{LOCK_SIZE}"}


class Record:
    """A fixed-size record: field offsets computed from the field list, never typed."""

    def __init__(self, name: str, fields: list[Field]) -> None:
        self.name = name
        self.fields: tuple[Field, ...] = tuple(fields)
        offsets: dict[str, int] = {}
        pos = 0
        for f in fields:
            if f.kind == "lock":
                pos = _align(pos, ALIGN)
            offsets[f.name] = pos
            pos += _KIND_SIZE[f.kind] * f.count
        self.offsets: dict[str, int] = offsets
        self.size: int = _align(pos, ALIGN)
        self.dtype: np.dtype[np.void] = np.dtype({
            "names": [f.name for f in fields],
            "formats": [
                (_KIND_DTYPE[f.kind], (f.count,)) if f.count > 1 else _KIND_DTYPE[f.kind]
                for f in fields
            ],
            "offsets": [offsets[f.name] for f in fields],
            "itemsize": self.size,
        })
        if self.size % 8:
            raise AssertionError(f"{name} size {self.size} is not a multiple of 8")

    def word(self, name: str) -> int:
        """Index of an 8-byte field counted in int64 words from the record's start."""
        off = self.offsets[name]
        if off % 8:
            raise AssertionError(f"{self.name}.{name} is not 8-byte aligned")
        return off // 8


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


HEADER: Final = Record("header", [
    Field("magic", "name", "file magic, the bytes MMEXCHG\\0"),
    Field("version", "i8", "format version; readers refuse any other"),
    Field("header_size", "i8", "bytes in this header"),
    Field("file_size", "i8", "bytes in the whole file"),
    Field("n_currencies", "i8", f"currency records in use (1..{MAX_CURRENCIES})"),
    Field("n_writers", "i8", "writer records (trader processes, joiners and spares)"),
    Field("n_accounts", "i8", "account records (agents, joiners' accounts and spares)"),
    Field("currency_offset", "i8", "byte offset of the first currency record"),
    Field("currency_size", "i8", "bytes per currency record"),
    Field("writer_offset", "i8", "byte offset of the first writer record"),
    Field("writer_size", "i8", "bytes per writer record"),
    Field("account_offset", "i8", "byte offset of the first account record"),
    Field("account_size", "i8", "bytes per account record"),
    Field("ring_offset", "i8", "byte offset of writer 0's ledger ring"),
    Field("ring_rows", "i8", "rows in each writer's ledger ring"),
    Field("row_size", "i8", "bytes per ledger row"),
    Field("scale", "i8", "minor units per unit of money or currency"),
    Field("fee_bps", "i8", "pool fee in basis points, kept by the pool"),
    Field("sync", "i8", "synchronisation policy: 0 none, 1 global, 2 per_currency, 3 ofd"),
    Field("schedule", "i8", "0 free-running traders, 1 deterministic turns"),
    Field("run_state", "i8", "0 init, 1 running, 2 stopping, 3 clean shutdown"),
    Field("created_unix_ns", "i8", "wall-clock creation time"),
    Field("start_ns", "i8", "CLOCK_MONOTONIC at run start; ledger times are relative to it"),
    Field("coordinator_pid", "i8", "pid of the coordinator that owns the run"),
    Field("heartbeat_ns", "i8", "CLOCK_MONOTONIC of the coordinator's last heartbeat"),
    Field("global_seq", "i8", "accepted trades merged into the ledger at the last clean stop"),
    Field("turn", "i8", "deterministic schedule: account whose turn it is (-1 none)"),
    Field("turns", "i8", "deterministic schedule: turns taken so far"),
    Field("race_window_ns", "i8", "pause between a trade's read and its write (0: none)"),
    Field("lock_timeout_ms", "i8", "bound on every lock wait"),
    Field("stake_offset", "i8", "byte offset of the stake table (accounts x currencies)"),
    Field("stake_size", "i8", "bytes per stake record"),
    Field("book_offset", "i8", "byte offset of the first book region"),
    Field("book_mask", "i8", "bit c set when currency c trades on a limit order book"),
    Field("book_ticks", "i8", "price levels of every book"),
    Field("book_capacity", "i8", "order records of every book"),
    Field("book_max_fills", "i8", "fills one order may make on every book"),
    Field("book_words", "i8", "int64 words of one book region"),
    Field("global_lock", "lock", "the one mutex of the global policy"),
    Field("registry_lock", "lock", "mutex guarding writer and account claims"),
])

CURRENCY: Final = Record("currency", [
    Field("lock", "lock", "this currency's mutex (per_currency policy)"),
    Field("name", "name", "ASCII code, NUL padded, e.g. EUR"),
    Field("cash_reserve", "i8", "pool's home cash, minor units"),
    Field("unit_reserve", "i8", "pool's units of this currency, minor units"),
    Field("init_cash_reserve", "i8", "cash_reserve at creation"),
    Field("init_unit_reserve", "i8", "unit_reserve at creation"),
    Field("seq", "i8", "accepted trades on this currency; the ledger's per-currency sequence"),
    Field("volume_units", "i8", "units traded, minor units"),
    Field("volume_cash", "i8", "cash traded, minor units"),
    Field("version", "i8", "seqlock: odd while a transaction writes this currency, an "
                           "account or a writer's totals"),
    Field("inflight", "i8", "writer whose transaction is being written here (-1 none)"),
    Field("last_rate", "f8", "cash per unit after the last trade (display only)"),
    Field("fundamental", "f8", "fundamental value published by the coordinator"),
    Field("init_rate", "f8", "cash per unit at creation (display only)"),
    Field("market", "i8", "0 a constant-product pool, 1 a limit order book"),
    Field("book_at", "i8", "byte offset of this currency's book region (0: a pool)"),
    Field("best_bid", "i8", "book: highest tick with a resting buy (-1 none)"),
    Field("best_ask", "i8", "book: lowest tick with a resting sell (-1 none)"),
    Field("bid_price", "i8", "book: cash minor units per lot at best_bid (0 none)"),
    Field("ask_price", "i8", "book: cash minor units per lot at best_ask (0 none)"),
    Field("book_live", "i8", "book: orders resting"),
    Field("book_reserved_cash", "i8", "book: cash its resting buys hold, over all accounts"),
    Field("book_reserved_units", "i8", "book: units its resting sells hold, minor units"),
    Field("book_due_cash", "i8", "book: cash makers received and have not yet swept"),
])

WRITER: Final = Record("writer", [
    Field("status", "i8", "0 free, 1 active, 2 done, 3 dead"),
    Field("pid", "i8", "pid of the process writing as this writer"),
    Field("kind", "i8", "0 trader process, 1 interactive (sim trade), 2 C trader"),
    Field("heartbeat_ns", "i8", "CLOCK_MONOTONIC of the writer's last sign of life"),
    Field("ready_ns", "i8", "CLOCK_MONOTONIC when its process had set up its agents (0: not yet)"),
    Field("arrivals", "i8", "agent arrivals its process handled (orders and passes)"),
    Field("rollbacks", "i8", "transactions of dead processes this writer rolled back"),
    Field("log_count", "i8", "ledger rows committed by this writer"),
    Field("log_head", "i8", "ledger rows already drained from the ring to the ledger file"),
    Field("n_accounts", "i8", "accounts this writer hosts"),
    Field("tot_trades", "i8", "running total: accepted trades of its accounts"),
    Field("tot_cash", "i8", "running total: cash of its accounts, minor units"),
    Field("init_tot_cash", "i8", "initial cash of its accounts, minor units"),
    Field("j_state", "i8", "journal: 0 idle, 1 transaction in flight"),
    Field("j_currency", "i8", "journal: currency of the transaction in flight"),
    Field("j_account", "i8", "journal: account of the transaction in flight"),
    Field("j_cash", "i8", "journal pre-image: account cash"),
    Field("j_holding", "i8", "journal pre-image: account holding of j_currency"),
    Field("j_trades", "i8", "journal pre-image: account trades"),
    Field("j_log_count", "i8", "journal pre-image: writer log_count"),
    Field("j_tot_trades", "i8", "journal pre-image: writer tot_trades"),
    Field("j_tot_cash", "i8", "journal pre-image: writer tot_cash"),
    Field("j_tot_holding", "i8", "journal pre-image: writer tot_holdings of j_currency"),
    Field("j_pool_cash", "i8", "journal pre-image: currency cash_reserve"),
    Field("j_pool_units", "i8", "journal pre-image: currency unit_reserve"),
    Field("j_pool_seq", "i8", "journal pre-image: currency seq"),
    Field("j_volume_units", "i8", "journal pre-image: currency volume_units"),
    Field("j_volume_cash", "i8", "journal pre-image: currency volume_cash"),
    Field("j_last_rate", "f8", "journal pre-image: currency last_rate"),
    Field("tot_holdings", "i8", "running total: units its accounts hold per currency",
          MAX_CURRENCIES),
    Field("init_tot_holdings", "i8", "initial units of its accounts per currency",
          MAX_CURRENCIES),
])

ACCOUNT: Final = Record("account", [
    Field("status", "i8", "0 free, 1 active"),
    Field("writer", "i8", "writer that hosts this account (-1 none)"),
    Field("group", "i8", "scenario trader group of the agent (-1: a joiner)"),
    Field("trades", "i8", "accepted trades"),
    Field("rejected", "i8", "rejected orders"),
    Field("cash", "i8", "home cash, minor units"),
    Field("init_cash", "i8", "cash when the account was funded"),
    Field("holdings", "i8", "units held per currency, minor units", MAX_CURRENCIES),
    Field("init_holdings", "i8", "holdings when the account was funded", MAX_CURRENCIES),
])

STAKE: Final = Record("stake", [
    Field("due_cash", "i8", "cash received by fills of its resting sells; its owner sweeps "
                            "it into the account's cash at its next order on this book"),
    Field("reserved_cash", "i8", "cash its resting buys on this book hold"),
    Field("reserved_units", "i8", "units its resting sells on this book hold, minor units"),
])

ROW: Final = Record("row", [
    Field("t_ns", "i8", "CLOCK_MONOTONIC minus header start_ns, read under the lock"),
    Field("cur_seq", "i8", "the currency's seq after this row (1-based)"),
    Field("account", "i8", "account that traded, the taker of a fill, or the order's owner "
                           "(the writer is the ring's owner)"),
    Field("currency", "i8", "currency index"),
    Field("side", "i8", "0 buy (cash in, units out), 1 sell; the taker's side of a fill"),
    Field("qty", "i8", "units bought, sold, rested or released, minor units"),
    Field("cash", "i8", "cash paid (buy) or received (sell); a resting buy's reserve"),
    Field("unit_reserve", "i8", "pool unit_reserve after this trade (0 on a book)"),
    Field("kind", "i8", "0 pool trade, 1 book fill, 2 order placed, 3 order cancelled"),
    Field("order_id", "i8", "book: the maker's order of a fill, the order placed or "
                            "cancelled (0 for a pool trade)"),
    Field("maker", "i8", "book fill: the maker's account (-1 otherwise)"),
    Field("tick", "i8", "book: the tick of the fill or order (-1 for a pool trade)"),
])


@dataclass(frozen=True)
class Geometry:
    """Where every table sits, for given numbers of currencies, writers, accounts and
    ring rows."""

    n_currencies: int
    n_writers: int
    n_accounts: int
    ring_rows: int
    book_mask: int = 0
    book_words: int = 0
    book_shape: tuple[int, int, int] = (0, 0, 0)  # ticks, capacity, max_fills

    @property
    def books(self) -> tuple[int, ...]:
        """Currencies that trade on a book."""
        return tuple(c for c in range(self.n_currencies) if self.book_mask >> c & 1)

    @property
    def header_size(self) -> int:
        return HEADER.size

    @property
    def currency_offset(self) -> int:
        return _align(HEADER.size, ALIGN)

    @property
    def writer_offset(self) -> int:
        return _align(self.currency_offset + self.n_currencies * CURRENCY.size, ALIGN)

    @property
    def account_offset(self) -> int:
        return _align(self.writer_offset + self.n_writers * WRITER.size, ALIGN)

    @property
    def ring_offset(self) -> int:
        return _align(self.account_offset + self.n_accounts * ACCOUNT.size, ALIGN)

    @property
    def stake_offset(self) -> int:
        return _align(self.ring_offset + self.n_writers * self.ring_rows * ROW.size, ALIGN)

    @property
    def book_offset(self) -> int:
        stakes = self.n_accounts * self.n_currencies * STAKE.size if self.book_mask else 0
        return _align(self.stake_offset + stakes, ALIGN)

    @property
    def file_size(self) -> int:
        return _align(self.book_offset + len(self.books) * self.book_words * 8, PAGE)

    def stake_at(self, a: int, c: int) -> int:
        return self.stake_offset + (a * self.n_currencies + c) * STAKE.size

    def book_at(self, c: int) -> int:
        """Byte offset of currency ``c``'s book region (0 for a pool)."""
        if not self.book_mask >> c & 1:
            return 0
        k = bin(self.book_mask & ((1 << c) - 1)).count("1")
        return self.book_offset + k * self.book_words * 8

    def currency_at(self, c: int) -> int:
        return self.currency_offset + c * CURRENCY.size

    def writer_at(self, w: int) -> int:
        return self.writer_offset + w * WRITER.size

    def account_at(self, a: int) -> int:
        return self.account_offset + a * ACCOUNT.size

    def ring_at(self, w: int) -> int:
        return self.ring_offset + w * self.ring_rows * ROW.size

    def header_values(self) -> dict[str, int]:
        """The geometry fields of the header, as written at creation."""
        return {
            "header_size": HEADER.size,
            "file_size": self.file_size,
            "n_currencies": self.n_currencies,
            "n_writers": self.n_writers,
            "n_accounts": self.n_accounts,
            "currency_offset": self.currency_offset,
            "currency_size": CURRENCY.size,
            "writer_offset": self.writer_offset,
            "writer_size": WRITER.size,
            "account_offset": self.account_offset,
            "account_size": ACCOUNT.size,
            "ring_offset": self.ring_offset,
            "ring_rows": self.ring_rows,
            "row_size": ROW.size,
            "stake_offset": self.stake_offset,
            "stake_size": STAKE.size,
            "book_offset": self.book_offset,
            "book_mask": self.book_mask,
            "book_ticks": self.book_shape[0],
            "book_capacity": self.book_shape[1],
            "book_max_fills": self.book_shape[2],
            "book_words": self.book_words,
        }


@dataclass(frozen=True)
class LockOffsets:
    """Byte offset of every lock in a file: what initialises, re-initialises and takes
    them all reads; the ofd policy locks one byte at each currency's offset."""

    global_lock: int
    registry: int
    currencies: tuple[int, ...]

    def all(self) -> tuple[int, ...]:
        return (self.global_lock, self.registry, *self.currencies)


def lock_offsets(geo: Geometry) -> LockOffsets:
    """Where the locks of a file of this geometry sit."""
    return LockOffsets(HEADER.offsets["global_lock"], HEADER.offsets["registry_lock"],
                       tuple(geo.currency_at(c) + CURRENCY.offsets["lock"]
                             for c in range(geo.n_currencies)))


def encode_name(name: str) -> bytes:
    """A currency code as the NUL-padded bytes of its name field."""
    raw = name.encode("ascii")
    if not 0 < len(raw) < NAME_LEN:
        raise ValueError(f"currency name {name!r} must be 1..{NAME_LEN - 1} ASCII characters")
    return raw.ljust(NAME_LEN, b"\x00")


def decode_name(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace")
