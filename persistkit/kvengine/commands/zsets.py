"""Sorted set commands (redis/src/t_zset.c)."""

from __future__ import annotations

import math
import random

from ..numbers import format_double, get_float, get_floats, get_int, parse_float
from ..reply import NIL_ARRAY, SYNTAX, WRONGTYPE, CommandError, Double, Pairs
from ..table import command
from ..values import ZSet
from .common import norm_range


def _z(s, key):
    return s.lookup_as(key, ZSet)


@command("zadd", -4, "write denyoom fast")
def zadd(s, args):
    key = args[1]
    nx = xx = gt = lt = ch = incr = False
    i = 2
    while i < len(args):
        o = args[i].upper()
        if o == b"NX":
            nx = True
        elif o == b"XX":
            xx = True
        elif o == b"GT":
            gt = True
        elif o == b"LT":
            lt = True
        elif o == b"CH":
            ch = True
        elif o == b"INCR":
            incr = True
        else:
            break
        i += 1
    rest = args[i:]
    if not rest or len(rest) % 2:
        raise CommandError(SYNTAX)
    if nx and xx:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and len(rest) > 2:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    pairs = list(zip(get_floats(rest[0::2]), rest[1::2]))
    z = _z(s, key)
    if z is None:
        if xx:
            return None if incr else 0
        z = ZSet()
        s.set_key(key, z)
    added = changed = 0
    result = None
    if not (nx or xx or gt or lt or incr) and len(pairs) > 8:
        # the plain form (an AOF rewrite's ZADD key score member ...): one batch insert
        added, changed = z.add_many(pairs)
        pairs = ()
    for score, m in pairs:
        cur = z.scores.get(m)
        if cur is None:
            if xx:
                continue
            if incr:
                pass
            if math.isnan(score):
                raise CommandError("ERR resulting score is not a number (NaN)")
            z.add(m, score)
            added += 1
            result = score
        else:
            if nx:
                continue
            new = cur + score if incr else score
            if math.isnan(new):
                raise CommandError("ERR resulting score is not a number (NaN)")
            if (gt and new <= cur) or (lt and new >= cur):
                continue
            result = new
            if new != cur:
                z.add(m, new)
                changed += 1
    if not z:
        s.delete(key)
    s.touch(added + changed)
    if incr:
        return None if result is None else Double(result)
    return added + changed if ch else added


@command("zincrby", 4, "write denyoom fast")
def zincrby(s, args):
    inc = get_float(args[2])
    z = _z(s, args[1])
    if z is None:
        z = ZSet()
        s.set_key(args[1], z)
    new = z.scores.get(args[3], 0.0) + inc
    if math.isnan(new):
        raise CommandError("ERR resulting score is not a number (NaN)")
    z.add(args[3], new)
    s.touch()
    return Double(new)


@command("zrem", -3, "write fast")
def zrem(s, args):
    z = _z(s, args[1])
    if z is None:
        return 0
    n = sum(1 for m in args[2:] if z.remove(m))
    if not z:
        s.delete(args[1])
    s.touch(n)
    return n


@command("zcard", 2, "readonly fast")
def zcard(s, args):
    z = _z(s, args[1])
    return 0 if z is None else len(z)


@command("zscore", 3, "readonly fast")
def zscore(s, args):
    z = _z(s, args[1])
    if z is None:
        return None
    sc = z.scores.get(args[2])
    return None if sc is None else Double(sc)


@command("zmscore", -3, "readonly fast")
def zmscore(s, args):
    z = _z(s, args[1])
    out = []
    for m in args[2:]:
        sc = None if z is None else z.scores.get(m)
        out.append(None if sc is None else Double(sc))
    return out


def _rank(s, args, rev: bool):
    withscore = len(args) == 4 and args[3].upper() == b"WITHSCORE"
    if len(args) > 4 or (len(args) == 4 and not withscore):
        raise CommandError(SYNTAX)
    z = _z(s, args[1])
    if z is None:
        return NIL_ARRAY if withscore else None
    r = z.rank(args[2])
    if r is None:
        return NIL_ARRAY if withscore else None
    if rev:
        r = len(z) - 1 - r
    return [r, Double(z.scores[args[2]])] if withscore else r


@command("zrank", -3, "readonly fast")
def zrank(s, args):
    return _rank(s, args, False)


@command("zrevrank", -3, "readonly fast")
def zrevrank(s, args):
    return _rank(s, args, True)


def parse_score_bound(b: bytes) -> tuple[float, bool]:
    ex = b[:1] == b"("
    v = parse_float(b[1:] if ex else b)
    if v is None or math.isnan(v):
        raise CommandError("ERR min or max is not a float")
    return v, ex


def parse_lex_bound(b: bytes):
    """('-'|'+'|'['x|'('x) -> (kind, value, exclusive)"""
    if b == b"-":
        return (-1, b"", False)
    if b == b"+":
        return (1, b"", False)
    if b[:1] == b"[":
        return (0, b[1:], False)
    if b[:1] == b"(":
        return (0, b[1:], True)
    raise CommandError("ERR min or max not valid string range item")


def _lex_ok_min(m, bound):
    kind, v, ex = bound
    if kind == -1:
        return True
    if kind == 1:
        return False
    return m > v if ex else m >= v


def _lex_ok_max(m, bound):
    kind, v, ex = bound
    if kind == 1:
        return True
    if kind == -1:
        return False
    return m < v if ex else m <= v


def _select(s, key, mode, lo_arg, hi_arg, rev, limit):
    """(zset or None, members (score, member) in range in reply order). The range is parsed
    before the key is looked up, as zrangeGenericCommand does (a bad range is an error
    even on a missing or wrong-type key)."""
    if mode == "rank":
        start, end = get_int(lo_arg), get_int(hi_arg)
    elif mode == "score":
        if rev:
            (hi, hi_ex), (lo, lo_ex) = parse_score_bound(lo_arg), parse_score_bound(hi_arg)
        else:
            (lo, lo_ex), (hi, hi_ex) = parse_score_bound(lo_arg), parse_score_bound(hi_arg)
    else:
        if rev:
            hi_b, lo_b = parse_lex_bound(lo_arg), parse_lex_bound(hi_arg)
        else:
            lo_b, hi_b = parse_lex_bound(lo_arg), parse_lex_bound(hi_arg)
    z = _z(s, key)
    if z is None:
        return None, []
    idx = z.index
    if mode == "rank":
        n = len(idx)
        r = norm_range(start, end, n)
        if r is None:
            return z, []
        if rev:
            items = idx[n - 1 - r[1]:n - r[0]]
            items.reverse()
        else:
            items = idx[r[0]:r[1] + 1]
        return z, items
    if mode == "score":
        a, b = z.score_range_indices(lo, lo_ex, hi, hi_ex)
        items = idx[a:b]
    else:
        items = [p for p in idx if _lex_ok_min(p[1], lo_b) and _lex_ok_max(p[1], hi_b)]
    if rev:
        items = items[::-1]
    if limit is not None:
        off, cnt = limit
        if off < 0:
            return z, []
        items = items[off:] if cnt < 0 else items[off:off + cnt]
    return z, items


def _range_reply(items, withscores):
    if not withscores:
        return [m for _, m in items]
    return Pairs((m, Double(sc)) for sc, m in items)


def _parse_range_opts(args, start, allow_byx=True):
    mode, rev, withscores, limit = "rank", False, False, None
    i = start
    while i < len(args):
        o = args[i].upper()
        if o == b"WITHSCORES":
            withscores = True
        elif o == b"REV" and allow_byx:
            rev = True
        elif o == b"BYSCORE" and allow_byx:
            mode = "score"
        elif o == b"BYLEX" and allow_byx:
            mode = "lex"
        elif o == b"LIMIT" and i + 2 < len(args):
            limit = (get_int(args[i + 1]), get_int(args[i + 2]))
            i += 2
        else:
            raise CommandError(SYNTAX)
        i += 1
    if limit is not None and mode == "rank":
        raise CommandError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if withscores and mode == "lex":
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    return mode, rev, withscores, limit


@command("zrange", -4, "readonly")
def zrange(s, args):
    mode, rev, ws, limit = _parse_range_opts(args, 4)
    return _range_reply(_select(s, args[1], mode, args[2], args[3], rev, limit)[1], ws)


@command("zrangestore", -5, "write denyoom", keys=(1, 2, 1))
def zrangestore(s, args):
    mode, rev, ws, limit = _parse_range_opts(args, 5)
    items = _select(s, args[2], mode, args[3], args[4], rev, limit)[1]
    return _store(s, args[1], {m: sc for sc, m in items})


def _legacy(mode, rev):
    def handler(s, args):
        ws, limit = False, None
        i = 4
        while i < len(args):
            o = args[i].upper()
            if o == b"WITHSCORES" and mode != "lex":
                ws = True
            elif o == b"LIMIT" and i + 2 < len(args) and mode != "rank":
                limit = (get_int(args[i + 1]), get_int(args[i + 2]))
                i += 2
            else:
                raise CommandError(SYNTAX)
            i += 1
        return _range_reply(_select(s, args[1], mode, args[2], args[3], rev, limit)[1], ws)
    return handler


command("zrevrange", -4, "readonly")(_legacy("rank", True))
command("zrangebyscore", -4, "readonly")(_legacy("score", False))
command("zrevrangebyscore", -4, "readonly")(_legacy("score", True))
command("zrangebylex", -4, "readonly")(_legacy("lex", False))
command("zrevrangebylex", -4, "readonly")(_legacy("lex", True))


@command("zcount", 4, "readonly fast")
def zcount(s, args):
    return len(_select(s, args[1], "score", args[2], args[3], False, None)[1])


@command("zlexcount", 4, "readonly fast")
def zlexcount(s, args):
    return len(_select(s, args[1], "lex", args[2], args[3], False, None)[1])


def _remrange(mode):
    def handler(s, args):
        z, items = _select(s, args[1], mode, args[2], args[3], False, None)
        for _, m in list(items):
            z.remove(m)
        if z is not None and not z:
            s.delete(args[1])
        s.touch(len(items))
        return len(items)
    return handler


command("zremrangebyrank", 4, "write")(_remrange("rank"))
command("zremrangebyscore", 4, "write")(_remrange("score"))
command("zremrangebylex", 4, "write")(_remrange("lex"))


def _pop(s, key, count, maxfirst, nested=False):
    """ZPOPMIN/MAX: a flat [member, score] without COUNT, pairs with it (RESP3 nesting)."""
    z = _z(s, key)
    out = Pairs()
    if z is None:
        return out if nested else []
    for _ in range(min(count, len(z))):
        sc, m = z.index[-1] if maxfirst else z.index[0]
        z.remove(m)
        out.append((m, Double(sc)))
    if not z:
        s.delete(key)
    if out:
        s.touch(len(out))
    if nested:
        return out
    return [x for pair in out for x in pair]


@command("zpopmin", -2, "write fast")
def zpopmin(s, args):
    if len(args) > 3:
        raise CommandError(SYNTAX)
    count = get_int(args[2]) if len(args) == 3 else 1
    if count < 0:
        raise CommandError("ERR value is out of range, must be positive")
    return _pop(s, args[1], count, False, len(args) == 3)


@command("zpopmax", -2, "write fast")
def zpopmax(s, args):
    if len(args) > 3:
        raise CommandError(SYNTAX)
    count = get_int(args[2]) if len(args) == 3 else 1
    if count < 0:
        raise CommandError("ERR value is out of range, must be positive")
    return _pop(s, args[1], count, True, len(args) == 3)


def _bzpop(maxfirst):
    def handler(s, args):
        for key in args[1:-1]:
            out = _pop(s, key, 1, maxfirst)
            if out:
                s.propagate([b"ZPOPMAX" if maxfirst else b"ZPOPMIN", key])
                return [key, *out]
        return NIL_ARRAY
    return handler


def _zmpop(s, args, first: int):
    """ZMPOP / BZMPOP: the first non-empty key, logged as ZPOPMIN/ZPOPMAX key count."""
    numkeys = get_int(args[first])
    if numkeys <= 0:
        raise CommandError("ERR numkeys should be greater than 0")
    keys_ = args[first + 1:first + 1 + numkeys]
    rest = args[first + 1 + numkeys:]
    if len(keys_) != numkeys or not rest:
        raise CommandError(SYNTAX)
    where = rest[0].upper()
    if where not in (b"MIN", b"MAX"):
        raise CommandError(SYNTAX)
    count = 1
    if len(rest) == 3 and rest[1].upper() == b"COUNT":
        count = get_int(rest[2])
        if count <= 0:
            raise CommandError("ERR count should be greater than 0")
    elif len(rest) != 1:
        raise CommandError(SYNTAX)
    for key in keys_:
        z = _z(s, key)
        if z:
            out = _pop(s, key, count, where == b"MAX", True)
            s.propagate([b"ZPOPMAX" if where == b"MAX" else b"ZPOPMIN", key, b"%d" % len(out)])
            return [key, [list(pair) for pair in out]]   # nested in RESP2 too
    return NIL_ARRAY


command("zmpop", -4, "write", keys=(0, 0, 0))(lambda s, args: _zmpop(s, args, 1))
command("bzmpop", -5, "write", keys=(0, 0, 0))(lambda s, args: _zmpop(s, args, 2))
command("bzpopmin", -3, "write fast", keys=(1, -2, 1))(_bzpop(False))
command("bzpopmax", -3, "write fast", keys=(1, -2, 1))(_bzpop(True))


# -- set operations --------------------------------------------------------------

def _source(s, key):
    v = s.lookup(key)
    if v is None:
        return {}
    if type(v) is ZSet:
        return v.scores
    if type(v) is set:
        return {m: 1.0 for m in v}
    raise CommandError(WRONGTYPE)


def _combine(s, args, first: int, kind: str, store: bool):
    numkeys = get_int(args[first])
    if numkeys < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{args[0].decode().lower()}' command")
    keys_ = args[first + 1:first + 1 + numkeys]
    if len(keys_) != numkeys:
        raise CommandError(SYNTAX)
    weights = [1.0] * numkeys
    agg = b"SUM"
    withscores = False
    i = first + 1 + numkeys
    while i < len(args):
        o = args[i].upper()
        if o == b"WEIGHTS" and kind != "diff" and i + numkeys < len(args):
            weights = [get_float(w, "ERR weight value is not a float") for w in args[i + 1:i + 1 + numkeys]]
            i += numkeys
        elif o == b"AGGREGATE" and kind != "diff" and i + 1 < len(args):
            agg = args[i + 1].upper()
            if agg not in (b"SUM", b"MIN", b"MAX"):
                raise CommandError(SYNTAX)
            i += 1
        elif o == b"WITHSCORES" and not store:
            withscores = True
        else:
            raise CommandError(SYNTAX)
        i += 1
    srcs = [_source(s, k) for k in keys_]

    def fold(a, b):
        if agg == b"SUM":
            r = a + b
            return 0.0 if math.isnan(r) else r
        return min(a, b) if agg == b"MIN" else max(a, b)

    def w(sc, wt):
        r = sc * wt
        return 0.0 if math.isnan(r) else r

    if kind == "union":
        out = {}
        for src, wt in zip(srcs, weights):
            for m, sc in src.items():
                v = w(sc, wt)
                out[m] = fold(out[m], v) if m in out else v
    elif kind == "inter":
        order = sorted(range(numkeys), key=lambda j: len(srcs[j]))
        out = {}
        first_src = srcs[order[0]]
        for m, sc in first_src.items():
            acc = w(sc, weights[order[0]])
            ok = True
            for j in order[1:]:
                if m not in srcs[j]:
                    ok = False
                    break
                acc = fold(acc, w(srcs[j][m], weights[j]))
            if ok:
                out[m] = acc
    else:
        out = {m: sc for m, sc in srcs[0].items() if not any(m in x for x in srcs[1:])}
    return out, withscores


def _store(s, dst, members: dict):
    if members:
        z = ZSet()
        for m, sc in members.items():
            z.add(m, sc)
        s.set_key(dst, z)
        s.touch()
    elif s.delete(dst):
        s.touch()
    return len(members)


def _sorted_reply(members, withscores):
    items = sorted((sc, m) for m, sc in members.items())
    return _range_reply(items, withscores)


for _kind in ("union", "inter", "diff"):
    def _mk(kind):
        def store(s, args):
            out, _ = _combine(s, args, 2, kind, True)
            return _store(s, args[1], out)

        def plain(s, args):
            out, ws = _combine(s, args, 1, kind, False)
            return _sorted_reply(out, ws)
        command(f"z{kind}store", -4, "write denyoom", keys=(1, 1, 1))(store)
        command(f"z{kind}", -3, "readonly", keys=(0, 0, 0))(plain)
    _mk(_kind)


@command("zrandmember", -2, "readonly")
def zrandmember(s, args):
    z = _z(s, args[1])
    if len(args) == 2:
        return None if not z else random.choice(list(z.scores))
    count = get_int(args[2])
    ws = len(args) == 4 and args[3].upper() == b"WITHSCORES"
    if len(args) > 4 or (len(args) == 4 and not ws):
        raise CommandError(SYNTAX)
    if not z:
        return []
    ms = list(z.scores)
    picked = random.sample(ms, min(count, len(ms))) if count >= 0 else [random.choice(ms) for _ in range(-count)]
    if ws:
        return Pairs((m, Double(z.scores[m])) for m in picked)
    return picked


@command("zscan", -3, "readonly")
def zscan(s, args):
    from .keys import parse_cursor, parse_scan_opts
    from ..glob import glob_match

    cursor = parse_cursor(args[2])
    pattern, count, _ = parse_scan_opts(args, 3)
    z = _z(s, args[1])
    if z is None:
        return [b"0", []]
    items = z.index[cursor:cursor + count]
    nxt = cursor + count if cursor + count < len(z) else 0
    out = []
    for sc, m in items:
        if pattern is None or glob_match(pattern, m):
            out += [m, format_double(sc)]
    return [b"%d" % nxt, out]
