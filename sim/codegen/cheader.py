"""The C header (mmx.h) for programs that map the exchange file, rendered from the layout.

Nothing here retypes a field list, a size or an offset: structs, padding, constants and
the ``_Static_assert`` lines are all produced from :mod:`sim.core.layout` and
:mod:`sim.core.book_layout` (and the validation limits from :mod:`sim.core.exchange`), so
a C program compiled against the output cannot drift from the Python view of the file.
The geometry functions restate ``Geometry`` and ``BookGeometry`` in C; a test compares
them with Python over many shapes. ``sim header`` prints :func:`render`;
examples/c/Makefile regenerates the header on every layout change.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Final

from sim.core import book_layout as B
from sim.core import book_result as BR
from sim.core import layout as L
from sim.core.exchange import MAX_ACCOUNTS, MAX_RING_ROWS, MAX_WRITERS

__all__ = ["STRUCT_NAMES", "book_constants", "render"]

#: C struct name of each record; ``Currency`` keeps the name of the original program.
STRUCT_NAMES: Final = {
    L.HEADER.name: "mmx_header",
    L.CURRENCY.name: "Currency",
    L.WRITER.name: "mmx_writer",
    L.ACCOUNT.name: "mmx_account",
    L.ROW.name: "mmx_row",
    L.STAKE.name: "mmx_stake",
    B.BOOK.name: "mmx_book",
    B.JOURNAL.name: "mmx_book_journal",
    B.JOURNAL_ENTRY.name: "mmx_book_journal_entry",
    B.LEVEL.name: "mmx_level",
    B.ORDER.name: "mmx_order",
}

_RECORDS: Final = (L.HEADER, L.CURRENCY, L.WRITER, L.ACCOUNT, L.ROW, L.STAKE, B.BOOK,
                   B.JOURNAL, B.JOURNAL_ENTRY, B.LEVEL, B.ORDER)
# Journal entries are packed (word, pre-image) pairs in the book region, not records
# padded to a line: their struct has no trailing padding.
_PACKED: Final = frozenset({B.JOURNAL_ENTRY.name})
_ENUM_PREFIXES: Final = ("RUN_", "SLOT_", "KIND_", "JOURNAL_", "SIDE_", "SCHEDULE_", "MARKET_",
                         "ROW_")
_NAME_TABLES: Final = (
    ("run_state", "RUN_STATES"),
    ("slot_state", "SLOT_STATES"),
    ("kind", "KINDS"),
    ("sync", "SYNC_NAMES"),
)
_WIDTH: Final = 100


def _comment(text: str, indent: str = "") -> list[str]:
    """``text`` as a C block comment of lines no wider than the page."""
    safe = text.replace("*/", "* /").replace("??", "? ?")
    body = textwrap.wrap(safe, _WIDTH - len(indent) - 6) or [""]
    if len(body) == 1:
        return [f"{indent}/* {body[0]} */"]
    return ([f"{indent}/* {body[0]}"] + [f"{indent} * {line}" for line in body[1:]]
            + [f"{indent} */"])


def _c_string(raw: bytes) -> str:
    out = []
    for b in raw:
        ch = chr(b)
        if ch in "\"\\?":
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _field_size(rec: L.Record, name: str) -> int:
    fields = rec.dtype.fields
    if fields is None:
        raise AssertionError(f"{rec.name}: dtype without fields")
    return int(fields[name][0].itemsize)


def _declaration(f: L.Field) -> str:
    dims = f"[{f.count}]" if f.count > 1 else ""
    if f.kind == "i8":
        return f"int64_t {f.name}{dims};"
    if f.kind == "f8":
        return f"double {f.name}{dims};"
    if f.kind == "name":
        return f"char {f.name}{dims}[MMX_NAME_LEN];"
    if f.kind == "lock":
        return f"_Alignas(MMX_ALIGN) unsigned char {f.name}{dims}[MMX_LOCK_SIZE];"
    raise ValueError(f"field {f.name}: no C type for kind {f.kind!r}")


def _size(rec: L.Record) -> int:
    """Bytes of one record in the file: packed records end at their last field."""
    if rec.name in _PACKED:
        return 8 * len(rec.fields)
    return rec.size


def _source(rec: L.Record) -> str:
    """Where ``rec`` is defined, as ``module NAME``."""
    for path, module in (("sim/core/layout.py", L), ("sim/core/book_layout.py", B)):
        for name, value in vars(module).items():
            if value is rec:
                return f"{path} {name}"
    raise AssertionError(f"record {rec.name} is not defined in a layout module")


def _struct(rec: L.Record) -> list[str]:
    cname = STRUCT_NAMES[rec.name]
    size = _size(rec)
    packed = " (packed pairs)" if rec.name in _PACKED else ""
    out = _comment(f"{rec.name} record: {size} bytes{packed} ({_source(rec)}).")
    out.append(f"struct {cname} {{")
    pos = 0
    pads = 0
    for f in rec.fields:
        off = rec.offsets[f.name]
        if off > pos:
            out.append(f"    unsigned char _pad{pads}[{off - pos}];")
            pads += 1
        out += _comment(f"@{off}: {f.doc}", "    ")
        out.append(f"    {_declaration(f)}")
        pos = off + _field_size(rec, f.name)
    if size > pos:
        out.append(f"    unsigned char _pad{pads}[{size - pos}];")
    out.append("};")
    return out


def _asserts(rec: L.Record) -> list[str]:
    t = f"struct {STRUCT_NAMES[rec.name]}"
    size = f"MMX_{rec.name.upper()}_SIZE"
    out = [f"#define {size} {_size(rec)}",
           f"_Static_assert(sizeof({t}) == {size},",
           f'               "sizeof({t}) != {_size(rec)}");']
    out += [f"MMX_CHECK_FIELD({t}, {f.name}, {rec.offsets[f.name]}, "
            f"{_field_size(rec, f.name)});" for f in rec.fields]
    return out


def _constants() -> Iterator[tuple[str, int]]:
    for name, value in vars(L).items():
        if (name.startswith(_ENUM_PREFIXES) and isinstance(value, int)
                and not isinstance(value, bool)):
            yield name, value
    for name, code in L.SYNC_CODES.items():
        yield f"SYNC_{name.upper()}", code
    yield "NO_SLOT", L.NO_SLOT
    yield "NO_WRITER", L.NO_WRITER
    yield "NO_GROUP", L.NO_GROUP


def _gen_limit() -> int:
    """The first generation ``next_gen`` never returns: it counts up, then wraps to 1."""
    lo, hi = 1, 1 << 62
    while hi - lo > 1:  # next_gen(g) == g + 1 holds below limit - 1 and fails at it
        mid = (lo + hi) // 2
        if B.next_gen(mid) == mid + 1:
            lo = mid
        else:
            hi = mid
    return hi + 1


def book_constants() -> Iterator[tuple[str, int]]:
    """Names (after ``MMX_BOOK_``) and values of the book's constants."""
    for name in ("NIL", "BUY", "SELL", "GTC", "IOC", "POST_ONLY", "ORDER_FREE", "ORDER_LIVE",
                 "BITS", "FILL_WORDS", "FIXED_WORDS", "MAX_TICKS", "MAX_CAPACITY",
                 "SIDE_FIELDS"):
        yield name, int(getattr(B, name))
    yield "JOURNAL_ENTRY_WORDS", len(B.JOURNAL_ENTRY.fields)
    index_bits = B.order_id(1, 0).bit_length() - 1
    if B.split_id(B.order_id(3, 5)) != (3, 5) or B.order_id(0, 7) != 7:
        raise AssertionError("order ids are not gen << index_bits | index")
    yield "INDEX_BITS", index_bits
    yield "GEN_LIMIT", _gen_limit()
    yield "OK", BR.OK
    for name in ("REJ_QTY", "REJ_PRICE", "REJ_FUNDS", "REJ_CROSS", "REJ_FULL", "REJ_CANCEL"):
        yield name, int(getattr(BR, name))


def _name_function(what: str, table: dict[int, str]) -> list[str]:
    out = [f"static inline const char *mmx_{what}_name(int64_t v)", "{", "    switch (v) {"]
    for code, text in sorted(table.items()):
        out.append(f"    case {code}: return {_c_string(text.encode('ascii'))};")
    out += ["    default: return \"?\";", "    }", "}"]
    return out


def _geometry() -> list[str]:
    h, c, w, a, r, st = (STRUCT_NAMES[x.name]
                         for x in (L.HEADER, L.CURRENCY, L.WRITER, L.ACCOUNT, L.ROW, L.STAKE))
    return [
        *_comment("Geometry (sim/core/layout.py Geometry): where each table sits for given "
                  "counts. Records are 64-byte aligned, the file is rounded up to a page."),
        "static inline int64_t mmx_align(int64_t n, int64_t a)",
        "{",
        "    return (n + a - 1) / a * a;",
        "}",
        "static inline int64_t mmx_currency_offset(void)",
        "{",
        f"    return mmx_align((int64_t)sizeof(struct {h}), MMX_ALIGN);",
        "}",
        "static inline int64_t mmx_writer_offset(int64_t n_currencies)",
        "{",
        "    return mmx_align(mmx_currency_offset()",
        f"                     + n_currencies * (int64_t)sizeof(struct {c}), MMX_ALIGN);",
        "}",
        "static inline int64_t mmx_account_offset(int64_t n_currencies, int64_t n_writers)",
        "{",
        "    return mmx_align(mmx_writer_offset(n_currencies)",
        f"                     + n_writers * (int64_t)sizeof(struct {w}), MMX_ALIGN);",
        "}",
        "static inline int64_t mmx_ring_offset(int64_t n_currencies, int64_t n_writers, "
        "int64_t n_accounts)",
        "{",
        "    return mmx_align(mmx_account_offset(n_currencies, n_writers)",
        f"                     + n_accounts * (int64_t)sizeof(struct {a}), MMX_ALIGN);",
        "}",
        "static inline int64_t mmx_stake_offset(int64_t n_currencies, int64_t n_writers, "
        "int64_t n_accounts,",
        "                                       int64_t ring_rows)",
        "{",
        "    return mmx_align(mmx_ring_offset(n_currencies, n_writers, n_accounts)",
        f"                     + n_writers * ring_rows * (int64_t)sizeof(struct {r}), "
        "MMX_ALIGN);",
        "}",
        *_comment("The stake table exists only when some currency trades on a book "
                  "(book_mask != 0); book regions follow it, one per bit of book_mask, "
                  "book_words words each."),
        "static inline int64_t mmx_book_offset(int64_t n_currencies, int64_t n_writers, "
        "int64_t n_accounts,",
        "                                      int64_t ring_rows, int64_t book_mask)",
        "{",
        "    int64_t stakes = book_mask ? n_accounts * n_currencies * "
        f"(int64_t)sizeof(struct {st}) : 0;",
        "    return mmx_align(mmx_stake_offset(n_currencies, n_writers, n_accounts, ring_rows)"
        " + stakes,",
        "                     MMX_ALIGN);",
        "}",
        "static inline int64_t mmx_popcount(int64_t mask)",
        "{",
        "    int64_t n = 0;",
        "    for (uint64_t m = (uint64_t)mask; m; m &= m - 1)",
        "        n++;",
        "    return n;",
        "}",
        "static inline int64_t mmx_file_size(int64_t n_currencies, int64_t n_writers, "
        "int64_t n_accounts,",
        "                                    int64_t ring_rows, int64_t book_mask, "
        "int64_t book_words)",
        "{",
        "    int64_t end = mmx_book_offset(n_currencies, n_writers, n_accounts, ring_rows, "
        "book_mask)",
        "                  + mmx_popcount(book_mask) * book_words * 8;",
        "    return mmx_align(end, MMX_PAGE);",
        "}",
        "static inline int64_t mmx_currency_at(int64_t c)",
        "{",
        f"    return mmx_currency_offset() + c * (int64_t)sizeof(struct {c});",
        "}",
        "static inline int64_t mmx_writer_at(int64_t n_currencies, int64_t w)",
        "{",
        f"    return mmx_writer_offset(n_currencies) + w * (int64_t)sizeof(struct {w});",
        "}",
        "static inline int64_t mmx_account_at(int64_t n_currencies, int64_t n_writers, "
        "int64_t a)",
        "{",
        "    return mmx_account_offset(n_currencies, n_writers)",
        f"           + a * (int64_t)sizeof(struct {a});",
        "}",
        "static inline int64_t mmx_ring_at(int64_t n_currencies, int64_t n_writers, "
        "int64_t n_accounts,",
        "                                  int64_t ring_rows, int64_t w)",
        "{",
        "    return mmx_ring_offset(n_currencies, n_writers, n_accounts)",
        f"           + w * ring_rows * (int64_t)sizeof(struct {r});",
        "}",
        "static inline int64_t mmx_stake_at(int64_t n_currencies, int64_t n_writers, "
        "int64_t n_accounts,",
        "                                   int64_t ring_rows, int64_t a, int64_t c)",
        "{",
        "    return mmx_stake_offset(n_currencies, n_writers, n_accounts, ring_rows)",
        f"           + (a * n_currencies + c) * (int64_t)sizeof(struct {st});",
        "}",
        *_comment("Byte offset of currency c's book region; 0 when c trades on a pool."),
        "static inline int64_t mmx_book_at(int64_t n_currencies, int64_t n_writers, "
        "int64_t n_accounts,",
        "                                  int64_t ring_rows, int64_t book_mask, "
        "int64_t book_words,",
        "                                  int64_t c)",
        "{",
        "    if (!(book_mask >> c & 1))",
        "        return 0;",
        "    int64_t k = mmx_popcount(book_mask & (((int64_t)1 << c) - 1));",
        "    return mmx_book_offset(n_currencies, n_writers, n_accounts, ring_rows, book_mask)",
        "           + k * book_words * 8;",
        "}",
        "",
        *_comment("Byte offset of each lock in the file; the ofd policy write-locks one byte "
                  "at a currency's lock offset (sim/core/layout.py lock_offsets)."),
        f"#define MMX_GLOBAL_LOCK_OFFSET {L.HEADER.offsets['global_lock']}",
        f"#define MMX_REGISTRY_LOCK_OFFSET {L.HEADER.offsets['registry_lock']}",
        "static inline int64_t mmx_currency_lock_offset(int64_t c)",
        "{",
        f"    return mmx_currency_at(c) + (int64_t)offsetof(struct {c}, lock);",
        "}",
        f"_Static_assert(offsetof(struct {h}, global_lock) == MMX_GLOBAL_LOCK_OFFSET,",
        '               "global lock offset");',
        f"_Static_assert(offsetof(struct {h}, registry_lock) == MMX_REGISTRY_LOCK_OFFSET,",
        '               "registry lock offset");',
    ]


def _book_geometry() -> list[str]:
    fields = ("ticks", "capacity", "max_fills", "leaf_words", "summary_words",
              "journal_entries", "journal", "journal_first_entry", "bid_leaf", "ask_leaf",
              "bid_summary", "ask_summary", "levels", "orders", "size_words")
    return [
        *_comment("Where every part of one book region sits, in int64 words from the "
                  "region's first word (sim/core/book_layout.py BookGeometry). The journal "
                  "header is followed by journal_entries packed (word, old) pairs; word is "
                  "counted from the region's first word and may be negative (a currency, "
                  "account, stake or writer word the order also wrote)."),
        "struct mmx_book_geometry {",
        *[f"    int64_t {f};" for f in fields],
        "};",
        "static inline int64_t mmx_line_words(int64_t n)",
        "{",
        "    return mmx_align(n, MMX_ALIGN / 8);",
        "}",
        "static inline struct mmx_book_geometry mmx_book_geometry(int64_t ticks, "
        "int64_t capacity,",
        "                                                          int64_t max_fills)",
        "{",
        "    struct mmx_book_geometry g;",
        "    g.ticks = ticks;",
        "    g.capacity = capacity;",
        "    g.max_fills = max_fills;",
        "    g.leaf_words = (ticks + MMX_BOOK_BITS - 1) / MMX_BOOK_BITS;",
        "    g.summary_words = (g.leaf_words + MMX_BOOK_BITS - 1) / MMX_BOOK_BITS;",
        "    g.journal_entries = max_fills * MMX_BOOK_FILL_WORDS + MMX_BOOK_FIXED_WORDS;",
        "    g.journal = MMX_BOOK_SIZE / 8;",
        "    g.journal_first_entry = g.journal + MMX_BOOK_JOURNAL_SIZE / 8;",
        "    g.bid_leaf = mmx_line_words(g.journal_first_entry",
        "                                + g.journal_entries * MMX_BOOK_JOURNAL_ENTRY_WORDS);",
        "    g.ask_leaf = g.bid_leaf + g.leaf_words;",
        "    g.bid_summary = g.ask_leaf + g.leaf_words;",
        "    g.ask_summary = g.bid_summary + g.summary_words;",
        "    g.levels = mmx_line_words(g.ask_summary + g.summary_words);",
        "    g.orders = g.levels + ticks * (MMX_LEVEL_SIZE / 8);",
        "    g.size_words = mmx_line_words(g.orders + capacity * (MMX_ORDER_SIZE / 8));",
        "    return g;",
        "}",
        "",
        *_comment("An order id is gen << MMX_BOOK_INDEX_BITS | record index; a record's "
                  "generation goes 1 .. MMX_BOOK_GEN_LIMIT - 1 and wraps to 1 "
                  "(sim/core/book_layout.py order_id, split_id, next_gen)."),
        "static inline int64_t mmx_order_id(int64_t gen, int64_t index)",
        "{",
        "    return (int64_t)((uint64_t)gen << MMX_BOOK_INDEX_BITS) | index;",
        "}",
        "static inline int64_t mmx_order_gen(int64_t id)",
        "{",
        "    return id >> MMX_BOOK_INDEX_BITS;",
        "}",
        "static inline int64_t mmx_order_index(int64_t id)",
        "{",
        "    return id & (((int64_t)1 << MMX_BOOK_INDEX_BITS) - 1);",
        "}",
        "static inline int64_t mmx_next_gen(int64_t gen)",
        "{",
        "    return gen + 1 < MMX_BOOK_GEN_LIMIT ? gen + 1 : 1;",
        "}",
        *_comment("The ask fields of a level sit MMX_BOOK_SIDE_FIELDS words after the bid "
                  "fields of the same name."),
        *[line for f in ("qty", "head", "tail", "count") for line in (
            f"_Static_assert(offsetof(struct mmx_level, ask_{f}) - offsetof(struct mmx_level, "
            f"bid_{f})",
            f'               == 8 * MMX_BOOK_SIDE_FIELDS, "level {f}");')],
    ]


def render() -> str:
    """The complete header text, ending with a newline."""
    guard = "MMX_H"
    magic = L.MAGIC.rstrip(b"\x00")
    if len(magic) >= len(L.MAGIC) or b"\x00" in magic:
        raise ValueError(f"magic {L.MAGIC!r} must be text followed by NUL padding")
    lines = [
        *_comment("mmx.h: C view of the mmap exchange file. Generated by sim/codegen/cheader.py "
                  "from sim/core/layout.py; do not edit, regenerate (make -C examples/c, or "
                  "sim header)."),
        "",
        *_comment("All integers are little-endian int64 minor units (1/scale of a unit); "
                  "doubles are display only. A lock field holds a process-shared robust "
                  "pthread mutex on a cache line of its own."),
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <pthread.h>",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        f"#define MMX_MAGIC {_c_string(magic + L.MAGIC[len(magic):-1])}",
        f"#define MMX_MAGIC_LEN {len(L.MAGIC)}",
        f"#define MMX_VERSION {L.VERSION}",
        f"#define MMX_MAX_CURRENCIES {L.MAX_CURRENCIES}",
        f"#define MMX_NAME_LEN {L.NAME_LEN}",
        f"#define MMX_LOCK_SIZE {L.LOCK_SIZE}",
        f"#define MMX_ALIGN {L.ALIGN}",
        f"#define MMX_PAGE {L.PAGE}",
        *_comment("Limits a reader checks before mapping (sim/core/exchange.py)."),
        f"#define MMX_MAX_WRITERS {MAX_WRITERS}",
        f"#define MMX_MAX_ACCOUNTS {MAX_ACCOUNTS}",
        f"#define MMX_MAX_RING_ROWS {MAX_RING_ROWS}",
        "",
        *_comment("Values of enumerated fields (sim/core/layout.py)."),
    ]
    lines += [f"#define MMX_{name} ({value})" if value < 0 else f"#define MMX_{name} {value}"
              for name, value in _constants()]
    lines += ["", *_comment("Limit order books (sim/core/book_layout.py, book_result.py).")]
    lines += [f"#define MMX_BOOK_{name} ({value})" if value < 0
              else f"#define MMX_BOOK_{name} {value}" for name, value in book_constants()]
    lines += [
        "",
        "_Static_assert(sizeof(MMX_MAGIC) == MMX_MAGIC_LEN, \"MMX_MAGIC is not 8 bytes\");",
        "_Static_assert(sizeof(pthread_mutex_t) <= MMX_LOCK_SIZE,",
        '               "pthread_mutex_t does not fit a lock field");',
        "_Static_assert(_Alignof(pthread_mutex_t) <= MMX_ALIGN,",
        '               "pthread_mutex_t needs more alignment than a lock field has");',
    ]
    for rec in _RECORDS:
        lines += ["", *_struct(rec)]
    lines += [
        "",
        *_comment("Every size and field offset as sim/core/layout.py computes it."),
        "#define MMX_CHECK_FIELD(T, f, off, size) \\",
        "    _Static_assert(offsetof(T, f) == (off), #T \".\" #f \": offset differs from "
        "layout\"); \\",
        "    _Static_assert(sizeof(((T *)0)->f) == (size), #T \".\" #f \": size differs "
        "from layout\")",
    ]
    for rec in _RECORDS:
        lines += _asserts(rec)
    lines.append("")
    lines += _geometry()
    lines += ["", *_book_geometry()]
    for what, table in _NAME_TABLES:
        lines += ["", *_name_function(what, getattr(L, table))]
    for what, names in (("market", L.MARKETS), ("row_kind", L.ROW_KINDS),
                        ("book_reject", BR.REJECT_REASONS)):
        lines += ["", *_name_function(what, names)]
    lines += ["", f"#endif /* {guard} */"]
    too_wide = [x for x in lines if len(x) > _WIDTH]
    if too_wide:
        raise AssertionError(f"generated line wider than {_WIDTH}: {too_wide[0]!r}")
    return "\n".join(lines) + "\n"
