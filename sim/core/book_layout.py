"""The byte layout of a limit order book: records and where they sit in a book's region.

A book is one contiguous region of int64 words (it can live in the exchange file or in any
int64 buffer); every word index below is counted from the region's first word::

    word 0           header           BOOK record
    journal          JOURNAL record, then journal_entries x (word, pre-image) pairs
    bid_leaf         ceil(ticks / 63) words: bit t % 63 of word t // 63 set when tick t
                     has resting buys
    ask_leaf         the same for sells
    bid_summary      ceil(leaf words / 63) words: bit i % 63 of word i // 63 set when leaf
                     word i is not zero
    ask_summary      the same for sells
    levels           ticks x LEVEL records (both sides of one tick)
    orders           capacity x ORDER records (live ones linked FIFO per level, free
                     ones linked into the free list)
    size             end, rounded up to a 64-byte line

Bitmap words use 63 bits so every word stays a non-negative int64. Links are record
indexes, ``NIL`` (-1) for none. An order id is ``gen << 32 | index``: the record index
makes a cancel O(1), the generation (bumped each time the record is reused) refuses a
stale id.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Final

from sim.core.layout import Field, Record
from sim.errors import BadInput

__all__ = [
    "BITS",
    "BOOK",
    "BOOK_ACCOUNT",
    "BUY",
    "FILL_WORDS",
    "FIXED_WORDS",
    "GTC",
    "IOC",
    "JOURNAL",
    "JOURNAL_ENTRY",
    "LEVEL",
    "MAX_CAPACITY",
    "MAX_TICKS",
    "NIL",
    "ORDER",
    "ORDER_FREE",
    "ORDER_LIVE",
    "POST_ONLY",
    "SELL",
    "SIDE_FIELDS",
    "BookGeometry",
    "next_gen",
    "order_id",
    "split_id",
]

NIL: Final = -1
BUY: Final = 0
SELL: Final = 1
GTC: Final = 0
IOC: Final = 1
POST_ONLY: Final = 2
ORDER_FREE: Final = 0
ORDER_LIVE: Final = 1
# Bits per bitmap word: 63 keeps every word a non-negative int64.
BITS: Final = 63
# An order id keeps its record index in the low 32 bits.
_INDEX_BITS: Final = 32
_INDEX_MASK: Final = (1 << _INDEX_BITS) - 1
_GEN_LIMIT: Final = 1 << 31
MAX_CAPACITY: Final = 1 << 31
MAX_TICKS: Final = BITS * BITS * 64
# Journal bound: distinct words one fill may write (maker record 3; level 4, its tail or
# the next order's back link among them; bitmaps 2; maker account 2: 11, and one to
# spare), and the rest of one order (header, taker account, resting record, its level,
# its neighbour's link, bitmaps: about 30) and, in the exchange file, what the trade adds
# (account, totals, the currency's mirror of the book, the ledger count: about 25).
FILL_WORDS: Final = 12
FIXED_WORDS: Final = 96

BOOK: Final = Record("book", [
    Field("ticks", "i8", "price levels on the ladder: ticks 0 .. ticks-1"),
    Field("capacity", "i8", "order records in the pool"),
    Field("max_fills", "i8", "fills one order may make; its remainder is dropped (capped)"),
    Field("lot", "i8", "minor units of the currency per lot; order quantities are lots"),
    Field("price_base", "i8", "cash minor units per lot at tick 0"),
    Field("price_step", "i8", "price added per tick; price(t) = price_base + t * price_step"),
    Field("best_bid", "i8", "highest tick with a resting buy (-1 none)"),
    Field("best_ask", "i8", "lowest tick with a resting sell (-1 none)"),
    Field("free_head", "i8", "first free order record (-1: the pool is full)"),
    Field("live", "i8", "orders resting in the book"),
    Field("version", "i8", "seqlock: odd while an order's transaction is being applied"),
    Field("orders", "i8", "orders accepted (limit, market and cancel)"),
    Field("fills", "i8", "fills made (one per maker order touched)"),
    Field("volume_qty", "i8", "quantity filled, lots"),
    Field("volume_cash", "i8", "cash paid for fills, minor units"),
    Field("last_tick", "i8", "tick of the last fill (-1 none)"),
    Field("cancels", "i8", "resting orders cancelled by their owner"),
    Field("dropped", "i8", "quantity of accepted orders neither filled nor rested"),
    Field("capped", "i8", "orders cut short at max_fills"),
    Field("rej_qty", "i8", "rejected: quantity not positive"),
    Field("rej_price", "i8", "rejected: tick off the ladder"),
    Field("rej_funds", "i8", "rejected: cash or units not available to cover the order"),
    Field("rej_cross", "i8", "rejected: a post-only order would have crossed"),
    Field("rej_full", "i8", "rejected: the order would rest and the pool is full"),
    Field("rej_cancel", "i8", "rejected: cancel of an id not live or not the caller's"),
])

JOURNAL: Final = Record("book_journal", [
    Field("state", "i8", "0 idle; n > 0: a transaction of n pre-images is being applied"),
    Field("entries", "i8", "capacity of the journal in (word, pre-image) pairs"),
])

# Journal entries are packed pairs, not 64-byte records: the record names their fields.
JOURNAL_ENTRY: Final = Record("book_journal_entry", [
    Field("word", "i8", "word index (from the book's first word) written by the transaction"),
    Field("old", "i8", "its value before the transaction"),
])

LEVEL: Final = Record("level", [
    Field("bid_qty", "i8", "total quantity of resting buys at this tick"),
    Field("bid_head", "i8", "oldest resting buy (-1 none)"),
    Field("bid_tail", "i8", "newest resting buy (-1 none)"),
    Field("bid_count", "i8", "resting buys at this tick"),
    Field("ask_qty", "i8", "total quantity of resting sells at this tick"),
    Field("ask_head", "i8", "oldest resting sell (-1 none)"),
    Field("ask_tail", "i8", "newest resting sell (-1 none)"),
    Field("ask_count", "i8", "resting sells at this tick"),
])

ORDER: Final = Record("order", [
    Field("state", "i8", "0 free, 1 live"),
    Field("gen", "i8", "generation: bumped on every reuse; the high half of the order id"),
    Field("side", "i8", "0 buy, 1 sell"),
    Field("tick", "i8", "price tick"),
    Field("qty", "i8", "quantity still resting, lots"),
    Field("account", "i8", "owner account"),
    Field("prev", "i8", "older order at the same level (-1 none)"),
    Field("next", "i8", "newer order at the same level; in the free list, the next free"),
])

# The account side of the book for the tests and the benchmark: what the engine moves.
BOOK_ACCOUNT: Final = Record("book_account", [
    Field("cash", "i8", "cash available, minor units"),
    Field("units", "i8", "units available, minor units"),
    Field("reserved_cash", "i8", "cash promised by resting buys"),
    Field("reserved_units", "i8", "units promised by resting sells, minor units"),
])

# A level's fields for side s sit at word SIDE_FIELDS * s + LEVEL.word("bid_...").
SIDE_FIELDS: Final = LEVEL.word("ask_qty") - LEVEL.word("bid_qty")
for _f in ("qty", "head", "tail", "count"):
    if LEVEL.word(f"ask_{_f}") - LEVEL.word(f"bid_{_f}") != SIDE_FIELDS:
        raise AssertionError("LEVEL must list the ask fields in the order of the bid fields")


def _words(rec: Record) -> int:
    return rec.size // 8


def _line(n: int) -> int:
    """Words rounded up to a 64-byte line."""
    return (n + 7) // 8 * 8


@dataclass(frozen=True)
class BookGeometry:
    """Where every part of one book's region sits, in words from the region's start."""

    ticks: int
    capacity: int
    max_fills: int

    def __post_init__(self) -> None:
        if not 1 <= self.ticks <= MAX_TICKS:
            raise BadInput(f"book ticks {self.ticks}: expected 1..{MAX_TICKS}")
        if not 1 <= self.capacity < MAX_CAPACITY:
            raise BadInput(f"book capacity {self.capacity}: expected 1..{MAX_CAPACITY - 1}")
        if self.max_fills < 1:
            raise BadInput(f"book max_fills {self.max_fills}: expected at least 1")

    @cached_property
    def leaf_words(self) -> int:
        return (self.ticks + BITS - 1) // BITS

    @cached_property
    def summary_words(self) -> int:
        return (self.leaf_words + BITS - 1) // BITS

    @cached_property
    def journal_entries(self) -> int:
        return self.max_fills * FILL_WORDS + FIXED_WORDS

    @cached_property
    def entry_words(self) -> int:
        return len(JOURNAL_ENTRY.fields)

    @cached_property
    def journal(self) -> int:
        return _words(BOOK)

    @cached_property
    def journal_first_entry(self) -> int:
        return self.journal + _words(JOURNAL)

    @cached_property
    def bid_leaf(self) -> int:
        return _line(self.journal_first_entry + self.journal_entries * self.entry_words)

    @cached_property
    def ask_leaf(self) -> int:
        return self.bid_leaf + self.leaf_words

    @cached_property
    def bid_summary(self) -> int:
        return self.ask_leaf + self.leaf_words

    @cached_property
    def ask_summary(self) -> int:
        return self.bid_summary + self.summary_words

    @cached_property
    def levels(self) -> int:
        return _line(self.ask_summary + self.summary_words)

    @cached_property
    def orders(self) -> int:
        return self.levels + self.ticks * _words(LEVEL)

    @cached_property
    def size_words(self) -> int:
        return _line(self.orders + self.capacity * _words(ORDER))

    def level_at(self, tick: int) -> int:
        return self.levels + tick * _words(LEVEL)

    def order_at(self, index: int) -> int:
        return self.orders + index * _words(ORDER)


def order_id(gen: int, index: int) -> int:
    """The id of the order in record ``index`` at generation ``gen`` (always > 0)."""
    return gen << _INDEX_BITS | index


def split_id(oid: int) -> tuple[int, int]:
    """(generation, record index) of an order id."""
    return oid >> _INDEX_BITS, oid & _INDEX_MASK


def next_gen(gen: int) -> int:
    """The generation a record takes when it is reused: 1 .. 2**31 - 1, wrapping."""
    return gen + 1 if gen + 1 < _GEN_LIMIT else 1
