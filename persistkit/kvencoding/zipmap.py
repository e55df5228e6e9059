"""Zipmap blobs (Redis src/zipmap.c, RDB type 9: hashes written by Redis < 2.6).

Layout: zmlen (1 byte: the pair count while below 254; 254 means "count them"),
then per pair: key length, key, value length, one "free" byte, value, ``free``
unused bytes; 0xFF ends. A length is 1 byte when < 254, else 254 + u32 LE.

Decoded as a list of ``(key, value)`` byte pairs (zipmaps hold no integer
encodings). Errors: see listpack's module docstring.
"""

from __future__ import annotations

from typing import Iterable

from .listpack import Item, blob_error, item_as_int, _as_bytes

BIGLEN = 254  # ZIPMAP_BIGLEN
TERMINATOR = 0xFF
_KIND = "zipmap"


def _check_header(data: bytes, base: int, lzf: bool) -> None:
    n = len(data)
    if n < 2:
        raise blob_error(_KIND, "blob too short for a header and terminator", base, 0, lzf,
                         expected=">= 2 bytes", found=f"{n} bytes")
    if data[n - 1] != TERMINATOR:
        raise blob_error(_KIND, "last byte is not the 0xFF terminator", base, n - 1, lzf,
                         expected="0xff", found=f"0x{data[n - 1]:02x}")


def zipmap_decode(blob, base: int = 0, *, deep: bool = True,
                  lzf: bool = False) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of a zipmap, in stored order.

    Bounds are always checked; ``deep`` adds the rest of zipmapValidateIntegrity:
    at least one pair, and zmlen equal to the pair count unless it is 254.
    """
    data = _as_bytes(blob)
    _check_header(data, base, lzf)
    last = len(data) - 1
    from_bytes = int.from_bytes
    pairs = []
    p = 1
    while p < last:
        start = p
        b = data[p]
        if b < BIGLEN:
            p += 1
        elif b == BIGLEN:
            b = from_bytes(data[p + 1:p + 5], "little")
            p += 5
        else:
            raise blob_error(_KIND, "terminator before the end of the blob", base, p, lzf,
                             expected="a key length", found="0xff")
        key = data[p:p + b]
        p += b
        if p >= last:
            raise _overrun(base, start, p, last, lzf)
        # zipmapDecodeLength reads any byte >= 254 as "4-byte length follows".
        b = data[p]
        if b < BIGLEN:
            p += 1
        else:
            b = from_bytes(data[p + 1:p + 5], "little")
            p += 5
        if p >= last:
            raise _overrun(base, start, p, last, lzf)
        free = data[p]
        p += 1
        value = data[p:p + b]
        p += b + free
        if p > last:
            raise _overrun(base, start, p, last, lzf)
        pairs.append((key, value))
    if deep:
        if not pairs:
            raise blob_error(_KIND, "empty zipmap", base, 0, lzf,
                             expected="at least one pair", found="0")
        if data[0] != BIGLEN and data[0] != len(pairs):
            raise blob_error(_KIND, "zmlen does not match the number of pairs", base, 0, lzf,
                             expected=str(len(pairs)), found=str(data[0]))
    return pairs


def _overrun(base, start, p, last, lzf):
    return blob_error(_KIND, "pair runs past the end of the blob", base, start, lzf,
                      expected=f"pair ending by byte {last}", found=f"pair ending at byte {p}")


def zipmap_count(blob, base: int = 0, *, lzf: bool = False) -> int:
    """Pair count: zmlen, or a walk when it says 254 (or more)."""
    data = _as_bytes(blob)
    _check_header(data, base, lzf)
    if data[0] < BIGLEN:
        return data[0]
    return len(zipmap_decode(data, base, deep=False, lzf=lzf))


def zipmap_validate(blob, base: int = 0, *, lzf: bool = False) -> None:
    """Deep integrity check only (zipmapValidateIntegrity with deep=1)."""
    zipmap_decode(blob, base, deep=True, lzf=lzf)


def _encode_len(n: int) -> bytes:
    if n < BIGLEN:
        return bytes((n,))
    return b"\xfe" + n.to_bytes(4, "little")


def _text(item: Item) -> bytes:
    v, s = item_as_int(item)
    if v is not None and isinstance(item, int):
        return str(v).encode("ascii")
    return s


def zipmap_encode(pairs: Iterable[tuple[Item, Item]]) -> bytes:
    """The zipmap zipmapSet builds from scratch: pairs in order, free bytes 0.

    zmlen counts up to 254 and stays there (zipmapSet only increments it while
    below ZIPMAP_BIGLEN). Keys must be distinct: setting an existing key would
    rewrite it in place, which is not "from scratch".
    """
    parts = []
    seen = set()
    for key, value in pairs:
        k = _text(key)
        if k in seen:
            raise ValueError(f"duplicate zipmap key {k!r}")
        seen.add(k)
        v = _text(value)
        parts += (_encode_len(len(k)), k, _encode_len(len(v)), b"\x00", v)
    return bytes((min(len(seen), BIGLEN),)) + b"".join(parts) + b"\xff"
