"""Intset blobs (Redis src/intset.c, RDB type 11).

Layout: encoding u32 LE (bytes per value: 2, 4 or 8), length u32 LE, then
``length`` signed little-endian values in strictly increasing order.

An intset only ever widens (intsetUpgradeAndAdd), so a real one may be wider than
its values need: ``intset_width`` reports the stored width and ``intset_encode``
takes it back to reproduce the bytes. Errors: see listpack's module docstring.
"""

from __future__ import annotations

import struct
from typing import Iterable, Optional

from .listpack import Item, blob_error, item_as_int, _as_bytes

HEADER_SIZE = 8
_KIND = "intset"
_FORMAT = {2: "h", 4: "i", 8: "q"}


def _check_header(data: bytes, base: int, lzf: bool) -> tuple[int, int]:
    """intsetValidateIntegrity's shallow checks; returns (width, length)."""
    n = len(data)
    if n < HEADER_SIZE:
        raise blob_error(_KIND, "blob too short for a header", base, 0, lzf,
                         expected=f">= {HEADER_SIZE} bytes", found=f"{n} bytes")
    width = int.from_bytes(data[0:4], "little")
    if width not in _FORMAT:
        raise blob_error(_KIND, "invalid encoding (bytes per value)", base, 0, lzf,
                         expected="2, 4 or 8", found=str(width))
    length = int.from_bytes(data[4:8], "little")
    if HEADER_SIZE + length * width != n:
        raise blob_error(_KIND, "length does not fit the blob size", base, 4, lzf,
                         expected=f"{(n - HEADER_SIZE) / width:g} values ({n} bytes)",
                         found=f"{length} values")
    return width, length


def intset_decode(blob, base: int = 0, *, deep: bool = True, lzf: bool = False) -> list[int]:
    """The values of an intset, in stored (ascending) order.

    Header and size are always checked. ``deep`` adds the rest of
    intsetValidateIntegrity: not empty, strictly increasing (sorted, no duplicates).
    """
    data = _as_bytes(blob)
    width, length = _check_header(data, base, lzf)
    values = list(struct.unpack_from(f"<{length}{_FORMAT[width]}", data, HEADER_SIZE))
    if deep:
        if length == 0:
            raise blob_error(_KIND, "empty intset", base, 4, lzf,
                             expected="at least one value", found="0")
        prev = values[0]
        for i in range(1, length):
            cur = values[i]
            if cur <= prev:
                raise blob_error(_KIND, "values not strictly increasing", base,
                                 HEADER_SIZE + i * width, lzf,
                                 expected=f"> {prev}", found=str(cur))
            prev = cur
    return values


def intset_count(blob, base: int = 0, *, lzf: bool = False) -> int:
    """The stored length (checked against the blob size)."""
    return _check_header(_as_bytes(blob), base, lzf)[1]


def intset_width(blob, base: int = 0, *, lzf: bool = False) -> int:
    """Bytes per value as stored (2, 4 or 8): the ``width`` to re-encode it exactly."""
    return _check_header(_as_bytes(blob), base, lzf)[0]


def intset_validate(blob, base: int = 0, *, lzf: bool = False) -> None:
    """Deep integrity check only (intsetValidateIntegrity with deep=1)."""
    intset_decode(blob, base, deep=True, lzf=lzf)


def value_width(v: int) -> int:
    """_intsetValueEncoding: the smallest width that holds ``v``."""
    if v < -2147483648 or v > 2147483647:
        return 8
    if v < -32768 or v > 32767:
        return 4
    return 2


def intset_encode(values: Iterable[Item], width: Optional[int] = None) -> bytes:
    """The intset holding ``values`` (sorted; duplicates dropped, as intsetAdd does).

    The width is the smallest that holds every value (an empty intset is 16-bit,
    like intsetNew), unless ``width`` is given: a real intset never narrows, so a
    stored width is passed back to reproduce its bytes.
    """
    ints = set()
    for item in values:
        v, _ = item_as_int(item)
        if v is None:
            raise ValueError(f"intset value is not a 64-bit integer: {item!r}")
        ints.add(v)
    ordered = sorted(ints)
    need = 2
    if ordered:
        need = max(value_width(ordered[0]), value_width(ordered[-1]))
    if width is None:
        width = need
    elif width not in _FORMAT or width < need:
        raise ValueError(f"intset width {width} cannot hold these values (needs {need})")
    return (width.to_bytes(4, "little") + len(ordered).to_bytes(4, "little")
            + struct.pack(f"<{len(ordered)}{_FORMAT[width]}", *ordered))
