"""List commands (redis/src/t_list.c). Blocking variants answer at once (no blocking
clients in this engine): BLPOP & co behave like their non-blocking form or time out."""

from __future__ import annotations

from collections import deque
from itertools import islice

from ..numbers import get_int, get_positive_int
from ..reply import NIL_ARRAY, NO_SUCH_KEY, OK, OUT_OF_RANGE, SYNTAX, CommandError
from ..table import command
from .common import norm_range


def _list(s, key):
    return s.lookup_as(key, deque)


def _drop_if_empty(s, key, lst):
    if not lst:
        s.delete(key)


def _push(s, args, left: bool, only_existing: bool):
    key = args[1]
    lst = _list(s, key)
    if lst is None:
        if only_existing:
            return 0
        lst = deque()
        s.set_key(key, lst)
    if left:
        lst.extendleft(args[2:])
    else:
        lst.extend(args[2:])
    s.touch(len(args) - 2)
    return len(lst)


@command("lpush", -3, "write denyoom fast")
def lpush(s, args):
    return _push(s, args, True, False)


@command("rpush", -3, "write denyoom fast")
def rpush(s, args):
    return _push(s, args, False, False)


@command("lpushx", -3, "write denyoom fast")
def lpushx(s, args):
    return _push(s, args, True, True)


@command("rpushx", -3, "write denyoom fast")
def rpushx(s, args):
    return _push(s, args, False, True)


def _pop(s, args, left: bool):
    key = args[1]
    count = None
    if len(args) > 3:
        raise CommandError(SYNTAX)
    if len(args) == 3:
        count = get_positive_int(args[2])
    lst = _list(s, key)
    if lst is None:
        return None if count is None else NIL_ARRAY
    if count is None:
        v = lst.popleft() if left else lst.pop()
        _drop_if_empty(s, key, lst)
        s.touch()
        return v
    n = min(count, len(lst))
    out = [lst.popleft() if left else lst.pop() for _ in range(n)]
    _drop_if_empty(s, key, lst)
    if n:
        s.touch()
    return out


@command("lpop", -2, "write fast")
def lpop(s, args):
    return _pop(s, args, True)


@command("rpop", -2, "write fast")
def rpop(s, args):
    return _pop(s, args, False)


@command("llen", 2, "readonly fast")
def llen(s, args):
    lst = _list(s, args[1])
    return 0 if lst is None else len(lst)


@command("lrange", 4, "readonly")
def lrange(s, args):
    start, end = get_int(args[2]), get_int(args[3])
    lst = _list(s, args[1])
    if lst is None:
        return []
    r = norm_range(start, end, len(lst))
    if r is None:
        return []
    return list(islice(lst, r[0], r[1] + 1))


@command("lindex", 3, "readonly")
def lindex(s, args):
    lst = _list(s, args[1])          # lindexCommand: the key first, then the index
    if lst is None:
        return None
    idx = get_int(args[2])
    if idx < 0:
        idx += len(lst)
    if idx < 0 or idx >= len(lst):
        return None
    return lst[idx]


@command("lset", 4, "write denyoom")
def lset(s, args):
    lst = _list(s, args[1])          # lsetCommand: no such key, type, then the index
    if lst is None:
        raise CommandError(NO_SUCH_KEY)
    idx = get_int(args[2])
    if idx < 0:
        idx += len(lst)
    if idx < 0 or idx >= len(lst):
        raise CommandError(OUT_OF_RANGE)
    lst[idx] = args[3]
    s.touch()
    return OK


@command("linsert", 5, "write denyoom")
def linsert(s, args):
    where = args[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(SYNTAX)
    lst = _list(s, args[1])
    if lst is None:
        return 0
    try:
        i = lst.index(args[3])
    except ValueError:
        return -1
    lst.insert(i if where == b"BEFORE" else i + 1, args[4])
    s.touch()
    return len(lst)


@command("lrem", 4, "write")
def lrem(s, args):
    count = get_int(args[2])
    key, val = args[1], args[3]
    lst = _list(s, key)
    if lst is None:
        return 0
    items = list(lst)
    removed = 0
    if count >= 0:
        out = []
        for x in items:
            if x == val and (count == 0 or removed < count):
                removed += 1
            else:
                out.append(x)
    else:
        out = []
        for x in reversed(items):
            if x == val and removed < -count:
                removed += 1
            else:
                out.append(x)
        out.reverse()
    if removed:
        lst.clear()
        lst.extend(out)
        _drop_if_empty(s, key, lst)
        s.touch(removed)
    return removed


@command("ltrim", 4, "write")
def ltrim(s, args):
    start, end = get_int(args[2]), get_int(args[3])
    key = args[1]
    lst = _list(s, key)
    if lst is None:
        return OK
    r = norm_range(start, end, len(lst))
    keep = [] if r is None else list(islice(lst, r[0], r[1] + 1))
    lst.clear()
    lst.extend(keep)
    _drop_if_empty(s, key, lst)
    s.touch()
    return OK


@command("lpos", -3, "readonly")
def lpos(s, args):
    rank, count, maxlen = 1, None, 0
    i = 3
    while i < len(args):
        o = args[i].upper()
        if i + 1 >= len(args):
            raise CommandError(SYNTAX)
        if o == b"RANK":
            rank = get_int(args[i + 1])
            if rank == 0:
                raise CommandError("ERR RANK can't be zero: use 1 to start from the first match, "
                                   "2 from the second ... or use negative to start from the end of the list")
        elif o == b"COUNT":
            count = get_int(args[i + 1])
            if count < 0:
                raise CommandError("ERR COUNT can't be negative")
        elif o == b"MAXLEN":
            maxlen = get_int(args[i + 1])
            if maxlen < 0:
                raise CommandError("ERR MAXLEN can't be negative")
        else:
            raise CommandError(SYNTAX)
        i += 2
    lst = _list(s, args[1])
    if lst is None:
        return None if count is None else []
    items = list(lst)
    idxs = range(len(items)) if rank > 0 else range(len(items) - 1, -1, -1)
    matches = []
    skip = abs(rank) - 1
    for n, idx in enumerate(idxs):
        if maxlen and n >= maxlen:
            break
        if items[idx] == args[2]:
            if skip:
                skip -= 1
                continue
            matches.append(idx)
            if count is not None and count and len(matches) >= count:
                break
            if count is None:
                break
    if count is None:
        return matches[0] if matches else None
    return matches


def _move(s, src, dst, wherefrom: bytes, whereto: bytes):
    lst = _list(s, src)
    if lst is None:
        return None
    dlst = _list(s, dst)
    v = lst.popleft() if wherefrom == b"LEFT" else lst.pop()
    if dlst is None:
        dlst = deque()
        s.set_key(dst, dlst)
    if whereto == b"LEFT":
        dlst.appendleft(v)
    else:
        dlst.append(v)
    if not lst:
        s.delete(src)
    s.touch()
    return v


def _where(b: bytes) -> bytes:
    w = b.upper()
    if w not in (b"LEFT", b"RIGHT"):
        raise CommandError(SYNTAX)
    return w


@command("rpoplpush", 3, "write denyoom", keys=(1, 2, 1))
def rpoplpush(s, args):
    return _move(s, args[1], args[2], b"RIGHT", b"LEFT")


@command("lmove", 5, "write denyoom", keys=(1, 2, 1))
def lmove(s, args):
    return _move(s, args[1], args[2], _where(args[3]), _where(args[4]))


@command("blmove", 6, "write denyoom", keys=(1, 2, 1))
def blmove(s, args):
    wf, wt = _where(args[3]), _where(args[4])
    r = _move(s, args[1], args[2], wf, wt)
    if r is not None:
        s.propagate([b"LMOVE", args[1], args[2], wf, wt])
    return r


@command("brpoplpush", 4, "write denyoom", keys=(1, 2, 1))
def brpoplpush(s, args):
    r = _move(s, args[1], args[2], b"RIGHT", b"LEFT")
    if r is not None:
        s.propagate([b"RPOPLPUSH", args[1], args[2]])
    return r


def _bpop(s, args, left: bool):
    # No blocking: the first non-empty list answers, else the timeout reply.
    for key in args[1:-1]:
        lst = _list(s, key)
        if lst:
            v = lst.popleft() if left else lst.pop()
            if not lst:
                s.delete(key)
            s.touch()
            s.propagate([b"LPOP" if left else b"RPOP", key])
            return [key, v]
    return NIL_ARRAY


@command("blpop", -3, "write", keys=(1, -2, 1))
def blpop(s, args):
    return _bpop(s, args, True)


@command("brpop", -3, "write", keys=(1, -2, 1))
def brpop(s, args):
    return _bpop(s, args, False)


def _lmpop(s, args, first: int, name: str):
    numkeys = get_int(args[first])
    if numkeys <= 0:
        raise CommandError("ERR numkeys should be greater than 0")
    keys_ = args[first + 1:first + 1 + numkeys]
    if len(keys_) != numkeys or first + 1 + numkeys >= len(args):
        raise CommandError(SYNTAX)
    rest = args[first + 1 + numkeys:]
    where = rest[0].upper()
    if where not in (b"LEFT", b"RIGHT"):
        raise CommandError(SYNTAX)
    count = 1
    if len(rest) == 3 and rest[1].upper() == b"COUNT":
        count = get_int(rest[2])
        if count <= 0:
            raise CommandError("ERR count should be greater than 0")
    elif len(rest) != 1:
        raise CommandError(SYNTAX)
    for key in keys_:
        lst = _list(s, key)
        if lst:
            n = min(count, len(lst))
            out = [lst.popleft() if where == b"LEFT" else lst.pop() for _ in range(n)]
            if not lst:
                s.delete(key)
            s.touch()
            s.propagate([b"LPOP" if where == b"LEFT" else b"RPOP", key, b"%d" % n])
            return [key, out]
    return NIL_ARRAY


@command("lmpop", -4, "write", keys=(0, 0, 0))
def lmpop(s, args):
    return _lmpop(s, args, 1, "lmpop")


@command("blmpop", -5, "write", keys=(0, 0, 0))
def blmpop(s, args):
    return _lmpop(s, args, 2, "blmpop")
