"""HyperLogLog strings in Redis' byte layout (redis/src/hyperloglog.c).

Header: "HYLL", encoding (0 dense, 1 sparse), 3 unused bytes, 8-byte cached cardinality
(little endian; the top bit of the last byte set = cache invalid). 16384 registers of 6 bits.
Sparse opcodes: ZERO 00xxxxxx (1..64 zero registers), XZERO 01xxxxxx yyyyyyyy (1..16384),
VAL 1vvvvvxx (value 1..32 repeated 1..4 times).

Sparse strings are written from the registers in canonical form (longest runs); Redis'
in-place updates almost always give the same bytes.
"""

from __future__ import annotations

import math

P = 14
REGISTERS = 1 << P
Q = 64 - P
DENSE_SIZE = 16 + (REGISTERS * 6 + 7) // 8
SPARSE_MAX_BYTES = 3000
SPARSE_VAL_MAX = 32
_M64 = (1 << 64) - 1


def is_hll(v: bytes) -> bool:
    if len(v) < 16 or v[:4] != b"HYLL" or v[4] > 1:
        return False
    return v[4] == 1 or len(v) == DENSE_SIZE


def murmur64a(key: bytes, seed: int = 0xADC83B19) -> int:
    m = 0xC6A4A7935BD1E995
    r = 47
    n = len(key)
    h = (seed ^ (n * m)) & _M64
    end = n - (n & 7)
    for i in range(0, end, 8):
        k = int.from_bytes(key[i:i + 8], "little")
        k = (k * m) & _M64
        k ^= k >> r
        k = (k * m) & _M64
        h ^= k
        h = (h * m) & _M64
    rem = n & 7
    if rem:
        h ^= int.from_bytes(key[end:], "little")
        h = (h * m) & _M64
    h ^= h >> r
    h = (h * m) & _M64
    h ^= h >> r
    return h


def pat_len(elem: bytes) -> tuple[int, int]:
    h = murmur64a(elem)
    index = h & (REGISTERS - 1)
    h >>= P
    h |= 1 << Q
    count = 1
    while not h & 1:
        count += 1
        h >>= 1
    return index, count


def registers_of(v: bytes) -> bytearray:
    regs = bytearray(REGISTERS)
    if v[4] == 0:
        body = v[16:]
        for i in range(REGISTERS):
            pos = i * 6
            b, fb = pos >> 3, pos & 7
            b1 = body[b + 1] if b + 1 < len(body) else 0
            regs[i] = ((body[b] >> fb) | (b1 << (8 - fb))) & 63
        return regs
    i = 16
    idx = 0
    n = len(v)
    while i < n and idx < REGISTERS:
        op = v[i]
        if op & 0xC0 == 0:           # ZERO
            idx += (op & 0x3F) + 1
            i += 1
        elif op & 0xC0 == 0x40:      # XZERO
            idx += (((op & 0x3F) << 8) | v[i + 1]) + 1
            i += 2
        else:                        # VAL
            val = ((op >> 2) & 0x1F) + 1
            run = (op & 3) + 1
            regs[idx:idx + run] = bytes([val]) * run
            idx += run
            i += 1
    return regs


def _encode_sparse(regs) -> bytes | None:
    out = bytearray()
    i = 0
    while i < REGISTERS:
        v = regs[i]
        j = i + 1
        while j < REGISTERS and regs[j] == v:
            j += 1
        run = j - i
        if v == 0:
            while run:
                if run > 64:
                    n = min(run, 16384)
                    out += bytes([0x40 | ((n - 1) >> 8), (n - 1) & 0xFF])
                else:
                    n = run
                    out.append(n - 1)
                run -= n
        else:
            if v > SPARSE_VAL_MAX:
                return None
            while run:
                n = min(run, 4)
                out.append(0x80 | ((v - 1) << 2) | (n - 1))
                run -= n
        i = j
    return bytes(out)


def _encode_dense(regs) -> bytes:
    acc = 0
    for i in range(REGISTERS - 1, -1, -1):
        acc = (acc << 6) | regs[i]
    return acc.to_bytes((REGISTERS * 6 + 7) // 8, "little")


def _header(dense: bool, card: int = 0, valid: bool = False) -> bytes:
    c = bytearray(card.to_bytes(8, "little"))
    if not valid:
        c[7] |= 0x80
    return b"HYLL" + bytes([0 if dense else 1, 0, 0, 0]) + bytes(c)


def hll_new() -> bytes:
    return b"HYLL\x01\x00\x00\x00" + b"\x00" * 8 + b"\x7f\xff"


def hll_from_registers(regs, dense: bool = False) -> bytes:
    if not dense:
        sp = _encode_sparse(regs)
        if sp is not None and len(sp) + 16 <= SPARSE_MAX_BYTES:
            return _header(False) + sp
    return _header(True) + _encode_dense(regs)


def hll_add(v: bytes, elems) -> tuple[bytes, bool]:
    regs = registers_of(v)
    changed = False
    for e in elems:
        idx, count = pat_len(e)
        if count > regs[idx]:
            regs[idx] = count
            changed = True
    if not changed:
        return v, False
    return hll_from_registers(regs, dense=v[4] == 0), True


def hll_merge_registers(acc, v: bytes):
    regs = registers_of(v)
    if acc is None:
        return regs
    return bytearray(max(a, b) for a, b in zip(acc, regs))


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        zp = z
        z += x * y
        y += y
        if zp == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        zp = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if zp == z:
            return z / 3


def hll_count_registers(regs) -> int:
    hist = [0] * 64
    for r in regs:
        hist[r] += 1
    m = REGISTERS
    z = m * _tau((m - hist[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += hist[j]
        z *= 0.5
    z += m * _sigma(hist[0] / m)
    return int(round(0.5 / math.log(2) * m * m / z))


def hll_count(v: bytes) -> int:
    if not v[15] & 0x80:
        return int.from_bytes(v[8:16], "little")
    return hll_count_registers(registers_of(v))


def cache_valid(v: bytes) -> bool:
    return not v[15] & 0x80


def with_cached_count(v: bytes, card: int) -> bytes:
    """pfcountCommand stores the count in the header (valid cache)."""
    return v[:8] + card.to_bytes(8, "little") + v[16:]
