"""The C header (mmx.h) for programs that map the exchange file, rendered from sim.layout.

Nothing here retypes a field list, a size or an offset: structs, padding, constants and
the ``_Static_assert`` lines are all produced from :mod:`sim.layout` (and the validation
limits from :mod:`sim.exchange`), so a C program compiled against the output cannot
drift from the Python view of the file. ``sim header`` prints :func:`render`;
examples/c/Makefile regenerates the header on every layout change.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Final

from sim.core import layout as L
from sim.core.exchange import MAX_ACCOUNTS, MAX_RING_ROWS, MAX_WRITERS

__all__ = ["STRUCT_NAMES", "render"]

#: C struct name of each record; ``Currency`` keeps the name of the original program.
STRUCT_NAMES: Final = {
    L.HEADER.name: "mmx_header",
    L.CURRENCY.name: "Currency",
    L.WRITER.name: "mmx_writer",
    L.ACCOUNT.name: "mmx_account",
    L.ROW.name: "mmx_row",
}

_RECORDS: Final = (L.HEADER, L.CURRENCY, L.WRITER, L.ACCOUNT, L.ROW)
_ENUM_PREFIXES: Final = ("RUN_", "SLOT_", "KIND_", "JOURNAL_", "SIDE_", "SCHEDULE_")
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


def _struct(rec: L.Record) -> list[str]:
    cname = STRUCT_NAMES[rec.name]
    out = _comment(f"{rec.name} record: {rec.size} bytes (sim/core/layout.py {rec.name.upper()}).")
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
    if rec.size > pos:
        out.append(f"    unsigned char _pad{pads}[{rec.size - pos}];")
    out.append("};")
    return out


def _asserts(rec: L.Record) -> list[str]:
    t = f"struct {STRUCT_NAMES[rec.name]}"
    size = f"MMX_{rec.name.upper()}_SIZE"
    out = [f"#define {size} {rec.size}",
           f'_Static_assert(sizeof({t}) == {size}, "sizeof({t}) != {rec.size}");']
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


def _name_function(what: str, table: dict[int, str]) -> list[str]:
    out = [f"static inline const char *mmx_{what}_name(int64_t v)", "{", "    switch (v) {"]
    for code, text in sorted(table.items()):
        out.append(f"    case {code}: return {_c_string(text.encode('ascii'))};")
    out += ["    default: return \"?\";", "    }", "}"]
    return out


def _geometry() -> list[str]:
    h, c, w, a, r = (STRUCT_NAMES[x.name] for x in _RECORDS)
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
        "static inline int64_t mmx_file_size(int64_t n_currencies, int64_t n_writers, "
        "int64_t n_accounts,",
        "                                    int64_t ring_rows)",
        "{",
        "    int64_t end = mmx_ring_offset(n_currencies, n_writers, n_accounts)",
        f"                  + n_writers * ring_rows * (int64_t)sizeof(struct {r});",
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
    for what, table in _NAME_TABLES:
        lines += ["", *_name_function(what, getattr(L, table))]
    lines += ["", f"#endif /* {guard} */"]
    too_wide = [x for x in lines if len(x) > _WIDTH]
    if too_wide:
        raise AssertionError(f"generated line wider than {_WIDTH}: {too_wide[0]!r}")
    return "\n".join(lines) + "\n"
