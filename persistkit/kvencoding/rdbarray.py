"""The ARRAY value (Redis 8.8+, RDB 14, type 28): a sparse array of 64-bit indices.

redis/redis ``src/rdb.c`` (``rdbSaveObject`` / ``rdbLoadObject`` for ``OBJ_ARRAY``,
``rdbSaveArrayElement``) and ``src/sparsearray.[ch]`` (the element tags, ``arEncode``).
The stored form holds only the elements and the insert cursor, never the slice layout:

    length: count (number of elements that follow; 0 is corrupt)
    length: insert-index flag (0: no insert happened yet, 1: an index follows)
    [length: insert index]            (the last index ARINSERT/ARRING wrote)
    count x ( length: index (a plain length, never UINT64_MAX)
              length: tag  0 SDS | 1 INT | 2 FLOAT | 3 SMALLSTR
              INT: 8 bytes signed little-endian; FLOAT: 8-byte IEEE double;
              SDS / SMALLSTR: an RDB string (SMALLSTR at most 7 bytes) )

The server writes elements in index order; its loader does not insist on it (each
element is set in turn, a repeated index overwrites). What a client reads back is text:
an INT as its decimal, a FLOAT as ``arFormatFloat`` prints it (shortest round-trip
digits, ".0" added to an integral value), strings as they are. Which tag a string gets
follows ``arEncode`` on a 64-bit server: canonical integer within 62 bits -> INT, a
``[-]digits.digits`` text that survives the round trip with the low 2 bits of the
double cleared -> FLOAT, up to 7 bytes -> SMALLSTR, else SDS.

No I/O: ``read_array`` takes a ``ByteSource``; ``encode_array`` returns bytes.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Optional, Union

from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.lengths import (encode_length, encode_string, read_length,
                                           read_length_or_encoding, read_string)
from persistkit.kvencoding.numbers import canonical_int, d2string
from persistkit.kvencoding.source import ByteSource

TAG_SDS, TAG_INT, TAG_FLOAT, TAG_SMALLSTR = 0, 1, 2, 3
TAG_NAMES = {TAG_SDS: "string", TAG_INT: "int", TAG_FLOAT: "float", TAG_SMALLSTR: "smallstr"}
SMALLSTR_MAXLEN = 7                 # 64-bit builds (AR_SMALLSTR_MAXLEN)
INDEX_NONE = (1 << 64) - 1          # AR_INSERT_IDX_NONE / the invalid index
_INT62_MIN, _INT62_MAX = -(1 << 61), (1 << 61) - 1

_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U64 = struct.Struct("<Q")


@dataclass(slots=True)
class ArrayElement:
    """One stored element: ``value`` is an int (INT), a float (FLOAT) or bytes."""

    index: int
    tag: int
    value: Union[int, float, bytes]

    def text(self) -> bytes:
        return element_text(self.tag, self.value)


@dataclass(slots=True)
class ArrayValue:
    elements: list[ArrayElement] = field(default_factory=list)
    insert_idx: Optional[int] = None     # None: no insert happened (flag 0)

    def __len__(self) -> int:
        return len(self.elements)

    def items(self) -> list[tuple[int, bytes]]:
        """(index, text) as ARSCAN shows them, a repeated index keeping its last value."""
        out: dict[int, bytes] = {}
        for e in self.elements:
            out[e.index] = e.text()
        return sorted(out.items())

    @property
    def length(self) -> int:
        """ARLEN: highest index + 1."""
        return max((e.index for e in self.elements), default=-1) + 1


def format_float(d: float) -> bytes:
    """sparsearray.c arFormatFloat: d2string, plus ".0" for an integral finite value."""
    text = d2string(d)
    if math.isfinite(d) and not any(c in text for c in b".eE"):
        text += b".0"
    return text


def element_text(tag: int, value) -> bytes:
    if tag == TAG_INT:
        return str(value).encode()
    if tag == TAG_FLOAT:
        return format_float(value)
    return bytes(value)


def _clear_low_bits(d: float) -> float:
    return _F64.unpack(_U64.pack(_U64.unpack(_F64.pack(d))[0] & ~3))[0]


def _float_candidate(text: bytes) -> Optional[float]:
    """arTryEncodeFloat on a 64-bit build: the double, or None."""
    if not text:
        return None
    body = text[1:] if text[:1] == b"-" else text
    # The fast filter: digits and exactly one '.', after an optional '-'.
    if not body or body.count(b".") != 1:
        return None
    digits = body.replace(b".", b"")
    if digits and not digits.isdigit():
        return None
    try:
        d = float(text)
    except ValueError:
        return None
    if math.isnan(d) or math.isinf(d):
        return None
    d = _clear_low_bits(d)
    printed = d2string(d)
    if printed == text or printed + b".0" == text:
        return d
    return None


def element_for_text(index: int, text: bytes) -> ArrayElement:
    """The element a 64-bit server stores for the string ``text`` (arEncode)."""
    text = bytes(text)
    v = canonical_int(text)
    if v is not None and _INT62_MIN <= v <= _INT62_MAX:
        return ArrayElement(index, TAG_INT, v)
    d = _float_candidate(text)
    if d is not None:
        return ArrayElement(index, TAG_FLOAT, d)
    if len(text) <= SMALLSTR_MAXLEN:
        return ArrayElement(index, TAG_SMALLSTR, text)
    return ArrayElement(index, TAG_SDS, text)


def read_array(src: ByteSource, *, build: bool = True) -> tuple[Optional[ArrayValue], int]:
    """An ARRAY value (``src`` just after the key). Returns (value or None, count);
    ``build=False`` checks everything but keeps no element."""
    at = src.tell()
    count = read_length(src, "array element count")
    if count == 0:
        raise FormatError("empty array (element count 0) is invalid", at,
                          expected="at least one element", found="0")
    at = src.tell()
    flag = read_length(src, "array insert-index flag")
    if flag > 1:
        raise FormatError("bad array insert-index flag", at, expected="0 or 1", found=str(flag))
    insert_idx = read_length(src, "array insert index") if flag else None
    elements: list[ArrayElement] = [] if build else None  # type: ignore[assignment]
    left = count
    while left:
        # Fast path over the buffered window for the usual element (1-2 byte index, a
        # raw string of < 64 bytes or an 8-byte number); anything else, the end of the
        # window and every error go through _read_element, the reference.
        buf = src.buf
        pos = src.pos
        end = len(buf)
        while left and pos + 12 <= end:
            b = buf[pos]
            if b < 0x40:
                idx = b
                p = pos + 1
            elif b < 0x80:
                idx = ((b & 0x3F) << 8) | buf[pos + 1]
                p = pos + 2
            else:
                break
            tag = buf[p]
            p += 1
            if tag == TAG_INT:
                value = _I64.unpack_from(buf, p)[0]
                p += 8
            elif tag == TAG_FLOAT:
                value = _F64.unpack_from(buf, p)[0]
                p += 8
            elif tag == TAG_SDS or tag == TAG_SMALLSTR:
                n = buf[p]
                if n >= 0x40 or p + 1 + n > end or (tag == TAG_SMALLSTR and n > SMALLSTR_MAXLEN):
                    break
                value = buf[p + 1:p + 1 + n]
                p += 1 + n
            else:
                break
            if build:
                elements.append(ArrayElement(idx, tag, value))
            pos = p
            left -= 1
        src.pos = pos
        if left:
            e = _read_element(src)
            if build:
                elements.append(e)
            left -= 1
    return (ArrayValue(elements, insert_idx) if build else None), count


def _read_element(src: ByteSource) -> ArrayElement:
    """One element (rdbLoadObject's loop body for OBJ_ARRAY)."""
    at = src.tell()
    idx, encoded = read_length_or_encoding(src, "array index")
    if encoded or idx == INDEX_NONE:
        raise FormatError("invalid array index", at, expected="a plain length below 2^64-1",
                          found=f"encoded value type {idx}" if encoded else str(idx))
    at = src.tell()
    tag = read_length(src, "array element tag")
    if tag == TAG_INT:
        value = _I64.unpack(src.read(8, "array integer element"))[0]
    elif tag == TAG_FLOAT:
        value = _F64.unpack(src.read(8, "array float element"))[0]
    elif tag == TAG_SMALLSTR or tag == TAG_SDS:
        s_at = src.tell()
        value = read_string(src, "array string element")
        if tag == TAG_SMALLSTR and len(value) > SMALLSTR_MAXLEN:
            raise FormatError("array small string too long", s_at,
                              expected=f"at most {SMALLSTR_MAXLEN} bytes",
                              found=f"{len(value)} bytes")
    else:
        raise FormatError("unknown array element tag", at, expected="0-3 (SDS, INT, FLOAT, SMALLSTR)",
                          found=str(tag))
    return ArrayElement(idx, tag, value)


def encode_array(value: ArrayValue, *, compress: bool = True) -> bytes:
    """The stored form of ``value`` (elements in the order given; the server's own
    order is by index)."""
    if not value.elements:
        raise ValueError("an array value needs at least one element (the server never saves an empty one)")
    parts = [encode_length(len(value.elements))]
    if value.insert_idx is None:
        parts.append(encode_length(0))
    else:
        parts.append(encode_length(1) + encode_length(value.insert_idx))
    for e in value.elements:
        if not 0 <= e.index < INDEX_NONE:
            raise ValueError(f"array index out of range: {e.index}")
        parts.append(encode_length(e.index) + encode_length(e.tag))
        if e.tag == TAG_INT:
            parts.append(_I64.pack(int(e.value)))
        elif e.tag == TAG_FLOAT:
            parts.append(_F64.pack(float(e.value)))
        elif e.tag in (TAG_SDS, TAG_SMALLSTR):
            b = bytes(e.value)
            if e.tag == TAG_SMALLSTR and len(b) > SMALLSTR_MAXLEN:
                raise ValueError(f"a small-string array element holds at most {SMALLSTR_MAXLEN} bytes")
            # rdbSaveRawString: integer encoding / LZF as for any RDB string.
            parts.append(encode_string(b, compress=compress))
        else:
            raise ValueError(f"unknown array element tag {e.tag}")
    return b"".join(parts)


def array_from_items(items, insert_idx: Optional[int] = None) -> ArrayValue:
    """An ArrayValue from (index, text) pairs, tags chosen as a 64-bit server would."""
    els = [element_for_text(int(i), v if isinstance(v, bytes) else str(v).encode())
           for i, v in sorted(items, key=lambda p: int(p[0]))]
    return ArrayValue(els, insert_idx)
