"""The commands that rebuild one stream exactly, for every state a snapshot can hold.

    from persistkit.rdbtools.streamcmds import stream_commands
    for args in stream_commands(key, stream_value):   # model.StreamValue
        ...                                           # list[bytes], in order

Used by every RESP output of the package (``export --format resp`` of RDB and AOF
inputs, ``replay --resp`` / ``--to``, ``diff --commands``). Redis's own AOF rewrite
(aof.c ``rewriteStreamObject``) loses state the snapshot holds, and so did a plain
XADD / XGROUP CREATE / XCLAIM ... FORCE stream: XCLAIM of an ID that is no longer in
the stream creates no pending entry (t_stream.c ``xclaimCommand``: ``if
(!streamEntryExists(...)) continue``), so a message deleted after delivery (XREADGROUP,
then XDEL) lost its pending entry. The sequence here, checked against what each command
does to each counter in t_stream.c (Redis 7.0):

1. ``XADD`` every live entry, and a placeholder entry for every pending ID whose message
   is gone, in ID order (an empty stream with nothing pending: one entry added and
   trimmed at once, ``XADD key MAXLEN 0``).
2. ``XSETID key last ENTRIESADDED n MAXDELETEDID id``: the stream's metadata (the
   placeholders counted in: ENTRIESADDED may not be below the current length).
3. ``XGROUP CREATE key group last-delivered [ENTRIESREAD n]`` per group,
   ``XGROUP CREATECONSUMER`` per consumer (also those with nothing pending), and
   ``XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID`` per pending
   entry: FORCE creates it (the message exists now), TIME and RETRYCOUNT set the
   delivery time and count exactly, JUSTID keeps the count from being incremented.
4. The placeholders go: those older than the first live entry with ``XTRIM key MINID
   first`` (``MAXLEN 0`` when nothing is live), which leaves max_deleted_entry_id alone
   (``streamTrim`` does not touch it), the others with ``XDEL`` -- pending entries stay
   (XDEL and XTRIM never touch a PEL) -- then ``XSETID`` once more, since XDEL moves
   max_deleted_entry_id up. recorded-first-entry-id follows by itself: XADD, XTRIM and
   XDEL keep it at the first live entry (0-0 when none), as the source server did.

Streams stored without 7.0 metadata (RDB stream type 15, written before Redis 7.0) get
what a 7.0 server that loads the snapshot computes (rdb.c ``rdbLoadObject``):
entries_added = length, max_deleted_entry_id = 0-0, and per group the entries_read
estimate of ``streamEstimateDistanceFromFirstEverEntry``.

Not expressible with commands (the server sets them): consumers' seen-time and
active-time (XCLAIM and CREATECONSUMER stamp them with the current time); and for such
a pre-7.0 stream whose deleted pending message lies after the first live entry, the
XDEL that removes its placeholder leaves max_deleted_entry_id at that ID, where the
loading server shows 0-0 (XSETID cannot set it back to 0-0).
"""

from __future__ import annotations

from typing import Iterator, Optional

from persistkit.rdbtools import model

XDEL_BATCH = 500

# SCG_INVALID_ENTRIES_READ: a group whose entries_read is unknown (XINFO shows nil).
INVALID_ENTRIES_READ = -1


def _sid(sid) -> bytes:
    return b"%d-%d" % (sid[0], sid[1])


def estimated_entries_read(gid, *, entries_added: int, length: int, last_id, first_id,
                           max_deleted_id) -> int:
    """t_stream.c streamEstimateDistanceFromFirstEverEntry: a group's entries_read as a
    7.0 server estimates it when it loads a stream stored without it."""
    gid = tuple(gid)
    if not entries_added:
        return 0
    if not length and gid <= tuple(last_id):
        return entries_added
    if gid == tuple(last_id):
        return entries_added
    if gid > tuple(last_id):
        return INVALID_ENTRIES_READ
    first = tuple(first_id)
    md = tuple(max_deleted_id)
    if md == (0, 0) or md < first:
        if gid < first:
            return entries_added - length
        if gid == first:
            return entries_added - length + 1
    return INVALID_ENTRIES_READ


def stream_commands(key: bytes, sv: model.StreamValue) -> Iterator[list[bytes]]:
    """The commands that rebuild ``sv`` under ``key`` (see the module docstring)."""
    live = list(sv.entries())
    live_ids = {tuple(e.id) for e in live}
    pending_ids = {tuple(p.id) for g in sv.groups for p in g.pel}
    placeholders = sorted(pending_ids - live_ids)
    last_id = tuple(sv.last_id)

    # 1. entries and placeholders, in ID order
    added = 0
    ph = iter(placeholders)
    nxt = next(ph, None)
    for e in live:
        eid = tuple(e.id)
        while nxt is not None and nxt < eid:
            yield [b"XADD", key, _sid(nxt), b"_", b"_"]
            added += 1
            nxt = next(ph, None)
        args = [b"XADD", key, _sid(eid)]
        for f, x in e.fields:
            args += [f, x]
        yield args
        added += 1
    while nxt is not None:
        yield [b"XADD", key, _sid(nxt), b"_", b"_"]
        added += 1
        nxt = next(ph, None)
    if not added:
        # An empty stream with nothing pending: one entry added and trimmed at once.
        first = last_id if last_id != (0, 0) else (0, 1)
        yield [b"XADD", key, b"MAXLEN", b"0", _sid(first), b"_", b"_"]

    # 2. metadata
    first_live = tuple(live[0].id) if live else None
    if sv.entries_added is not None:
        entries_added = sv.entries_added
        max_deleted = tuple(sv.max_deleted_id or (0, 0))
        estimate = None
    else:
        # stored before 7.0: what a loading 7.0 server computes (rdbLoadObject)
        entries_added = len(live)
        max_deleted = (0, 0)
        estimate = dict(entries_added=entries_added, length=len(live), last_id=last_id,
                        first_id=first_live or (0, 0), max_deleted_id=max_deleted)
    yield [b"XSETID", key, _sid(last_id), b"ENTRIESADDED", b"%d" % max(entries_added, added),
           b"MAXDELETEDID", _sid(max_deleted)]

    # 3. groups, consumers, pending entries
    for g in sv.groups:
        create = [b"XGROUP", b"CREATE", key, g.name, _sid(g.last_id)]
        entries_read: Optional[int] = g.entries_read
        if estimate is not None:
            entries_read = estimated_entries_read(g.last_id, **estimate)
        if entries_read is not None and entries_read != INVALID_ENTRIES_READ:
            create += [b"ENTRIESREAD", b"%d" % entries_read]
        yield create
        owner = {}
        for c in g.consumers:
            yield [b"XGROUP", b"CREATECONSUMER", key, g.name, c.name]
            for pid in c.pel:
                owner[tuple(pid)] = c.name
        for p in g.pel:
            consumer = p.consumer if p.consumer is not None else owner.get(tuple(p.id))
            if consumer is None:
                continue  # owned by no consumer: no command can create that
            yield [b"XCLAIM", key, g.name, consumer, b"0", _sid(p.id), b"TIME",
                   b"%d" % p.delivery_time_ms, b"RETRYCOUNT", b"%d" % p.delivery_count,
                   b"FORCE", b"JUSTID"]

    # 4. placeholders out, metadata back
    if not placeholders:
        return
    if first_live is None:
        yield [b"XTRIM", key, b"MAXLEN", b"0"]
        deleted = []
    else:
        if placeholders[0] < first_live:
            yield [b"XTRIM", key, b"MINID", _sid(first_live)]
        deleted = [p for p in placeholders if p > first_live]
    for i in range(0, len(deleted), XDEL_BATCH):
        yield [b"XDEL", key, *(_sid(p) for p in deleted[i:i + XDEL_BATCH])]
    if deleted or added > entries_added:
        yield [b"XSETID", key, _sid(last_id), b"ENTRIESADDED", b"%d" % entries_added,
               b"MAXDELETEDID", _sid(max_deleted)]
