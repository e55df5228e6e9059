"""Canonical forms of keyspace values, so that equal content compares equal whatever
the order it was built in (hash insertion order, dict order of stream groups...)."""

from __future__ import annotations

from collections import deque

from persistkit.kvengine.values import Hash, Stream, ZSet


def canonical(v):
    """A comparable, order-independent form of a keyspace value (field TTLs excluded)."""
    t = type(v)
    if t is bytes:
        return v
    if t is deque:
        return tuple(v)
    if t is set:
        return frozenset(v)
    if t is ZSet:
        return tuple(v.index)
    if t is Hash:
        return frozenset(v.items())
    if t is Stream:
        return stream_canonical(v)
    return v


def stream_canonical(st: Stream) -> tuple:
    groups = []
    for g in sorted(st.groups.values(), key=lambda g: g.name):
        pel = tuple(sorted((sid, n.consumer, n.delivery_time, n.delivery_count) for sid, n in g.pel.items()))
        consumers = tuple(sorted((c.name, c.seen_time, c.active_time, tuple(sorted(c.pel)))
                                 for c in g.consumers.values()))
        groups.append((g.name, tuple(g.last_id), g.entries_read, pel, consumers))
    entries = tuple((sid, tuple(st.entries[sid])) for sid in st.ids)
    return (entries, tuple(st.last_id), tuple(st.first_id), tuple(st.max_deleted_id),
            st.entries_added, tuple(groups))


def field_ttls(v):
    fexp = getattr(v, "fexp", None)
    return dict(fexp) if fexp else None
