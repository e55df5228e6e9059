"""CRC64 as Redis computes it (Jones polynomial, reflected, init 0, no final xor).

anycrc's ``CRC64-REDIS`` model is table-driven C, far faster than a Python loop
on multi-GB files; it is incremental: ``crc64(b, crc64(a)) == crc64(a + b)``.
"""

from __future__ import annotations

import anycrc

_MODEL = anycrc.Model("CRC64-REDIS")


def crc64(data, crc: int = 0) -> int:
    """CRC64 of ``data`` (bytes-like), continuing from ``crc``."""
    return _MODEL.calc(data, crc) if crc else _MODEL.calc(data)


class CRC64:
    """Incremental CRC64: ``update`` with pieces, read ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def update(self, data) -> "CRC64":
        self.value = crc64(data, self.value)
        return self
