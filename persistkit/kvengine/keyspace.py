"""The keyspace: 16 databases of typed values, and sessions that run commands on them.

This module has no I/O. A ``Session`` is one client's context (selected db, MULTI
queue, AUTH state); ``Keyspace.execute`` runs one command on a throw-away session.
Time is a parameter: every command runs at ``now_ms`` (wall clock when None), so an
offline replay evaluates TTLs at each command's own time.

Writes that dirty the keyspace are handed to ``Keyspace.propagate_sink(db, args)``
in the form Redis logs them to the AOF (the AOF writer and replication sit there).
"""

from __future__ import annotations

import time
from itertools import islice
from typing import Callable, Iterable, Iterator, Optional

from . import commands as _commands  # noqa: F401  (importing the families fills the table)
from . import table
from .reply import (
    EXECABORT, NIL_ARRAY, NOAUTH, QUEUED, WRONGTYPE, CommandError, arity_error, unknown_command,
)
from .compact import CompactValue, thaw
from .encodings import DEFAULT_LIMITS  # noqa: F401  (re-exported: callers read it here)
from .values import type_name

DEFAULT_DBS = 16



def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Database:
    __slots__ = ("id", "data", "expires", "hfe", "expire_cursor", "strenc")

    def __init__(self, dbid: int) -> None:
        self.id = dbid
        self.data: dict[bytes, object] = {}
        self.expires: dict[bytes, int] = {}
        # keys that had hash fields with a TTL (for active field expiry; cleaned lazily)
        self.hfe: set[bytes] = set()
        self.expire_cursor = 0     # where active expiry resumes in ``expires``
        # OBJECT ENCODING of strings not made by tryObjectEncoding (APPEND, SETRANGE,
        # SETBIT, INCRBYFLOAT, HLLs ...): key -> "raw" / "embstr"; absent = judge by content
        self.strenc: dict[bytes, str] = {}

    def __len__(self) -> int:
        return len(self.data)


class Keyspace:
    """Databases, function libraries, the dirty counter and the propagation hook."""

    def __init__(self, ndbs: int = DEFAULT_DBS, *, limits: Optional[dict] = None,
                 expiry: bool = True, compat: str = "7.0") -> None:
        # Server version whose behaviour differences matter for replays of its AOFs
        # (e.g. XCLAIM creating its consumer up front from 7.2; no stream metadata before 7.0).
        self.compat = tuple(int(x) for x in compat.split(".")[:2])
        self.dbs = [Database(i) for i in range(ndbs)]
        self.functions: dict[bytes, bytes] = {}   # library name -> code
        self.dirty = 0                            # writes ever (server.dirty)
        self.limits = dict(DEFAULT_LIMITS, **(limits or {}))
        # False = loading semantics: nothing expires (keyIsExpired returns 0 while loading)
        self.expiry_enabled = expiry
        self.active_expiry = True      # DEBUG SET-ACTIVE-EXPIRE 0 turns the sampling off
        self.propagate_sink: Optional[Callable[[int, list[bytes]], None]] = None
        self.requirepass: Optional[bytes] = None
        self.server = None   # the RESP server when running one (SAVE, BGSAVE, INFO ...)
        self.lazyfree_expire = False
        self.stats = {"expired_keys": 0, "keyspace_hits": 0, "keyspace_misses": 0}
        # WATCH: (db, key) -> sessions watching it (multi.c watched_keys)
        self.watchers: dict[tuple[int, bytes], set] = {}

    # -- running commands ------------------------------------------------------
    def session(self, db: int = 0) -> "Session":
        return Session(self, db)

    def execute(self, args: list[bytes], db: int = 0, now_ms: Optional[int] = None):
        """Run one command on a fresh session selecting ``db``; returns the reply value."""
        s = Session(self, db, authenticated=True)
        return s.execute(args, now_ms=now_ms)

    def apply(self, args: list[bytes], db: int = 0, now_ms: Optional[int] = None):
        """DESIGN.md's name for ``execute``."""
        return self.execute(args, db=db, now_ms=now_ms)

    def to_records(self, now_ms: Optional[int] = None):
        """DESIGN.md's name for ``iter_records``."""
        return self.iter_records(now_ms)

    # -- inspection ------------------------------------------------------------
    def dbsize(self, db: int = 0) -> int:
        return len(self.dbs[db].data)

    def keys(self, db: int = 0) -> list[bytes]:
        return list(self.dbs[db].data)

    def get(self, key: bytes, db: int = 0):
        """The stored value (no expiry check): bytes, deque, Hash, set, ZSet or Stream."""
        v = self.dbs[db].data.get(key)
        if v.__class__ is CompactValue:
            v = self.dbs[db].data[key] = thaw(v)
        return v

    def ttl_ms(self, key: bytes, db: int = 0) -> Optional[int]:
        """Absolute expiry time in unix ms, or None."""
        return self.dbs[db].expires.get(key)

    def type_of(self, key: bytes, db: int = 0) -> str:
        return type_name(self.get(key, db))

    def flushall(self) -> None:
        for d in self.dbs:
            d.data.clear()
            d.expires.clear()

    def total_keys(self) -> int:
        return sum(len(d.data) for d in self.dbs)

    # -- conversion to and from the shared value model ---------------------------
    def load_records(self, records: Iterable, *, now_ms: Optional[int] = None,
                     skip_expired: bool = False) -> int:
        """Add model.Record / model.Function objects (RDB reader output). Returns keys loaded."""
        from .records import load_records

        return load_records(self, records, now_ms=now_ms, skip_expired=skip_expired)

    def iter_records(self, now_ms: Optional[int] = None, *, dbs: Optional[Iterable[int]] = None) -> Iterator:
        """model.Record objects db by db, keys in sorted order (stable); keys already
        expired at ``now_ms`` are left out when it is given."""
        from .records import iter_records

        return iter_records(self, now_ms=now_ms, dbs=dbs)

    def iter_functions(self):
        from .records import iter_functions

        return iter_functions(self)

    # -- expiry ------------------------------------------------------------------
    # -- WATCH ---------------------------------------------------------------------
    def touch_watched(self, dbid: int, key: bytes) -> None:
        """touchWatchedKey: transactions watching this key will fail."""
        for s in self.watchers.get((dbid, key), ()):
            s.dirty_cas = True

    def touch_watched_db(self, dbid: Optional[int]) -> None:
        """FLUSHDB / FLUSHALL / SWAPDB: every watcher of that db (None = all dbs)."""
        for (d, _), sessions in self.watchers.items():
            if dbid is None or d == dbid:
                for s in sessions:
                    s.dirty_cas = True

    def touch_command_keys(self, session: "Session", spec, args: list[bytes]) -> None:
        name = spec.name
        if name == "flushall":
            self.touch_watched_db(None)
        elif name == "flushdb":
            self.touch_watched_db(session.dbid)
        elif name == "swapdb":
            for a in args[1:3]:
                if a.isdigit():
                    self.touch_watched_db(int(a))
        else:
            if spec.first_key > 0:
                last = spec.last_key if spec.last_key >= 0 else len(args) + spec.last_key
                keys = args[spec.first_key:last + 1:spec.step]
            else:
                keys = args[1:]   # key positions depend on arguments (LMPOP, XREADGROUP ...)
            for k in keys:
                if name in ("move", "copy"):
                    for d in range(len(self.dbs)):
                        self.touch_watched(d, k)
                else:
                    self.touch_watched(session.dbid, k)

    def expire_key(self, db: Database, key: bytes) -> None:
        """Delete an expired key and log it as DEL (UNLINK with lazyfree-lazy-expire),
        like deleteExpiredKeyAndPropagate."""
        if self.watchers:
            self.touch_watched(db.id, key)
        db.data.pop(key, None)
        db.expires.pop(key, None)
        self.stats["expired_keys"] += 1
        if self.propagate_sink is not None:
            self.propagate_sink(db.id, [b"UNLINK" if self.lazyfree_expire else b"DEL", key])

    def expire_hash_fields(self, db: Database, key: bytes, h, now: int) -> None:
        """Drop fields whose TTL passed (logged as HDEL); delete the key when it empties."""
        gone = [f for f, t in h.fexp.items() if t <= now]
        if not gone:
            return
        for f in gone:
            del h.fexp[f]
            h.pop(f, None)
        if self.propagate_sink is not None:
            self.propagate_sink(db.id, [b"HDEL", key, *gone])
        if not h:
            db.data.pop(key, None)
            db.expires.pop(key, None)
            if self.propagate_sink is not None:
                self.propagate_sink(db.id, [b"DEL", key])

    def active_expire(self, now_ms: Optional[int] = None, *, sample: int = 20,
                      max_rounds: int = 16) -> int:
        """One cycle of active expiry (activeExpireCycle): look at the next ``sample`` keys
        with a TTL in each db (a cursor walks the expires table, like Redis' incremental
        scan), delete the expired ones, go on while more than a quarter of a batch was
        expired. Returns the number of keys removed."""
        if not self.expiry_enabled or not self.active_expiry:
            return 0
        now = wall_ms() if now_ms is None else now_ms
        removed = 0
        for db in self.dbs:
            for _ in range(max_rounds):
                exp = db.expires
                if not exp:
                    break
                if db.expire_cursor >= len(exp):
                    db.expire_cursor = 0
                keys = list(islice(exp, db.expire_cursor, db.expire_cursor + sample))
                db.expire_cursor += len(keys)
                n = 0
                for k in keys:
                    t = exp.get(k)
                    if t is not None and t <= now:
                        self.expire_key(db, k)
                        n += 1
                removed += n
                if n * 4 <= len(keys):
                    break
            if db.hfe:
                self._active_expire_fields(db, now, sample)
        return removed

    def _active_expire_fields(self, db: Database, now: int, budget: int) -> None:
        from .values import Hash

        for key in list(db.hfe)[:budget]:
            h = db.data.get(key)
            if type(h) is not Hash or not h.fexp:
                db.hfe.discard(key)
                continue
            if min(h.fexp.values()) <= now:
                self.expire_hash_fields(db, key, h, now)


class Session:
    """One client's context: the selected db, MULTI state, AUTH, and the running command's time."""

    __slots__ = ("ks", "db", "dbid", "now", "in_multi", "queue", "multi_error", "authenticated",
                 "prop", "_exec_buffer", "name", "resp", "client_id", "closing", "watched", "dirty_cas")

    def __init__(self, ks: Keyspace, db: int = 0, *, authenticated: Optional[bool] = None) -> None:
        self.ks = ks
        self.dbid = db
        self.db = ks.dbs[db]
        self.now = 0
        self.in_multi = False
        self.queue: list = []
        self.multi_error = False
        self.authenticated = (ks.requirepass is None) if authenticated is None else authenticated
        self.prop = None
        self._exec_buffer = None
        self.name = None
        self.resp = 2
        self.client_id = 0
        self.closing = False
        self.watched: set[tuple[int, bytes]] = set()
        self.dirty_cas = False

    def watch(self, keys: list[bytes]) -> None:
        for k in keys:
            wk = (self.dbid, k)
            if wk not in self.watched:
                self.watched.add(wk)
                self.ks.watchers.setdefault(wk, set()).add(self)

    def unwatch(self) -> None:
        """unwatchAllKeys (EXEC, DISCARD, UNWATCH, RESET, disconnect)."""
        w = self.ks.watchers
        for wk in self.watched:
            sessions = w.get(wk)
            if sessions is not None:
                sessions.discard(self)
                if not sessions:
                    del w[wk]
        self.watched.clear()
        self.dirty_cas = False

    def select(self, db: int) -> None:
        self.dbid = db
        self.db = self.ks.dbs[db]

    # -- command dispatch --------------------------------------------------------
    def execute(self, args: list[bytes], now_ms: Optional[int] = None):
        # processCommand's order: unknown command, arity, then authentication
        spec = table.lookup(args[0]) if args else None
        if spec is None:
            if self.in_multi:
                self.multi_error = True
            return unknown_command(args) if args else CommandError("ERR empty command")
        n = len(args)
        if (spec.arity > 0 and n != spec.arity) or n < -spec.arity:
            if self.in_multi:
                self.multi_error = True
            return arity_error(spec.name)
        if not self.authenticated and "noauth" not in spec.flags:
            return CommandError(NOAUTH)
        if self.in_multi and "nomulti" not in spec.flags:
            self.queue.append((spec, args))
            return QUEUED
        return self.call(spec, args, now_ms)

    def call(self, spec, args: list[bytes], now_ms: Optional[int] = None):
        self.now = wall_ms() if now_ms is None else now_ms
        ks = self.ks
        before = ks.dirty
        self.prop = None
        sink = ks.propagate_sink
        if sink is None or self._exec_buffer is not None or spec.name == "exec":
            # no AOF, or inside EXEC (whose buffer collects everything), or EXEC itself
            try:
                reply = spec.handler(self, args)
            except CommandError as exc:
                reply = exc
            if ks.watchers and ks.dirty != before and "write" in spec.flags:
                ks.touch_command_keys(self, spec, args)
            if sink is not None and ks.dirty != before and "write" in spec.flags:
                for dbid, op in (self.prop if self.prop is not None else ((self.dbid, args),)):
                    self.emit(dbid, op)
            return reply
        # One command is one execution unit (7.0 propagatePendingCommands): what it logs,
        # expiry DELs included, is wrapped in MULTI/EXEC when it is more than one command.
        unit: list = []
        ks.propagate_sink = lambda dbid, op: unit.append((dbid, op))
        try:
            reply = spec.handler(self, args)
        except CommandError as exc:
            reply = exc
        finally:
            ks.propagate_sink = sink
        if ks.watchers and ks.dirty != before and "write" in spec.flags:
            ks.touch_command_keys(self, spec, args)
        if ks.dirty != before and "write" in spec.flags:
            unit.extend(self.prop if self.prop is not None else ((self.dbid, args),))
        if len(unit) > 1:
            sink(unit[0][0], [b"MULTI"])
            for dbid, op in unit:
                sink(dbid, op)
            sink(unit[-1][0], [b"EXEC"])
        elif unit:
            sink(*unit[0])
        return reply

    def propagate(self, *ops: list[bytes], db: Optional[int] = None) -> None:
        """Replace what the running command logs (alsoPropagate + preventCommandPropagation)."""
        if self.prop is None:
            self.prop = []
        dbid = self.dbid if db is None else db
        for op in ops:
            self.prop.append((dbid, op))

    def emit(self, dbid: int, op: list[bytes]) -> None:
        if self._exec_buffer is not None:
            self._exec_buffer.append((dbid, op))
        elif self.ks.propagate_sink is not None:
            self.ks.propagate_sink(dbid, op)

    def run_exec(self, now_ms: Optional[int]):
        """EXEC: run the queue; log the writes wrapped in MULTI/EXEC when there are several
        (propagatePendingCommands: one command alone is atomic already)."""
        queue, self.queue, self.in_multi = self.queue, [], False
        aborted = self.dirty_cas
        self.unwatch()
        if self.multi_error:
            self.multi_error = False
            return CommandError(EXECABORT)
        if aborted:
            return NIL_ARRAY   # a watched key changed: the transaction does not run
        self._exec_buffer = buffer = []
        sink = self.ks.propagate_sink
        if sink is not None:
            # expiry DELs during the transaction go into the same buffer
            self.ks.propagate_sink = lambda dbid, op: buffer.append((dbid, op))
        try:
            replies = [self.call(spec, args, now_ms) for spec, args in queue]
        finally:
            self._exec_buffer = None
            if sink is not None:
                self.ks.propagate_sink = sink
        if sink is not None and buffer:
            if len(buffer) > 1:
                sink(buffer[0][0], [b"MULTI"])
                for dbid, op in buffer:
                    sink(dbid, op)
                sink(buffer[-1][0], [b"EXEC"])
            else:
                sink(*buffer[0])
        return replies

    # -- key access (used by the command handlers) -------------------------------
    def lookup(self, key: bytes):
        """The live value of ``key`` in the selected db, expiring it lazily; None if absent."""
        db = self.db
        v = db.data.get(key)
        if v is None:
            return None
        if db.expires:
            t = db.expires.get(key)
            if t is not None and t <= self.now and self.ks.expiry_enabled:
                self.ks.expire_key(db, key)
                return None
        if v.__class__ is CompactValue:
            # merge/replay keep untouched collections encoded (kvengine.compact)
            v = db.data[key] = thaw(v)
        return v

    def lookup_as(self, key: bytes, cls):
        v = self.lookup(key)
        if v is not None and type(v) is not cls:
            raise CommandError(WRONGTYPE)
        return v

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    def set_key(self, key: bytes, value, keepttl: bool = False, encoding: Optional[str] = None) -> None:
        """Store ``value``; ``encoding`` records how a string was built when it is not what
        tryObjectEncoding would pick ("raw" after APPEND/SETRANGE ...)."""
        db = self.db
        db.data[key] = value
        if not keepttl and db.expires:
            db.expires.pop(key, None)
        if encoding is not None:
            db.strenc[key] = encoding if encoding == "raw" or len(value) <= 44 else "raw"
        elif db.strenc:
            db.strenc.pop(key, None)

    def delete(self, key: bytes) -> bool:
        db = self.db
        if self.lookup(key) is None:
            return False
        del db.data[key]
        db.expires.pop(key, None)
        return True

    def already_expired(self, when_ms: int) -> bool:
        # checkAlreadyExpired: never while loading (our expiry switch)
        return when_ms <= self.now and self.ks.expiry_enabled

    def touch(self, n: int = 1) -> None:
        self.ks.dirty += n
