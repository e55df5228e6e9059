"""Rebuild a keyspace from any persistence input: load the snapshot part, apply the log.

    from persistkit.recovery.replay import ReplayOptions, replay

    result = replay("appendonlydir", ReplayOptions(until_time=1700000000.0,
                                                   skips=[SkipRule.parse("FLUSHALL")]))
    result.keyspace          # kvengine.Keyspace with the state at the stop point
    result.summary()         # JSON-ready dict (commands applied, skipped, stop point, keys per db)

The input is anything ``aoftools.reader.AOFReader`` opens: an RDB file (a snapshot with
no log), a plain or hybrid single-file AOF, a Redis 7 multi-part directory or its
manifest. Everything is streamed: the snapshot's records go into the keyspace one by
one and commands are applied as they are read, so memory follows the keyspace, not
the log.

Loading semantics (redis ``src/aof.c`` ``loadSingleAppendOnlyFile`` with
``server.loading`` set):

* keys are never expired while loading (``keyIsExpired`` returns 0 while loading,
  ``checkAlreadyExpired`` too), so the engine keyspace runs with ``expiry=False``: a
  ``SET ... PXAT <past>`` or ``PEXPIREAT`` in the past keeps the key, exactly as the
  loading server keeps it until its first expiry cycle;
* each file is loaded by a fresh fake client (db 0, no MULTI state); a MULTI still
  open when a file ends is dropped (the server reverts an unterminated transaction);
* an error reply to a logged command is ignored by the loader; we count it and keep
  the first few in the summary; a command the engine does not know stops the replay
  with a FormatError (the server refuses to load such a file too) -- ``--skip NAME``
  is the way past it.

Time: each command runs at the last millisecond of its own ``#TS`` second when the log
has annotations (the server logged it within that second; the end of it, not the start,
so that an ``XCLAIM ... TIME t`` logged for an XREADGROUP is never clamped to an
earlier "now" by xclaimCommand; relative TTLs, which a server never logs but a
hand-written AOF may hold, are computed from it), else at the wall clock like a
loading server.

Server version (``compat``): a few commands behave differently across versions in
ways an AOF replay can see (XCLAIM creates its consumer up front from 7.2; streams
carry no v2 metadata before 7.0). The engine follows ``ReplayOptions.compat`` when
given, else the ``redis-ver`` aux field of the snapshot part, else 7.2 (the
behaviour of every current Redis and Valkey).

A log whose last file ends in a cut command is loaded up to its last complete
command, as ``aof-load-truncated yes`` (the default) makes the server do; the summary
says where (``truncated``). Damage anywhere else is a FormatError.

Expired keys in the result: after the replay, keys (and hash fields) whose TTL is at or
before the *reference time* are dropped unless ``keep_expired``: the reference is the
``--until`` time when given, else the last ``#TS`` of the applied log. They were dead at
that moment; a live server would not have shown them (and a server loading the result
drops them on load). Without any ``#TS`` there is no reference and nothing is dropped.

Skipping (``SkipRule``): a command is dropped when its name matches and, if the rule
has a glob, its first key matches the glob (Redis glob rules, ``stringmatchlen``). The
first key is where the command table puts it: ``DEL k1 k2`` -> k1, ``XGROUP CREATE key
...`` -> key; a command without keys never matches a glob. Inside MULTI/EXEC only the
matching command is dropped; the rest of the transaction still applies atomically at
EXEC. This is what the user asks when skipping e.g. the ``FLUSHALL`` of a script whose
effects were logged as a transaction. MULTI, EXEC, DISCARD and SELECT cannot be skipped
(they are the log's structure).

Stops: ``until_time`` (unix seconds; commands whose ``#TS`` is later are not applied;
commands before the first annotation are), ``until_offset`` ((file, bytes): only
commands that end at or before that byte of that file, and everything in earlier
files), ``until_command`` (the first N commands of the log, every RESP command
counted, SELECT/MULTI/EXEC included). A stop that falls inside a transaction leaves
the whole transaction unapplied (like a server loading a log cut inside MULTI).
"""

from __future__ import annotations

import gc
import time as _time
from dataclasses import dataclass, field
from typing import Callable, Optional

from persistkit.aoftools.model import AOFCommand
from persistkit.aoftools.reader import AOFReader
from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.kvengine import Keyspace, table
from persistkit.kvengine.compact import freezer
from persistkit.kvencoding.glob import glob_match, pattern_bytes
from persistkit.kvengine.reply import CommandError
from persistkit.rdbtools import model

# Commands that give a log its structure; dropping them would change what others mean.
UNSKIPPABLE = frozenset((b"MULTI", b"EXEC", b"DISCARD", b"SELECT"))
MAX_ERRORS_KEPT = 20
MAX_SKIPPED_KEPT = 10_000   # each skip is reported live (on_skip); the summary keeps this many
REF_ARGS = 8                # arguments kept per reported command, each cut to REF_ARG_BYTES
REF_ARG_BYTES = 256
DEFAULT_COMPAT = "7.2"


class RecoveryError(Exception):
    """A request the input cannot satisfy (e.g. --until on a log without #TS): exit 2."""


# Container commands whose key follows a subcommand (the engine table files XGROUP's key at 1).
_KEY_AFTER_SUBCOMMAND = {b"XGROUP": 2}


def first_key_index(name: bytes) -> int:
    """Where a command's first key is (the engine's command table; 0 = no key)."""
    pos = _KEY_AFTER_SUBCOMMAND.get(name)
    if pos is not None:
        return pos
    spec = table.lookup(name)
    return 1 if spec is None else spec.first_key


@dataclass(frozen=True)
class SkipRule:
    """``NAME`` or ``NAME GLOB``: drop commands named NAME (whose first key matches GLOB)."""

    name: bytes
    glob: Optional[bytes] = None

    @classmethod
    def parse(cls, text: str) -> "SkipRule":
        words = text.split()
        if not words or len(words) > 2:
            raise RecoveryError(f"--skip {text!r}: expected 'COMMAND' or 'COMMAND KEY-GLOB'")
        name = words[0].upper().encode()
        if name in UNSKIPPABLE:
            raise RecoveryError(f"--skip {text!r}: {words[0].upper()} is log structure and cannot be skipped")
        return cls(name, pattern_bytes(words[1]) if len(words) == 2 else None)

    def matches(self, name: bytes, args: list) -> bool:
        if name != self.name:
            return False
        if self.glob is None:
            return True
        pos = first_key_index(name)
        return 0 < pos < len(args) and glob_match(self.glob, bytes(args[pos]))

    def __str__(self) -> str:
        text = self.name.decode("latin-1")
        return text if self.glob is None else f"{text} {self.glob.decode('utf-8', 'replace')}"


@dataclass
class ReplayOptions:
    until_time: Optional[float] = None              # unix seconds
    until_offset: Optional[tuple[Optional[str], int]] = None   # (file name or None, bytes)
    until_command: Optional[int] = None
    skips: list = field(default_factory=list)       # SkipRule
    keep_expired: bool = False
    compat: Optional[str] = None                    # server version semantics ("7.0", "7.2"...)
    # Keep collections no command is touching in their RDB encoding (kvengine.compact):
    # the keyspace then costs about what its file does. For states written to a file.
    compact: bool = False

    @property
    def has_stop(self) -> bool:
        return (self.until_time is not None or self.until_offset is not None
                or self.until_command is not None)


@dataclass
class CommandRef:
    """Where a command sits in the log, for reports."""

    file: str
    offset: int
    time: Optional[int]
    db: int
    args: list
    index: int               # 1-based position in the log (every command counted)
    in_multi: bool = False

    argc: int = 0

    @classmethod
    def of(cls, cmd: AOFCommand, index: int) -> "CommandRef":
        # Only the head of the command is kept: a report must not hold big values.
        args = [bytes(a[:REF_ARG_BYTES]) for a in cmd.args[:REF_ARGS]]
        return cls(cmd.file, cmd.offset, cmd.time, cmd.db, args, index, cmd.in_multi, len(cmd.args))

    def as_dict(self) -> dict:
        from persistkit.kvencoding.bstr import bstr_json

        return {"file": self.file, "offset": self.offset, "time": self.time, "db": self.db,
                "index": self.index, "in_multi": self.in_multi,
                "command": [bstr_json(bytes(a)) for a in self.args],
                "argc": self.argc}


@dataclass
class ReplayResult:
    keyspace: Keyspace
    input: str
    layout: str = "rdb"
    rdb_version: Optional[int] = None         # of the snapshot part, when there is one
    rdb_magic: Optional[str] = None
    snapshot_keys: int = 0
    module_keys_dropped: int = 0
    # Redis 8.8 ARRAY values (no such type in the engine) and Redis 8.6+ key metadata
    # (module classes): left out of the rebuilt state, counted.
    array_keys_dropped: int = 0
    key_meta_dropped: int = 0
    stream_meta_dropped: int = 0      # streams whose IDMP state / NACK zones the engine lacks
    commands_read: int = 0
    commands_applied: int = 0
    skipped: list = field(default_factory=list)        # CommandRef (the first MAX_SKIPPED_KEPT)
    skipped_count: int = 0
    errors: list = field(default_factory=list)         # (CommandRef, message)
    error_count: int = 0
    discarded_transaction: int = 0                    # queued commands never EXECed
    stop: Optional[dict] = None                       # where the replay stopped early
    first_time: Optional[int] = None
    last_time: Optional[int] = None                   # last #TS of the applied log
    reference_ms: Optional[int] = None
    expired_dropped: int = 0
    expired_fields_dropped: int = 0
    truncated: Optional[dict] = None                  # (file, offset) of a cut last command
    compat: Optional[str] = None

    def keys_per_db(self) -> dict:
        ks = self.keyspace
        return {str(d.id): {"keys": len(d.data), "expires": len(d.expires)} for d in ks.dbs if d.data}

    def summary(self) -> dict:
        return {
            "input": self.input,
            "layout": self.layout,
            "rdb_version": self.rdb_version,
            "snapshot_keys": self.snapshot_keys,
            "module_keys_dropped": self.module_keys_dropped,
            "array_keys_dropped": self.array_keys_dropped,
            "key_meta_dropped": self.key_meta_dropped,
            "stream_meta_dropped": self.stream_meta_dropped,
            "commands_read": self.commands_read,
            "commands_applied": self.commands_applied,
            "commands_skipped": self.skipped_count,
            "skipped": [s.as_dict() for s in self.skipped],
            "command_errors": self.error_count,
            "errors": [dict(ref.as_dict(), error=msg) for ref, msg in self.errors],
            "discarded_transaction_commands": self.discarded_transaction,
            "stop": self.stop,
            "log_time": {"first": self.first_time, "last": self.last_time},
            "reference_time_ms": self.reference_ms,
            "expired_dropped": {"keys": self.expired_dropped, "fields": self.expired_fields_dropped},
            "keys": self.keyspace.total_keys(),
            "dbs": self.keys_per_db(),
            "functions": len(self.keyspace.functions),
            "truncated": self.truncated,
            "compat": self.compat,
        }


class _Stop(Exception):
    pass


class Replayer:
    """Feeds one input into a keyspace (see the module docstring)."""

    def __init__(self, path, options: Optional[ReplayOptions] = None, *,
                 keyspace: Optional[Keyspace] = None,
                 on_skip: Optional[Callable[[CommandRef], None]] = None,
                 progress: Optional[Callable[[int], None]] = None,
                 snapshot_sink: Optional[Callable[[object], int]] = None) -> None:
        self.path = str(path)
        # snapshot_sink(Record | Function) -> keys taken: where snapshot items go instead of
        # the keyspace (merge streams a snapshot into its output this way).
        self.snapshot_sink = snapshot_sink
        self.options = options or ReplayOptions()
        self.reader = AOFReader(self.path)
        self.ks = keyspace if keyspace is not None else Keyspace(expiry=False)
        self.on_skip = on_skip
        self.progress = progress
        self.result = ReplayResult(self.ks, self.path, layout=self._layout())
        self._compat_fixed = self.options.compat is not None
        self._set_compat(self.options.compat or DEFAULT_COMPAT)
        self._stop_part: Optional[int] = None    # index of the --until-offset file
        self._freeze: Optional[Callable] = None   # kvengine.compact freezer (compact mode)
        self._check_offset_file()

    def _layout(self) -> str:
        aset = self.reader.aof_set
        if aset.layout == "multipart":
            return "multipart"
        part = aset.parts[0]
        return "rdb-or-hybrid" if part.format == "rdb" else "resp"

    def _check_offset_file(self) -> None:
        stop = self.options.until_offset
        if stop is None:
            return
        name, _ = stop
        parts = self.reader.parts
        if name is None:
            if len(parts) != 1:
                raise RecoveryError("--until-offset needs FILE:BYTES for a multi-part AOF "
                                    f"(files: {', '.join(p.name for p in parts)})")
            self._stop_part = 0
            return
        for i, p in enumerate(parts):
            if name in (p.name, p.path) or p.path.endswith("/" + name):
                self._stop_part = i
                return
        raise RecoveryError(f"--until-offset: {name!r} is not a file of this input "
                            f"(files: {', '.join(p.name for p in parts)})")

    def _set_compat(self, version: str) -> None:
        try:
            self.ks.compat = tuple(int(x) for x in version.split(".")[:2])
        except ValueError:
            raise RecoveryError(f"--compat {version!r}: expected a server version like 7.0 or 7.2") from None
        self.result.compat = ".".join(str(x) for x in self.ks.compat)

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> ReplayResult:
        res = self.result
        ks = self.ks
        opts = self.options
        skips = opts.skips
        until_time = opts.until_time
        until_cmd = opts.until_command
        part_index = {p.name: i for i, p in enumerate(self.reader.parts)}
        stop_part = self._stop_part
        stop_bytes = opts.until_offset[1] if opts.until_offset is not None else None
        session = None
        cur_file = None
        index = 0
        saw_time = False
        wall = _time.time_ns() // 1_000_000
        # compact: a key's value is encoded once the log moves on to another key (an AOF
        # rewrite writes each key's commands together; later ones thaw it on lookup)
        freeze = self._freeze = freezer() if opts.compact else None
        last_key = last_db = None
        # The automatic collector's full passes walk every object of the growing keyspace
        # (millions of them) again and again: about a sixth of a big merge. The log's
        # commands make no long-lived cycles, so only the young generations are collected,
        # every 262,144 commands, and the collector is back as it was afterwards.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            try:
                for item in self.reader.items(preamble=True):
                    if type(item) is not AOFCommand:
                        self._snapshot_item(item)
                        continue
                    index += 1
                    res.commands_read = index
                    if item.file != cur_file:
                        if session is not None:
                            self._drop_open_multi(session)
                        cur_file = item.file
                        session = ks.session(0)
                    t = item.time
                    if t is not None:
                        saw_time = True
                    # -- stops (checked before the command runs) --
                    if until_cmd is not None and index > until_cmd:
                        self._stop("until-command", item, index)
                    if until_time is not None and t is not None and t > until_time:
                        self._stop("until-time", item, index)
                    if stop_part is not None:
                        pi = part_index.get(item.file, 0)
                        if pi > stop_part or (pi == stop_part and item.offset + item.length > stop_bytes):
                            self._stop("until-offset", item, index)
                    # -- skips --
                    args = item.args
                    if skips and args:
                        name = bytes(args[0]).upper()
                        if any(rule.matches(name, args) for rule in skips):
                            ref = CommandRef.of(item, index)
                            res.skipped_count += 1
                            if len(res.skipped) < MAX_SKIPPED_KEPT:
                                res.skipped.append(ref)
                            if self.on_skip is not None:
                                self.on_skip(ref)
                            continue
                    if t is not None:
                        if res.first_time is None:
                            res.first_time = t
                        res.last_time = t
                    self._apply(session, item, index, wall if t is None else t * 1000 + 999)
                    if freeze is not None:
                        key = args[1] if len(args) > 1 else None
                        if key != last_key or session.db is not last_db:
                            if last_key is not None:
                                freeze(last_db, last_key)
                            last_key, last_db = key, session.db
                    if index & 0x3FFFF == 0:
                        gc.collect(1)  # the young generations only (see below)
                    if self.progress is not None and index % 1024 == 0:
                        self.progress(index)
            except _Stop:
                pass
            except TruncatedError as exc:
                name, end = self.reader.last_complete
                if name != self.reader.parts[-1].name:
                    raise
                res.truncated = {"file": name, "offset": end, "error": str(exc)}
        finally:
            if gc_was_on:
                gc.enable()
        if session is not None:
            self._drop_open_multi(session)
        if freeze is not None and last_key is not None:
            freeze(last_db, last_key)
        if until_time is not None and not saw_time and res.commands_read:
            raise RecoveryError(
                f"{self.path}: the log has no #TS annotations (aof-timestamp-enabled was off), "
                "so --until TIME cannot be placed; use --until-offset FILE:BYTES or --until-command N")
        if until_time is not None and not res.commands_read:
            raise RecoveryError(f"{self.path}: no log commands (a snapshot only): --until TIME has nothing to cut")
        self._finish_expiry()
        return res

    def _snapshot_item(self, item) -> None:
        res = self.result
        if isinstance(item, model.Record):
            if item.type == model.MODULE:
                res.module_keys_dropped += 1
                return
            if item.type == model.ARRAY:
                res.array_keys_dropped += 1
                return
            if item.key_meta:
                res.key_meta_dropped += 1
            v = item.value
            if isinstance(v, model.StreamValue) and (
                    (v.idmp is not None and not v.idmp.is_default()) or any(g.nacked for g in v.groups)):
                res.stream_meta_dropped += 1
            if self.snapshot_sink is not None:
                res.snapshot_keys += self.snapshot_sink(item)
            else:
                res.snapshot_keys += self.ks.load_records((item,))
                if self._freeze is not None:  # a snapshot key stays encoded until a command needs it
                    self._freeze(self.ks.dbs[item.db], bytes(item.key))
        elif isinstance(item, model.Function):
            if self.snapshot_sink is not None:
                self.snapshot_sink(item)
            else:
                self.ks.load_records((item,))
        elif isinstance(item, model.Aux):
            if item.key == b"redis-ver" and not self._compat_fixed:
                self._compat_fixed = True
                try:
                    self._set_compat(bytes(item.value).decode("ascii"))
                except (RecoveryError, UnicodeDecodeError):
                    pass
        elif isinstance(item, model.Header):
            if res.rdb_version is None:
                res.rdb_version = item.version
                res.rdb_magic = item.magic

    def _apply(self, session, cmd: AOFCommand, index: int, now_ms: int) -> None:
        res = self.result
        args = cmd.args
        if not args:
            return
        try:
            reply = session.execute(args, now_ms=now_ms)
        except CommandError as exc:  # handlers normally return errors; be safe
            reply = exc
        except (FormatError, RecoveryError):
            raise
        except Exception as exc:  # an engine failure: say where in the log, not a traceback
            raise FormatError(f"the engine failed to replay {bytes(args[0])[:40]!r}: {exc!r}", cmd.offset,
                              expected="a command the engine can apply",
                              found=bytes(args[0])[:40].decode("utf-8", "replace"), file=cmd.file) from exc
        if isinstance(reply, CommandError):
            msg = getattr(reply, "message", str(reply))
            if msg.startswith("ERR unknown command"):
                raise FormatError(f"the engine cannot replay {bytes(args[0])!r}: {msg} "
                                  "(use --skip to leave it out)", cmd.offset,
                                  expected="a command the engine knows",
                                  found=bytes(args[0]).decode("utf-8", "replace"), file=cmd.file)
            res.error_count += 1
            if len(res.errors) < MAX_ERRORS_KEPT:
                res.errors.append((CommandRef.of(cmd, index), msg))
        elif isinstance(reply, list):
            # EXEC: the replies of the queued commands (errors inside are ignored, as loading does)
            for r in reply:
                if isinstance(r, CommandError):
                    res.error_count += 1
                    if len(res.errors) < MAX_ERRORS_KEPT:
                        res.errors.append((CommandRef.of(cmd, index), getattr(r, "message", str(r))))
        res.commands_applied += 1

    def _drop_open_multi(self, session) -> None:
        if session.in_multi:
            self.result.discarded_transaction += len(session.queue)
            session.queue = []
            session.in_multi = False
            session.multi_error = False

    def _stop(self, reason: str, cmd: AOFCommand, index: int) -> None:
        self.result.stop = {"reason": reason, "file": cmd.file, "offset": cmd.offset,
                            "time": cmd.time, "index": index,
                            "inside_transaction": bool(cmd.in_multi and bytes(cmd.args[0]).upper() != b"MULTI")}
        raise _Stop

    def _finish_expiry(self) -> None:
        res = self.result
        opts = self.options
        if opts.until_time is not None:
            ref = int(opts.until_time * 1000)
        elif res.last_time is not None:
            ref = res.last_time * 1000
        else:
            ref = None
        res.reference_ms = ref
        if ref is None or opts.keep_expired:
            return
        keys, fields = drop_expired(self.ks, ref)
        res.expired_dropped, res.expired_fields_dropped = keys, fields


def drop_expired(ks: Keyspace, ref_ms: int) -> tuple[int, int]:
    """Remove keys whose TTL is <= ref_ms and hash fields whose field TTL is; a hash left
    empty goes too. Returns (keys removed, fields removed)."""
    keys = fields = 0
    for db in ks.dbs:
        for key in [k for k, t in db.expires.items() if t <= ref_ms]:
            db.data.pop(key, None)
            db.expires.pop(key, None)
            keys += 1
        for key, v in list(db.data.items()):
            fexp = getattr(v, "fexp", None)
            if not fexp:
                continue
            gone = [f for f, t in fexp.items() if t <= ref_ms]
            for f in gone:
                del fexp[f]
                v.pop(f, None)
            fields += len(gone)
            if not v:
                db.data.pop(key, None)
                db.expires.pop(key, None)
                keys += 1
    return keys, fields


def replay(path, options: Optional[ReplayOptions] = None, **kw) -> ReplayResult:
    return Replayer(path, options, **kw).run()


def load_state(path, **kw) -> ReplayResult:
    """The state an input holds once fully loaded (no stops, no skips)."""
    return Replayer(path, ReplayOptions(), **kw).run()
