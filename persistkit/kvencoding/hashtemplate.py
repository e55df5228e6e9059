"""Hash templates (Redis 8.10, RDB 15): hashes whose field names live in a shared template.

The evidence is Redis's own: ``src/t_hash.c`` (the template registry: field names
sorted by ``sdscmplen``, length then bytes, checked by ``hashTemplateValidateFields``;
a TMPL_LP value is a listpack ``[template id][v0]...[vN-1]``) and
``tests/unit/type/hash-templates.tcl``, whose hand-built RESTORE payloads (good and
malformed) and RDB corruption tests (the byte positions they patch: the template id
after a REF key, the field count before the first name) fix the forms below. The
``rdb.c`` of an RDB 15 tree and a Redis 8.10 server or file were not at hand, so the
forms are read, never written.

* opcode 242 ``RDB_OPCODE_HASH_TEMPLATE`` (a top-level record, before the keys that use
  it): length id, length N (> 0), N field-name strings, strictly ascending in
  ``sdscmplen`` order (shorter first, then bytewise); an id appears once per file.
* type 30 ``TMPL_LP_REF`` (RDB files only): one string holding a listpack whose first
  entry is the template id (a non-negative integer) and the others the N values in
  field order.
* type 32 ``TMPL_ARRAY_REF`` (RDB files only): length id, then N value strings.
* types 29 ``TMPL_LP`` / 31 ``TMPL_ARRAY`` (self-contained, what DUMP writes): length
  fields_fmt (0: the names as one listpack string; 1: length N then N strings), then
  29: a values listpack (first entry an integer id, ignored, then N values); 31: N
  value strings. The REF types are refused in a DUMP payload.

No I/O: readers take a ``ByteSource``.
"""

from __future__ import annotations

from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.lengths import read_length, read_string
from persistkit.kvencoding.listpack import listpack_decode
from persistkit.kvencoding.source import ByteSource

OP_HASH_TEMPLATE = 242
T_TMPL_LP, T_TMPL_LP_REF, T_TMPL_ARRAY, T_TMPL_ARRAY_REF = 29, 30, 31, 32
REF_TYPES = (T_TMPL_LP_REF, T_TMPL_ARRAY_REF)
FIELDS_LP, FIELDS_RAW = 0, 1


def _text(x) -> bytes:
    # listpack integers stand for their decimal text (field names, values)
    return x if x.__class__ is bytes else str(x).encode()


def check_fields(fields: list, at: int) -> None:
    """Non-empty and strictly ascending by (length, bytes) (sdscmplen)."""
    if not fields:
        raise FormatError("hash template has zero fields", at, expected="at least one field",
                          found="0")
    prev = None
    for f in fields:
        key = (len(f), f)
        if prev is not None and key <= prev:
            raise FormatError("hash template fields not strictly sorted", at,
                              expected="field names ascending by length, then bytes",
                              found=f"{prev[1][:40]!r} before {f[:40]!r}")
        prev = key


def read_template_record(src: ByteSource) -> tuple[int, list]:
    """An opcode-242 record (``src`` after the opcode): (id, field names)."""
    id_ = read_length(src, "hash template id")
    at = src.tell()
    n = read_length(src, "hash template field count")
    if n == 0:
        raise FormatError("hash template has zero fields", at, expected="at least one field",
                          found="0")
    fields = [read_string(src, "hash template field") for _ in range(n)]
    check_fields(fields, at)
    return id_, fields


def read_inline_fields(src: ByteSource) -> tuple[int, list]:
    """The field names of a self-contained template hash: (fields_fmt, names)."""
    at = src.tell()
    fmt = read_length(src, "hash template fields format")
    if fmt == FIELDS_LP:
        b_at = src.tell()
        blob = read_string(src, "hash template field listpack")
        fields = [_text(x) for x in listpack_decode(blob, b_at)]
    elif fmt == FIELDS_RAW:
        n_at = src.tell()
        n = read_length(src, "hash template field count")
        if n == 0:
            raise FormatError("hash template has zero fields", n_at, expected="at least one field",
                              found="0")
        fields = [read_string(src, "hash template field") for _ in range(n)]
    else:
        raise FormatError("unknown hash template fields format", at,
                          expected="0 (listpack) or 1 (raw strings)", found=str(fmt))
    check_fields(fields, at)
    return fmt, fields


def first_id(items: list, at: int, *, ref: bool) -> int:
    """The template id a values listpack (decoded) starts with."""
    if not items:
        raise FormatError("hash template values listpack is empty", at,
                          expected="the template id and the values", found="no entries")
    tid = items[0]
    if tid.__class__ is not int or (ref and tid < 0):
        raise FormatError("hash template values listpack: first entry is not "
                          + ("a non-negative integer" if ref else "an integer"), at,
                          expected="the template id", found=repr(tid)[:40])
    return tid


def values_from_listpack(items: list, n_fields: int, at: int, *, ref: bool) -> tuple[int, list]:
    """Split a values listpack (decoded): (template id, values)."""
    tid = first_id(items, at, ref=ref)
    if len(items) != n_fields + 1:
        raise FormatError("hash template values listpack entry count does not match its fields", at,
                          expected=f"{n_fields + 1} entries (id + values)", found=f"{len(items)} entries")
    return tid, [_text(x) for x in items[1:]]


def lookup(registry: dict, tid: int, at: int) -> list:
    fields = registry.get(tid)
    if fields is None:
        raise FormatError("template-encoded hash references an unknown template id", at,
                          expected="an id of an earlier HASH_TEMPLATE record", found=str(tid))
    return fields
