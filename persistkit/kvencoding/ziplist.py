"""Ziplist blobs (Redis src/ziplist.c, RDB types 10, 12, 13 and the nodes of type 14).

Layout: zlbytes u32 LE, zltail u32 LE (offset of the last entry), zllen u16 LE
(65535 = "count them"), entries, 0xFF. An entry is prevlen (1 byte if < 254, else
0xFE + u32 LE), an encoding header, then data:

=================  ===================================================
``00pppppp``       string, length in 6 bits
``01pppppp q``     string, 14-bit length, big-endian
``10______ 4B``    string, 32-bit big-endian length (low bits ignored)
``11000000``       int16 LE      ``11010000`` int32 LE   ``11100000`` int64 LE
``11110000``       int24 LE      ``11111110`` int8
``1111xxxx``       xxxx in 0001..1101: the value xxxx - 1 (0..12)
=================  ===================================================

Decoded elements are ``bytes`` or ``int``. Errors: see listpack's module docstring
(``base``, ``lzf``).

A prevlen may legitimately be wider than needed (Redis grows prevlen fields in
__ziplistCascadeUpdate and never shrinks them), so validation checks the stored
prevlen value, not its width, like ziplistValidateIntegrity.
"""

from __future__ import annotations

from typing import Collection, Iterable, Optional

from .listpack import Item, blob_error, item_as_int, _as_bytes

HEADER_SIZE = 10
TERMINATOR = 0xFF
BIG_PREVLEN = 0xFE  # ZIP_BIG_PREVLEN
COUNT_UNKNOWN = 0xFFFF

_KIND = "ziplist"

# Integer encodings -> payload size (ZIP_INT_*); 4-bit immediates handled apart.
_INT_SIZES = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}


def _check_header(data: bytes, base: int, lzf: bool) -> tuple[int, int]:
    """Shallow checks of ziplistValidateIntegrity; returns (zltail, zllen)."""
    n = len(data)
    if n < HEADER_SIZE + 1:
        raise blob_error(_KIND, "blob too short for a header and terminator", base, 0, lzf,
                         expected=f">= {HEADER_SIZE + 1} bytes", found=f"{n} bytes")
    total = int.from_bytes(data[0:4], "little")
    if total != n:
        raise blob_error(_KIND, "zlbytes header does not match the blob length", base, 0, lzf,
                         expected=str(n), found=str(total))
    if data[n - 1] != TERMINATOR:
        raise blob_error(_KIND, "last byte is not the 0xFF terminator", base, n - 1, lzf,
                         expected="0xff", found=f"0x{data[n - 1]:02x}")
    tail = int.from_bytes(data[4:8], "little")
    if tail > n - 1:
        raise blob_error(_KIND, "zltail points outside the blob", base, 4, lzf,
                         expected=f"<= {n - 1}", found=str(tail))
    return tail, data[8] | (data[9] << 8)


def _overrun(base, p, end, last, lzf):
    return blob_error(_KIND, "entry runs past the end of the blob", base, p, lzf,
                      expected=f"entry ending by byte {last}", found=f"entry ending at byte {end}")


def ziplist_decode(blob, base: int = 0, *, deep: bool = True, lzf: bool = False) -> list:
    """All elements of a ziplist in order: ``bytes`` for strings, ``int`` for integers.

    Header, entry encodings and entry bounds are always checked (bad bytes give
    a FormatError). ``deep`` adds the rest of ziplistValidateIntegrity: each
    prevlen equals the previous entry's size, zltail points at the last entry,
    and zllen (unless 65535) equals the number of entries.
    """
    data = _as_bytes(blob)
    tail, header_count = _check_header(data, base, lzf)
    last = len(data) - 1
    out: list = []
    append = out.append
    from_bytes = int.from_bytes
    p = HEADER_SIZE
    prev_size = 0
    prev_start = -1
    while p < last:
        b = data[p]
        if b < BIG_PREVLEN:
            prevlen = b
            h = p + 1
        elif b == BIG_PREVLEN:
            prevlen = from_bytes(data[p + 1:p + 5], "little")
            h = p + 5
        else:
            raise blob_error(_KIND, "terminator before the end of the blob", base, p, lzf,
                             expected="an entry", found="0xff")
        if h >= last:
            raise _overrun(base, p, h + 1, last, lzf)
        if deep and prevlen != prev_size:
            raise blob_error(_KIND, "prevlen does not match the previous entry's size", base, p,
                             lzf, expected=str(prev_size), found=str(prevlen))
        e = data[h]
        if e < 0x40:
            start = h + 1
            end = start + e
            append(data[start:end])
        elif e < 0x80:
            start = h + 2
            end = start + (((e & 0x3F) << 8) | data[h + 1])
            append(data[start:end])
        elif e < 0xC0:
            # ZIP_ENTRY_ENCODING masks the low 6 bits away: any 10xxxxxx is ZIP_STR_32B.
            start = h + 5
            end = start + from_bytes(data[h + 1:h + 5], "big")
            append(data[start:end])
        elif 0xF1 <= e <= 0xFD:
            end = h + 1
            append((e & 0x0F) - 1)
        else:
            size = _INT_SIZES.get(e)
            if size is None:
                raise blob_error(_KIND, "invalid entry encoding byte", base, h, lzf,
                                 expected="a ziplist encoding", found=f"0x{e:02x}")
            end = h + 1 + size
            append(from_bytes(data[h + 1:end], "little", signed=True))
        if end > last:
            raise _overrun(base, p, end, last, lzf)
        prev_size = end - p
        prev_start = p
        p = end
    if deep:
        if prev_start >= 0 and prev_start != tail:
            raise blob_error(_KIND, "zltail does not point at the last entry", base, 4, lzf,
                             expected=str(prev_start), found=str(tail))
        if header_count != COUNT_UNKNOWN and header_count != len(out):
            raise blob_error(_KIND, "zllen does not match the number of entries", base, 8, lzf,
                             expected=str(len(out)), found=str(header_count))
    return out


def ziplist_check(blob, base: int = 0, *, lzf: bool = False) -> int:
    """``len(ziplist_decode(blob, base, deep=True, lzf=lzf))`` without building the
    elements (verify): the same checks in the same order, the same FormatErrors."""
    data = _as_bytes(blob)
    tail, header_count = _check_header(data, base, lzf)
    last = len(data) - 1
    from_bytes = int.from_bytes
    int_sizes = _INT_SIZES
    count = 0
    p = HEADER_SIZE
    prev_size = 0
    prev_start = -1
    while p < last:
        b = data[p]
        if b < BIG_PREVLEN:
            prevlen = b
            h = p + 1
        elif b == BIG_PREVLEN:
            prevlen = from_bytes(data[p + 1:p + 5], "little")
            h = p + 5
        else:
            raise blob_error(_KIND, "terminator before the end of the blob", base, p, lzf,
                             expected="an entry", found="0xff")
        if h >= last:
            raise _overrun(base, p, h + 1, last, lzf)
        if prevlen != prev_size:
            raise blob_error(_KIND, "prevlen does not match the previous entry's size", base, p,
                             lzf, expected=str(prev_size), found=str(prevlen))
        e = data[h]
        if e < 0x40:
            end = h + 1 + e
        elif e < 0x80:
            end = h + 2 + (((e & 0x3F) << 8) | data[h + 1])
        elif e < 0xC0:
            end = h + 5 + from_bytes(data[h + 1:h + 5], "big")
        elif 0xF1 <= e <= 0xFD:
            end = h + 1
        else:
            size = int_sizes.get(e)
            if size is None:
                raise blob_error(_KIND, "invalid entry encoding byte", base, h, lzf,
                                 expected="a ziplist encoding", found=f"0x{e:02x}")
            end = h + 1 + size
        if end > last:
            raise _overrun(base, p, end, last, lzf)
        prev_size = end - p
        prev_start = p
        p = end
        count += 1
    if prev_start >= 0 and prev_start != tail:
        raise blob_error(_KIND, "zltail does not point at the last entry", base, 4, lzf,
                         expected=str(prev_start), found=str(tail))
    if header_count != COUNT_UNKNOWN and header_count != count:
        raise blob_error(_KIND, "zllen does not match the number of entries", base, 8, lzf,
                         expected=str(count), found=str(header_count))
    return count


def ziplist_count(blob, base: int = 0, *, lzf: bool = False) -> int:
    """Element count: zllen, or a walk over the entries when it says 65535."""
    data = _as_bytes(blob)
    _, header_count = _check_header(data, base, lzf)
    if header_count != COUNT_UNKNOWN:
        return header_count
    return len(ziplist_decode(data, base, deep=False, lzf=lzf))


def ziplist_wide_prevlens(blob, base: int = 0, *, lzf: bool = False) -> set[int]:
    """Indexes of the entries whose prevlen takes 5 bytes though 1 would hold it.

    Together with the decoded items this is all ``ziplist_encode`` needs to give
    back the exact bytes of any valid ziplist written by Redis 2.6 or later.
    """
    data = _as_bytes(blob)
    ziplist_decode(data, base, deep=True, lzf=lzf)  # every bound below is checked
    last = len(data) - 1
    wide = set()
    p = HEADER_SIZE
    index = 0
    while p < last:
        if data[p] == BIG_PREVLEN:
            if int.from_bytes(data[p + 1:p + 5], "little") < BIG_PREVLEN:
                wide.add(index)
            h = p + 5
        else:
            h = p + 1
        e = data[h]
        if e < 0x40:
            p = h + 1 + e
        elif e < 0x80:
            p = h + 2 + (((e & 0x3F) << 8) | data[h + 1])
        elif e < 0xC0:
            p = h + 5 + int.from_bytes(data[h + 1:h + 5], "big")
        elif 0xF1 <= e <= 0xFD:
            p = h + 1
        else:
            p = h + 1 + _INT_SIZES[e]
        index += 1
    return wide


def ziplist_validate(blob, base: int = 0, *, lzf: bool = False) -> None:
    """Deep integrity check only (ziplistValidateIntegrity with deep=1)."""
    ziplist_decode(blob, base, deep=True, lzf=lzf)


# ---------------------------------------------------------------------------
# encoding


def _int_payload(v: int) -> bytes:
    """Encoding byte + data of an integer entry (zipTryEncoding's smallest fit)."""
    if 0 <= v <= 12:
        return bytes((0xF1 + v,))
    if -128 <= v <= 127:
        return b"\xfe" + v.to_bytes(1, "little", signed=True)
    if -32768 <= v <= 32767:
        return b"\xc0" + v.to_bytes(2, "little", signed=True)
    if -8388608 <= v <= 8388607:
        return b"\xf0" + v.to_bytes(3, "little", signed=True)
    if -2147483648 <= v <= 2147483647:
        return b"\xd0" + v.to_bytes(4, "little", signed=True)
    return b"\xe0" + v.to_bytes(8, "little", signed=True)


def _str_payload(s: bytes) -> bytes:
    """Encoding header + data of a string entry (zipStoreEntryEncoding)."""
    n = len(s)
    if n <= 0x3F:
        return bytes((n,)) + s
    if n <= 0x3FFF:
        return bytes((0x40 | (n >> 8), n & 0xFF)) + s
    return b"\x80" + n.to_bytes(4, "big") + s


def _legacy_int_payload(v: int) -> bytes:
    """Redis before 2.6 knew only the int16/int32/int64 encodings."""
    if -32768 <= v <= 32767:
        return b"\xc0" + v.to_bytes(2, "little", signed=True)
    if -2147483648 <= v <= 2147483647:
        return b"\xd0" + v.to_bytes(4, "little", signed=True)
    return b"\xe0" + v.to_bytes(8, "little", signed=True)


def entry_size(item: bytes, prev: int) -> int:
    """Bytes a tail push of ``item`` takes after an entry of ``prev`` bytes, as
    ``ziplist_encode`` would write it, without building it (node-size planning)."""
    v, _ = item_as_int(item)
    if v is not None:
        n = len(_int_payload(v))
    else:
        ln = len(item)
        n = ln + (1 if ln <= 0x3F else 2 if ln <= 0x3FFF else 5)
    return n + (1 if prev < 254 else 5)


def ziplist_encode(items: Iterable[Item], *, legacy_ints: bool = False,
                   wide_prevlen: Optional[Collection[int]] = None) -> bytes:
    """The ziplist Redis builds by pushing ``items`` one by one at the tail.

    Integer-looking strings become integers (zipTryEncoding); every prevlen takes
    its minimal width, which is what tail pushes produce. A ziplist that lived
    through deletions or inserts may hold wider prevlens (__ziplistCascadeUpdate
    and the "forcelarge" insert never shrink one): ``wide_prevlen`` names the
    entry indexes whose prevlen is stored in 5 bytes anyway, as
    ``ziplist_wide_prevlens`` reads them from a blob.

    ``legacy_ints`` reproduces ziplists written by Redis 2.4 and older, whose
    zipTryEncoding had no 4-bit immediate, int8 or int24 encodings.
    """
    int_payload = _legacy_int_payload if legacy_ints else _int_payload
    wide = wide_prevlen or ()
    parts = []
    pos = HEADER_SIZE
    tail = HEADER_SIZE
    prevlen = 0
    count = 0
    for item in items:
        v, s = item_as_int(item)
        payload = int_payload(v) if v is not None else _str_payload(s)
        if prevlen < BIG_PREVLEN and count not in wide:
            prefix = bytes((prevlen,))
        else:
            prefix = b"\xfe" + prevlen.to_bytes(4, "little")
        parts.append(prefix)
        parts.append(payload)
        prevlen = len(prefix) + len(payload)
        tail = pos
        pos += prevlen
        count += 1
    total = pos + 1
    if total > 0xFFFFFFFF:
        raise ValueError("ziplist would exceed 4 GiB")
    return (total.to_bytes(4, "little") + tail.to_bytes(4, "little")
            + min(count, COUNT_UNKNOWN).to_bytes(2, "little") + b"".join(parts) + b"\xff")
