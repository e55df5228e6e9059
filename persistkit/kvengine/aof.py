"""The Redis 7 multi-part AOF of the engine (redis/src/aof.c): the manifest, base and incr
files, the buffer of logged commands and the fsync policies, the rewrite protocol, the
keyspace as rewrite commands, and loading an AOF set back into a keyspace."""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Optional

from ..aoftools.manifest import (TYPE_BASE, TYPE_HIST, TYPE_INCR, AOFInfo, Manifest, base_name,
                                 format_manifest, incr_name, manifest_name, parse_manifest)
from ..kvencoding.resp import encode_annotation_ts, encode_command
from ..rdbtools import model
from .rdbfile import fsync_dir, write_rdb


class FsyncWorker:
    """Background fsync for appendfsync everysec (bio.c BIO_AOF_FSYNC): the loop never
    blocks on the disk. Jobs are dup'ed fds, so a file closed by a rewrite stays valid."""

    def __init__(self) -> None:
        self.jobs: "queue.Queue[Optional[int]]" = queue.Queue()
        self.lock = threading.Lock()
        self.pending = 0
        self.last_done = time.time()
        self.thread = threading.Thread(target=self._run, name="aof-fsync", daemon=True)
        self.thread.start()

    def submit(self, fd: int) -> None:
        with self.lock:
            self.pending += 1
        self.jobs.put(os.dup(fd))

    def _run(self) -> None:
        while True:
            fd = self.jobs.get()
            if fd is None:
                return
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)
                with self.lock:
                    self.pending -= 1
                self.last_done = time.time()

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=5)


class AppendOnlyFile:
    """The multi-part AOF of a running server (Redis 7 layout)."""

    def __init__(self, folder: str, prefix: str = "appendonly.aof", *, fsync: str = "everysec",
                 timestamps: bool = False, preamble: bool = True) -> None:
        self.folder = folder
        self.prefix = prefix
        self.fsync_policy = fsync
        self.timestamps = timestamps
        self.preamble = preamble
        self.manifest: Optional[Manifest] = None
        self.fd: Optional[int] = None
        self.buf = bytearray()
        self.selected_db = -1
        self.last_ts: Optional[int] = None
        self.last_fsync = time.time()
        self.worker: Optional[FsyncWorker] = None
        self.incr_size = 0
        self.unsynced = False     # bytes written since the last fsync (everysec)
        self.last_write_status = "ok"
        self.base_size = 0

    # -- paths / manifest ------------------------------------------------------------
    @property
    def manifest_path(self) -> str:
        return os.path.join(self.folder, manifest_name(self.prefix))

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def exists(self) -> bool:
        return os.path.exists(self.manifest_path)

    def read_manifest(self) -> Manifest:
        with open(self.manifest_path, "rb") as fh:
            return parse_manifest(fh.read(), file=self.manifest_path)

    def persist_manifest(self, m: Manifest) -> None:
        """Temp file, fsync, rename, fsync folder (persistAofManifest)."""
        tmp = self.path(f"temp-{manifest_name(self.prefix)}")
        with open(tmp, "wb") as fh:
            fh.write(format_manifest(m))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)
        fsync_dir(self.folder)
        self.manifest = m

    # -- opening -----------------------------------------------------------------------
    def open_existing(self) -> None:
        """Append to the last incr file of the existing manifest (adding one if it has none)."""
        m = self.read_manifest()
        self.manifest = m
        if not m.incrs:
            self._add_incr(m)
            self.persist_manifest(m)
        else:
            self._open_incr(m.incrs[-1].name)

    def upgrade_from_single_file(self, path: str) -> None:
        """aofUpgradePrepare: a pre-7.0 single appendonly.aof becomes the base (seq 1) of a
        new AOF folder, under its old name; the manifest is written last."""
        os.makedirs(self.folder, exist_ok=True)
        name = os.path.basename(path)
        os.replace(path, self.path(name))
        fsync_dir(os.path.dirname(os.path.abspath(path)))
        self.persist_manifest(Manifest(base=AOFInfo(name, 1, TYPE_BASE)))

    def create(self, ks, *, version: int = 10) -> None:
        """No AOF yet: write base 1 from the keyspace and an empty incr 1 (Redis 7 logs
        "Creating AOF base file ... on server start")."""
        os.makedirs(self.folder, exist_ok=True)
        m = Manifest()
        name = base_name(self.prefix, 1, self.preamble)
        self.write_base(ks, self.path(name), version=version)
        m.base = AOFInfo(name, 1, TYPE_BASE)
        self._add_incr(m)
        self.persist_manifest(m)

    def _next_incr_seq(self, m: Manifest) -> int:
        return (m.incrs[-1].seq if m.incrs else 0) + 1

    def _add_incr(self, m: Manifest) -> str:
        seq = self._next_incr_seq(m)
        name = incr_name(self.prefix, seq)
        m.incrs.append(AOFInfo(name, seq, TYPE_INCR))
        self._open_incr(name)
        return name

    def _open_incr(self, name: str) -> None:
        if self.fd is not None:
            os.close(self.fd)
        self.fd = os.open(self.path(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.incr_size = os.fstat(self.fd).st_size
        self.selected_db = -1     # every file starts with a SELECT (aof.c: aof_selected_db = -1)
        self.last_ts = None

    def write_base(self, ks, path: str, *, version: int = 10) -> None:
        with open(path, "wb", buffering=1 << 20) as fh:
            if self.preamble:
                write_rdb(ks, fh, version=version, aof_base=True)
            else:
                write_commands_base(ks, fh)
            fh.flush()
            os.fsync(fh.fileno())

    # -- feeding ----------------------------------------------------------------------
    def feed(self, db: int, args: list[bytes]) -> None:
        """feedAppendOnlyFile: #TS when the second changed, SELECT when the db changed."""
        buf = self.buf
        if self.timestamps:
            now = int(time.time())
            if now != self.last_ts:
                buf += encode_annotation_ts(now)
                self.last_ts = now
        if db != self.selected_db:
            buf += encode_command([b"SELECT", b"%d" % db])
            self.selected_db = db
        buf += encode_command(args)

    def flush(self, force_fsync: bool = False) -> None:
        """flushAppendOnlyFile: write the buffer; fsync now (always) or hand it to the
        background worker once a second (everysec)."""
        if self.fd is None:
            return
        if self.buf:
            data = bytes(self.buf)
            self.buf.clear()
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.fd, view)
                except InterruptedError:
                    continue
                except OSError:
                    self.last_write_status = "err"
                    raise
                view = view[n:]
            self.incr_size += len(data)
            self.unsynced = True
            if self.fsync_policy == "always":
                os.fsync(self.fd)
                self.last_fsync = time.time()
                self.unsynced = False
                return
        if force_fsync:
            os.fsync(self.fd)
            self.last_fsync = time.time()
            self.unsynced = False
            return
        if self.fsync_policy == "everysec" and self.unsynced:
            now = time.time()
            if now - self.last_fsync >= 1.0:
                if self.worker is None:
                    self.worker = FsyncWorker()
                if self.worker.pending == 0:   # never queue fsyncs behind a slow disk
                    self.worker.submit(self.fd)
                    self.last_fsync = now
                    self.unsynced = False

    # -- rewrite --------------------------------------------------------------------------
    def start_rewrite(self) -> Manifest:
        """Parent side at fork time: flush, then continue in a new incr file (listed in the
        manifest right away, so a crash mid-rewrite still loads everything)."""
        self.flush(force_fsync=True)
        m = self.manifest or self.read_manifest()
        self._add_incr(m)
        self.persist_manifest(m)
        return m

    def finish_rewrite(self, temp_base: str) -> list[str]:
        """The child wrote ``temp_base``: it becomes the new base, the old base and every incr
        but the current one become history (then removed). Returns the removed names."""
        m = self.manifest
        seq = (m.base.seq if m.base else 0) + 1
        name = base_name(self.prefix, seq, self.preamble)
        os.replace(temp_base, self.path(name))
        history = []
        if m.base is not None:
            history.append(AOFInfo(m.base.name, m.base.seq, TYPE_HIST))
        keep = m.incrs[-1:]
        history += [AOFInfo(i.name, i.seq, TYPE_HIST) for i in m.incrs[:-1]]
        new = Manifest(base=AOFInfo(name, seq, TYPE_BASE), incrs=list(keep), history=history)
        self.persist_manifest(new)
        self.base_size = os.path.getsize(self.path(name))
        removed = []
        for h in history:
            try:
                os.unlink(self.path(h.name))
                removed.append(h.name)
            except OSError:
                pass
        self.manifest = Manifest(base=new.base, incrs=new.incrs)
        self.persist_manifest(self.manifest)
        return removed

    def close(self) -> None:
        if self.fd is not None:
            try:
                self.flush(force_fsync=True)
            finally:
                os.close(self.fd)
                self.fd = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


def rewrite_commands(ks):
    """The keyspace as commands (rewriteAppendOnlyFileRio): SELECT per db, one command per
    key (batched like AOF_REWRITE_ITEMS_PER_CMD = 64), PEXPIREAT for TTLs, stream groups,
    functions first."""
    from collections import deque as _deque

    from .compact import CompactValue, thaw
    from .values import Hash, Stream, ZSet
    from .numbers import format_double

    for name in sorted(ks.functions):
        yield None, [b"FUNCTION", b"LOAD", ks.functions[name]]
    for db in ks.dbs:
        if not db.data:
            continue
        yield db.id, [b"SELECT", b"%d" % db.id]
        for key in sorted(db.data):
            v = db.data[key]
            if v.__class__ is CompactValue:
                v = thaw(v)   # one key at a time: the keyspace itself stays compact
            t = type(v)
            if t is bytes:
                yield db.id, [b"SET", key, v]
            elif t is _deque:
                items = list(v)
                for i in range(0, len(items), 64):
                    yield db.id, [b"RPUSH", key, *items[i:i + 64]]
            elif t is set:
                items = sorted(v)
                for i in range(0, len(items), 64):
                    yield db.id, [b"SADD", key, *items[i:i + 64]]
            elif t is ZSet:
                items = v.index
                for i in range(0, len(items), 64):
                    args = [b"ZADD", key]
                    for sc, m in items[i:i + 64]:
                        args += [format_double(sc), m]
                    yield db.id, args
            elif t is Hash:
                items = list(v.items())
                for i in range(0, len(items), 64):
                    args = [b"HMSET", key]
                    for f, val in items[i:i + 64]:
                        args += [f, val]
                    yield db.id, args
                for f, ms in sorted(v.fexp.items()):
                    yield db.id, [b"HPEXPIREAT", key, b"%d" % ms, b"FIELDS", b"1", f]
            elif t is Stream:
                yield from _stream_commands(db.id, key, v)
            exp = db.expires.get(key)
            if exp is not None:
                yield db.id, [b"PEXPIREAT", key, b"%d" % exp]


def _stream_commands(dbid, key, st):
    from .commands.streams import fmt_id

    if st.ids:
        for sid in st.ids:
            args = [b"XADD", key, fmt_id(sid)]
            for f, v in st.entries[sid]:
                args += [f, v]
            yield dbid, args
    else:
        # an empty stream: create it with a throw-away entry (rewriteStreamObject)
        yield dbid, [b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]
    yield dbid, [b"XSETID", key, fmt_id(st.last_id), b"ENTRIESADDED", b"%d" % st.entries_added,
                 b"MAXDELETEDID", fmt_id(st.max_deleted_id)]
    for g in st.groups.values():
        yield dbid, [b"XGROUP", b"CREATE", key, g.name, fmt_id(g.last_id),
                     b"ENTRIESREAD", b"%d" % g.entries_read]
        for sid, nack in sorted(g.pel.items()):
            yield dbid, [b"XCLAIM", key, g.name, nack.consumer, b"0", fmt_id(sid),
                         b"TIME", b"%d" % nack.delivery_time, b"RETRYCOUNT", b"%d" % nack.delivery_count,
                         b"JUSTID", b"FORCE"]
        for c in g.consumers.values():
            if not c.pel:
                yield dbid, [b"XGROUP", b"CREATECONSUMER", key, g.name, c.name]


def write_commands_base(ks, fh) -> None:
    db_now = None
    for dbid, args in rewrite_commands(ks):
        if args[0] == b"SELECT":
            db_now = dbid
        fh.write(encode_command(args))


# ---------------------------------------------------------------------------
# loading an AOF set into a keyspace

@dataclass
class AofLoadResult:
    commands: int = 0
    keys_from_preamble: int = 0
    truncated_at: Optional[tuple[str, int]] = None


def load_aof(ks, folder_or_manifest: str, *, load_truncated: bool = True) -> AofLoadResult:
    """Replay an AOF set with loading semantics (nothing expires while loading). A cut last
    command of the last file is dropped and the file truncated there when ``load_truncated``
    (aof-load-truncated yes); an unfinished MULTI at the end is dropped with it."""
    from ..aoftools.reader import AOFReader
    from ..kvencoding.errors import TruncatedError

    res = AofLoadResult()
    reader = AOFReader(folder_or_manifest, decode=True)
    was = ks.expiry_enabled
    ks.expiry_enabled = False
    sink, ks.propagate_sink = ks.propagate_sink, None
    s = ks.session()
    multi_start = None
    current_file = None
    try:
        try:
            for item in reader:
                if isinstance(item, model.Record) or isinstance(item, model.Function):
                    res.keys_from_preamble += ks.load_records([item])
                    continue
                if not hasattr(item, "args"):
                    continue
                if item.file != current_file:
                    current_file = item.file
                    s = ks.session()          # a fresh fake client per file
                    multi_start = None
                args = item.args
                if not args:
                    continue
                if item.db != s.dbid and args[0].lower() != b"select":
                    s.select(item.db)
                low = args[0].lower()
                if low == b"multi":
                    multi_start = (item.file, item.offset)
                elif low in (b"exec", b"discard"):
                    multi_start = None
                # wall-clock time like the real loader (TIME arguments of XCLAIM must not be
                # clamped to an older #TS second)
                s.execute(args)
                res.commands += 1
        except TruncatedError as exc:
            if not load_truncated:
                raise
            name, offset = reader.last_complete
            if multi_start is not None and multi_start[0] == name:
                offset = min(offset, multi_start[1])
                s.in_multi = False
                s.queue = []
            part = next((p for p in reader.parts if p.name == name), None)
            if part is None or part is not reader.parts[-1]:
                raise
            with open(part.path, "r+b") as fh:
                fh.truncate(offset)
                fh.flush()
                os.fsync(fh.fileno())
            res.truncated_at = (name, offset)
    finally:
        ks.expiry_enabled = was
        ks.propagate_sink = sink
    return res
