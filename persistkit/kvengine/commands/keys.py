"""Generic key commands (redis/src/db.c, expire.c, sort.c, cluster.c DUMP/RESTORE)."""

from __future__ import annotations

from collections import deque

from ..encodings import encoding_of
from ..glob import glob_match
from ..numbers import get_int, parse_float, parse_int
from ..reply import DB_RANGE, NO_SUCH_KEY, OK, SYNTAX, CommandError, Status, unknown_subcommand
from ..table import command
from ..values import Hash, ZSet, copy_value, type_name
from .common import expire_arg_to_ms, ms_bytes


@command("del", -2, "write", keys=(1, -1, 1))
def del_(s, args):
    n = 0
    for k in args[1:]:
        if s.delete(k):
            n += 1
    s.touch(n)
    return n


command("unlink", -2, "write fast", keys=(1, -1, 1))(del_)


@command("exists", -2, "readonly fast", keys=(1, -1, 1))
def exists(s, args):
    return sum(1 for k in args[1:] if s.lookup(k) is not None)


@command("touch", -2, "readonly fast", keys=(1, -1, 1))
def touch(s, args):
    return exists(s, args)


@command("type", 2, "readonly fast")
def type_(s, args):
    return Status(type_name(s.lookup(args[1])))


def _ttl(s, key: bytes, unit: int, absolute: bool):
    if s.lookup(key) is None:
        return -2
    t = s.db.expires.get(key)
    if t is None:
        return -1
    if absolute:   # ttlGenericCommand rounds seconds: (expire + 500) / 1000
        return t if unit == 1 else (t + 500) // 1000
    left = max(0, t - s.now)
    return (left + 500) // 1000 if unit == 1000 else left


@command("ttl", 2, "readonly fast")
def ttl(s, args):
    return _ttl(s, args[1], 1000, False)


@command("pttl", 2, "readonly fast")
def pttl(s, args):
    return _ttl(s, args[1], 1, False)


@command("expiretime", 2, "readonly fast")
def expiretime(s, args):
    return _ttl(s, args[1], 1000, True)


@command("pexpiretime", 2, "readonly fast")
def pexpiretime(s, args):
    return _ttl(s, args[1], 1, True)


def _expire_generic(s, args, unit: int, absolute: bool, name: str):
    key = args[1]
    nx = xx = gt = lt = False
    for opt in args[3:]:
        o = opt.upper()
        if o == b"NX":
            nx = True
        elif o == b"XX":
            xx = True
        elif o == b"GT":
            gt = True
        elif o == b"LT":
            lt = True
        else:
            raise CommandError(f"ERR Unsupported option {opt.decode('utf-8', 'replace')}")
    if nx and (xx or gt or lt):
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if gt and lt:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    when = expire_arg_to_ms(s.now, args[2], unit, absolute, name)
    if s.lookup(key) is None:
        return 0
    cur = s.db.expires.get(key)
    if nx and cur is not None:
        return 0
    if xx and cur is None:
        return 0
    if gt and (cur is None or when <= cur):
        return 0
    if lt and cur is not None and when >= cur:
        return 0
    s.touch()
    if s.already_expired(when):
        s.delete(key)
        s.propagate([b"UNLINK" if s.ks.lazyfree_expire else b"DEL", key])
        return 1
    s.db.expires[key] = when
    s.propagate([b"PEXPIREAT", key, ms_bytes(when), *args[3:]])
    return 1


@command("expire", -3, "write fast")
def expire(s, args):
    return _expire_generic(s, args, 1000, False, "expire")


@command("pexpire", -3, "write fast")
def pexpire(s, args):
    return _expire_generic(s, args, 1, False, "pexpire")


@command("expireat", -3, "write fast")
def expireat(s, args):
    return _expire_generic(s, args, 1000, True, "expireat")


@command("pexpireat", -3, "write fast")
def pexpireat(s, args):
    return _expire_generic(s, args, 1, True, "pexpireat")


@command("persist", 2, "write fast")
def persist(s, args):
    if s.lookup(args[1]) is None:
        return 0
    if s.db.expires.pop(args[1], None) is None:
        return 0
    s.touch()
    return 1


def _rename(s, args, nx: bool):
    src, dst = args[1], args[2]
    v = s.lookup(src)
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    if s.lookup(dst) is not None:
        if nx:
            return 0
    ttl = s.db.expires.get(src)
    enc = s.db.strenc.get(src)       # the object moves as it is, encoding included
    s.delete(src)
    s.set_key(dst, v, encoding=enc)
    if ttl is not None:
        s.db.expires[dst] = ttl
    s.touch()
    return 1 if nx else OK


@command("rename", 3, "write", keys=(1, 2, 1))
def rename(s, args):
    return _rename(s, args, False)


@command("renamenx", 3, "write fast", keys=(1, 2, 1))
def renamenx(s, args):
    return _rename(s, args, True)


def _db_index(s, arg: bytes) -> int:
    v = parse_int(arg)
    if v is None:
        raise CommandError("ERR value is not an integer or out of range")
    if v < 0 or v >= len(s.ks.dbs):
        raise CommandError(DB_RANGE)
    return v


@command("copy", -3, "write denyoom", keys=(1, 2, 1))
def copy(s, args):
    src, dst = args[1], args[2]
    target = s.dbid
    replace = False
    i = 3
    while i < len(args):
        o = args[i].upper()
        if o == b"REPLACE":
            replace = True
        elif o == b"DB" and i + 1 < len(args):
            target = _db_index(s, args[i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if src == dst and target == s.dbid:
        raise CommandError("ERR source and destination objects are the same")
    v = s.lookup(src)
    if v is None:
        return 0
    ttl = s.db.expires.get(src)
    enc = s.db.strenc.get(src)
    here = s.dbid
    s.select(target)
    try:
        if s.lookup(dst) is not None:
            if not replace:
                return 0
            s.delete(dst)
        s.set_key(dst, copy_value(v), encoding=enc)
        if ttl is not None:
            s.db.expires[dst] = ttl
    finally:
        s.select(here)
    s.touch()
    return 1


@command("move", 3, "write fast")
def move(s, args):
    key = args[1]
    target = _db_index(s, args[2])
    if target == s.dbid:
        raise CommandError("ERR source and destination objects are the same")
    v = s.lookup(key)
    if v is None:
        return 0
    ttl = s.db.expires.get(key)
    enc = s.db.strenc.get(key)
    here = s.dbid
    s.select(target)
    try:
        if s.lookup(key) is not None:
            return 0
        s.set_key(key, v, encoding=enc)
        if ttl is not None:
            s.db.expires[key] = ttl
    finally:
        s.select(here)
    s.delete(key)
    s.touch()
    return 1


@command("swapdb", 3, "write fast", keys=(0, 0, 0))
def swapdb(s, args):
    a = parse_int(args[1])
    if a is None:
        raise CommandError("ERR invalid first DB index")
    b = parse_int(args[2])
    if b is None:
        raise CommandError("ERR invalid second DB index")
    n = len(s.ks.dbs)
    if not (0 <= a < n and 0 <= b < n):
        raise CommandError(DB_RANGE)
    dbs = s.ks.dbs
    # swap contents, keep the Database identities (sessions hold them)
    da, db_ = dbs[a], dbs[b]
    da.data, db_.data = db_.data, da.data
    da.expires, db_.expires = db_.expires, da.expires
    da.hfe, db_.hfe = db_.hfe, da.hfe
    s.touch()
    return OK


def _flush_opts(args):
    if len(args) > 2 or (len(args) == 2 and args[1].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError(SYNTAX)


@command("flushdb", -1, "write", keys=(0, 0, 0))
def flushdb(s, args):
    _flush_opts(args)
    s.ks.dirty += len(s.db.data) or 1
    s.db.data.clear()
    s.db.expires.clear()
    return OK


@command("flushall", -1, "write", keys=(0, 0, 0))
def flushall(s, args):
    _flush_opts(args)
    n = s.ks.total_keys()
    for d in s.ks.dbs:
        d.data.clear()
        d.expires.clear()
    s.ks.dirty += n or 1
    srv = s.ks.server
    if srv is not None:
        srv.after_flushall()
    return OK


@command("select", 2, "loading stale fast", keys=(0, 0, 0))
def select(s, args):
    v = parse_int(args[1])
    if v is None:
        raise CommandError("ERR value is not an integer or out of range")
    if v < 0 or v >= len(s.ks.dbs):
        raise CommandError(DB_RANGE)
    s.select(v)
    return OK


@command("dbsize", 1, "readonly fast", keys=(0, 0, 0))
def dbsize(s, args):
    return len(s.db.data)


@command("keys", 2, "readonly", keys=(0, 0, 0))
def keys(s, args):
    pat = args[1]
    out = []
    for k in list(s.db.data):
        if glob_match(pat, k) and s.lookup(k) is not None:
            out.append(k)
    return out


@command("randomkey", 1, "readonly", keys=(0, 0, 0))
def randomkey(s, args):
    import random

    for _ in range(100):
        if not s.db.data:
            return None
        k = random.choice(list(s.db.data))
        if s.lookup(k) is not None:
            return k
    return None


def parse_scan_opts(args, start: int):
    pattern, count, typ = None, 10, None
    i = start
    while i < len(args):
        o = args[i].upper()
        if i + 1 >= len(args):
            raise CommandError(SYNTAX)
        if o == b"MATCH":
            pattern = args[i + 1]
        elif o == b"COUNT":
            count = get_int(args[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif o == b"TYPE":
            typ = args[i + 1].decode("utf-8", "replace").lower()
        else:
            raise CommandError(SYNTAX)
        i += 2
    return pattern, count, typ


def parse_cursor(arg: bytes) -> int:
    try:
        v = int(arg)
    except ValueError:
        raise CommandError("ERR invalid cursor") from None
    if v < 0:
        raise CommandError("ERR invalid cursor")
    return v


@command("scan", -2, "readonly", keys=(0, 0, 0))
def scan(s, args):
    # The cursor is a position in the db's key order (insertion order); keys added or
    # removed during a scan may be missed or repeated, which SCAN's contract allows.
    cursor = parse_cursor(args[1])
    pattern, count, typ = parse_scan_opts(args, 2)
    from itertools import islice

    data = s.db.data
    batch = list(islice(data, cursor, cursor + count))   # skips in C, no full key list
    nxt = cursor + count
    if nxt >= len(data):
        nxt = 0
    out = []
    for k in batch:
        if pattern is not None and not glob_match(pattern, k):
            continue
        v = s.lookup(k)
        if v is None:
            continue
        if typ is not None and type_name(v) != typ:
            continue
        out.append(k)
    return [b"%d" % nxt, out]


@command("object", -2, "readonly", keys=(2, 2, 1))
def object_(s, args):
    sub = args[1].upper()
    if sub == b"HELP":
        return [b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"ENCODING <key>", b"FREQ <key>", b"IDLETIME <key>", b"REFCOUNT <key>"]
    if len(args) != 3:
        raise unknown_subcommand(args[1], "object")
    v = s.lookup(args[2])
    if sub == b"ENCODING":
        if v is None:
            return None
        if type(v) is bytes and args[2] in s.db.strenc:
            return s.db.strenc[args[2]].encode()
        return encoding_of(v, s.ks.limits)[0].encode()
    if sub == b"FREQ" and v is not None and "lfu" not in (
            s.ks.server.config["maxmemory-policy"] if s.ks.server is not None else ""):
        raise CommandError("ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                           "Please note that when switching between policies at runtime LRU and LFU "
                           "data will take some time to adjust.")
    if sub in (b"IDLETIME", b"REFCOUNT", b"FREQ"):
        return None if v is None else (1 if sub == b"REFCOUNT" else 0)
    raise unknown_subcommand(args[1], "object")


# -- DUMP / RESTORE -----------------------------------------------------------------

@command("dump", 2, "readonly")
def dump(s, args):
    v = s.lookup(args[1])
    if v is None:
        return None
    from ..records import dump_payload

    return dump_payload(s.ks, args[1], v)


@command("restore", -4, "write denyoom")
def restore(s, args):
    key, ttl_arg, payload = args[1], args[2], args[3]
    replace = absttl = False
    i = 4
    while i < len(args):
        o = args[i].upper()
        if o == b"REPLACE":
            replace = True
        elif o == b"ABSTTL":
            absttl = True
        elif o in (b"IDLETIME", b"FREQ") and i + 1 < len(args):
            v = parse_int(args[i + 1])
            if v is None or v < 0:
                raise CommandError("ERR Invalid IDLETIME value, must be >= 0" if o == b"IDLETIME"
                                   else "ERR Invalid FREQ value, must be >= 0 and <= 255")
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    # restoreCommand's order: BUSYKEY, then the TTL checks, then the payload
    if not replace and s.lookup(key) is not None:
        raise CommandError("BUSYKEY Target key name already exists.")
    ttl = parse_int(ttl_arg)
    if ttl is None:
        raise CommandError("ERR value is not an integer or out of range")
    if ttl < 0:
        raise CommandError("ERR Invalid TTL value, must be >= 0")
    from ..records import value_from_payload

    value = value_from_payload(payload)  # raises "ERR DUMP payload version or checksum are wrong"
    when = None
    if ttl:
        when = ttl if absttl else s.now + ttl
    s.delete(key)
    if when is not None and s.already_expired(when):
        s.touch()
        s.propagate([b"DEL", key])
        return OK
    s.set_key(key, value)
    if when is not None:
        s.db.expires[key] = when
    s.touch()
    if when is not None and not absttl:
        # 7.0 logs a relative TTL as an absolute one (restoreCommand)
        out = [b"RESTORE", key, ms_bytes(when), payload, b"ABSTTL"]
        if replace:
            out.append(b"REPLACE")
        s.propagate(out)
    return OK


# -- SORT --------------------------------------------------------------------------

def _sort_lookup(s, pattern: bytes, elem: bytes):
    if pattern == b"#":
        return elem
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2:]
        pattern = pattern[:arrow]
    key = pattern[:star] + elem + pattern[star + 1:]
    v = s.lookup(key)
    if v is None:
        return None
    if field is not None:
        return v.get(field) if type(v) is Hash else None
    return v if type(v) is bytes else None


def _sort(s, args, readonly: bool):
    key = args[1]
    desc = alpha = False
    by = None
    limit = None
    gets = []
    store = None
    i = 2
    while i < len(args):
        o = args[i].upper()
        left = len(args) - i - 1
        if o == b"ASC":
            desc = False
        elif o == b"DESC":
            desc = True
        elif o == b"ALPHA":
            alpha = True
        elif o == b"LIMIT" and left >= 2:
            limit = (get_int(args[i + 1]), get_int(args[i + 2]))
            i += 2
        elif o == b"STORE" and left >= 1 and not readonly:
            store = args[i + 1]
            i += 1
        elif o == b"BY" and left >= 1:
            by = args[i + 1]
            i += 1
        elif o == b"GET" and left >= 1:
            gets.append(args[i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    v = s.lookup(key)
    if v is None:
        elems = []
    elif type(v) is deque:
        elems = list(v)
    elif type(v) is set:
        elems = list(v)
    elif type(v) is ZSet:
        elems = [m for _, m in v.index]
    else:
        raise CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")
    dontsort = by is not None and b"*" not in by
    if not dontsort:
        def weight(e):
            w = _sort_lookup(s, by, e) if by is not None else e
            if alpha:
                return w if w is not None else b""
            if w is None:
                return 0.0
            f = parse_float(w)
            if f is None:
                raise CommandError("ERR One or more scores can't be converted into double")
            return f
        elems.sort(key=lambda e: (weight(e), e), reverse=desc)
    elif type(v) is ZSet and desc:
        elems.reverse()
    if limit is not None:
        start, count = limit
        start = max(0, start)
        elems = elems[start:] if count < 0 else elems[start:start + count]
    if gets:
        out = [_sort_lookup(s, g, e) for e in elems for g in gets]
    else:
        out = elems
    if store is None:
        return out
    if out:
        s.set_key(store, deque(x if x is not None else b"" for x in out))
        s.touch(len(out))
    elif s.delete(store):
        s.touch()
    return len(out)


@command("sort", -2, "write denyoom")
def sort(s, args):
    return _sort(s, args, False)


@command("sort_ro", -2, "readonly")
def sort_ro(s, args):
    return _sort(s, args, True)
