"""Model values (what the RDB readers yield, rdbtools.model) as keyspace values.

The one conversion a snapshot's records go through into the engine: ``records.load_records``
for a loaded file, ``compact.thaw`` for a value kept encoded until a command needs it.
"""

from __future__ import annotations

from collections import deque

from ..rdbtools import model
from .reply import CommandError
from .values import Consumer, Group, Hash, PendingEntry, Stream, ZSet


def value_from_model(rtype: str, value, field_expires=None):
    """A model value (Record.value) as a keyspace value."""
    if rtype == model.STRING:
        return bytes(value)
    if rtype == model.LIST:
        return deque(bytes(x) for x in value)
    if rtype == model.SET:
        return set(bytes(x) for x in value)
    if rtype == model.ZSET:
        z = ZSet()
        for m, sc in value:
            z.add(bytes(m), float(sc))
        return z
    if rtype == model.HASH:
        h = Hash((bytes(f), bytes(v)) for f, v in value)
        if field_expires:
            h.fexp = {bytes(f): int(t) for f, t in field_expires.items()}
        return h
    if rtype == model.STREAM:
        return stream_from_model(value)
    raise CommandError(f"ERR unsupported value type {rtype}")


def stream_from_model(sv: model.StreamValue) -> Stream:
    st = Stream()
    for e in sv.entries():
        st.ids.append(tuple(e.id))
        st.entries[tuple(e.id)] = [(bytes(f), bytes(v)) for f, v in e.fields]
    st.last_id = tuple(sv.last_id)
    st.first_id = tuple(sv.first_id) if sv.first_id is not None else (st.ids[0] if st.ids else (0, 0))
    st.max_deleted_id = tuple(sv.max_deleted_id) if sv.max_deleted_id is not None else (0, 0)
    st.entries_added = sv.entries_added if sv.entries_added is not None else len(st.ids)
    for g in sv.groups:
        grp = Group(bytes(g.name), tuple(g.last_id), -1 if g.entries_read is None else g.entries_read)
        for p in g.pel:
            grp.pel[tuple(p.id)] = PendingEntry(p.consumer or b"", p.delivery_time_ms, p.delivery_count)
        for c in g.consumers:
            cons = Consumer(bytes(c.name), c.seen_time_ms, c.active_time_ms)
            for pid in c.pel:
                nack = grp.pel.get(tuple(pid))
                if nack is None:
                    nack = PendingEntry(cons.name, 0, 1)
                    grp.pel[tuple(pid)] = nack
                nack.consumer = cons.name
                cons.pel[tuple(pid)] = nack
            grp.consumers[cons.name] = cons
        st.groups[grp.name] = grp
    return st
