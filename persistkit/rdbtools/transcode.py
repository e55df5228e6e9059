"""convert's compiled path: a value re-encoded straight from its stored bytes.

With ``encodings="keep"`` most values keep their type, and what the writer writes for
them is a function of the stored bytes alone: the reader's elements (``StreamValues``)
re-encoded by ``ValueEncoder`` with the reader's layout hints (quicklist node
boundaries, containers and compression). ``TranscodeValues`` is that reader strategy
with the per-type entries routed through the compiled ``rdbwrite.transcode``, which
computes the same bytes without building elements; the record's value is then an
``EncodedValue`` that the writer copies.

Whatever the compiled function leaves alone (a value the pure reader would reject or
treat specially: empty, duplicates inside a blob, NaN or unusual score texts, a value
longer than the read window allows) is read by the ordinary StreamValues entry from the
same position, so errors, offsets and the output stay those of the pure path
(tests/test_accel_writer.py runs both over the corpus and mutations).
"""

from __future__ import annotations

from typing import Optional

from persistkit.kvencoding.errors import FormatError
from persistkit.rdbtools import encoding_policy as policy
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op
from persistkit.rdbtools.strategies import StreamValues
from persistkit.rdbtools.writer import EncodedValue, ValueEncoder, _plain_by_size

# Source types the compiled transcoder reads, with the target types it writes for them.
_HANDLED = {
    op.T_STRING: (op.T_STRING,),
    op.T_LIST: (op.T_LIST,),
    op.T_SET: (op.T_SET,),
    op.T_HASH: (op.T_HASH,),
    op.T_ZSET_2: (op.T_ZSET_2,),
    op.T_SET_INTSET: (op.T_SET_INTSET,),
    op.T_HASH_LISTPACK: (op.T_HASH_LISTPACK, op.T_HASH_ZIPLIST),
    op.T_ZSET_LISTPACK: (op.T_ZSET_LISTPACK, op.T_ZSET_ZIPLIST),
    op.T_SET_LISTPACK: (op.T_SET_LISTPACK,),
    op.T_LIST_QUICKLIST_2: (op.T_LIST_QUICKLIST_2, op.T_LIST_QUICKLIST),
}
_FAMILY = {op.T_STRING: model.STRING, op.T_LIST: model.LIST, op.T_SET: model.SET,
           op.T_HASH: model.HASH, op.T_ZSET_2: model.ZSET, op.T_SET_INTSET: model.SET,
           op.T_HASH_LISTPACK: model.HASH, op.T_ZSET_LISTPACK: model.ZSET,
           op.T_SET_LISTPACK: model.SET, op.T_LIST_QUICKLIST_2: model.LIST}
# A value is looked for in at most this much of the read window (about the reader's
# chunk) before it is left to the streaming pure path, which never holds a huge value
# whole: a bigger window would hold the value, its body and the writer's copy at once.
MAX_WINDOW = 1 << 20


def target_types(enc: ValueEncoder, source_dialect: str) -> dict:
    """{source type: target type} for the types whose keep-target follows from the type
    alone (policy.keep_type without looking at the value)."""
    out = {}
    for t, fam in _FAMILY.items():
        probe = model.Record(db=0, key=b"", type=fam, rdb_type=t, encoding="", offset=0)
        try:
            dst = policy.keep_type(probe, enc.version, enc.dialect, enc.thresholds, source_dialect)
        except Exception:  # needs the value to decide: leave it to the pure path
            continue
        if dst in _HANDLED[t]:
            out[t] = dst
    return out


class TranscodeValues(StreamValues):
    """StreamValues whose entries for the handled types try the compiled transcoder first."""

    name = "transcode"

    def __init__(self, reader, *, big_strings: Optional[int] = None) -> None:
        super().__init__(reader, big_strings=big_strings)
        self._rw = None
        self._table: Optional[dict] = None
        self._entries: Optional[dict] = None

    def entries(self, table: dict) -> dict:
        # The reader keeps this dict: ``enable`` later swaps entries in it, in place.
        self._table = table
        self._entries = super().entries(table)
        return self._entries

    def enable(self, rw, enc: ValueEncoder) -> None:
        """Route the handled types through ``rw.transcode`` for the writer's encoder
        (known once the header is read and the target chosen)."""
        self._rw = rw
        base = self._entries
        table = self._table
        targets = target_types(enc, self.dialect)
        th = enc.thresholds
        plan_version = min(enc.version, 9)
        args = (enc.compress, enc.version, th.list_max_listpack_size, th.list_compress_depth,
                plan_version, _plain_by_size(plan_version, th.list_packed_threshold, enc.dialect),
                th.list_packed_threshold)
        for t, dst in targets.items():
            if t in base and policy_same_row(table, t):
                base[t] = self._entry(base[t], t, dst, args)

    def _entry(self, pure, t: int, dst: int, args: tuple):
        transcode = self._rw.transcode
        src = self.src
        fam = _FAMILY[t]

        def entry(rec: model.Record) -> None:
            while True:
                got = transcode(src.buf, src.pos, t, dst, *args)
                if got.__class__ is tuple:
                    body, end, count = got
                    src.pos = end
                    rec.value = EncodedValue(dst, body)
                    rec.size_hint = count
                    return
                have = len(src.buf) - src.pos
                if got == -1 and have < MAX_WINDOW:
                    # the value runs past the window: read more of the input, try again
                    try:
                        src.need(min(2 * have + 4096, MAX_WINDOW), "value")
                    except FormatError:
                        pass  # the input ends first: the pure entry reports it
                    if len(src.buf) - src.pos > have:
                        continue
                break
            pure(rec)
        entry.__name__ = f"transcode_{fam}_{t}"
        return entry


def policy_same_row(table: dict, t: int) -> bool:
    """The dialect's table reads type byte ``t`` with the reader this module mirrors."""
    row = table.get(t)
    return row is not None and getattr(row, "reader", None) in _READERS.get(t, ())


_READERS = {
    op.T_STRING: ("string",), op.T_LIST: ("plain_list",), op.T_SET: ("plain_set",),
    op.T_HASH: ("plain_hash",), op.T_ZSET_2: ("plain_zset",), op.T_SET_INTSET: ("intset",),
    op.T_HASH_LISTPACK: ("hash_blob",), op.T_ZSET_LISTPACK: ("zset_blob",),
    op.T_SET_LISTPACK: ("set_listpack",), op.T_LIST_QUICKLIST_2: ("quicklist",),
}
