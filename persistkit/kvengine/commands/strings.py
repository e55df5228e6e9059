"""String commands (redis/src/t_string.c, bitops.c) and how each is logged to the AOF."""

from __future__ import annotations

from ..numbers import INT64_MAX, INT64_MIN, get_int, parse_int
from ..reply import NOT_INT, OK, OVERFLOW, SYNTAX, CommandError
from ..table import command
from .common import expire_arg_to_ms, ms_bytes, norm_range

MAX_STRING = 512 * 1024 * 1024
_STRING_TOO_BIG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"


def _get_str(s, key: bytes):
    return s.lookup_as(key, bytes)


@command("get", 2, "readonly fast")
def get(s, args):
    return _get_str(s, args[1])


def _parse_set_options(s, args, start: int, cmd: str):
    """SET's options: returns (nx, xx, get, keepttl, expire_ms or None, expire given as PXAT)."""
    nx = xx = want_get = keepttl = False
    expire = None
    pxat = False
    i, n = start, len(args)
    while i < n:
        o = args[i].upper()
        nxt = args[i + 1] if i + 1 < n else None
        if o == b"NX" and not xx:
            nx = True
        elif o == b"XX" and not nx:
            xx = True
        elif o == b"GET":
            want_get = True
        elif o == b"KEEPTTL" and expire is None:
            keepttl = True
        elif o in (b"EX", b"PX", b"EXAT", b"PXAT") and not keepttl and expire is None and nxt is not None:
            unit = 1000 if o in (b"EX", b"EXAT") else 1
            raw = get_int(nxt)
            if raw <= 0:
                raise CommandError(f"ERR invalid expire time in '{cmd}' command")
            expire = expire_arg_to_ms(s.now, nxt, unit, o in (b"EXAT", b"PXAT"), cmd)
            pxat = o == b"PXAT"
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    return nx, xx, want_get, keepttl, expire, pxat


def _set_generic(s, key, val, nx, xx, want_get, keepttl, expire, pxat, args):
    old = s.lookup(key)
    if want_get and old is not None and type(old) is not bytes:
        raise CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")
    if (nx and old is not None) or (xx and old is None):
        return old if want_get else None
    s.set_key(key, val, keepttl=keepttl)
    if expire is not None:
        s.db.expires[key] = expire
    s.touch()
    if expire is not None and not pxat:
        # setGenericCommand: "Propagate as SET Key Value PXAT millisecond-timestamp"
        s.propagate([b"SET", key, val, b"PXAT", ms_bytes(expire)])
    elif want_get:
        # GET is a read; what the AOF needs is the plain SET with the other options
        s.propagate([a for a in args if a.upper() != b"GET"])
    return old if want_get else OK


@command("set", -3, "write denyoom")
def set_(s, args):
    opts = _parse_set_options(s, args, 3, "set")
    return _set_generic(s, args[1], args[2], *opts, args)


@command("setnx", 3, "write denyoom fast")
def setnx(s, args):
    if s.lookup(args[1]) is not None:
        return 0
    s.set_key(args[1], args[2])
    s.touch()
    return 1


def _setex(s, args, unit: int, name: str):
    ttl = get_int(args[2])
    if ttl <= 0:
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    ms = expire_arg_to_ms(s.now, args[2], unit, False, name)
    s.set_key(args[1], args[3])
    s.db.expires[args[1]] = ms
    s.touch()
    s.propagate([b"SET", args[1], args[3], b"PXAT", ms_bytes(ms)])
    return OK


@command("setex", 4, "write denyoom")
def setex(s, args):
    return _setex(s, args, 1000, "setex")


@command("psetex", 4, "write denyoom")
def psetex(s, args):
    return _setex(s, args, 1, "psetex")


@command("getset", 3, "write denyoom fast")
def getset(s, args):
    old = _get_str(s, args[1])
    s.set_key(args[1], args[2])
    s.touch()
    s.propagate([b"SET", args[1], args[2]])  # 7.0 logs GETSET as SET
    return old


@command("getdel", 2, "write fast")
def getdel(s, args):
    old = _get_str(s, args[1])
    if old is not None:
        s.delete(args[1])
        s.touch()
        s.propagate([b"DEL", args[1]])
    return old


@command("getex", -2, "write fast")
def getex(s, args):
    key = args[1]
    expire = None
    persist = False
    i, n = 2, len(args)
    while i < n:
        o = args[i].upper()
        if o == b"PERSIST" and expire is None and not persist:
            persist = True
        elif o in (b"EX", b"PX", b"EXAT", b"PXAT") and i + 1 < n and expire is None and not persist:
            if get_int(args[i + 1]) <= 0:
                raise CommandError("ERR invalid expire time in 'getex' command")
            expire = expire_arg_to_ms(s.now, args[i + 1], 1000 if o in (b"EX", b"EXAT") else 1,
                                      o in (b"EXAT", b"PXAT"), "getex")
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    val = _get_str(s, key)
    if val is None:
        return None
    if expire is not None:
        if s.already_expired(expire):
            s.delete(key)
            s.propagate([b"DEL", key])
        else:
            s.db.expires[key] = expire
            s.propagate([b"PEXPIREAT", key, ms_bytes(expire)])
        s.touch()
    elif persist and s.db.expires.pop(key, None) is not None:
        s.touch()
        s.propagate([b"PERSIST", key])
    return val


@command("mget", -2, "readonly fast", keys=(1, -1, 1))
def mget(s, args):
    out = []
    for k in args[1:]:
        v = s.lookup(k)
        out.append(v if type(v) is bytes else None)
    return out


@command("mset", -3, "write denyoom", keys=(1, -1, 2))
def mset(s, args):
    if len(args) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'mset' command")
    for i in range(1, len(args), 2):
        s.set_key(args[i], args[i + 1])
    s.touch(len(args) // 2)
    return OK


@command("msetnx", -3, "write denyoom", keys=(1, -1, 2))
def msetnx(s, args):
    if len(args) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'msetnx' command")
    if any(s.lookup(args[i]) is not None for i in range(1, len(args), 2)):
        return 0
    for i in range(1, len(args), 2):
        s.set_key(args[i], args[i + 1])
    s.touch(len(args) // 2)
    return 1


@command("append", 3, "write denyoom fast")
def append(s, args):
    old = _get_str(s, args[1])
    new = args[2] if old is None else old + args[2]
    if len(new) > MAX_STRING:
        raise CommandError(_STRING_TOO_BIG)
    s.set_key(args[1], new, keepttl=True, encoding="raw" if old is not None else None)
    s.touch()
    return len(new)


@command("strlen", 2, "readonly fast")
def strlen(s, args):
    v = _get_str(s, args[1])
    return 0 if v is None else len(v)


@command("setrange", 4, "write denyoom")
def setrange(s, args):
    key = args[1]
    offset = get_int(args[2])
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    val = args[3]
    old = _get_str(s, key)
    if old is None:
        if not val:
            return 0
        old = b""
    elif not val:
        return len(old)
    if offset + len(val) > MAX_STRING:
        raise CommandError(_STRING_TOO_BIG)
    if len(old) < offset:
        old = old + b"\x00" * (offset - len(old))
    new = old[:offset] + val + old[offset + len(val):]
    s.set_key(key, new, keepttl=True, encoding="raw")
    s.touch()
    return len(new)


@command("getrange", 4, "readonly")
def getrange(s, args):
    start, end = get_int(args[2]), get_int(args[3])
    v = _get_str(s, args[1])
    if not v:
        return b""
    if start < 0 and end < 0 and start > end:
        return b""
    # getrangeCommand clamps a negative end to 0 (LRANGE would answer empty instead)
    n = len(v)
    if start < 0:
        start = max(0, start + n)
    if end < 0:
        end = max(0, end + n)
    end = min(end, n - 1)
    return b"" if start > end else v[start:end + 1]


command("substr", 4, "readonly")(getrange)


def _incr(s, key: bytes, delta: int):
    old = _get_str(s, key)
    if old is None:
        cur = 0
    else:
        cur = parse_int(old)
        if cur is None:
            raise CommandError(NOT_INT)
    new = cur + delta
    if new < INT64_MIN or new > INT64_MAX:
        raise CommandError(OVERFLOW)
    s.set_key(key, b"%d" % new, keepttl=True)
    s.touch()
    return new


@command("incr", 2, "write denyoom fast")
def incr(s, args):
    return _incr(s, args[1], 1)


@command("decr", 2, "write denyoom fast")
def decr(s, args):
    return _incr(s, args[1], -1)


@command("incrby", 3, "write denyoom fast")
def incrby(s, args):
    return _incr(s, args[1], get_int(args[2]))


@command("decrby", 3, "write denyoom fast")
def decrby(s, args):
    d = get_int(args[2])
    if d == INT64_MIN:
        raise CommandError("ERR decrement would overflow")
    return _incr(s, args[1], -d)


@command("incrbyfloat", 3, "write denyoom fast")
def incrbyfloat(s, args):
    from ..numbers import incr_long_double

    key = args[1]
    old = _get_str(s, key)
    text = incr_long_double(old, args[2], "ERR value is not a valid float")
    s.set_key(key, text, keepttl=True, encoding="embstr")
    s.touch()
    # Logged as SET ... KEEPTTL so that float formatting differences cannot diverge.
    s.propagate([b"SET", key, text, b"KEEPTTL"])
    return text


# -- bits -------------------------------------------------------------------------

def _bit_offset(arg: bytes) -> int:
    v = parse_int(arg)
    if v is None or v < 0 or (v >> 3) >= MAX_STRING:
        raise CommandError("ERR bit offset is not an integer or out of range")
    return v


@command("setbit", 4, "write denyoom")
def setbit(s, args):
    key = args[1]
    off = _bit_offset(args[2])
    if args[3] not in (b"0", b"1"):
        raise CommandError("ERR bit is not an integer or out of range")
    on = args[3] == b"1"
    old = _get_str(s, key)
    buf = bytearray(old or b"")
    byte = off >> 3
    if len(buf) <= byte:
        buf.extend(b"\x00" * (byte + 1 - len(buf)))
    mask = 1 << (7 - (off & 7))
    prev = 1 if buf[byte] & mask else 0
    if on:
        buf[byte] |= mask
    else:
        buf[byte] &= ~mask & 0xFF
    s.set_key(key, bytes(buf), keepttl=True, encoding="raw")
    s.touch()
    return prev


@command("getbit", 3, "readonly fast")
def getbit(s, args):
    off = _bit_offset(args[2])
    v = _get_str(s, args[1])
    byte = off >> 3
    if v is None or byte >= len(v):
        return 0
    return 1 if v[byte] & (1 << (7 - (off & 7))) else 0


@command("bitcount", -2, "readonly")
def bitcount(s, args):
    v = _get_str(s, args[1])
    if len(args) not in (2, 4, 5):
        raise CommandError(SYNTAX)
    if v is None:
        return 0
    if len(args) >= 4:
        start, end = get_int(args[2]), get_int(args[3])
        bit_mode = len(args) == 5 and args[4].upper() == b"BIT"
        if len(args) == 5 and args[4].upper() not in (b"BIT", b"BYTE"):
            raise CommandError(SYNTAX)
        n = len(v) * 8 if bit_mode else len(v)
        r = norm_range(start, end, n)
        if r is None:
            return 0
        if bit_mode:
            return sum(1 for i in range(r[0], r[1] + 1) if v[i >> 3] & (1 << (7 - (i & 7))))
        v = v[r[0]:r[1] + 1]
    return int.from_bytes(v, "big").bit_count() if v else 0
