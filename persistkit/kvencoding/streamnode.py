"""Stream listpack nodes (Redis src/t_stream.c) <-> model.StreamNode.

A stream is a radix tree whose keys are 16-byte master IDs (ms u64 BE, seq u64 BE)
and whose values are listpacks. streamAppendItem writes each node as:

* master entry: count (valid entries), deleted (entries flagged deleted),
  number of master fields, the master field names, 0 (terminator). The master
  ID and fields are those of the first entry added to the node.
* then per entry: flags (1 = DELETED, 2 = SAMEFIELDS), ms delta, seq delta (from
  the master ID, int64 with 64-bit wrap-around, so the seq delta can be negative),
  then either the values only (SAMEFIELDS: field names equal the master's) or
  the number of fields and field/value pairs, then lp-count: the number of
  listpack elements of the entry before it (3 + values, + fields + 1 without
  SAMEFIELDS).

XDEL only sets the DELETED flag and moves one from count to deleted, so the
entry stays in the listpack. Validation follows streamValidateListpackIntegrity
(plus: the DELETED flags agree with the master entry's two counts).
"""

from __future__ import annotations

from .errors import FormatError
from .listpack import (HEADER_SIZE, _as_bytes, _backlen_size, _entry_end, blob_error,
                       canonical_int, encode_backlen, encode_entry, encode_int_entry,
                       listpack_decode, listpack_from_entries)
from .streamtypes import StreamEntry, StreamNode

FLAG_DELETED = 1     # STREAM_ITEM_FLAG_DELETED
FLAG_SAMEFIELDS = 2  # STREAM_ITEM_FLAG_SAMEFIELDS

_MASK64 = (1 << 64) - 1
_KIND = "stream node"


def _text(x) -> bytes:
    """A field or value as bytes (listpack integers back to their decimal text)."""
    return x if type(x) is bytes else str(x).encode("ascii")


def decode_stream_node(master_key, listpack, base: int = 0, *, deep: bool = True,
                       lzf: bool = False) -> StreamNode:
    """Decode one node: ``master_key`` is the 16-byte radix key, ``listpack`` the node.

    ``base`` is the listpack's file offset (``lzf`` as in listpack_decode). The
    listpack itself is checked by listpack_decode; the stream layout on top of it
    is always checked, since a wrong count cannot be decoded safely anyway.
    """
    key = _as_bytes(master_key)
    if len(key) != 16:
        raise FormatError(f"{_KIND}: master key must be 16 bytes", base,
                          expected="16 bytes", found=f"{len(key)} bytes")
    master_ms = int.from_bytes(key[0:8], "big")
    master_seq = int.from_bytes(key[8:16], "big")
    data = _as_bytes(listpack)
    items = listpack_decode(data, base, deep=deep, lzf=lzf)
    n = len(items)
    pos = 0  # index of the next listpack element

    def fail(message, expected=None, found=None):
        return blob_error(_KIND, f"{message} (listpack element {pos})", base,
                          _element_offset(data, pos), lzf, expected=expected, found=found)

    def integer(what):
        nonlocal pos
        if pos >= n:
            raise fail(f"listpack ends before the {what}", expected=what, found="end")
        x = items[pos]
        if type(x) is not int:
            # lpGetIntegerIfValid also accepts a string holding a canonical integer.
            v = canonical_int(x)
            if v is None:
                raise fail(f"{what} is not an integer", expected="integer", found=repr(x))
            x = v
        pos += 1
        return x

    def element(what):
        nonlocal pos
        if pos >= n:
            raise fail(f"listpack ends before the {what}", expected=what, found="end")
        x = items[pos]
        pos += 1
        return x if type(x) is bytes else str(x).encode("ascii")

    valid_count = integer("master entry count")
    deleted_count = integer("master deleted count")
    nfields = integer("number of master fields")
    if nfields < 0 or nfields > n:
        raise fail("impossible number of master fields", expected=f"0..{n}", found=str(nfields))
    master_fields = [element("master field") for _ in range(nfields)]
    if integer("master entry terminator") != 0:
        pos -= 1
        raise fail("master entry does not end with 0", expected="0", found=repr(items[pos]))
    if valid_count < 0 or deleted_count < 0:
        raise fail("negative entry count in the master entry",
                   found=f"count {valid_count}, deleted {deleted_count}")

    entries = []
    deleted_seen = 0
    while pos < n:
        first = pos
        flags = integer("entry flags")
        ms = (master_ms + integer("entry ms delta")) & _MASK64
        seq = (master_seq + integer("entry seq delta")) & _MASK64
        if flags & FLAG_SAMEFIELDS:
            count = nfields
            extra = 3  # flags, ms delta, seq delta
            fields = [(f, element("entry value")) for f in master_fields]
        else:
            count = integer("entry number of fields")
            if count < 0 or count > n:
                raise fail("impossible number of fields", expected=f"0..{n}", found=str(count))
            extra = 3 + 1 + count  # ... plus the field count and the field names
            fields = [(element("entry field"), element("entry value")) for _ in range(count)]
        lp_count = integer("entry lp-count")
        if lp_count != count + extra:
            pos = first
            raise fail("entry lp-count does not match its elements",
                       expected=str(count + extra), found=str(lp_count))
        deleted = bool(flags & FLAG_DELETED)
        deleted_seen += deleted
        entries.append(StreamEntry((ms, seq), fields, deleted))

    if len(entries) != valid_count + deleted_count:
        pos = 0
        raise fail("master entry counts do not match the entries found",
                   expected=f"{valid_count} + {deleted_count} entries",
                   found=f"{len(entries)} entries")
    if deep and deleted_seen != deleted_count:
        pos = 1
        raise fail("deleted flags do not match the master entry's deleted count",
                   expected=str(deleted_count), found=str(deleted_seen))
    return StreamNode((master_ms, master_seq), master_fields, entries)


def encode_stream_node(node: StreamNode) -> tuple[bytes, bytes]:
    """(16-byte master key, listpack) exactly as Redis holds the node.

    SAMEFIELDS is set for an entry whose field names equal the master fields (in
    order), as streamAppendItem does; deltas wrap at 64 bits like the C
    arithmetic; the master entry counts valid and deleted entries.
    """
    master_ms, master_seq = node.master_id
    master_fields = [_text(f) for f in node.master_fields]
    valid = sum(1 for e in node.entries if not e.deleted)
    deleted = len(node.entries) - valid

    parts = [_int_entry(valid), _int_entry(deleted), _int_entry(len(master_fields))]
    parts += [encode_entry(f) for f in master_fields]
    parts.append(_int_entry(0))
    for entry in node.entries:
        ms, seq = entry.id
        names = [_text(f) for f, _ in entry.fields]
        same = names == master_fields
        flags = (FLAG_DELETED if entry.deleted else 0) | (FLAG_SAMEFIELDS if same else 0)
        parts += (_int_entry(flags), _int_entry(_signed64(ms - master_ms)),
                  _int_entry(_signed64(seq - master_seq)))
        nfields = len(entry.fields)
        if same:
            parts += [encode_entry(v) for _, v in entry.fields]
            lp_count = nfields + 3
        else:
            parts.append(_int_entry(nfields))
            for f, v in entry.fields:
                parts.append(encode_entry(f))
                parts.append(encode_entry(v))
            lp_count = 2 * nfields + 4
        parts.append(_int_entry(lp_count))
    key = (master_ms & _MASK64).to_bytes(8, "big") + (master_seq & _MASK64).to_bytes(8, "big")
    return key, listpack_from_entries(parts, len(parts))


def _element_offset(data: bytes, index: int) -> int:
    """Byte position of element ``index`` (the terminator's when past the end).

    Only called on the error path, after listpack_decode has checked every bound.
    """
    p = HEADER_SIZE
    for _ in range(index):
        end = _entry_end(data, p)
        p = end + _backlen_size(end - p)
    return p


def _int_entry(v: int) -> bytes:
    enc = encode_int_entry(v)
    return enc + encode_backlen(len(enc))


def _signed64(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >= (1 << 63) else v
