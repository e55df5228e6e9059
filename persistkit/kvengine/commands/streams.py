"""Stream commands (redis/src/t_stream.c, 7.0 semantics) and their AOF forms.

XREADGROUP is logged as XCLAIM ... FORCE JUSTID LASTID (+ XGROUP SETID when only the
group's last id moved), the way streamPropagateXCLAIM does, so a replay rebuilds PELs.
"""

from __future__ import annotations

from ..numbers import get_int, parse_int
from ..reply import NIL_ARRAY, OK, SYNTAX, CommandError, Map, PairMap, unknown_subcommand
from ..table import command
from ..values import UINT64_MAX, Consumer, Group, PendingEntry, Stream

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
NOGROUP = "NOGROUP No such key '{key}' or consumer group '{group}' in XREADGROUP with GROUP option"


def _s(s, key):
    return s.lookup_as(key, Stream)


def fmt_id(sid) -> bytes:
    return b"%d-%d" % sid


def parse_id(b: bytes, missing_seq: int = 0, *, strict: bool = False):
    """'ms-seq' | 'ms' (seq = missing_seq) | '-' | '+' -> (ms, seq)."""
    if not strict:
        if b == b"-":
            return (0, 0)
        if b == b"+":
            return (UINT64_MAX, UINT64_MAX)
    ms_b, dash, seq_b = b.partition(b"-")
    ms = _u64(ms_b)
    if dash:
        seq = _u64(seq_b)
    else:
        seq = missing_seq
    return (ms, seq)


def _u64(b: bytes) -> int:
    if not b or not b.isdigit() or len(b) > 20:
        raise CommandError(INVALID_ID)
    v = int(b)
    if v > UINT64_MAX:
        raise CommandError(INVALID_ID)
    return v


def _entry_reply(st: Stream, sid):
    fields = st.entries[sid]
    flat = []
    for f, v in fields:
        flat.append(f)
        flat.append(v)
    return [fmt_id(sid), flat]


def _next_id(last, now):
    if now > last[0]:
        return (now, 0)
    if last[1] == UINT64_MAX:
        if last[0] == UINT64_MAX:
            return None
        return (last[0] + 1, 0)
    return (last[0], last[1] + 1)


def _parse_trim(args, i):
    """MAXLEN|MINID [=|~] threshold [LIMIT n] at args[i] -> (strategy, threshold, approx, limit, next i)."""
    strategy = args[i].upper()
    i += 1
    approx = False
    if i < len(args) and args[i] in (b"=", b"~"):
        approx = args[i] == b"~"
        i += 1
    if i >= len(args):
        raise CommandError(SYNTAX)
    if strategy == b"MAXLEN":
        thr = parse_int(args[i])
        if thr is None:
            raise CommandError("ERR value is not an integer or out of range")
        if thr < 0:
            raise CommandError("ERR The MAXLEN argument must be >= 0.")
    else:
        thr = parse_id(args[i], 0, strict=True)
    i += 1
    limit = None
    if i + 1 < len(args) and args[i].upper() == b"LIMIT":
        limit = get_int(args[i + 1])
        if not approx:
            raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")
        i += 2
    return strategy, thr, approx, limit, i


def _trim(st: Stream, strategy, thr) -> int:
    """Exact trimming (approximate requests trim exactly too; that is always allowed)."""
    if strategy == b"MAXLEN":
        n = max(0, len(st.ids) - thr)
    else:
        from bisect import bisect_left

        n = bisect_left(st.ids, thr)
    if n <= 0:
        return 0
    for sid in st.ids[:n]:
        del st.entries[sid]
    del st.ids[:n]
    st.first_id = st.ids[0] if st.ids else (0, 0)
    return n


@command("xadd", -5, "write denyoom fast")
def xadd(s, args):
    key = args[1]
    i = 2
    nomk = False
    trim = None
    while i < len(args):
        o = args[i].upper()
        if o == b"NOMKSTREAM":
            nomk = True
            i += 1
        elif o in (b"MAXLEN", b"MINID"):
            strategy, thr, approx, limit, i = _parse_trim(args, i)
            trim = (strategy, thr)
        else:
            break
    if i >= len(args):
        raise CommandError(SYNTAX)
    id_arg = args[i]
    pairs = args[i + 1:]
    if not pairs or len(pairs) % 2:
        raise CommandError("ERR wrong number of arguments for 'xadd' command")
    auto_seq = False
    explicit = None
    if id_arg != b"*":
        if id_arg.endswith(b"-*"):
            explicit = (_u64(id_arg[:-2]), 0)
            auto_seq = True
        else:
            explicit = parse_id(id_arg, 0, strict=True)
        if explicit == (0, 0) and not auto_seq:
            raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    st = _s(s, key)
    if st is None:
        if nomk:
            return None
        st = Stream()
        created = True
    else:
        created = False
    last = st.last_id
    if explicit is None:
        sid = _next_id(last, s.now)
        if sid is None:
            raise CommandError("ERR The stream has exhausted the last possible ID, unable to add more items")
    elif auto_seq:
        if explicit[0] > last[0]:
            sid = (explicit[0], 0)
        elif explicit[0] == last[0]:
            if last[1] == UINT64_MAX:
                raise CommandError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
            sid = (last[0], last[1] + 1)
        else:
            raise CommandError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    else:
        sid = explicit
        if sid <= last:
            raise CommandError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    if created:
        s.set_key(key, st)
    st.append(sid, [(pairs[j], pairs[j + 1]) for j in range(0, len(pairs), 2)])
    if trim is not None:
        _trim(st, *trim)
    s.touch()
    if explicit is None or auto_seq or trim is not None:
        out = list(args)
        out[i] = fmt_id(sid)
        out = [b"=" if a == b"~" else a for a in out[:i]] + out[i:]
        s.propagate(out)
    return fmt_id(sid)


@command("xlen", 2, "readonly fast")
def xlen(s, args):
    st = _s(s, args[1])
    return 0 if st is None else len(st)


@command("xdel", -3, "write fast")
def xdel(s, args):
    st = _s(s, args[1])
    ids = [parse_id(a, 0, strict=True) for a in args[2:]]
    if st is None:
        return 0
    n = sum(1 for sid in ids if st.delete(sid))
    s.touch(n)
    return n


@command("xtrim", -4, "write")
def xtrim(s, args):
    if args[2].upper() not in (b"MAXLEN", b"MINID"):
        raise CommandError(SYNTAX)
    strategy, thr, approx, limit, i = _parse_trim(args, 2)
    if i != len(args):
        raise CommandError(SYNTAX)
    st = _s(s, args[1])
    if st is None:
        return 0
    n = _trim(st, strategy, thr)
    if n:
        s.touch(n)
        s.propagate([b"=" if a == b"~" else a for a in args])
    return n


def _range_bound(b: bytes, start: bool):
    ex = b[:1] == b"("
    if ex:
        b = b[1:]
        if b in (b"-", b"+"):
            raise CommandError("ERR invalid start ID for the interval" if start else "ERR invalid end ID for the interval")
    sid = parse_id(b, 0 if start else UINT64_MAX)
    if ex:
        if start:
            if sid == (UINT64_MAX, UINT64_MAX):
                return None
            sid = (sid[0], sid[1] + 1) if sid[1] < UINT64_MAX else (sid[0] + 1, 0)
        else:
            if sid == (0, 0):
                return None
            sid = (sid[0], sid[1] - 1) if sid[1] > 0 else (sid[0] - 1, UINT64_MAX)
    return sid


def _xrange(s, args, rev: bool):
    a, b = (args[3], args[2]) if rev else (args[2], args[3])
    start, end = _range_bound(a, True), _range_bound(b, False)
    count = None
    if len(args) == 6 and args[4].upper() == b"COUNT":
        count = get_int(args[5])
    elif len(args) != 4:
        raise CommandError(SYNTAX)
    st = _s(s, args[1])
    if st is None or start is None or end is None or count == 0:
        return []
    i, j = st.range_indices(start, end)
    ids = st.ids[i:j]
    if rev:
        ids = ids[::-1]
    if count is not None and count > 0:
        ids = ids[:count]
    return [_entry_reply(st, sid) for sid in ids]


@command("xrange", -4, "readonly")
def xrange(s, args):
    return _xrange(s, args, False)


@command("xrevrange", -4, "readonly")
def xrevrange(s, args):
    return _xrange(s, args, True)


def _streams_arg(args, i):
    rest = args[i:]
    if not rest or len(rest) % 2:
        raise CommandError("ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.")
    half = len(rest) // 2
    return rest[:half], rest[half:]


@command("xread", -4, "readonly", keys=(0, 0, 0))
def xread(s, args):
    count = None
    i = 1
    while i < len(args):
        o = args[i].upper()
        if o == b"COUNT" and i + 1 < len(args):
            count = get_int(args[i + 1])
            i += 2
        elif o == b"BLOCK" and i + 1 < len(args):
            get_int(args[i + 1])
            i += 2
        elif o == b"STREAMS":
            i += 1
            break
        else:
            raise CommandError(SYNTAX)
    else:
        raise CommandError(SYNTAX)
    keys_, ids = _streams_arg(args, i)
    out = []
    for key, ida in zip(keys_, ids):
        st = _s(s, key)
        if ida == b"$":
            continue
        last = parse_id(ida, 0) if ida != b"+" else None
        if st is None:
            continue
        if last is None:
            sel = st.ids[-1:]
        else:
            from bisect import bisect_right

            sel = st.ids[bisect_right(st.ids, last):]
        if count:
            sel = sel[:count]
        if sel:
            out.append((key, [_entry_reply(st, sid) for sid in sel]))
    return PairMap(out) if out else NIL_ARRAY


# -- consumer groups --------------------------------------------------------------

def _group(s, key, name, cmd="XREADGROUP"):
    st = _s(s, key)
    g = None if st is None else st.groups.get(name)
    if g is None:
        raise CommandError(f"NOGROUP No such key '{key.decode('utf-8', 'replace')}' or consumer group "
                           f"'{name.decode('utf-8', 'replace')}' in {cmd} with GROUP option"
                           if cmd == "XREADGROUP" else
                           f"NOGROUP No such key '{key.decode('utf-8', 'replace')}' or consumer group "
                           f"'{name.decode('utf-8', 'replace')}'")
    return st, g


def _consumer(g: Group, name: bytes, now: int, create: bool = True, active=None):
    c = g.consumers.get(name)
    if c is None and create:
        c = Consumer(name, now, active)
        g.consumers[name] = c
    return c


def _propagate_claim(s, key, g, cname, sid, nack):
    s.propagate([b"XCLAIM", key, g.name, cname, b"0", fmt_id(sid), b"TIME", b"%d" % nack.delivery_time,
                 b"RETRYCOUNT", b"%d" % nack.delivery_count, b"FORCE", b"JUSTID", b"LASTID", fmt_id(g.last_id)])


def _propagate_setid(s, key, g):
    s.propagate([b"XGROUP", b"SETID", key, g.name, fmt_id(g.last_id),
                 b"ENTRIESREAD", b"%d" % g.entries_read])


@command("xgroup", -2, "write")
def xgroup(s, args):
    sub = args[1].upper()
    if sub == b"HELP":
        return [b"XGROUP <subcommand>: CREATE, CREATECONSUMER, DELCONSUMER, DESTROY, SETID"]
    need = {b"CREATE": 5, b"SETID": 5, b"DESTROY": 4, b"CREATECONSUMER": 5, b"DELCONSUMER": 5}
    if sub not in need or len(args) < need[sub]:
        raise unknown_subcommand(args[1], "xgroup")
    key, gname = args[2], args[3]
    st = _s(s, key)
    if sub == b"CREATE":
        mkstream = False
        entries_read = -1
        i = 5
        while i < len(args):
            o = args[i].upper()
            if o == b"MKSTREAM":
                mkstream = True
            elif o == b"ENTRIESREAD" and i + 1 < len(args):
                entries_read = get_int(args[i + 1])
                if entries_read < 0 and entries_read != -1:
                    raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
                i += 1
            else:
                raise CommandError(SYNTAX)
            i += 1
        if st is None and not mkstream:
            raise CommandError("ERR The XGROUP subcommand requires the key to exist. Note that for "
                               "CREATE you may want to use the MKSTREAM option to create an empty stream "
                               "automatically.")
        if args[4] == b"$":
            sid = st.last_id if st is not None else (0, 0)
        else:
            sid = parse_id(args[4], 0, strict=True)
        if st is None:
            st = Stream()
            s.set_key(key, st)
        if gname in st.groups:
            raise CommandError("BUSYGROUP Consumer Group name already exists")
        st.groups[gname] = Group(gname, sid, entries_read)
        s.touch()
        return OK
    if st is None:
        raise CommandError("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE "
                           "you may want to use the MKSTREAM option to create an empty stream automatically.")
    g = st.groups.get(gname)
    if sub == b"DESTROY":
        if g is None:
            return 0
        del st.groups[gname]
        s.touch()
        return 1
    if g is None:
        raise CommandError(f"NOGROUP No such consumer group '{gname.decode('utf-8', 'replace')}' "
                           f"for key name '{key.decode('utf-8', 'replace')}'")
    if sub == b"SETID":
        entries_read = -1
        if len(args) == 7 and args[5].upper() == b"ENTRIESREAD":
            entries_read = get_int(args[6])
        elif len(args) != 5:
            raise CommandError(SYNTAX)
        g.last_id = st.last_id if args[4] == b"$" else parse_id(args[4], 0, strict=True)
        g.entries_read = entries_read
        s.touch()
        return OK
    cname = args[4]
    if sub == b"CREATECONSUMER":
        if cname in g.consumers:
            return 0
        _consumer(g, cname, s.now)
        s.touch()
        return 1
    # DELCONSUMER
    c = g.consumers.pop(cname, None)
    if c is None:
        return 0
    for sid in c.pel:
        g.pel.pop(sid, None)
    s.touch()
    return len(c.pel)


@command("xsetid", -3, "write denyoom fast")
def xsetid(s, args):
    key = args[1]
    sid = parse_id(args[2], 0, strict=True)
    added = maxdel = None
    i = 3
    while i < len(args):
        o = args[i].upper()
        if o == b"ENTRIESADDED" and i + 1 < len(args):
            added = get_int(args[i + 1])
            if added < 0:
                raise CommandError("ERR entries_added must be positive")
        elif o == b"MAXDELETEDID" and i + 1 < len(args):
            maxdel = parse_id(args[i + 1], 0, strict=True)
        else:
            raise CommandError(SYNTAX)
        i += 2
    if maxdel is not None and sid < maxdel:   # checked before the key (xsetidCommand)
        raise CommandError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
    st = _s(s, key)
    if st is None:
        raise CommandError("ERR no such key")
    if added is not None and len(st) > added:
        raise CommandError("ERR The entries_added specified in XSETID is smaller than the target stream length")
    if st.ids and sid < st.ids[-1]:
        raise CommandError("ERR The ID specified in XSETID is smaller than the target stream top item")
    st.last_id = sid
    if added is not None:
        st.entries_added = added
    if maxdel is not None:
        st.max_deleted_id = maxdel
    s.touch()
    return OK


@command("xreadgroup", -7, "write", keys=(0, 0, 0))
def xreadgroup(s, args):
    if args[1].upper() != b"GROUP":
        raise CommandError(SYNTAX)
    gname, cname = args[2], args[3]
    count = None
    noack = False
    i = 4
    while i < len(args):
        o = args[i].upper()
        if o == b"COUNT" and i + 1 < len(args):
            count = get_int(args[i + 1])
            i += 2
        elif o == b"BLOCK" and i + 1 < len(args):
            get_int(args[i + 1])
            i += 2
        elif o == b"NOACK":
            noack = True
            i += 1
        elif o == b"STREAMS":
            i += 1
            break
        else:
            raise CommandError(SYNTAX)
    else:
        raise CommandError(SYNTAX)
    keys_, ids = _streams_arg(args, i)
    for key, ida in zip(keys_, ids):  # validate everything first, like Redis
        _group(s, key, gname)
        if ida != b">":
            parse_id(ida, 0)
    out = []
    for key, ida in zip(keys_, ids):
        st, g = _group(s, key, gname)
        if ida == b">":
            from bisect import bisect_right

            sel = st.ids[bisect_right(st.ids, g.last_id):]
            if count:
                sel = sel[:count]
            if not sel:
                continue   # nothing to serve: no consumer is created (xreadCommand)
        c = g.consumers.get(cname)
        if c is None:
            c = _consumer(g, cname, s.now)
            s.touch()
            if noack:   # no XCLAIM will carry it: streamPropagateConsumerCreation
                s.propagate([b"XGROUP", b"CREATECONSUMER", key, gname, cname])
        c.seen_time = s.now
        if ida == b">":
            if s.ks.compat >= (7, 2):
                c.active_time = s.now
            entries = []
            for sid in sel:
                # streamReplyWithRange: count reads while the counter is exact, else estimate
                if g.entries_read != -1 and not _has_tombstones(st, sid):
                    g.entries_read += 1
                elif st.entries_added:
                    g.entries_read = _estimate_entries_read(st, sid)
                g.last_id = sid
                if not noack:
                    old = g.pel.get(sid)
                    if old is not None:
                        prev = g.consumers.get(old.consumer)
                        if prev is not None:
                            prev.pel.pop(sid, None)
                    nack = PendingEntry(cname, s.now, 1)
                    g.pel[sid] = nack
                    c.pel[sid] = nack
                    _propagate_claim(s, key, g, cname, sid, nack)
                entries.append(_entry_reply(st, sid))
            s.touch()
            if noack:   # without PEL entries no XCLAIM carries the new last id
                _propagate_setid(s, key, g)
            out.append((key, entries))
        else:
            # history (the consumer's own PEL): a re-delivery that counts, but 7.0 does not
            # log it (streamReplyWithRangeFromConsumerPEL); ids whose message is gone come
            # with a nil array
            start = parse_id(ida, 0)
            pend = sorted(x for x in c.pel if x > start)
            if count:
                pend = pend[:count]
            entries = []
            for sid in pend:
                if sid not in st.entries:
                    entries.append([fmt_id(sid), NIL_ARRAY])
                    continue
                nack = c.pel[sid]
                nack.delivery_time = s.now
                nack.delivery_count += 1
                entries.append(_entry_reply(st, sid))
            out.append((key, entries))
    if s.prop is None:
        s.propagate()  # nothing to log (reads only)
    return PairMap(out) if out else NIL_ARRAY


@command("xack", -4, "write fast")
def xack(s, args):
    ids = [parse_id(a, 0, strict=True) for a in args[3:]]
    st = _s(s, args[1])
    if st is None or args[2] not in st.groups:
        return 0
    g = st.groups[args[2]]
    n = 0
    for sid in ids:
        nack = g.pel.pop(sid, None)
        if nack is not None:
            c = g.consumers.get(nack.consumer)
            if c is not None:
                c.pel.pop(sid, None)
            n += 1
    s.touch(n)
    return n


@command("xclaim", -6, "write fast")
def xclaim(s, args):
    key, gname, cname = args[1], args[2], args[3]
    min_idle = get_int(args[4], "ERR Invalid min-idle-time argument for XCLAIM")
    if min_idle < 0:
        min_idle = 0
    ids = []
    i = 5
    while i < len(args):
        try:
            ids.append(parse_id(args[i], 0, strict=True))
        except CommandError:
            break
        i += 1
    deliverytime = None
    retrycount = None
    force = justid = False
    lastid = None
    while i < len(args):
        o = args[i].upper()
        more = i + 1 < len(args)
        if o == b"FORCE":
            force = True
        elif o == b"JUSTID":
            justid = True
        elif o == b"IDLE" and more:
            deliverytime = s.now - get_int(args[i + 1], "ERR Invalid IDLE option argument for XCLAIM")
            i += 1
        elif o == b"TIME" and more:
            deliverytime = get_int(args[i + 1], "ERR Invalid TIME option argument for XCLAIM")
            i += 1
        elif o == b"RETRYCOUNT" and more:
            retrycount = get_int(args[i + 1], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
            i += 1
        elif o == b"LASTID" and more:
            lastid = parse_id(args[i + 1], 0, strict=True)
            i += 1
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{args[i].decode('utf-8', 'replace')}'")
        i += 1
    st, g = _group(s, key, gname, "XCLAIM")
    if deliverytime is not None and (deliverytime < 0 or deliverytime > s.now):
        deliverytime = s.now
    else:
        deliverytime = s.now if deliverytime is None else deliverytime
    changed = False
    if lastid is not None and lastid > g.last_id:
        g.last_id = lastid
        changed = True
    # 7.2+ creates the consumer up front, even when nothing ends up claimed; up to 7.0
    # it appears only with its first claimed entry.
    c = g.consumers.get(cname)
    if c is None and s.ks.compat >= (7, 2):
        c = _consumer(g, cname, s.now)
        s.touch()
        s.propagate([b"XGROUP", b"CREATECONSUMER", key, g.name, cname])
    if c is not None:
        c.seen_time = s.now
    out = []
    for sid in ids:
        nack = g.pel.get(sid)
        exists = sid in st.entries
        if nack is not None and not exists:
            # 7.0: a PEL entry whose message is gone is dropped (and not claimed)
            del g.pel[sid]
            prev = g.consumers.get(nack.consumer)
            if prev is not None:
                prev.pel.pop(sid, None)
            changed = True
            continue
        if nack is None:
            if not force or not exists:
                continue
            nack = PendingEntry(cname, deliverytime, 0)
            g.pel[sid] = nack
        elif min_idle and s.now - nack.delivery_time < min_idle:
            continue
        if c is None:
            c = _consumer(g, cname, s.now)
        prev = g.consumers.get(nack.consumer)
        if prev is not None and prev is not c:
            prev.pel.pop(sid, None)
        nack.consumer = cname
        nack.delivery_time = deliverytime
        if retrycount is not None:
            nack.delivery_count = retrycount
        elif not justid:
            nack.delivery_count += 1
        c.pel[sid] = nack
        if s.ks.compat >= (7, 2):
            c.active_time = s.now
        changed = True
        _propagate_claim(s, key, g, cname, sid, nack)
        out.append(fmt_id(sid) if justid else _entry_reply(st, sid))
    if changed:
        s.touch()
        if not any(op[1][0] == b"XCLAIM" for op in (s.prop or ())):
            _propagate_setid(s, key, g)
    return out


@command("xpending", -3, "readonly")
def xpending(s, args):
    st, g = _group(s, args[1], args[2], "XPENDING")
    if len(args) == 3:
        if not g.pel:
            return [0, None, None, NIL_ARRAY]
        ids = sorted(g.pel)
        per = {}
        for nack in g.pel.values():
            per[nack.consumer] = per.get(nack.consumer, 0) + 1
        return [len(ids), fmt_id(ids[0]), fmt_id(ids[-1]),
                [[name, b"%d" % n] for name, n in sorted(per.items())]]
    i = 3
    min_idle = 0
    if args[i].upper() == b"IDLE" and i + 1 < len(args):
        min_idle = get_int(args[i + 1])
        i += 2
    if len(args) < i + 3:
        raise CommandError(SYNTAX)
    start, end = _range_bound(args[i], True), _range_bound(args[i + 1], False)
    count = get_int(args[i + 2])
    cname = args[i + 3] if len(args) > i + 3 else None
    out = []
    if start is None or end is None:
        return out
    for sid in sorted(g.pel):
        if len(out) >= count:
            break
        nack = g.pel[sid]
        if not (start <= sid <= end) or (cname is not None and nack.consumer != cname):
            continue
        idle = s.now - nack.delivery_time
        if idle < min_idle:
            continue
        out.append([fmt_id(sid), nack.consumer, max(0, idle), nack.delivery_count])
    return out


def _has_tombstones(st: Stream, start) -> bool:
    """streamRangeHasTombstones(s, start, NULL): a deletion at or after ``start``."""
    if not st.ids or st.max_deleted_id == (0, 0):
        return False
    if st.first_id > st.max_deleted_id:   # the latest tombstone is before the first entry
        return False
    return start <= st.max_deleted_id


def _estimate_entries_read(st: Stream, sid) -> int:
    """streamEstimateDistanceFromFirstEverEntry; -1 when it cannot be known."""
    if not st.entries_added:
        return 0
    if not st.ids and sid <= st.last_id:
        return st.entries_added
    if sid == st.last_id:
        return st.entries_added
    if sid > st.last_id:
        return -1
    if st.max_deleted_id == (0, 0) or st.max_deleted_id < st.first_id:
        if sid < st.first_id:
            return st.entries_added - len(st.ids)
        if sid == st.first_id:
            return st.entries_added - len(st.ids) + 1
    return -1


def _lag(st: Stream, g: Group):
    if not st.entries_added:
        return 0
    if g.entries_read != -1 and not _has_tombstones(st, g.last_id):
        return st.entries_added - g.entries_read
    est = _estimate_entries_read(st, g.last_id)
    return None if est == -1 else st.entries_added - est


@command("xinfo", -2, "readonly", keys=(2, 2, 1))
def xinfo(s, args):
    sub = args[1].upper()
    if sub == b"HELP":
        return [b"XINFO <subcommand>: CONSUMERS, GROUPS, STREAM"]
    if len(args) < 3:
        raise CommandError(f"ERR wrong number of arguments for 'xinfo|{sub.decode().lower()}' command")
    st = _s(s, args[2])
    if st is None:
        raise CommandError("ERR no such key")
    if sub == b"GROUPS":
        return [Map([b"name", g.name, b"consumers", len(g.consumers), b"pending", len(g.pel),
                 b"last-delivered-id", fmt_id(g.last_id),
                 b"entries-read", None if g.entries_read == -1 else g.entries_read,
                 b"lag", _lag(st, g)]) for _, g in sorted(st.groups.items())]   # rax order
    if sub == b"CONSUMERS":
        g = st.groups.get(args[3]) if len(args) > 3 else None
        if g is None:
            raise CommandError("NOGROUP No such consumer group")
        # 7.0 fields (7.2 added "inactive" from active-time)
        return [Map([b"name", c.name, b"pending", len(c.pel), b"idle", max(0, s.now - c.seen_time)])
                for _, c in sorted(g.consumers.items())]
    if sub != b"STREAM":
        raise unknown_subcommand(args[1], "xinfo")
    full = len(args) > 3 and args[3].upper() == b"FULL"
    count = 10
    if full and len(args) == 6 and args[4].upper() == b"COUNT":
        count = get_int(args[5])
    head = [b"length", len(st), b"radix-tree-keys", max(1, (len(st) + 99) // 100) if st.ids else 0,
            b"radix-tree-nodes", max(1, (len(st) + 99) // 100) + 1 if st.ids else 1,
            b"last-generated-id", fmt_id(st.last_id), b"max-deleted-entry-id", fmt_id(st.max_deleted_id),
            b"entries-added", st.entries_added, b"recorded-first-entry-id", fmt_id(st.first_id)]
    if not full:
        return Map(head + [b"groups", len(st.groups),
                           b"first-entry", _entry_reply(st, st.ids[0]) if st.ids else None,
                           b"last-entry", _entry_reply(st, st.ids[-1]) if st.ids else None])
    ids = st.ids if count == 0 else st.ids[:count]
    groups = []
    for _, g in sorted(st.groups.items()):
        pel = sorted(g.pel.items())
        if count:
            pel = pel[:count]
        consumers = []
        for _, c in sorted(g.consumers.items()):
            cpel = sorted(c.pel.items())
            if count:
                cpel = cpel[:count]
            consumers.append(Map([b"name", c.name, b"seen-time", c.seen_time,
                                  b"pel-count", len(c.pel),
                                  b"pending", [[fmt_id(i), n.delivery_time, n.delivery_count] for i, n in cpel]]))
        groups.append(Map([b"name", g.name, b"last-delivered-id", fmt_id(g.last_id),
                       b"entries-read", None if g.entries_read == -1 else g.entries_read,
                       b"lag", _lag(st, g), b"pel-count", len(g.pel),
                       b"pending", [[fmt_id(i), n.consumer, n.delivery_time, n.delivery_count] for i, n in pel],
                           b"consumers", consumers]))
    return Map(head + [b"entries", [_entry_reply(st, sid) for sid in ids], b"groups", groups])
