"""BITOP, BITPOS and BITFIELD (redis/src/bitops.c). SETBIT/GETBIT/BITCOUNT live with the
strings. BITOP and a writing BITFIELD are logged as sent."""

from __future__ import annotations

from ..numbers import get_int, parse_int
from ..reply import SYNTAX, WRONGTYPE, CommandError
from ..table import command
from .common import norm_range

MAX_STRING = 512 * 1024 * 1024


def _str(s, key):
    v = s.lookup(key)
    if v is not None and type(v) is not bytes:
        raise CommandError(WRONGTYPE)
    return v


@command("bitop", -4, "write denyoom", keys=(2, -1, 1))
def bitop(s, args):
    op = args[1].upper()
    if op not in (b"AND", b"OR", b"XOR", b"NOT"):
        raise CommandError(SYNTAX)
    if op == b"NOT" and len(args) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    srcs = [_str(s, k) or b"" for k in args[3:]]
    n = max((len(x) for x in srcs), default=0)
    if n == 0:
        if s.delete(args[2]):
            s.touch()
        return 0
    ints = [int.from_bytes(x.ljust(n, b"\0"), "big") for x in srcs]
    if op == b"NOT":
        r = ~ints[0] & ((1 << (8 * n)) - 1)
    else:
        r = ints[0]
        for v in ints[1:]:
            r = r & v if op == b"AND" else (r | v if op == b"OR" else r ^ v)
    s.set_key(args[2], r.to_bytes(n, "big"), encoding="raw")
    s.touch()
    return n


@command("bitpos", -3, "readonly")
def bitpos(s, args):
    bit = get_int(args[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    v = _str(s, args[1])
    bit_mode = len(args) == 6 and args[5].upper() == b"BIT"
    if len(args) == 6 and args[5].upper() not in (b"BIT", b"BYTE"):
        raise CommandError(SYNTAX)
    if len(args) > 6:
        raise CommandError(SYNTAX)
    if v is None:
        return -1 if bit else 0
    end_given = len(args) >= 5
    nbits = len(v) * 8
    unit = 1 if bit_mode else 8
    start = get_int(args[3]) if len(args) >= 4 else 0
    end = get_int(args[4]) if end_given else (nbits // unit) - 1
    r = norm_range(start, end, nbits // unit)
    if r is None:
        return -1
    lo, hi = r[0] * unit, r[1] * unit + unit - 1
    for i in range(lo, hi + 1):
        if ((v[i >> 3] >> (7 - (i & 7))) & 1) == bit:
            return i
    # looking for a clear bit with no end given: the string is padded with zeros
    return hi + 1 if bit == 0 and not end_given else -1


def _bf_type(b: bytes):
    if len(b) < 2 or b[:1] not in (b"i", b"u"):
        raise CommandError("ERR Invalid bitfield type. Use something like i16 u8. "
                           "Note that u64 is not supported but i64 is.")
    signed = b[:1] == b"i"
    bits = parse_int(b[1:])
    if bits is None or bits < 1 or (signed and bits > 64) or (not signed and bits > 63):
        raise CommandError("ERR Invalid bitfield type. Use something like i16 u8. "
                           "Note that u64 is not supported but i64 is.")
    return signed, bits


def _bf_offset(b: bytes, bits: int) -> int:
    mult = b[:1] == b"#"
    v = parse_int(b[1:] if mult else b)
    if v is None or v < 0:
        raise CommandError("ERR bit offset is not an integer or out of range")
    off = v * bits if mult else v
    if (off >> 3) >= MAX_STRING:
        raise CommandError("ERR bit offset is not an integer or out of range")
    return off


def _get_bits(buf: bytearray, off: int, bits: int) -> int:
    v = 0
    for i in range(off, off + bits):
        byte = i >> 3
        bit = (buf[byte] >> (7 - (i & 7))) & 1 if byte < len(buf) else 0
        v = (v << 1) | bit
    return v


def _set_bits(buf: bytearray, off: int, bits: int, value: int) -> None:
    need = (off + bits + 7) >> 3
    if len(buf) < need:
        buf.extend(b"\0" * (need - len(buf)))
    for j in range(bits):
        i = off + j
        bit = (value >> (bits - 1 - j)) & 1
        mask = 1 << (7 - (i & 7))
        if bit:
            buf[i >> 3] |= mask
        else:
            buf[i >> 3] &= ~mask & 0xFF


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def _bitfield(s, args, readonly: bool):
    key = args[1]
    ops = []
    overflow = b"WRAP"
    i = 2
    while i < len(args):
        o = args[i].upper()
        left = len(args) - i - 1
        if o == b"GET" and left >= 2:
            ops.append(("get", *_bf_type(args[i + 1]), args[i + 2], None, overflow))
            i += 3
        elif o in (b"SET", b"INCRBY") and left >= 3 and not readonly:
            signed, bits = _bf_type(args[i + 1])
            val = parse_int(args[i + 3])
            if val is None:
                raise CommandError("ERR value is not an integer or out of range")
            ops.append((o.decode().lower(), signed, bits, args[i + 2], val, overflow))
            i += 4
        elif o == b"OVERFLOW" and left >= 1 and not readonly:
            overflow = args[i + 1].upper()
            if overflow not in (b"WRAP", b"SAT", b"FAIL"):
                raise CommandError("ERR Invalid OVERFLOW type specified")
            i += 2
        elif readonly and o in (b"SET", b"INCRBY", b"OVERFLOW"):
            raise CommandError("ERR BITFIELD_RO only supports the GET subcommand")
        else:
            raise CommandError(SYNTAX)
    ops = [(kind, signed, bits, _bf_offset(off, bits), val, ovf) for kind, signed, bits, off, val, ovf in ops]
    cur = _str(s, key)
    buf = bytearray(cur or b"")
    out = []
    changed = False
    for kind, signed, bits, off, val, ovf in ops:
        raw = _get_bits(buf, off, bits)
        old = _signed(raw, bits) if signed else raw
        if kind == "get":
            out.append(old)
            continue
        lo, hi = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1))
        new = old + val if kind == "incrby" else val
        if new < lo or new > hi:
            if ovf == b"FAIL":
                out.append(None)
                continue
            if ovf == b"SAT":
                new = hi if new > hi else lo
            else:
                new &= (1 << bits) - 1
                if signed:
                    new = _signed(new, bits)
        _set_bits(buf, off, bits, new & ((1 << bits) - 1))
        changed = True
        out.append(old if kind == "set" else new)
    if changed:
        s.set_key(key, bytes(buf), keepttl=True, encoding="raw")
        s.touch()
    return out


@command("bitfield", -2, "write denyoom")
def bitfield(s, args):
    return _bitfield(s, args, False)


@command("bitfield_ro", -2, "readonly fast")
def bitfield_ro(s, args):
    return _bitfield(s, args, True)
