"""Hash commands (redis/src/t_hash.c), field TTLs included (HEXPIRE family, Redis 7.4;
HSETEX as Valkey 9 / Redis 8 log it)."""

from __future__ import annotations

import random

from ..numbers import INT64_MAX, INT64_MIN, get_int, parse_int
from ..reply import OK, OVERFLOW, SYNTAX, CommandError, Map, Pairs
from ..table import command
from ..values import Hash
from .common import expire_arg_to_ms, ms_bytes


def _hash(s, key):
    h = s.lookup_as(key, Hash)
    if h is not None and h.fexp and s.ks.expiry_enabled:
        s.ks.expire_hash_fields(s.db, key, h, s.now)
        if key not in s.db.data:
            return None
    return h


def _hash_create(s, key):
    h = _hash(s, key)
    if h is None:
        h = Hash()
        s.set_key(key, h)
    return h


def _drop_if_empty(s, key, h):
    if not h:
        s.delete(key)


def _hset_pairs(s, args, start):
    if (len(args) - start) % 2 or len(args) == start:
        raise CommandError(f"ERR wrong number of arguments for '{args[0].decode('utf-8', 'replace').lower()}' command")
    h = _hash_create(s, args[1])
    created = 0
    fexp = h.fexp
    for i in range(start, len(args), 2):
        f = args[i]
        if f not in h:
            created += 1
        h[f] = args[i + 1]
        if fexp:
            fexp.pop(f, None)  # a plain HSET clears the field's TTL
    s.touch((len(args) - start) // 2)
    return created


@command("hset", -4, "write denyoom fast")
def hset(s, args):
    return _hset_pairs(s, args, 2)


@command("hmset", -4, "write denyoom fast")
def hmset(s, args):
    _hset_pairs(s, args, 2)
    return OK


@command("hsetnx", 4, "write denyoom fast")
def hsetnx(s, args):
    h = _hash(s, args[1])
    if h is not None and args[2] in h:
        return 0
    h = _hash_create(s, args[1])
    h[args[2]] = args[3]
    s.touch()
    return 1


@command("hget", 3, "readonly fast")
def hget(s, args):
    h = _hash(s, args[1])
    return None if h is None else h.get(args[2])


@command("hmget", -3, "readonly fast")
def hmget(s, args):
    h = _hash(s, args[1])
    if h is None:
        return [None] * (len(args) - 2)
    return [h.get(f) for f in args[2:]]


@command("hdel", -3, "write fast")
def hdel(s, args):
    key = args[1]
    h = _hash(s, key)
    if h is None:
        return 0
    n = 0
    for f in args[2:]:
        if f in h:
            del h[f]
            h.fexp.pop(f, None)
            n += 1
    if n:
        _drop_if_empty(s, key, h)
        s.touch(n)
    return n


@command("hlen", 2, "readonly fast")
def hlen(s, args):
    h = _hash(s, args[1])
    return 0 if h is None else len(h)


@command("hstrlen", 3, "readonly fast")
def hstrlen(s, args):
    h = _hash(s, args[1])
    v = None if h is None else h.get(args[2])
    return 0 if v is None else len(v)


@command("hexists", 3, "readonly fast")
def hexists(s, args):
    h = _hash(s, args[1])
    return int(h is not None and args[2] in h)


@command("hgetall", 2, "readonly")
def hgetall(s, args):
    h = _hash(s, args[1])
    if h is None:
        return Map()
    out = Map()
    for f, v in h.items():
        out.append(f)
        out.append(v)
    return out


@command("hkeys", 2, "readonly")
def hkeys(s, args):
    h = _hash(s, args[1])
    return [] if h is None else list(h.keys())


@command("hvals", 2, "readonly")
def hvals(s, args):
    h = _hash(s, args[1])
    return [] if h is None else list(h.values())


@command("hincrby", 4, "write denyoom fast")
def hincrby(s, args):
    delta = get_int(args[3])
    h = _hash_create(s, args[1])
    old = h.get(args[2])
    cur = 0
    if old is not None:
        cur = parse_int(old)
        if cur is None:
            raise CommandError("ERR hash value is not an integer")
    new = cur + delta
    if new < INT64_MIN or new > INT64_MAX:
        raise CommandError(OVERFLOW)
    h[args[2]] = b"%d" % new
    s.touch()
    return new


@command("hincrbyfloat", 4, "write denyoom fast")
def hincrbyfloat(s, args):
    from ..numbers import incr_long_double, is_inf_literal, parse_long_double

    if parse_long_double(args[3]) is None:    # the increment is checked before the key
        if is_inf_literal(args[3]):
            raise CommandError("ERR value is NaN or Infinity")
        raise CommandError("ERR value is not a valid float")
    h = _hash(s, args[1])
    text = incr_long_double(None if h is None else h.get(args[2]), args[3], "ERR hash value is not a float")
    h = _hash_create(s, args[1])
    h[args[2]] = text
    s.touch()
    s.propagate([b"HSET", args[1], args[2], text])
    return text


@command("hrandfield", -2, "readonly")
def hrandfield(s, args):
    h = _hash(s, args[1])
    if len(args) == 2:
        return None if not h else random.choice(list(h))
    count = get_int(args[2])
    withvalues = len(args) == 4 and args[3].upper() == b"WITHVALUES"
    if len(args) > 4 or (len(args) == 4 and not withvalues):
        raise CommandError(SYNTAX)
    if not h:
        return []
    fields = list(h)
    picked = random.sample(fields, min(count, len(fields))) if count >= 0 else \
        [random.choice(fields) for _ in range(-count)]
    if withvalues:
        return Pairs((f, h[f]) for f in picked)
    return picked


@command("hscan", -3, "readonly")
def hscan(s, args):
    from .keys import parse_cursor, parse_scan_opts
    from ..glob import glob_match

    cursor = parse_cursor(args[2])
    pattern, count, _ = parse_scan_opts(args, 3)
    h = _hash(s, args[1])
    if h is None:
        return [b"0", []]
    items = list(h.items())
    batch = items[cursor:cursor + count]
    nxt = cursor + count if cursor + count < len(items) else 0
    out = []
    for f, v in batch:
        if pattern is None or glob_match(pattern, f):
            out += [f, v]
    return [b"%d" % nxt, out]


# -- field TTLs -----------------------------------------------------------------------

def _fields_arg(args, i: int, name: str) -> list[bytes]:
    if i >= len(args) or args[i].upper() != b"FIELDS":
        raise CommandError(f"ERR Mandatory argument FIELDS is missing or not at the right position")
    if i + 1 >= len(args):
        raise CommandError(f"ERR wrong number of arguments for '{name}' command")
    n = parse_int(args[i + 1])
    if n is None or n <= 0:
        raise CommandError("ERR Parameter `numFields` should be greater than 0")
    fields = args[i + 2:]
    if len(fields) != n:
        raise CommandError("ERR The `numfields` parameter must match the number of arguments")
    return fields


def _hexpire(s, args, unit: int, absolute: bool, name: str):
    key = args[1]
    when = expire_arg_to_ms(s.now, args[2], unit, absolute, name)
    if when < 0:
        raise CommandError(f"ERR invalid expire time, must be >= 0")
    i = 3
    cond = None
    if i < len(args) and args[i].upper() in (b"NX", b"XX", b"GT", b"LT"):
        cond = args[i].upper()
        i += 1
    fields = _fields_arg(args, i, name)
    h = _hash(s, key)
    if h is None:
        return [-2] * len(fields)
    out, setf, delf = [], [], []
    for f in fields:
        if f not in h:
            out.append(-2)
            continue
        cur = h.fexp.get(f)
        if (cond == b"NX" and cur is not None) or (cond == b"XX" and cur is None) or \
                (cond == b"GT" and (cur is None or when <= cur)) or \
                (cond == b"LT" and cur is not None and when >= cur):
            out.append(0)
            continue
        if s.already_expired(when):
            del h[f]
            h.fexp.pop(f, None)
            delf.append(f)
            out.append(2)
        else:
            h.fexp[f] = when
            s.db.hfe.add(key)
            setf.append(f)
            out.append(1)
    ops = []
    if setf:
        ops.append([b"HPEXPIREAT", key, ms_bytes(when), *([cond] if cond else []),
                    b"FIELDS", b"%d" % len(setf), *setf])
    if delf:
        ops.append([b"HDEL", key, *delf])
    if ops:
        s.touch(len(setf) + len(delf))
        s.propagate(*ops)
        _drop_if_empty(s, key, h)
    return out


@command("hexpire", -6, "write denyoom fast")
def hexpire(s, args):
    return _hexpire(s, args, 1000, False, "hexpire")


@command("hpexpire", -6, "write denyoom fast")
def hpexpire(s, args):
    return _hexpire(s, args, 1, False, "hpexpire")


@command("hexpireat", -6, "write denyoom fast")
def hexpireat(s, args):
    return _hexpire(s, args, 1000, True, "hexpireat")


@command("hpexpireat", -6, "write denyoom fast")
def hpexpireat(s, args):
    return _hexpire(s, args, 1, True, "hpexpireat")


@command("hpersist", -5, "write fast")
def hpersist(s, args):
    key = args[1]
    fields = _fields_arg(args, 2, "hpersist")
    h = _hash(s, key)
    if h is None:
        return [-2] * len(fields)
    out, done = [], []
    for f in fields:
        if f not in h:
            out.append(-2)
        elif h.fexp.pop(f, None) is None:
            out.append(-1)
        else:
            out.append(1)
            done.append(f)
    if done:
        s.touch(len(done))
        s.propagate([b"HPERSIST", key, b"FIELDS", b"%d" % len(done), *done])
    return out


def _httl(s, args, name: str, unit: int, absolute: bool):
    fields = _fields_arg(args, 2, name)
    h = _hash(s, args[1])
    if h is None:
        return [-2] * len(fields)
    out = []
    for f in fields:
        if f not in h:
            out.append(-2)
            continue
        t = h.fexp.get(f)
        if t is None:
            out.append(-1)
        elif absolute:
            out.append(t // unit)
        else:
            left = max(0, t - s.now)
            out.append((left + 500) // 1000 if unit == 1000 else left)
    return out


@command("httl", -5, "readonly fast")
def httl(s, args):
    return _httl(s, args, "httl", 1000, False)


@command("hpttl", -5, "readonly fast")
def hpttl(s, args):
    return _httl(s, args, "hpttl", 1, False)


@command("hexpiretime", -5, "readonly fast")
def hexpiretime(s, args):
    return _httl(s, args, "hexpiretime", 1000, True)


@command("hpexpiretime", -5, "readonly fast")
def hpexpiretime(s, args):
    return _httl(s, args, "hpexpiretime", 1, True)


@command("hsetex", -6, "write denyoom fast")
def hsetex(s, args):
    """HSETEX key [NX|XX] [FNX|FXX] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] FIELDS n f v ..."""
    key = args[1]
    i = 2
    nx = xx = fnx = fxx = keepttl = False
    when = None
    while i < len(args) and args[i].upper() != b"FIELDS":
        o = args[i].upper()
        if o == b"NX":
            nx = True
        elif o == b"XX":
            xx = True
        elif o == b"FNX":
            fnx = True
        elif o == b"FXX":
            fxx = True
        elif o == b"KEEPTTL":
            keepttl = True
        elif o in (b"EX", b"PX", b"EXAT", b"PXAT") and i + 1 < len(args):
            when = expire_arg_to_ms(s.now, args[i + 1], 1000 if o in (b"EX", b"EXAT") else 1,
                                    o in (b"EXAT", b"PXAT"), "hsetex")
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if i + 1 >= len(args):
        raise CommandError(SYNTAX)
    n = get_int(args[i + 1])
    pairs = args[i + 2:]
    if n <= 0 or len(pairs) != 2 * n:
        raise CommandError("ERR wrong number of arguments for 'hsetex' command")
    h = _hash(s, key)
    if (nx and h is not None) or (xx and h is None):
        return 0
    fields = pairs[0::2]
    if h is not None and ((fnx and any(f in h for f in fields)) or (fxx and not all(f in h for f in fields))):
        return 0
    if h is None and fxx:
        return 0
    h = _hash_create(s, key)
    for f, v in zip(fields, pairs[1::2]):
        h[f] = v
        if when is not None:
            h.fexp[f] = when
            s.db.hfe.add(key)
        elif not keepttl:
            h.fexp.pop(f, None)
    s.touch(n)
    if when is not None:
        opts = [a for a in args[2:i] if a.upper() in (b"NX", b"XX", b"FNX", b"FXX")]
        s.propagate([b"HSETEX", key, *opts, b"PXAT", ms_bytes(when), b"FIELDS", b"%d" % n, *pairs])
    return 1
