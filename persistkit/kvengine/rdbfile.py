"""RDB snapshot files of the engine: the keyspace through rdbtools.writer.RDBWriter, written
to a temp file, fsynced and renamed (rdb.c rdbSave); loading through rdbtools.reader."""

from __future__ import annotations

import os
from typing import Optional

from .. import accel
from ..kvencoding.fileio import fsync_dir  # noqa: F401  (used here and by aof.py)
from ..rdbtools.writer import RDBWriter

REDIS_VER = b"7.0.15"


def write_rdb(ks, stream, *, version: int = 10, aof_base: bool = False, compress: bool = True,
              checksum: bool = True, now_ms: Optional[int] = None) -> int:
    """The whole keyspace as an RDB (rdbSaveRio order: header, aux, functions, dbs, EOF)."""
    w = RDBWriter(stream, version=version, encodings="server", compress=compress, checksum=checksum)
    w.header()
    # rdbSaveInfoAuxFields (7.0): redis-ver, redis-bits, ctime, used-mem, aof-base (0 or 1)
    w.standard_aux(redis_ver=REDIS_VER, used_mem=_used_memory(), aof_base=aof_base)
    if not aof_base:
        w.aux(b"aof-base", 0)
    for fn in ks.iter_functions():
        w.function(fn)
    n = write_keyspace(ks, w, version)
    w.eof()
    return n


def write_keyspace(ks, w: RDBWriter, version: int = 10, *, with_meta: bool = True) -> int:
    """Every db's SELECTDB + RESIZEDB and key records (keys in sorted order); returns the
    number of keys. The compiled serializer writes the same bytes as the pure loop;
    compact values (kvengine.compact, merge and replay) made for ``w`` are copied as they
    are, the others decoded. ``with_meta``: streams with their 7.0 metadata."""
    from .compact import CompactValue, signature
    from .records import make_record

    sig = w.values.signature
    fast = _compiled_saver(w)
    compact_type = CompactValue if signature() == sig else None
    n = 0
    for db in ks.dbs:
        if not db.data:
            continue
        w.select_db(db.id, len(db.data), len(db.expires))
        data, exp, limits = db.data, db.expires, ks.limits

        def record(key, db=db, data=data, exp=exp):
            w.record(make_record(db.id, key, data[key], exp.get(key), limits, version, with_meta, sig))

        if fast is None:
            for key in sorted(data):
                record(key)
            n += len(data)
            continue
        es, args = fast
        before = w.keys_written
        written = es.write_db(data, exp, w.write_encoded, record, *args, compact_type=compact_type)
        w.keys_written = before + written   # w.record counted only the keys handed back to it
        n += written
    return n


def _compiled_saver(w: RDBWriter):
    """The compiled serializer (_accel/engine_save: the same bytes as make_record + w.record,
    read through borrowed references, so a BGSAVE child copies almost no pages) and its
    arguments, or None for the pure path."""
    es = accel.module("engine_save")
    th = w.values.thresholds
    if es is None or w.dialect != "redis" or w.version < 10 or th.list_compress_depth != 0 \
            or th.list_packed_threshold != 1 << 30:
        return None
    from collections import deque

    from .values import Hash, ZSet

    from .encodings import serializer_limits

    return es, (serializer_limits(th, w.version, w.values.compress), Hash, ZSet, deque)


def _used_memory() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def save_rdb_file(ks, path: str, *, version: int = 10, tmp_name: Optional[str] = None, **kw) -> int:
    """Write ``path`` atomically: temp file in the same folder, fsync, rename, fsync the folder."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, tmp_name or f"temp-{os.getpid()}.rdb")
    try:
        with open(tmp, "wb", buffering=1 << 20) as fh:
            n = write_rdb(ks, fh, version=version, **kw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)
    return n


def load_rdb_file(ks, path: str) -> int:
    from ..kvencoding.fileio import open_input
    from ..rdbtools.reader import RDBReader

    with open_input(path) as fh:
        return ks.load_records(RDBReader(fh, decode=True, name=path))
