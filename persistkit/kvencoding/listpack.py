"""Listpack blobs (Redis src/listpack.c): decode with validation, count, canonical encode.

Layout: total bytes u32 LE, element count u16 LE (65535 = "count them"), entries,
0xFF. An entry is encoding+data followed by ``backlen``, the size of encoding+data
written in 1..5 bytes of 7 bits each so it can be read backwards.

Decoded elements are ``bytes`` (string encodings) or ``int`` (integer encodings).

Errors are ``FormatError`` with ``offset = base + position in the blob``. When the
blob came out of LZF (``lzf=True``) positions inside it have no file offset: the
error then carries ``offset = base`` (where the compressed string starts) and the
message names the byte position inside the decompressed blob.

This module also holds the two helpers the other blob codecs share:
``canonical_int`` (the string -> int64 rule of lpStringToInt64 / string2ll) and
``blob_error``.
"""

from __future__ import annotations

from typing import Iterable, Optional, Union

from .errors import FormatError

HEADER_SIZE = 6
TERMINATOR = 0xFF
COUNT_UNKNOWN = 0xFFFF  # LP_HDR_NUMELE_UNKNOWN

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

Item = Union[bytes, bytearray, memoryview, int]


# ---------------------------------------------------------------------------
# shared helpers


def blob_error(kind: str, message: str, base: int, pos: int, lzf: bool,
               expected: Optional[str] = None, found: Optional[str] = None) -> FormatError:
    """A FormatError for byte ``pos`` of a blob that starts at file offset ``base``."""
    if lzf:
        return FormatError(f"{kind}: {message} (at byte {pos} of the LZF-decompressed blob)",
                           base, expected=expected, found=found)
    return FormatError(f"{kind}: {message}", base + pos, expected=expected, found=found)


def canonical_int(s: bytes) -> Optional[int]:
    """The int64 value of ``s`` if Redis would store it as an integer, else None.

    Redis's rule (lpStringToInt64 in listpack.c, string2ll in util.c, used by
    lpEncodeGetType and zipTryEncoding): optional '-', then digits with no leading
    zero (except "0" itself), no sign on zero ("-0" stays a string), no spaces,
    and the value fits in a signed 64-bit integer.
    """
    n = len(s)
    if n == 0 or n > 20:
        return None
    first = s[0]
    if 0x31 <= first <= 0x39:  # '1'..'9'
        if n > 1 and not s.isdigit():
            return None
        v = int(s)
        return v if v <= INT64_MAX else None
    if first == 0x30:  # '0'
        return 0 if n == 1 else None
    if first == 0x2D and n > 1 and 0x31 <= s[1] <= 0x39:  # '-' then '1'..'9'
        if n > 2 and not s[2:].isdigit():
            return None
        v = int(s)
        return v if v >= INT64_MIN else None
    return None


def item_as_int(item: Item) -> tuple[Optional[int], bytes]:
    """Split an item given to an encoder into (int value or None, text bytes).

    An ``int`` in the int64 range is an integer; a larger one is stored as its
    decimal text, as Redis would store that string. Bytes go through
    ``canonical_int``.
    """
    if isinstance(item, int) and not isinstance(item, bool):
        if INT64_MIN <= item <= INT64_MAX:
            return item, b""
        return None, str(item).encode("ascii")
    if isinstance(item, (bytes, bytearray, memoryview)):
        b = bytes(item)
        return canonical_int(b), b
    raise TypeError(f"blob items must be bytes or int, not {type(item).__name__}")


def _as_bytes(blob) -> bytes:
    return blob if type(blob) is bytes else bytes(blob)


# ---------------------------------------------------------------------------
# backlen


def encode_backlen(size: int) -> bytes:
    """lpEncodeBacklen: note the odd bounds (16383 already takes 3 bytes)."""
    if size <= 127:
        return bytes((size,))
    if size < 16383:
        return bytes((size >> 7, (size & 127) | 128))
    if size < 2097151:
        return bytes((size >> 14, ((size >> 7) & 127) | 128, (size & 127) | 128))
    if size < 268435455:
        return bytes((size >> 21, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128,
                      (size & 127) | 128))
    return bytes((size >> 28, ((size >> 21) & 127) | 128, ((size >> 14) & 127) | 128,
                  ((size >> 7) & 127) | 128, (size & 127) | 128))


def _backlen_size(size: int) -> int:
    if size <= 127:
        return 1
    if size < 16383:
        return 2
    if size < 2097151:
        return 3
    if size < 268435455:
        return 4
    return 5


# ---------------------------------------------------------------------------
# decoding

_KIND = "listpack"


def _check_header(data: bytes, base: int, lzf: bool) -> int:
    """Validate the header (lpValidateIntegrity, shallow part); return the header count."""
    n = len(data)
    if n < HEADER_SIZE + 1:
        raise blob_error(_KIND, "blob too short for a header and terminator", base, 0, lzf,
                         expected=f">= {HEADER_SIZE + 1} bytes", found=f"{n} bytes")
    total = int.from_bytes(data[0:4], "little")
    if total != n:
        raise blob_error(_KIND, "total-bytes header does not match the blob length", base, 0,
                         lzf, expected=str(n), found=str(total))
    if data[n - 1] != TERMINATOR:
        raise blob_error(_KIND, "last byte is not the 0xFF terminator", base, n - 1, lzf,
                         expected="0xff", found=f"0x{data[n - 1]:02x}")
    return data[4] | (data[5] << 8)


def _bad_encoding(b: int, base: int, p: int, lzf: bool) -> FormatError:
    if b == TERMINATOR:
        return blob_error(_KIND, "terminator before the end of the blob", base, p, lzf,
                          expected="an entry", found="0xff")
    return blob_error(_KIND, "invalid entry encoding byte", base, p, lzf,
                      expected="a listpack encoding", found=f"0x{b:02x}")


def listpack_decode(blob, base: int = 0, *, deep: bool = True, lzf: bool = False) -> list:
    """All elements of a listpack, in order: ``bytes`` for strings, ``int`` for integers.

    The header (total bytes, terminator) and every entry's bounds are always
    checked, so bad bytes give a FormatError, never another exception. ``deep``
    also checks each backlen and the header count, like lpValidateIntegrity(deep=1).
    """
    data = _as_bytes(blob)
    header_count = _check_header(data, base, lzf)
    last = len(data) - 1
    out: list = []
    append = out.append
    from_bytes = int.from_bytes
    p = HEADER_SIZE
    while p < last:
        b = data[p]
        if b < 0x80:  # 7-bit unsigned int
            end = p + 1
            append(b)
        elif b < 0xC0:  # 6-bit length string
            end = p + 1 + (b & 0x3F)
            append(data[p + 1:end])
        elif b < 0xE0:  # 13-bit signed int
            end = p + 2
            v = ((b & 0x1F) << 8) | data[p + 1]
            append(v - 8192 if v >= 4096 else v)
        elif b < 0xF0:  # 12-bit length string
            end = p + 2 + (((b & 0x0F) << 8) | data[p + 1])
            append(data[p + 2:end])
        elif b == 0xF0:  # 32-bit length string
            end = p + 5 + from_bytes(data[p + 1:p + 5], "little")
            append(data[p + 5:end])
        elif b == 0xF1:
            end = p + 3
            append(from_bytes(data[p + 1:end], "little", signed=True))
        elif b == 0xF2:
            end = p + 4
            append(from_bytes(data[p + 1:end], "little", signed=True))
        elif b == 0xF3:
            end = p + 5
            append(from_bytes(data[p + 1:end], "little", signed=True))
        elif b == 0xF4:
            end = p + 9
            append(from_bytes(data[p + 1:end], "little", signed=True))
        else:
            raise _bad_encoding(b, base, p, lzf)
        size = end - p
        if size <= 127:
            q = end + 1
            if q > last:
                raise _overrun(base, p, q, last, lzf)
            if deep and data[end] != size:
                raise _bad_backlen(data, base, p, end, size, lzf)
        else:
            q = end + _backlen_size(size)
            if q > last:
                raise _overrun(base, p, q, last, lzf)
            if deep and data[end:q] != encode_backlen(size):
                raise _bad_backlen(data, base, p, end, size, lzf)
        p = q
    if deep and header_count != COUNT_UNKNOWN and header_count != len(out):
        raise blob_error(_KIND, "element count in the header does not match the entries", base,
                         4, lzf, expected=str(len(out)), found=str(header_count))
    return out


# Size of encoding byte + data for the fixed-size encodings (ints), by first byte;
# 0 for strings (size from the length) and for invalid bytes (checked below).
_FIXED = bytes([1] * 0x80 + [0] * 0x40 + [2] * 0x20 + [0] * 0x10 + [0, 3, 4, 5, 9] + [0] * 11)


def listpack_validate(blob, base: int = 0, *, lzf: bool = False) -> int:
    """Deep integrity check only (lpValidateIntegrity with deep=1); returns the element
    count. ``len(listpack_decode(blob, base, deep=True, lzf=lzf))`` without building the
    elements: the same checks in the same order (header, each entry's encoding and
    bounds, each backlen, the header count), so the same FormatError on bad bytes."""
    data = _as_bytes(blob)
    header_count = _check_header(data, base, lzf)
    last = len(data) - 1
    fixed = _FIXED
    count = 0
    p = HEADER_SIZE
    while p < last:
        b = data[p]
        size = fixed[b]
        if size:
            end = p + size  # an int: an overrun is reported by the backlen check below
        elif b < 0xC0:
            end = p + 1 + (b & 0x3F)
        elif b < 0xF0:
            if b < 0xE0:
                raise _bad_encoding(b, base, p, lzf)  # pragma: no cover - fixed[] covers 0xC0-0xDF
            end = p + 2 + (((b & 0x0F) << 8) | data[p + 1])
        elif b == 0xF0:
            end = p + 5 + int.from_bytes(data[p + 1:p + 5], "little")
        else:
            raise _bad_encoding(b, base, p, lzf)
        size = end - p
        if size <= 127:
            q = end + 1
            if q > last:
                raise _overrun(base, p, q, last, lzf)
            if data[end] != size:
                raise _bad_backlen(data, base, p, end, size, lzf)
        else:
            q = end + _backlen_size(size)
            if q > last:
                raise _overrun(base, p, q, last, lzf)
            if data[end:q] != encode_backlen(size):
                raise _bad_backlen(data, base, p, end, size, lzf)
        p = q
        count += 1
    if header_count != COUNT_UNKNOWN and header_count != count:
        raise blob_error(_KIND, "element count in the header does not match the entries", base,
                         4, lzf, expected=str(count), found=str(header_count))
    return count


def _overrun(base: int, p: int, q: int, last: int, lzf: bool) -> FormatError:
    return blob_error(_KIND, "entry runs past the end of the blob", base, p, lzf,
                      expected=f"entry ending by byte {last}", found=f"entry ending at byte {q}")


def _bad_backlen(data: bytes, base: int, p: int, end: int, size: int, lzf: bool) -> FormatError:
    want = encode_backlen(size)
    return blob_error(_KIND, "backlen does not match the entry size", base, end, lzf,
                      expected=want.hex(), found=data[end:end + len(want)].hex())


def _entry_end(data: bytes, p: int) -> int:
    """End of encoding+data of the entry at ``p`` (no value built); -1 if bad encoding."""
    b = data[p]
    if b < 0x80:
        return p + 1
    if b < 0xC0:
        return p + 1 + (b & 0x3F)
    if b < 0xE0:
        return p + 2
    if b < 0xF0:
        return p + 2 + (((b & 0x0F) << 8) | data[p + 1])
    if b == 0xF0:
        return p + 5 + int.from_bytes(data[p + 1:p + 5], "little")
    if b <= 0xF4:
        return p + (0, 3, 4, 5, 9)[b - 0xF0]
    return -1


def listpack_count(blob, base: int = 0, *, lzf: bool = False) -> int:
    """Element count: the header's, or a walk over the entries when it says 65535."""
    data = _as_bytes(blob)
    header_count = _check_header(data, base, lzf)
    if header_count != COUNT_UNKNOWN:
        return header_count
    last = len(data) - 1
    count = 0
    p = HEADER_SIZE
    while p < last:
        end = _entry_end(data, p)
        if end < 0:
            raise _bad_encoding(data[p], base, p, lzf)
        q = end + _backlen_size(end - p)
        if q > last:
            raise _overrun(base, p, q, last, lzf)
        p = q
        count += 1
    return count


# ---------------------------------------------------------------------------
# encoding


def encode_int_entry(v: int) -> bytes:
    """Encoding+data of an integer element, smallest form (lpEncodeIntegerGetType)."""
    if 0 <= v <= 127:
        return bytes((v,))
    if -4096 <= v <= 4095:
        if v < 0:
            v += 8192
        return bytes((0xC0 | (v >> 8), v & 0xFF))
    if -32768 <= v <= 32767:
        return b"\xf1" + v.to_bytes(2, "little", signed=True)
    if -8388608 <= v <= 8388607:
        return b"\xf2" + v.to_bytes(3, "little", signed=True)
    if -2147483648 <= v <= 2147483647:
        return b"\xf3" + v.to_bytes(4, "little", signed=True)
    return b"\xf4" + v.to_bytes(8, "little", signed=True)


def encode_str_entry(s: bytes) -> bytes:
    """Encoding+data of a string element (lpEncodeString)."""
    n = len(s)
    if n < 64:
        return bytes((0x80 | n,)) + s
    if n < 4096:
        return bytes((0xE0 | (n >> 8), n & 0xFF)) + s
    return b"\xf0" + n.to_bytes(4, "little") + s


def encode_entry(item: Item) -> bytes:
    """One complete entry (encoding, data, backlen) as lpAppend would write it."""
    v, s = item_as_int(item)
    enc = encode_int_entry(v) if v is not None else encode_str_entry(s)
    return enc + encode_backlen(len(enc))


def entry_size(item: bytes) -> int:
    """Bytes ``encode_entry(item)`` takes, without building it (for node-size planning:
    quicklist and stream nodes split on these sizes)."""
    v = canonical_int(item) if len(item) <= 20 else None  # an int64's text is <= 20 bytes
    if v is not None:
        if 0 <= v <= 127:
            n = 1
        elif -4096 <= v <= 4095:
            n = 2
        elif -32768 <= v <= 32767:
            n = 3
        elif -8388608 <= v <= 8388607:
            n = 4
        elif -2147483648 <= v <= 2147483647:
            n = 5
        else:
            n = 9
    else:
        ln = len(item)
        n = ln + (1 if ln < 64 else 2 if ln < 4096 else 5)
    return n + _backlen_size(n)


def listpack_from_entries(entries: list[bytes], count: int) -> bytes:
    """Wrap already encoded entries in a header and terminator."""
    body = b"".join(entries)
    total = HEADER_SIZE + len(body) + 1
    if total > 0xFFFFFFFF:
        raise ValueError("listpack would exceed 4 GiB")
    return (total.to_bytes(4, "little") + min(count, COUNT_UNKNOWN).to_bytes(2, "little")
            + body + b"\xff")


_ONE_BYTE = [bytes((i,)) for i in range(256)]
_DIGIT_OR_MINUS = frozenset(b"-0123456789")


def listpack_encode(items: Iterable[Item]) -> bytes:
    """The listpack Redis builds by appending ``items`` one by one to an empty listpack.

    Strings that Redis would store as integers (``canonical_int``) are stored as
    integers, and every integer takes its smallest encoding; the header count
    stays at 65535 once the element count reaches it (lpInsert).
    """
    parts: list[bytes] = []
    append = parts.append
    one = _ONE_BYTE
    count = 0
    for item in items:
        count += 1
        if type(item) is bytes:
            n = len(item)
            # Fast path: a short string that cannot be an integer (first byte test
            # first, canonical_int only for digit/minus starts).
            if n < 64 and (n == 0 or item[0] not in _DIGIT_OR_MINUS
                           or canonical_int(item) is None):
                append(one[0x80 | n])
                append(item)
                append(one[n + 1])
                continue
        append(encode_entry(item))
    return listpack_from_entries(parts, count)
