"""Streaming RDB reader: one framing walker, one value strategy per use.

    from persistkit.rdbtools.reader import RDBReader
    reader = RDBReader(source)          # ByteSource, bytes, or a binary stream
    reader.header                       # model.Header (magic/version checked on construction)
    for item in reader:                 # Header, Aux, SelectDB, ResizeDB, SlotInfo, Function,
        ...                             # ModuleAux, Opaque, Record, EOF

The layouts follow redis/redis ``src/rdb.c`` (``rdbLoadRioWithLoadingCtx``,
``rdbLoadObject``, ``rdbLoadCheckModuleValue``) and valkey-io/valkey ``src/rdb.c``.
The walker here reads the framing: the header, every opcode, the EXPIRETIME / IDLE /
FREQ prefixes of a key record, the key and its type byte, and EOF with the CRC64
(computed while reading). The type byte picks a row of the type table (``rdbtypes``,
chosen by the magic: Redis and Valkey number types 22+ differently), and the row names
the strategy entry that reads the value (``rdbtools.strategies``). One key is in memory
at a time.

Strategies (``strategy=`` "build" | "stream" | "validate" | "skip", or a
``strategies.ValueStrategy`` subclass); the older keywords map onto them:

* ``decode=True`` (default): "build"; ``decode=False``: "skip" (framing and sizes only;
  ``Record.size_hint`` carries the element count when cheap);
* ``iterate=True``: "stream" (collections as iterators read as they are consumed;
  consume a value before advancing the reader, which drains what is left;
  ``Record.length``, ``size_hint`` and ``field_expires`` are final once drained);
* ``values=False``: "validate" (what "build" checks, values not built).

``recover=True`` (used by ``verify``, any strategy): a bad inner blob, a duplicate
member or a bad score in an otherwise well-framed value does not stop the reader: the
problem goes to ``reader.problems`` (FormatError with offset and key), the key is not
yielded (its offset goes to ``reader.dropped``), and reading continues with the next
record. Framing errors always raise.

Contract for drivers (verify's compiled fast scan): at every item boundary, between two
yielded items, the walker re-reads ``src.pos`` and ``reader.db`` afresh, so a driver may
advance ``src.pos`` over whole records and update ``reader.db`` between two ``next()``
calls (``_items()`` also starts a fresh walk at the current position).

``Record.encoding`` names the stored form as the server that wrote the file held it
(what OBJECT ENCODING said at SAVE time, as the real-server corpus records it): the
type's row gives it (``rdbtypes.RDBType.encoding``), and for strings (``int`` for a
canonical integer, ``embstr`` up to 44 bytes or Valkey 8.1+/9's key+value embedding
rule, else ``raw``), quicklist v2 (``listpack`` for one packed node on RDB 11+) and
streams the entry decides from the value. A loading server with other limits may
convert (e.g. a small type-4 hash becomes a listpack).

Empty collections (``corrupt_empty_keys.rdb``): the server skips them on load, so the
reader yields nothing for them; they are counted in ``reader.empty_keys`` (a list of
Records without values) for ``verify`` to report.

``Record.layout`` keys (hints for exact rewriting, all optional):

* ``"string"``: ``"int" | "lzf" | "raw"`` how a string value was stored.
* ``"compressed"``: True when a single-blob value (ziplist/listpack/intset/zipmap)
  was stored LZF-compressed.
* ``"nodes"``: quicklists, one dict per stored node:
  ``{"container": "packed"|"plain", "count": n, "compressed": bool}``
  (type 14 nodes are always ``packed`` ziplists).
* ``"intset_width"``: 2, 4 or 8 bytes per intset value.
* ``"min_expire"``: the stored minimum field expiry of types 24/25 (absolute ms).
* ``"stream_nodes"``: streams, per listpack node ``{"compressed": bool}``.
* ``"module_id"``, ``"module"``: module values (id and 9-char name, also without decoding).

Key metadata (Redis RDB 13+, opcode 243 between the EXPIRETIME/IDLE/FREQ prefixes and
the type byte, ``rdbResolveKeyType``) is read by every strategy into ``Record.key_meta``.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Union

from persistkit.kvencoding.errors import FormatError, TruncatedError, UnsupportedVersionError
from persistkit.kvencoding.keymeta import read_key_meta
from persistkit.kvencoding.lengths import read_i64, read_length, read_s_time, read_string
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op
from persistkit.rdbtools import strategies as _st
from persistkit.rdbtools.strategies import (BigString, EMBSTR_LIMIT, MODULE_NAME_CHARSET,  # noqa: F401
                                            STRATEGIES, ValueStrategy, _Capture, _Empty,
                                            _Lazy, blob_header_problem, module_name)

__all__ = ["RDBReader", "BigString", "read_rdb", "iter_keys", "module_name",
           "blob_header_problem", "STRATEGIES"]


class RDBReader:
    """Iterate an RDB file's items. See the module docstring for strategies and modes."""

    def __init__(self, source, decode: bool = True, *, name: Optional[str] = None,
                 iterate: bool = False, recover: bool = False, strict_crc: bool = True,
                 allow_future: bool = False, size: Optional[int] = None,
                 values: bool = True, big_strings: Optional[int] = None,
                 strategy: Union[str, type, None] = None) -> None:
        if isinstance(source, ByteSource):
            src = source
        elif isinstance(source, (bytes, bytearray, memoryview)):
            src = ByteSource(source, name=name, crc=True)
        else:
            from persistkit.kvencoding.fileio import input_name, input_size

            src = ByteSource(source, name=name or input_name(source),
                             size=size if size is not None else input_size(source), crc=True)
        self.src = src
        self.name = name or src.name
        if strategy is None:
            strategy = _st.strategy_for(decode=decode, iterate=iterate, values=values)
        elif isinstance(strategy, str):
            if strategy not in STRATEGIES:
                raise ValueError(f"unknown reader strategy {strategy!r} "
                                 f"(one of {', '.join(STRATEGIES)})")
            strategy = STRATEGIES[strategy]
        self.dropped: list[int] = []  # offsets of records left out after a recover-mode problem
        self.recover = recover
        self.strict_crc = strict_crc
        self.allow_future = allow_future
        self.problems: list[FormatError] = []
        self.empty_keys: list[model.Record] = []
        self.db = 0
        self.server_version: Optional[str] = None
        self._valkey_writer = False
        self._key = None
        self._broken = False
        self.eof: Optional[model.EOF] = None
        self.end_offset: Optional[int] = None
        self.header = self._read_header()
        self.dialect = "valkey" if self.header.magic == "VALKEY" else "redis"
        self._types = op.type_table(self.dialect)
        version = self.header.version
        if self.dialect == "redis" and version < op.REDIS_MAX_VERSION:
            # Types of Redis 8.6+ exist only from their RDB version on (a 29 in an RDB 14
            # file is not a hash template: see opcodes.UNCONFIRMED).
            self._types = {c: r for c, r in self._types.items()
                           if c < op.T_STREAM_LISTPACKS_4 or r.since <= version}
        self.hash_templates: dict = {}   # RDB 15: template id -> field names (opcode 242)
        self.strategy: ValueStrategy = strategy(self, big_strings=big_strings)
        self._value_readers = self.strategy.entries(self._types)
        self._started = False

    # The older mode flags, read from the strategy.
    @property
    def decode(self) -> bool:
        return self.strategy.decode

    @property
    def iterate(self) -> bool:
        return self.strategy.iterate

    @property
    def lean(self) -> bool:
        return self.strategy.lean

    # ------------------------------------------------------------------ errors
    def _err(self, message: str, offset: Optional[int] = None, *, expected=None, found=None,
             key=None, cls=FormatError) -> FormatError:
        if offset is None:
            offset = self.src.tell()
        return cls(message, offset, expected=expected, found=found, file=self.name, key=key)

    # ------------------------------------------------------------------ header
    # ------------------------------------------------------------------ header
    def _read_header(self) -> model.Header:
        src = self.src
        start = src.tell()
        head = src.peek(9)
        if head.startswith(b"VALKEY"):
            magic, digits = "VALKEY", head[6:9]
        elif head.startswith(b"REDIS"):
            magic, digits = "REDIS", head[5:9]
        else:
            raise self._err("not an RDB file", start, expected="magic REDIS or VALKEY",
                            found=repr(head[:9]))
        if len(head) < 9:
            raise self._err("truncated RDB header", start, expected="9 header bytes",
                            found=f"{len(head)} bytes", cls=TruncatedError)
        if not digits.isdigit():
            raise self._err("bad RDB version in header", start + len(magic),
                            expected="ASCII digits", found=repr(digits))
        version = int(digits)
        src.read(9, "RDB header")
        known = (magic == "REDIS" and 1 <= version <= op.REDIS_MAX_VERSION) or \
                (magic == "VALKEY" and version in op.VALKEY_VERSIONS)
        if not known and not self.allow_future:
            if magic == "VALKEY" and version in op.UNCONFIRMED_VALKEY:
                why = (f"RDB version {version} (VALKEY{version:03d}, "
                       f"{op.UNCONFIRMED_VALKEY[version]}) is not supported: its layout could "
                       "not be confirmed")
            elif version == 0:
                why = "RDB version 0 does not exist"
            else:
                why = (f"RDB version {version} ({magic} magic) is newer than this tool knows "
                       f"or foreign (this tool reads REDIS versions 1-{op.REDIS_MAX_VERSION} "
                       "and VALKEY080)")
            raise self._err(why, start + len(magic), expected="a known RDB version",
                            found=f"{magic}{digits.decode()}", cls=UnsupportedVersionError)
        return model.Header(magic=magic, version=version, offset=start, length=9)


    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[Any]:
        if self._started:
            raise RuntimeError("an RDBReader can be iterated once")
        self._started = True
        yield self.header
        yield from self._items()

    def records(self) -> Iterator[model.Record]:
        for item in self:
            if isinstance(item, model.Record):
                yield item

    def _items(self):
        """The framing walk from the current position. ``src.pos`` and ``self.db`` are
        read afresh after every yield (the driver contract in the module docstring)."""
        src = self.src
        types = self._types
        readers = self._value_readers
        streams = self.strategy.iterate
        Record = model.Record
        name = self.name
        start = None
        expire = idle = freq = key_meta = None
        # Redis RDB 13+: opcode 243 is KEY_META (in a VALKEY file it is SLOT_IMPORT).
        meta_op = (op.OP_KEY_META if self.dialect == "redis"
                   and self.header.version >= op.KEY_META_SINCE else -1)
        while True:
            at = src.base + src.pos
            if src.pos >= len(src.buf):
                src.need(1, "an opcode or value type")
            t = src.buf[src.pos]
            src.pos += 1
            if key_meta is not None and t not in types:
                # rdbResolveKeyType: the key's type byte follows the metadata at once.
                raise self._err("key metadata not followed by a value type", at,
                                expected="an RDB value type", found=str(t))
            if t == meta_op:
                if start is None:
                    start = at
                try:
                    key_meta = read_key_meta(src)
                except FormatError as exc:
                    raise exc.with_context(file=name)
                continue
            # Key-specific opcodes come before the type byte (rdbLoadRioWithLoadingCtx);
            # the record starts at the first of them.
            if t == 252:
                if start is None:
                    start = at
                expire = read_i64(src, "expire time")
                continue
            if t == 248:
                if start is None:
                    start = at
                idle = read_length(src, "LRU idle time")
                continue
            if t == 249:
                if start is None:
                    start = at
                if src.pos >= len(src.buf):
                    src.need(1, "LFU frequency")
                freq = src.buf[src.pos]
                src.pos += 1
                continue
            if t == 253:
                if start is None:
                    start = at
                # rdbLoadTime: an int32 of seconds.
                expire = read_s_time(src, "expire time (seconds)") * 1000
                continue
            row = types.get(t)
            if row is None:
                item = self._opcode(t, at)
                yield item
                if item.__class__ is model.EOF:
                    return
                continue
            # A key record.
            if start is None:
                start = at
            self._key = None
            buf = src.buf
            pos = src.pos
            if pos < len(buf) and buf[pos] < 0x40 and pos + 1 + buf[pos] <= len(buf):
                # Hot path: a short raw key already in the window (read_string's first
                # case, inline).
                end = pos + 1 + buf[pos]
                key = buf[pos + 1:end]
                src.pos = end
            else:
                try:
                    key = read_string(src, "key")
                except FormatError as exc:
                    raise exc.with_context(file=name)
            self._key = key
            rec = Record(db=self.db, key=key, type=row.family, rdb_type=t, encoding="",
                         offset=start, expire_ms=expire, idle=idle, freq=freq)
            if key_meta is not None:
                rec.key_meta = key_meta
            start = None
            expire = idle = freq = key_meta = None
            self._broken = False
            try:
                readers[t](rec)
            except _Empty:
                if self._broken:
                    self.dropped.append(rec.offset)
                    continue
                rec.length = src.base + src.pos - rec.offset
                self.empty_keys.append(rec)
                continue
            except FormatError as exc:
                raise exc.with_context(file=name, key=key)
            if self._broken:
                self.dropped.append(rec.offset)
                continue  # recover mode: the problem is recorded, the framing is intact
            if streams and rec.value.__class__ is _Lazy:
                lazy = rec.value
                yield rec
                try:
                    lazy.drain()
                except FormatError as exc:
                    raise exc.with_context(file=name, key=key)
                rec.length = src.base + src.pos - rec.offset
                continue
            rec.length = src.base + src.pos - rec.offset
            yield rec

    # ------------------------------------------------------------------ opcodes
    # ------------------------------------------------------------------ opcodes
    def _opcode(self, t: int, at: int):
        src = self.src
        if t == op.OP_AUX:
            key = read_string(src, "AUX key")
            value = read_string(src, "AUX value")
            if key in (b"redis-ver", b"valkey-ver"):
                self.server_version = value.decode("ascii", "replace")
                self._valkey_writer = key == b"valkey-ver"
                self.strategy.update_embed_limit()
            return model.Aux(key, value, at, src.tell() - at)
        if t == op.OP_SELECTDB:
            self.db = read_length(src, "db number")
            return model.SelectDB(self.db, at, src.tell() - at)
        if t == op.OP_RESIZEDB:
            a = read_length(src, "RESIZEDB db size")
            b = read_length(src, "RESIZEDB expires size")
            return model.ResizeDB(a, b, at, src.tell() - at)
        if t == op.OP_EOF:
            return self._read_eof(at)
        if t == op.OP_FUNCTION2:
            code = read_string(src, "function library")
            return model.Function(code=code, opcode=t, offset=at, length=src.tell() - at)
        if t == op.OP_FUNCTION_PRE_GA:
            # Redis 7.0 rc1/rc2 layout (rdbFunctionLoad before GA): name, engine,
            # a has-description flag (length) and the description, then the code.
            # Redis 7.0 GA itself refuses this opcode ("Pre-release function format").
            fname = read_string(src, "function name")
            engine = read_string(src, "function engine")
            if read_length(src, "function description flag"):
                read_string(src, "function description")
            code = read_string(src, "function code")
            return model.Function(code=code, opcode=t, name=fname, engine=engine,
                                  offset=at, length=src.tell() - at)
        if t == op.OP_MODULE_AUX:
            return self._read_module_aux(at)
        if t == op.OP_SLOT_INFO:
            slot = read_length(src, "slot id")
            size = read_length(src, "slot size")
            exp = read_length(src, "slot expires size")
            return model.SlotInfo(slot, size, exp, at, src.tell() - at)
        if t == op.OP_SLOT_IMPORT and self.dialect == "valkey":
            return self._read_slot_import(at)
        if (t == op.OP_HASH_TEMPLATE and self.dialect == "redis"
                and self.header.version >= op.HASH_TEMPLATE_SINCE):
            return self._read_hash_template(at)
        newer = op.unconfirmed(t, self.header.version, self.dialect)
        if newer is not None:
            kind = "opcode" if t >= 240 else "type"
            raise self._err(f"RDB {kind} {t} ({newer[0]}) is not supported: {newer[1]}", at,
                            expected=f"a {self.header.magic} v{self.header.version} type or opcode "
                            "this tool reads", found=str(t), cls=UnsupportedVersionError)
        raise self._err(f"unknown value type or opcode {t}", at,
                        expected=f"a {self.header.magic} v{self.header.version} type or opcode",
                        found=str(t))

    def _read_eof(self, at: int) -> model.EOF:
        src = self.src
        computed = src.crc() if src._crc is not None else None
        checksum = None
        if self.header.version >= 5:
            if len(src.buf) - src.pos < 8:
                src.need(8, "CRC64 trailer")
            checksum = int.from_bytes(src.buf[src.pos:src.pos + 8], "little")
            src.pos += 8
        eof = model.EOF(checksum=checksum, computed=computed, offset=at, length=src.tell() - at)
        self.eof = eof
        self.end_offset = src.tell()
        if self.strict_crc and eof.checksum_ok is False:
            raise self._err("RDB checksum mismatch", at + 1,
                            expected=f"CRC64 {computed:016x}", found=f"{checksum:016x}")
        return eof

    def _read_slot_import(self, at: int) -> model.Opaque:
        # Valkey 9 clusterRDBSaveSlotImports: job name, range count, (start, end) pairs.
        cap = _Capture(self.strategy)
        cap.string("slot import job name")
        n = cap.length("slot range count")
        for _ in range(n):
            cap.length("slot range start")
            cap.length("slot range end")
        return model.Opaque(op.OP_SLOT_IMPORT, "SLOT_IMPORT", cap.raw(), at, self.src.tell() - at)

    def _read_hash_template(self, at: int) -> model.Opaque:
        # Opcode 242 (RDB 15): id, field count, the field names (ascending; kvencoding.hashtemplate).
        from persistkit.kvencoding.hashtemplate import read_template_record

        try:
            tid, fields = read_template_record(self.src)
        except FormatError as exc:
            raise exc.with_context(file=self.name)
        if tid in self.hash_templates:
            raise self._err("duplicate hash template id", at, expected="each id once per file",
                            found=str(tid))
        self.hash_templates[tid] = fields
        # raw: not the stored bytes (a REF key cannot be copied without its record anyway)
        return model.Opaque(op.OP_HASH_TEMPLATE, "HASH_TEMPLATE", b"", at, self.src.tell() - at)

    def _read_module_aux(self, at: int) -> model.ModuleAux:
        cap = _Capture(self.strategy)
        module_id = cap.length("module id")
        when_at = self.src.tell()
        when_opcode = cap.length("module aux when-opcode")
        if when_opcode != op.MOD_UINT:
            raise self._err("bad module aux when-opcode", when_at,
                            expected=f"{op.MOD_UINT} (UINT)", found=str(when_opcode))
        when = cap.length("module aux when")
        self.strategy._module_body(cap, "module aux")
        mv = model.ModuleValue(module_id=module_id, name=module_name(module_id),
                               encver=module_id & 1023, raw=cap.raw(), when=when)
        return model.ModuleAux(mv, at, self.src.tell() - at)


# ---------------------------------------------------------------------------
# conveniences


# ---------------------------------------------------------------------------
# conveniences


def read_rdb(data, decode: bool = True, **kw) -> list:
    """Every item of an RDB given as bytes (or a path-like / stream), as a list."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return list(RDBReader(data, decode, **kw))
    if hasattr(data, "read"):
        return list(RDBReader(data, decode, **kw))
    from persistkit.kvencoding.fileio import open_input

    with open_input(data) as stream:
        return list(RDBReader(stream, decode, **kw))


def iter_keys(data, decode: bool = True, **kw) -> Iterator[model.Record]:
    """The key records of an RDB (bytes, stream or path)."""
    if isinstance(data, (bytes, bytearray, memoryview)) or hasattr(data, "read"):
        yield from RDBReader(data, decode, **kw).records()
        return
    from persistkit.kvencoding.fileio import open_input

    with open_input(data) as stream:
        yield from RDBReader(stream, decode, **kw).records()


def preamble_flag_of(head: bytes) -> Optional[bool]:
    """What an RDB's own ``aof-preamble`` aux field says (rdb.c rdbSaveInfoAuxFields), read
    from its first bytes (aux fields come right after the header): True for the preamble
    of a single-file AOF, False for a plain snapshot, None when the field is absent (older
    servers, other writers) or cannot be read from these bytes."""
    try:
        for item in RDBReader(bytes(head), strategy="skip", strict_crc=False):
            cls = item.__class__
            if cls is model.Aux:
                if item.key == b"aof-preamble":
                    return item.value == b"1"
            elif cls is not model.Header:
                return None
    except FormatError:
        return None
    return None
