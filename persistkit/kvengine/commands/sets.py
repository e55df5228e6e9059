"""Set commands (redis/src/t_set.c)."""

from __future__ import annotations

import random

from ..numbers import get_int, get_positive_int
from ..reply import SYNTAX, CommandError, SetReply
from ..table import command


def _set(s, key):
    return s.lookup_as(key, set)


@command("sadd", -3, "write denyoom fast")
def sadd(s, args):
    st = _set(s, args[1])
    if st is None:
        st = set()
        s.set_key(args[1], st)
    before = len(st)
    st.update(args[2:])
    n = len(st) - before
    s.touch(n)
    return n


@command("srem", -3, "write fast")
def srem(s, args):
    st = _set(s, args[1])
    if st is None:
        return 0
    n = 0
    for m in args[2:]:
        if m in st:
            st.discard(m)
            n += 1
    if not st:
        s.delete(args[1])
    s.touch(n)
    return n


@command("smembers", 2, "readonly")
def smembers(s, args):
    st = _set(s, args[1])
    return SetReply() if st is None else SetReply(st)


@command("sismember", 3, "readonly fast")
def sismember(s, args):
    st = _set(s, args[1])
    return int(st is not None and args[2] in st)


@command("smismember", -3, "readonly fast")
def smismember(s, args):
    st = _set(s, args[1]) or ()
    return [int(m in st) for m in args[2:]]


@command("scard", 2, "readonly fast")
def scard(s, args):
    st = _set(s, args[1])
    return 0 if st is None else len(st)


@command("smove", 4, "write fast", keys=(1, 2, 1))
def smove(s, args):
    src, dst, m = args[1], args[2], args[3]
    a = _set(s, src)                 # smoveCommand: a missing source answers 0 first
    if a is None:
        return 0
    b = _set(s, dst)
    if m not in a:
        return 0
    if src == dst:
        return 1
    a.discard(m)
    if not a:
        s.delete(src)
    if b is None:
        b = set()
        s.set_key(dst, b)
    b.add(m)
    s.touch()
    return 1


@command("spop", -2, "write fast")
def spop(s, args):
    key = args[1]
    st = _set(s, key)
    if len(args) > 3:
        raise CommandError(SYNTAX)
    if len(args) == 3:
        count = get_positive_int(args[2])
        if st is None:
            return SetReply()
        picked = SetReply(random.sample(list(st), min(count, len(st))))
        for m in picked:
            st.discard(m)
        if not st:
            s.delete(key)
        if picked:
            s.touch(len(picked))
            s.propagate([b"SREM", key, *picked] if key in s.db.data else [b"DEL", key])
        return picked
    if not st:
        return None
    m = random.choice(list(st))
    st.discard(m)
    if not st:
        s.delete(key)
    s.touch()
    s.propagate([b"SREM", key, m])
    return m


@command("srandmember", -2, "readonly")
def srandmember(s, args):
    st = _set(s, args[1])
    if len(args) == 2:
        return None if not st else random.choice(list(st))
    count = get_int(args[2])
    if not st:
        return []
    items = list(st)
    if count >= 0:
        return random.sample(items, min(count, len(items)))
    return [random.choice(items) for _ in range(-count)]


def _sets_of(s, keys_):
    return [_set(s, k) or set() for k in keys_]


def _op(kind: str, sets_):
    if kind == "inter":
        if not sets_:
            return set()
        ordered = sorted(sets_, key=len)
        out = set(ordered[0])
        for x in ordered[1:]:
            out &= x
        return out
    if kind == "union":
        out = set()
        for x in sets_:
            out |= x
        return out
    out = set(sets_[0])
    for x in sets_[1:]:
        out -= x
    return out


def _store(s, dst, result):
    # an empty result deletes the destination; only a real change counts as a write
    if result:
        s.set_key(dst, result)
        s.touch()
    elif s.delete(dst):
        s.touch()
    return len(result)


@command("sinter", -2, "readonly", keys=(1, -1, 1))
def sinter(s, args):
    return SetReply(_op("inter", _sets_of(s, args[1:])))


@command("sunion", -2, "readonly", keys=(1, -1, 1))
def sunion(s, args):
    return SetReply(_op("union", _sets_of(s, args[1:])))


@command("sdiff", -2, "readonly", keys=(1, -1, 1))
def sdiff(s, args):
    return SetReply(_op("diff", _sets_of(s, args[1:])))


@command("sinterstore", -3, "write denyoom", keys=(1, -1, 1))
def sinterstore(s, args):
    return _store(s, args[1], _op("inter", _sets_of(s, args[2:])))


@command("sunionstore", -3, "write denyoom", keys=(1, -1, 1))
def sunionstore(s, args):
    return _store(s, args[1], _op("union", _sets_of(s, args[2:])))


@command("sdiffstore", -3, "write denyoom", keys=(1, -1, 1))
def sdiffstore(s, args):
    return _store(s, args[1], _op("diff", _sets_of(s, args[2:])))


@command("sintercard", -3, "readonly", keys=(0, 0, 0))
def sintercard(s, args):
    n = get_int(args[1])
    if n <= 0:
        raise CommandError("ERR numkeys should be greater than 0")
    keys_ = args[2:2 + n]
    if len(keys_) != n:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = 0
    if len(args) == 4 + n and args[2 + n].upper() == b"LIMIT":
        limit = get_int(args[3 + n])
    elif len(args) != 2 + n:
        raise CommandError(SYNTAX)
    c = len(_op("inter", _sets_of(s, keys_)))
    return min(c, limit) if limit else c


@command("sscan", -3, "readonly")
def sscan(s, args):
    from .keys import parse_cursor, parse_scan_opts
    from ..glob import glob_match

    cursor = parse_cursor(args[2])
    pattern, count, _ = parse_scan_opts(args, 3)
    st = _set(s, args[1])
    if st is None:
        return [b"0", []]
    items = sorted(st)
    batch = items[cursor:cursor + count]
    nxt = cursor + count if cursor + count < len(items) else 0
    return [b"%d" % nxt, [m for m in batch if pattern is None or glob_match(pattern, m)]]
