"""How the RDB reader handles values: one strategy per use, behind one framing walker.

``rdbtools.reader.RDBReader`` walks the file's framing (header, opcodes, the
EXPIRETIME/IDLE/FREQ prefixes of a key record, the key, the type byte, EOF and CRC) and
hands each value to its strategy's entry for that type (``v_<reader>``, named by the
type's row in ``rdbtypes``). The strategies:

* ``BuildValues`` (``decode=True``): ``Record.value`` is built (see ``model``); inner
  blobs (ziplist, listpack, intset, zipmap, stream nodes) are deeply validated, and
  duplicates inside a collection are errors, as in the server's loader.
* ``StreamValues`` (``iterate=True``): as BuildValues, but collections come as an
  iterator in ``Record.value`` (lists/sets: bytes; zsets: (member, score); hashes:
  (field, value)), read from the file as it is consumed, so a 10M-member set is never
  held whole; a long raw string may come as a ``BigString`` (``big_strings=N``).
  Duplicate members are not looked for (that would hold them all).
* ``ValidateValues`` (``decode=True, values=False``, used by ``verify``): the same
  checks as BuildValues, values not built: strings are skipped, plain collections are
  walked in batches and their duplicates found by hash (``dedup``), in bounded memory.
* ``SkipValues`` (``decode=False``, ``verify --quick`` / ``inspect``): framing and sizes
  only; blobs are read for their element-count header and cheap header checks.

Every strategy reads lengths, integers, strings and LZF through ``kvencoding.lengths``,
so a skip accepts and rejects exactly what a decode does at the framing level.
"""

from __future__ import annotations

import struct
from typing import Optional

from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.lengths import (ENC_INT32, ENC_LZF, read_i64, read_int_encoded,
                                           read_length, read_length_or_encoding,
                                           read_length_raw, read_lzf_body, read_lzf_header,
                                           read_scored_strings, read_string, read_string_raw,
                                           read_strings, skip_string, skip_strings)
from persistkit.kvencoding import intset as _is
from persistkit.kvencoding import hashtemplate as _ht
from persistkit.kvencoding import rdbarray as _ra
from persistkit.kvencoding import streamext as _sx
from persistkit.kvencoding import listpack as _lp
from persistkit.kvencoding import streamnode as _sn
from persistkit.kvencoding import ziplist as _zl
from persistkit.kvencoding import zipmap as _zm
from persistkit.kvencoding.modvalue import read_module_opcodes
from persistkit.kvencoding.numbers import canonical_int, read_text_double
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_STREAM_ID = struct.Struct(">QQ")

# SCG_INVALID_ENTRIES_READ (-1) saved with rdbSaveLen as an unsigned 64-bit length.
_INVALID_ENTRIES_READ = (1 << 64) - 1
# Valkey EXPIRY_NONE for HASH_2 field expiries.
_EXPIRY_NONE = -1

MODULE_NAME_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Strings up to this many bytes are embedded ("embstr") by the server (object.c
# OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
EMBSTR_LIMIT = 44


def module_name(module_id: int) -> str:
    """The 9-char name packed in a module type id (module.c moduleTypeNameByID):
    6 bits per char, the last char in the lowest bits above the 10-bit encver."""
    mid = module_id >> 10
    chars = []
    for _ in range(9):
        chars.append(MODULE_NAME_CHARSET[mid & 63])
        mid >>= 6
    return "".join(reversed(chars))


_INT_START = frozenset(b"-0123456789")

# Elements read per tight loop in the streaming paths (bounded memory per batch).
BATCH = 1024
# A batch ends early after an element longer than this (see read_strings ``big``).
_BIG_ELEMENT = 1 << 16
_HASH_WHATS = ("hash field", "hash value")


def _itob(v) -> bytes:
    return v if v.__class__ is bytes else str(v).encode()


def _dedup_exact_limit() -> int:
    from persistkit.rdbtools.dedup import EXACT_LIMIT

    return EXACT_LIMIT


class _Empty(Exception):
    """Internal: the value is an empty collection (the server skips such keys)."""



class ValueStrategy:
    """The value entries shared by every strategy; the flags say how values are handled
    (see the module docstring). One instance per reader, bound to its source."""

    name = "build"
    decode = True       # values built (or, with ``lean``, fully validated)
    iterate = False     # collections as iterators (StreamValues)
    lean = False        # validate without building (ValidateValues)

    def __init__(self, reader, *, big_strings: Optional[int] = None) -> None:
        self.reader = reader
        self.src = reader.src
        self.header = reader.header
        self.dialect = reader.dialect
        # StreamValues, opt-in (export): a raw string value longer than this comes as a
        # BigString (its bytes re-read in chunks on demand) when the input allows it.
        self.big_strings = big_strings if self.iterate else None
        self._quiet = False
        self._lzf = False
        self._embed: Optional[int] = None
        self.update_embed_limit()

    def entries(self, table: dict) -> dict:
        """``{type byte: bound entry}`` for a dialect's type table (rdbtypes rows)."""
        return {code: getattr(self, "v_" + row.reader) for code, row in table.items()}

    # ------------------------------------------------------------------ errors
    def _err(self, message: str, offset: Optional[int] = None, *, expected=None, found=None,
             key=None, cls=FormatError) -> FormatError:
        if offset is None:
            offset = self.src.tell()
        return cls(message, offset, expected=expected, found=found, file=self.reader.name,
                   key=key)

    def _problem(self, exc: FormatError) -> None:
        """A recoverable value-level problem: raise, or record it in recover mode."""
        if self._quiet:
            return  # a second walk over a value already checked (dedup confirmation)
        r = self.reader
        exc.with_context(file=r.name, key=r._key)
        if not r.recover:
            raise exc
        r.problems.append(exc)
        r._broken = True

    def update_embed_limit(self) -> None:
        """The embstr rule follows the writer (AUX redis-ver / valkey-ver)."""
        if self.dialect == "valkey":
            self._embed = 128
            return
        v = self.reader.server_version
        if self.reader._valkey_writer and v and v.startswith("8.") and not v.startswith("8.0."):
            self._embed = 64
        else:
            self._embed = None

    # ------------------------------------------------------------------ primitives
    def _read_blob(self, what: str) -> tuple[bytes, int, bool]:
        """An RDB string holding an encoded blob: (bytes, base offset, was LZF-compressed)."""
        src = self.src
        start = src.base + src.pos
        n, encoded = read_length_or_encoding(src, what)
        if not encoded:
            base = src.base + src.pos
            return src.read(n, what), base, False
        if n == ENC_LZF:
            return read_lzf_body(src, start, what), start, True
        if n <= ENC_INT32:
            raise self._err(f"{what} is stored as an integer, not as an encoded blob", start,
                            expected="a raw or LZF string", found=f"integer encoding {n}")
        raise self._err(f"unknown string encoding in {what}", start,
                        expected="INT8, INT16, INT32 or LZF (0-3)", found=f"encoding {n}")

    def _read_score_text(self) -> float:
        """Old ZSET (type 3) score: 1-byte length (253/254/255: NaN/+inf/-inf) then ASCII
        (rdbLoadDoubleValue), through the one codec in kvencoding.numbers."""
        return read_text_double(self.src, "zset score")

    def _module_body(self, cap: "_Capture", what: str) -> int:
        """Walk module opcodes to their EOF (kvencoding.modvalue); returns how many."""
        return read_module_opcodes(self.src, what, cap.parts)

    # -- strings
    def v_string(self, rec: model.Record) -> None:
        src = self.src
        buf = src.buf
        pos = src.pos
        if pos < len(buf) and buf[pos] < 0x40 and pos + 1 + buf[pos] <= len(buf):
            # Hot path: a short raw value already in the window.
            n = buf[pos]
            value = buf[pos + 1:pos + 1 + n]
            src.pos = pos + 1 + n
            rec.encoding = self._string_encoding(value, n, rec)
            if self.decode:
                rec.value = value
            rec.size_hint = n
            rec.layout = {"string": "raw"}
            return
        n, encoded = read_length_or_encoding(src, "string value")
        if not encoded:
            self._raw_string(rec, n)
            rec.size_hint = n
            rec.layout = {"string": "raw"}
        elif n <= ENC_INT32:
            value = str(read_int_encoded(src, n, "integer string value")).encode()
            rec.encoding = "int"
            rec.size_hint = len(value)
            rec.layout = {"string": "int"}
            if self.decode:
                rec.value = value
        elif n == ENC_LZF:
            self._lzf_string(rec, src.tell() - 1)
            rec.layout = {"string": "lzf"}
        else:
            raise self._err("unknown string encoding in string value", src.tell() - 1,
                            expected="INT8, INT16, INT32 or LZF (0-3)", found=f"encoding {n}")

    def _raw_string(self, rec: model.Record, n: int) -> None:
        """A raw string value of ``n`` bytes (its prefix read): built."""
        src = self.src
        if len(src.buf) - src.pos >= n:
            value = src.buf[src.pos:src.pos + n]
            src.pos += n
        else:
            value = src.read(n, "string value")
        rec.encoding = self._string_encoding(value, n, rec)
        rec.value = value

    def _raw_string_unbuilt(self, rec: model.Record, n: int, keep: bool) -> None:
        # Only a string of at most 20 bytes can be an integer (OBJECT ENCODING "int"):
        # those are read to tell, longer ones skipped in chunks.
        if n <= 20:
            src = self.src
            value = src.read(n, "string value")
            rec.encoding = self._string_encoding(value, n, rec)
            if keep:
                rec.value = value
        else:
            self.src.skip(n, "string value")
            rec.encoding = self._string_encoding(None, n, rec)

    def _lzf_string(self, rec: model.Record, start: int) -> None:
        """An LZF string value (its 0xC3 prefix at ``start`` read): decompressed strictly."""
        value = read_lzf_body(self.src, start, "string value")
        rec.value = value
        rec.size_hint = len(value)
        rec.encoding = self._string_encoding(value, len(value), rec)

    def _string_encoding(self, value: Optional[bytes], n: int, rec: model.Record) -> str:
        # tryObjectEncoding: a canonical integer of at most 20 chars becomes "int".
        if n <= 20 and value is not None and n and value[0] in _INT_START and canonical_int(value) is not None:
            return "int"
        limit = self._embed
        if limit is None:
            return "embstr" if n <= EMBSTR_LIMIT else "raw"
        # Valkey 8.1+ (object.c shouldEmbedStringObject): the robj, its key, its expire
        # and the value's sds must fit in 64 (8.1) / 128 (9.x) bytes together.
        if n > 255:
            return "raw"
        k = len(rec.key)
        khdr = 1 if k < 32 else 3 if k < 256 else 5 if k < 65536 else 9
        size = 8 + (khdr + k + 1 + 1) + (8 if rec.expire_ms is not None else 0) + (3 + n + 1)
        return "embstr" if size <= limit else "raw"

    # -- plain collections (types 1-5): a count then strings
    def _plain_count(self, rec: model.Record, what: str) -> int:
        n = read_length(self.src, f"{what} length")
        if n == 0:
            raise _Empty()
        rec.size_hint = n
        return n

    def v_plain_list(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "list")
        rec.encoding = "quicklist"
        rec.value = read_strings(self.src, n, "list element")

    def _string_batches(self, n: int, what: str):
        src = self.src
        while n:
            got = read_strings(src, n if n < BATCH else BATCH, what, _BIG_ELEMENT)
            n -= len(got)
            yield got

    def _iter_strings(self, n: int, what: str):
        # Batches: one tight read_strings loop per BATCH elements, memory stays bounded
        # (a batch ends early after a big element).
        src = self.src
        while n:
            got = read_strings(src, n if n < BATCH else BATCH, what, _BIG_ELEMENT)
            n -= len(got)
            yield from got

    def v_plain_set(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "set")
        rec.encoding = "hashtable"
        members = read_strings(self.src, n, "set member")
        if len(set(members)) != n:
            self._duplicate(members, "set member", rec)
        rec.value = members

    def _zset_member_batches(self, n: int, binary: bool):
        while n:
            k = n if n < BATCH else BATCH
            if binary:
                got = self._zset2_batch(k)
                yield [m for m, _ in got]
                n -= len(got) - k  # a batch may end early (huge member)
            else:
                yield [m for m, _ in self._iter_zset(k, False)]
            n -= k

    def _field_batches(self, n: int):
        src = self.src
        while n:
            k = n if n < BATCH else BATCH
            vals = read_strings(src, 2 * k, _HASH_WHATS, _BIG_ELEMENT)
            if len(vals) % 2:
                vals.append(read_string(src, "hash value"))
            n -= len(vals) // 2
            yield vals[0::2]

    def _lean_unique(self, rec: model.Record, n: int, what: str, batches) -> None:
        """values=False: walk a plain collection's elements in batches (each validated as
        decode=True does) and report repeated members the way ``_duplicate`` does, in
        bounded memory: exact hashes first, a Bloom filter plus a second walk of the
        value's bytes for big collections (dedup.RepeatFinder)."""
        from persistkit.rdbtools.dedup import RepeatFinder

        src = self.src
        if n <= 4 * BATCH:
            # Small (nearly all): as decode=True does, without keeping the values.
            members = []
            for batch in batches():
                members += batch
            if len(set(members)) != n:
                self._duplicate(members, what, rec)
            return
        start = src.tell()
        finder = RepeatFinder(expected=n, exact_limit=None if not src.can_reread() else
                              _dedup_exact_limit())
        for batch in batches():
            repeats = finder.add_hashes(map(hash, batch))
            if repeats:
                by_hash = {hash(m): m for m in batch}
                for h in repeats:
                    self._report_duplicate(by_hash.get(h, b"?"), what, rec)
        if not finder.needs_confirm:
            return
        end = src.tell()
        confirm = finder.confirmer()
        found = []
        saved = self.src
        self.src = src.reread(start, end)
        self._quiet = True
        try:
            for batch in batches():
                for m in batch:
                    if confirm.see(hash(m)) is not None:
                        found.append(m)
        finally:
            self.src = saved
            self._quiet = False
        for m in found:
            self._report_duplicate(m, what, rec)

    def _report_duplicate(self, k: bytes, what: str, rec: model.Record) -> None:
        self._problem(self._err(f"duplicate {what} {k[:60]!r} in value",
                                rec.offset, expected=f"unique {what}s", found="a duplicate"))

    def _duplicate(self, items, what: str, rec: model.Record) -> None:
        seen = set()
        for k in items:
            if k in seen:
                self._problem(self._err(f"duplicate {what} {k[:60]!r} in value",
                                        rec.offset, expected=f"unique {what}s", found="a duplicate"))
            seen.add(k)

    def v_plain_zset(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "sorted set")
        rec.encoding = "skiplist"
        binary = rec.rdb_type == op.T_ZSET_2
        pairs = list(self._iter_zset(n, binary))
        if len({m for m, _ in pairs}) != n:
            self._duplicate([m for m, _ in pairs], "zset member", rec)
        rec.value = pairs

    def _iter_zset(self, n: int, binary: bool):
        if binary:
            while n:
                got = self._zset2_batch(n if n < BATCH else BATCH)
                n -= len(got)
                yield from got
            return
        src = self.src
        score = self._read_score_text
        for _ in range(n):
            m = read_string(src, "zset member")
            at = src.tell()
            s = score()
            if s != s:
                self._problem(self._err("NaN score in sorted set", at, expected="a number",
                                        found="NaN"))
            yield m, s

    def _zset2_batch(self, k: int) -> list:
        """``k`` (member, binary score) pairs of a ZSET_2 (lengths.read_scored_strings),
        a NaN score reported where it stands; ends early after a huge member."""
        src = self.src
        out: list = []
        while k:
            got, nan_at = read_scored_strings(src, k, "zset member", "binary double",
                                              _BIG_ELEMENT)
            out += got
            k -= len(got)
            if nan_at is not None:
                self._problem(self._err("NaN score in sorted set", nan_at, expected="a number",
                                        found="NaN"))
            elif k and got and len(got[-1][0]) > _BIG_ELEMENT:
                return out  # the caller asks again: huge members are not gathered
        return out

    def v_plain_hash(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "hash")
        rec.encoding = "hashtable"
        pairs = list(self._iter_pairs(n))
        if len({f for f, _ in pairs}) != n:
            self._duplicate([f for f, _ in pairs], "hash field", rec)
        rec.value = pairs

    def _iter_pairs(self, n: int):
        src = self.src
        while n:
            k = n if n < BATCH else BATCH
            vals = read_strings(src, 2 * k, _HASH_WHATS, _BIG_ELEMENT)
            if len(vals) % 2:
                vals.append(read_string(src, "hash value"))
            n -= len(vals) // 2
            yield from zip(vals[0::2], vals[1::2])

    # -- hashes with field TTLs stored as a table
    def v_hash_metadata(self, rec: model.Record) -> None:
        # Redis rdbLoadObject RDB_TYPE_HASH_METADATA(_PRE_GA): [GA: int64 minExpire]
        # count, then per field: TTL (length; GA: 0 = none, else minExpire + ttl - 1;
        # pre-GA: absolute), field, value.
        src = self.src
        ga = rec.rdb_type == op.T_HASH_METADATA
        min_expire = read_i64(self.src, "hash minimum field expiry") if ga else None
        n = self._plain_count(rec, "hash")
        rec.encoding = "hashtable"
        rec.layout = {"min_expire": min_expire} if ga else {}
        expires: dict[bytes, int] = {}
        rec.field_expires = expires
        if self.iterate:
            rec.value = _Lazy(self, self._iter_hash_md(n, ga, min_expire, expires))
            return
        pairs = list(self._iter_hash_md(n, ga, min_expire, expires))
        if len(expires) == 0:
            rec.field_expires = None
        if self.decode:
            if len({f for f, _ in pairs}) != n:
                self._duplicate([f for f, _ in pairs], "hash field", rec)
            rec.value = pairs

    def _iter_hash_md(self, n, ga, min_expire, expires):
        src = self.src
        for _ in range(n):
            at = src.tell()
            ttl = read_length(src, "hash field TTL")
            if ga:
                expire_at = ttl + min_expire - 1 if ttl else 0
            else:
                expire_at = ttl
            if expire_at > (1 << 48) - 1:
                self._problem(self._err("invalid hash field expiry", at,
                                        expected="a time below 2^48 ms", found=str(expire_at)))
            f = read_string(src, "hash field")
            v = read_string(src, "hash value")
            if expire_at:
                expires[f] = expire_at
            yield f, v

    def v_valkey_hash2(self, rec: model.Record) -> None:
        # Valkey RDB_TYPE_HASH_2: count, then per field: field, value, int64 expiry
        # (EXPIRY_NONE = -1 when the field has none).
        n = self._plain_count(rec, "hash")
        rec.encoding = "hashtable"
        expires: dict[bytes, int] = {}
        rec.field_expires = expires
        if self.iterate:
            rec.value = _Lazy(self, self._iter_hash2(n, expires))
            return
        pairs = list(self._iter_hash2(n, expires))
        if not expires:
            rec.field_expires = None
        if self.decode:
            if len({f for f, _ in pairs}) != n:
                self._duplicate([f for f, _ in pairs], "hash field", rec)
            rec.value = pairs

    def _iter_hash2(self, n, expires):
        src = self.src
        for _ in range(n):
            f = read_string(src, "hash field")
            v = read_string(src, "hash value")
            at = src.tell()
            ms = read_i64(self.src, "hash field expiry")
            if ms < _EXPIRY_NONE:
                self._problem(self._err("invalid hash field expiry", at,
                                        expected="-1 or a time", found=str(ms)))
            if ms != _EXPIRY_NONE:
                expires[f] = ms
            yield f, v

    # -- single-blob encodings
    def _blob(self, rec: model.Record, what: str):
        blob, base, compressed = self._read_blob(what)
        rec.layout = {"compressed": compressed}
        self._lzf = compressed
        return blob, base

    def _skim(self, rec: model.Record, kind: str, blob: bytes, base: int, count, per: int) -> bool:
        """True when the strategy takes a blob value by its header only (SkipValues);
        the others decode it."""
        return False

    def _collected(self, items: list):
        """A decoded collection as ``Record.value`` (StreamValues: an iterator over it)."""
        return items

    def _quick_check(self, kind: str, blob: bytes, base: int) -> None:
        bad = blob_header_problem(kind, blob)
        if bad is not None:
            self._problem(self._err(bad[0], base, expected=bad[1], found=bad[2]))

    def _decode_blob(self, fn, blob: bytes, base: int, *args):
        try:
            return fn(blob, base, self._lzf, *args)
        except FormatError as exc:
            self._problem(exc)
        except (IndexError, ValueError, KeyError, struct.error) as exc:
            # Defensive: a decoder tripping on bad bytes is still bad input, not a crash.
            self._problem(self._err(f"malformed blob ({type(exc).__name__}: {exc})", base))
        return None

    def v_list_ziplist(self, rec: model.Record) -> None:
        blob, base = self._blob(rec, "list ziplist")
        rec.encoding = "quicklist"
        if self._skim(rec, "ziplist", blob, base, _ziplist_count, 1):
            return
        items = self._decode_blob(_blobs.ziplist, blob, base) or []
        if not items:
            raise _Empty()
        rec.size_hint = len(items)
        values = [_itob(x) for x in items]
        rec.value = self._collected(values)

    def v_intset(self, rec: model.Record) -> None:
        blob, base = self._blob(rec, "intset")
        rec.encoding = "intset"
        if len(blob) >= 4:
            rec.layout["intset_width"] = int.from_bytes(blob[:4], "little")
        if self._skim(rec, "intset", blob, base, _intset_count, 1):
            return
        items = self._decode_blob(_blobs.intset, blob, base) or []
        if not items:
            raise _Empty()
        rec.size_hint = len(items)
        values = [_itob(x) for x in items]
        rec.value = self._collected(values)

    def v_set_listpack(self, rec: model.Record) -> None:
        blob, base = self._blob(rec, "set listpack")
        rec.encoding = "listpack"
        if self._skim(rec, "listpack", blob, base, _listpack_count, 1):
            return
        items = self._decode_blob(_blobs.listpack, blob, base) or []
        if not items:
            raise _Empty()
        values = [_itob(x) for x in items]
        if len(set(values)) != len(values):
            self._duplicate(values, "set member", rec)
        rec.size_hint = len(values)
        rec.value = self._collected(values)

    def v_zipmap(self, rec: model.Record) -> None:
        blob, base = self._blob(rec, "zipmap")
        rec.encoding = "zipmap"
        if self._skim(rec, "zipmap", blob, base, _zipmap_count, 1):
            return
        items = self._decode_blob(_blobs.zipmap, blob, base) or []
        pairs = self._pairs(items, rec, "zipmap")
        if not pairs:
            raise _Empty()
        rec.size_hint = len(pairs)
        rec.value = self._collected(pairs)

    def _pairs(self, items, rec, what):
        if len(items) % 2:
            self._problem(self._err(f"{what} holds an odd number of elements", rec.offset,
                                    expected="field/value pairs", found=f"{len(items)} elements"))
        vals = [_itob(x) for x in items]
        pairs = list(zip(vals[0::2], vals[1::2]))
        fields = vals[0::2]
        if len(set(fields)) != len(fields):
            self._duplicate(fields, "hash field", rec)
        return pairs

    def v_hash_blob(self, rec: model.Record) -> None:
        is_zl = rec.rdb_type == op.T_HASH_ZIPLIST
        what = "hash ziplist" if is_zl else "hash listpack"
        blob, base = self._blob(rec, what)
        rec.encoding = "ziplist" if is_zl else "listpack"
        if self._skim(rec, "ziplist" if is_zl else "listpack", blob, base,
                      _ziplist_count if is_zl else _listpack_count, 2):
            return
        items = self._decode_blob(_blobs.ziplist if is_zl else _blobs.listpack, blob, base) or []
        pairs = self._pairs(items, rec, what)
        if not pairs:
            raise _Empty()
        rec.size_hint = len(pairs)
        rec.value = self._collected(pairs)

    def v_zset_blob(self, rec: model.Record) -> None:
        is_zl = rec.rdb_type == op.T_ZSET_ZIPLIST
        what = "zset ziplist" if is_zl else "zset listpack"
        blob, base = self._blob(rec, what)
        rec.encoding = "ziplist" if is_zl and self.header.version < 10 else "listpack"
        if self._skim(rec, "ziplist" if is_zl else "listpack", blob, base,
                      _ziplist_count if is_zl else _listpack_count, 2):
            return
        items = self._decode_blob(_blobs.ziplist if is_zl else _blobs.listpack, blob, base) or []
        if len(items) % 2:
            self._problem(self._err(f"{what} holds an odd number of elements", rec.offset,
                                    expected="member/score pairs", found=f"{len(items)} elements"))
        pairs = []
        for i in range(0, len(items) - 1, 2):
            s = items[i + 1]
            if s.__class__ is int:
                score = float(s)
            else:
                score = _parse_score(s)
                if score is None or score != score:
                    self._problem(self._err(f"bad score {s[:40]!r} in {what}", rec.offset,
                                            expected="a number", found=repr(s[:40])))
            pairs.append((_itob(items[i]), score))
        if not pairs:
            raise _Empty()
        members = [m for m, _ in pairs]
        if len(set(members)) != len(members):
            self._duplicate(members, "zset member", rec)
        rec.size_hint = len(pairs)
        rec.value = self._collected(pairs)

    def v_hash_listpack_ex(self, rec: model.Record) -> None:
        # Redis RDB_TYPE_HASH_LISTPACK_EX: int64 minExpire then a listpack of
        # field, value, TTL triplets (absolute ms; 0 = no TTL, HASH_LP_NO_TTL).
        # The pre-GA form (23) has no minExpire.
        ga = rec.rdb_type == op.T_HASH_LISTPACK_EX
        min_expire = read_i64(self.src, "hash minimum field expiry") if ga else None
        blob, base = self._blob(rec, "hash listpack-ex")
        if ga:
            rec.layout["min_expire"] = min_expire
        rec.encoding = "listpackex"
        if self._skim(rec, "listpack", blob, base, _listpack_count, 3):
            return
        items = self._decode_blob(_blobs.listpack, blob, base) or []
        if len(items) % 3:
            self._problem(self._err("hash listpack-ex does not hold field/value/TTL triplets",
                                    rec.offset, expected="a multiple of 3 elements",
                                    found=f"{len(items)} elements"))
        pairs = []
        expires = {}
        for i in range(0, len(items) - 2, 3):
            f = _itob(items[i])
            ttl = items[i + 2]
            if ttl.__class__ is not int:
                self._problem(self._err("non-integer field TTL in hash listpack-ex", rec.offset,
                                        expected="an integer", found=repr(ttl[:40])))
                ttl = 0
            if ttl:
                expires[f] = ttl
            pairs.append((f, _itob(items[i + 1])))
        if not pairs:
            raise _Empty()
        fields = [f for f, _ in pairs]
        if len(set(fields)) != len(fields):
            self._duplicate(fields, "hash field", rec)
        rec.size_hint = len(pairs)
        rec.field_expires = expires or None
        rec.value = self._collected(pairs)

    # -- quicklists
    def v_quicklist(self, rec: model.Record) -> None:
        v2 = rec.rdb_type == op.T_LIST_QUICKLIST_2
        n_nodes = read_length(self.src, "quicklist node count")
        if n_nodes == 0:
            raise _Empty()
        nodes: list[dict] = []
        rec.layout = {"nodes": nodes}
        total = self._quicklist_nodes(rec, n_nodes, v2, nodes)
        if total == 0:
            raise _Empty()
        rec.size_hint = total
        live = [n for n in nodes if n["count"]]
        rec.encoding = ("listpack" if self.header.version >= 11 and len(live) == 1
                        and live[0]["container"] == "packed" else "quicklist")

    def _quicklist_nodes(self, rec: model.Record, n_nodes: int, v2: bool, nodes: list) -> int:
        """Read the nodes; the elements become ``rec.value``. Returns how many."""
        values: list = []
        node = self._quicklist_node
        for _ in range(n_nodes):
            values.extend(node(v2, nodes))
        rec.value = values
        return len(values)

    def _iter_quicklist(self, n_nodes: int, v2: bool, nodes: list):
        for _ in range(n_nodes):
            yield from self._quicklist_node(v2, nodes)

    def _quicklist_node(self, v2: bool, nodes: list):
        """One stored node: its elements (see ``_plain_node`` / ``_packed_node``: the
        strategies that do not build values return a count instead)."""
        src = self.src
        container = op.QL_PACKED
        if v2:
            at = src.tell()
            container = read_length(src, "quicklist node container")
            if container not in (op.QL_PACKED, op.QL_PLAIN):
                raise self._err("bad quicklist node container", at,
                                expected="1 (PLAIN) or 2 (PACKED)", found=str(container))
        at = src.tell()
        if container == op.QL_PLAIN:
            return self._plain_node(at, nodes)
        blob, base, compressed = self._read_blob("quicklist node")
        self._lzf = compressed
        if not blob:
            raise self._err("empty quicklist node", at, expected="a non-empty node",
                            found="0 bytes")
        node = {"container": "packed", "count": 0, "compressed": compressed}
        nodes.append(node)
        return self._packed_node(v2, blob, base, node)

    def _plain_node(self, at: int, nodes: list):
        """A PLAIN node (one big element): its element (a list of one)."""
        blob, _, compressed = self._read_blob_any("plain list node")
        if not blob:
            raise self._err("empty quicklist node", at, expected="a non-empty node",
                            found="0 bytes")
        nodes.append({"container": "plain", "count": 1, "compressed": compressed})
        return [blob]

    def _packed_node(self, v2: bool, blob: bytes, base: int, node: dict):
        """A PACKED node (a listpack, or a ziplist in type 14): its elements."""
        items = self._decode_blob(_blobs.listpack if v2 else _blobs.ziplist, blob, base) or []
        node["count"] = len(items)
        return [_itob(x) for x in items]

    def _read_blob_any(self, what: str):
        """A string that may also be int-encoded (a PLAIN node's element)."""
        src = self.src
        at = src.tell()
        n, encoded = read_length_or_encoding(src, what)
        src.pos = at - src.base
        if encoded and n <= ENC_INT32:
            return read_string(src, what), at, False
        return self._read_blob(what)

    # -- modules
    def v_module(self, rec: model.Record) -> None:
        cap = _Capture(self)
        module_id = cap.length("module id")
        n = self._module_body(cap, "module value")
        rec.encoding = "raw"
        rec.size_hint = n
        rec.layout = {"module_id": module_id, "module": module_name(module_id)}
        if self.decode:
            rec.value = model.ModuleValue(module_id=module_id, name=module_name(module_id),
                                          encver=module_id & 1023, raw=cap.raw())

    def v_module_pre_ga(self, rec: model.Record) -> None:
        at = self.src.tell()
        module_id = read_length(self.src, "module id")
        raise self._err(
            f"pre-release module value (RDB type 6, module '{module_name(module_id)}') cannot "
            "be read without the module: its data has no framing", at,
            expected="a MODULE_2 value (type 7)", found="type 6 (MODULE_PRE_GA)")

    # -- streams
    def v_stream(self, rec: model.Record) -> None:
        src = self.src
        t = rec.rdb_type
        v2 = t >= op.T_STREAM_LISTPACKS_2
        v3 = t >= op.T_STREAM_LISTPACKS_3
        v4 = t >= op.T_STREAM_LISTPACKS_4   # Redis types 26/27 (this entry is Redis-only past 21)
        v5 = t >= op.T_STREAM_LISTPACKS_5
        rec.encoding = "stream"
        if self.reader.server_version and self.reader.server_version.startswith("5."):
            rec.encoding = "unknown"  # Redis 5.0's OBJECT ENCODING answer for streams
        decode = self.decode
        n_nodes = read_length(src, "stream listpack count")
        nodes = []
        layout_nodes = []
        for _ in range(n_nodes):
            at = src.tell()
            master = read_string(src, "stream node master ID")
            if len(master) != 16:
                raise self._err("stream node key is not a 16-byte stream ID", at,
                                expected="16 bytes", found=f"{len(master)} bytes")
            lp, base, compressed = self._read_blob("stream node listpack")
            self._lzf = compressed
            layout_nodes.append({"compressed": compressed})
            if len(lp) <= 7 or (lp[6:7] == b"\xff"):
                self._problem(self._err("empty listpack inside stream", base,
                                        expected="a stream node with entries", found="empty listpack"))
            if decode:
                node = self._decode_blob(_blobs.stream_node, lp, base, master)
                nodes.append(node)
            else:
                self._quick_check("listpack", lp, base)
        length = read_length(src, "stream length")
        last_id = (read_length(src, "stream last ID ms"), read_length(src, "stream last ID seq"))
        first_id = max_deleted = entries_added = None
        if v2:
            first_id = (read_length(src, "stream first ID ms"), read_length(src, "stream first ID seq"))
            max_deleted = (read_length(src, "stream max deleted ID ms"),
                           read_length(src, "stream max deleted ID seq"))
            entries_added = read_length(src, "stream entries added")
        if length and not n_nodes:
            self._problem(self._err("stream length inconsistent with its nodes", src.tell(),
                                    expected="listpack nodes", found=f"length {length}, no nodes"))
        groups = []
        n_groups = read_length(src, "stream group count")
        for _ in range(n_groups):
            gname = read_string(src, "consumer group name")
            glast = (read_length(src, "group last ID ms"), read_length(src, "group last ID seq"))
            entries_read = None
            if v2:
                entries_read = read_length(src, "group entries read")
                if entries_read == _INVALID_ENTRIES_READ:
                    entries_read = None
            pel = []
            pel_index = {}
            n_pel = read_length(src, "group PEL size")
            for _ in range(n_pel):
                at = src.tell()
                raw = src.read(16, "PEL entry ID")
                pid = _STREAM_ID.unpack(raw)
                dtime = read_i64(self.src, "PEL delivery time")
                dcount = read_length(src, "PEL delivery count")
                if pid in pel_index:
                    self._problem(self._err("duplicate ID in group PEL", at,
                                            expected="unique IDs", found=model.format_stream_id(pid)))
                entry = model.StreamPendingEntry(pid, dtime, dcount)
                pel_index[pid] = entry
                pel.append(entry)
            consumers = []
            n_cons = read_length(src, "consumer count")
            seen_names = set()
            for _ in range(n_cons):
                at = src.tell()
                cname = read_string(src, "consumer name")
                if cname in seen_names:
                    self._problem(self._err("duplicate stream consumer", at,
                                            expected="unique consumer names", found=repr(cname)))
                seen_names.add(cname)
                seen = read_i64(self.src, "consumer seen time")
                active = read_i64(self.src, "consumer active time") if v3 else None
                cpel = []
                n_cpel = read_length(src, "consumer PEL size")
                for _ in range(n_cpel):
                    at = src.tell()
                    pid = _STREAM_ID.unpack(src.read(16, "consumer PEL ID"))
                    entry = pel_index.get(pid)
                    if entry is None:
                        self._problem(self._err("consumer PEL entry not found in group PEL", at,
                                                expected="an ID of the group PEL",
                                                found=model.format_stream_id(pid)))
                    else:
                        entry.consumer = cname
                    cpel.append(pid)
                consumers.append(model.StreamConsumer(cname, seen, active, cpel))
            nacked = None
            if v5:
                nacked = self._nack_zone(pel, pel_index)
            groups.append(model.StreamGroup(gname, glast, entries_read, pel, consumers, nacked))
        idmp = _sx.read_idmp(src) if v4 else None
        rec.size_hint = length
        rec.layout = {"stream_nodes": layout_nodes}
        if decode:
            rec.value = model.StreamValue(nodes=nodes, length=length, last_id=last_id,
                                          first_id=first_id, max_deleted_id=max_deleted,
                                          entries_added=entries_added, groups=groups,
                                          idmp=idmp)

    def _nack_zone(self, pel: list, pel_index: dict) -> list:
        """Stream v5: a group's NACK zone (kvencoding.streamext), and the deep check of
        rdbLoadObject: every PEL entry outside the zone has a consumer."""
        at = self.src.tell()
        owner_of = {p.id: p.consumer for p in pel}
        nacked = _sx.read_nack_zone(self.src, owner_of, self._problem)
        if self.decode:
            zone = set(nacked)
            for p in pel:
                if p.consumer is None and p.id not in zone:
                    self._problem(self._err("stream group PEL entry without consumer outside the "
                                            "NACK zone", at, expected="an owner or a NACK-zone entry",
                                            found=model.format_stream_id(p.id)))
                    break
        return nacked

    # -- hash templates (Redis 8.10, RDB 15; kvencoding.hashtemplate has the layout)
    def v_hash_template(self, rec: model.Record) -> None:
        src = self.src
        t = rec.rdb_type
        packed = t in (_ht.T_TMPL_LP, _ht.T_TMPL_LP_REF)
        rec.encoding = "template-listpack" if packed else "template-array"
        at = src.tell()
        layout = {}
        if t in _ht.REF_TYPES:
            registry = self.reader.hash_templates
            if packed:
                blob, base, compressed = self._read_blob("template hash listpack")
                layout["compressed"] = compressed
                self._lzf = compressed
                items = self._decode_blob(_blobs.listpack, blob, base)
                if items is None:
                    return  # the problem is recorded (recover mode)
                try:
                    fields = _ht.lookup(registry, _ht.first_id(items, base, ref=True), base)
                    tid, values = _ht.values_from_listpack(items, len(fields), base, ref=True)
                except FormatError as exc:
                    self._problem(exc)
                    return
            else:
                tid = read_length(src, "hash template id")
                # the value count comes from the template: without it there is no framing
                fields = _ht.lookup(registry, tid, at)
                values = [read_string(src, "template hash value") for _ in fields]
        else:
            fmt, fields = _ht.read_inline_fields(src)
            layout["fields_fmt"] = fmt
            if packed:
                blob, base, compressed = self._read_blob("template hash values listpack")
                layout["compressed"] = compressed
                self._lzf = compressed
                items = self._decode_blob(_blobs.listpack, blob, base)
                if items is None:
                    return
                try:
                    tid, values = _ht.values_from_listpack(items, len(fields), base, ref=False)
                except FormatError as exc:
                    self._problem(exc)
                    return
            else:
                tid = None
                values = [read_string(src, "template hash value") for _ in fields]
        layout["template_id"] = tid
        rec.layout = layout
        rec.size_hint = len(fields)
        if self.decode:
            rec.value = self._collected(list(zip(fields, values)))

    # -- arrays
    def v_array(self, rec: model.Record) -> None:
        value, count = _ra.read_array(self.src, build=self.decode)
        rec.encoding = "sliced-array"
        rec.size_hint = count
        if self.decode:
            rec.value = value



class BigString:
    """A long raw string value not held in memory (``RDBReader(big_strings=N)``): its
    bytes are read again from the input, in chunks, each time ``chunks()`` is called."""

    __slots__ = ("_src", "start", "length")

    def __init__(self, src: ByteSource, start: int, length: int) -> None:
        self._src = src
        self.start = start
        self.length = length

    def __len__(self) -> int:
        return self.length

    def chunks(self):
        sub = self._src.reread(self.start, self.start + self.length)
        yield from sub.iter_chunks(self.length, "string value")

    def tobytes(self) -> bytes:
        return b"".join(self.chunks())


class _Lazy:
    """A collection value read from the file as it is iterated (iterate mode)."""

    __slots__ = ("_reader", "_it", "_done")

    def __init__(self, reader: "ValueStrategy", it) -> None:
        self._reader = reader
        self._it = it
        self._done = False

    def __iter__(self):
        # The generator itself: no Python-level __next__ per element. drain() after a
        # loop over it finds it exhausted (same result as the _done flag).
        return self._it

    def __next__(self):
        try:
            return next(self._it)
        except StopIteration:
            self._done = True
            raise

    def drain(self) -> None:
        if not self._done:
            for _ in self._it:
                pass
            self._done = True


class _Capture:
    """Read lengths/strings while keeping their exact bytes (module values, opaque opcodes)."""

    __slots__ = ("r", "parts")

    def __init__(self, reader: "ValueStrategy") -> None:
        self.r = reader
        self.parts: list[bytes] = []

    def fixed(self, n: int, what: str) -> bytes:
        b = self.r.src.read(n, what)
        self.parts.append(b)
        return b

    def length(self, what: str) -> int:
        v, _, raw = read_length_raw(self.r.src, what)
        self.parts.append(raw)
        return v

    def string(self, what: str) -> None:
        self.parts.append(read_string_raw(self.r.src, what))

    def raw(self) -> bytes:
        return b"".join(self.parts)


# ---------------------------------------------------------------------------
# blob headers (cheap counts for decode=False)


def _ziplist_count(blob: bytes) -> Optional[int]:
    if len(blob) < 11:
        return None
    n = _U16.unpack_from(blob, 8)[0]
    return None if n == 0xFFFF else n


def _intset_count(blob: bytes) -> Optional[int]:
    return int.from_bytes(blob[4:8], "little") if len(blob) >= 8 else None


def _zipmap_count(blob: bytes) -> Optional[int]:
    # zmlen: the element count while below 254, else "count them" (zipmap.c).
    return blob[0] if blob and blob[0] < 254 else None


def _listpack_count(blob: bytes) -> Optional[int]:
    if len(blob) < 7:
        return None
    n = _U16.unpack_from(blob, 4)[0]
    return None if n == 0xFFFF else n


def blob_header_problem(kind: str, blob: bytes) -> Optional[tuple[str, str, str]]:
    """Cheap header checks of a blob (decode=False / --quick): (message, expected, found)."""
    n = len(blob)
    if kind == "ziplist":
        if n < 11:
            return "ziplist too short", ">= 11 bytes", f"{n} bytes"
        if _U32.unpack_from(blob, 0)[0] != n:
            return "ziplist zlbytes does not match its size", str(n), str(_U32.unpack_from(blob, 0)[0])
        if blob[-1] != 0xFF:
            return "ziplist does not end with 0xFF", "0xff", f"0x{blob[-1]:02x}"
    elif kind == "listpack":
        if n < 7:
            return "listpack too short", ">= 7 bytes", f"{n} bytes"
        if _U32.unpack_from(blob, 0)[0] != n:
            return "listpack total bytes does not match its size", str(n), str(_U32.unpack_from(blob, 0)[0])
        if blob[-1] != 0xFF:
            return "listpack does not end with 0xFF", "0xff", f"0x{blob[-1]:02x}"
    elif kind == "intset":
        if n < 8:
            return "intset too short", ">= 8 bytes", f"{n} bytes"
        width, count = _U32.unpack_from(blob, 0)[0], _U32.unpack_from(blob, 4)[0]
        if width not in (2, 4, 8):
            return "bad intset encoding", "2, 4 or 8", str(width)
        if 8 + width * count != n:
            return "intset length does not match its size", str(8 + width * count), str(n)
    elif kind == "zipmap":
        if n < 2 or blob[-1] != 0xFF:
            return "zipmap does not end with 0xFF", "a zipmap", f"{n} bytes"
    return None


def _parse_score(s: bytes) -> Optional[float]:
    try:
        return float(s)
    except ValueError:
        return None


class _BlobCodecs:
    """Adapters to the kvencoding blob decoders (deep validation; ``lzf`` tells the
    decoder that offsets inside the blob do not map onto the file)."""

    @staticmethod
    def ziplist(blob: bytes, base: int, lzf: bool):
        return _zl.ziplist_decode(blob, base, lzf=lzf)

    @staticmethod
    def listpack(blob: bytes, base: int, lzf: bool):
        return _lp.listpack_decode(blob, base, lzf=lzf)

    @staticmethod
    def ziplist_count(blob: bytes, base: int, lzf: bool):
        return _zl.ziplist_check(blob, base, lzf=lzf)

    @staticmethod
    def listpack_count(blob: bytes, base: int, lzf: bool):
        return _lp.listpack_validate(blob, base, lzf=lzf)

    @staticmethod
    def intset(blob: bytes, base: int, lzf: bool):
        return _is.intset_decode(blob, base, lzf=lzf)

    @staticmethod
    def zipmap(blob: bytes, base: int, lzf: bool):
        out = []
        for k, v in _zm.zipmap_decode(blob, base, lzf=lzf):
            out.append(k)
            out.append(v)
        return out

    @staticmethod
    def stream_node(blob: bytes, base: int, lzf: bool, master: bytes):
        return _sn.decode_stream_node(master, blob, base, lzf=lzf)


_blobs = _BlobCodecs



class BuildValues(ValueStrategy):
    """``Record.value`` built; every check of the server's loader (the base entries)."""

    name = "build"


class StreamValues(ValueStrategy):
    """As BuildValues, but plain collections and quicklists come as iterators read from
    the file as they are consumed, decoded blobs as iterators over them, and a long raw
    string (``big_strings``) as a BigString."""

    name = "stream"
    iterate = True

    def _raw_string(self, rec: model.Record, n: int) -> None:
        src = self.src
        if self.big_strings is not None and n > self.big_strings and src.can_reread():
            start = src.tell()
            src.skip(n, "string value")
            rec.value = BigString(src, start, n)
            rec.encoding = self._string_encoding(None, n, rec)
            return
        ValueStrategy._raw_string(self, rec, n)

    def _collected(self, items: list):
        return _Lazy(self, iter(items))

    def v_plain_list(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "list")
        rec.encoding = "quicklist"
        rec.value = _Lazy(self, self._iter_strings(n, "list element"))

    def v_plain_set(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "set")
        rec.encoding = "hashtable"
        rec.value = _Lazy(self, self._iter_strings(n, "set member"))

    def v_plain_zset(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "sorted set")
        rec.encoding = "skiplist"
        rec.value = _Lazy(self, self._iter_zset(n, rec.rdb_type == op.T_ZSET_2))

    def v_plain_hash(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "hash")
        rec.encoding = "hashtable"
        rec.value = _Lazy(self, self._iter_pairs(n))

    def v_quicklist(self, rec: model.Record) -> None:
        v2 = rec.rdb_type == op.T_LIST_QUICKLIST_2
        n_nodes = read_length(self.src, "quicklist node count")
        if n_nodes == 0:
            raise _Empty()
        nodes: list[dict] = []
        rec.layout = {"nodes": nodes}
        rec.value = _Lazy(self, self._iter_quicklist(n_nodes, v2, nodes))
        rec.encoding = "quicklist" if n_nodes > 1 or self.header.version < 11 else "listpack"


class ValidateValues(ValueStrategy):
    """What BuildValues checks, without building the values of strings and collections:
    plain collections are walked in batches and their repeats found by hash, in bounded
    memory (``_lean_unique``); quicklist nodes are validated and counted."""

    name = "validate"
    lean = True

    def _raw_string(self, rec: model.Record, n: int) -> None:
        self._raw_string_unbuilt(rec, n, True)

    def v_plain_list(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "list")
        rec.encoding = "quicklist"
        for _ in self._string_batches(n, "list element"):
            pass

    def v_plain_set(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "set")
        rec.encoding = "hashtable"
        self._lean_unique(rec, n, "set member", lambda: self._string_batches(n, "set member"))

    def v_plain_zset(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "sorted set")
        rec.encoding = "skiplist"
        binary = rec.rdb_type == op.T_ZSET_2
        self._lean_unique(rec, n, "zset member", lambda: self._zset_member_batches(n, binary))

    def v_plain_hash(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "hash")
        rec.encoding = "hashtable"
        self._lean_unique(rec, n, "hash field", lambda: self._field_batches(n))

    def _quicklist_nodes(self, rec: model.Record, n_nodes: int, v2: bool, nodes: list) -> int:
        total = 0
        node = self._quicklist_node
        for _ in range(n_nodes):
            got = node(v2, nodes)
            total += got if got.__class__ is int else len(got)  # validated, not kept
        return total

    def _packed_node(self, v2: bool, blob: bytes, base: int, node: dict):
        # The same deep checks, no elements built.
        c = self._decode_blob(_blobs.listpack_count if v2 else _blobs.ziplist_count,
                              blob, base) or 0
        node["count"] = c
        return c


class SkipValues(ValueStrategy):
    """Framing and sizes only (``verify --quick``, ``inspect``): strings skipped, plain
    collections skipped element by element (every length checked against the input),
    blobs taken by their header (element count, cheap header checks). What the framing
    rules reject is rejected here exactly as by the other strategies (one codec:
    ``kvencoding.lengths``); only the inner blobs are not deeply validated."""

    name = "skip"
    decode = False

    def _raw_string(self, rec: model.Record, n: int) -> None:
        self._raw_string_unbuilt(rec, n, False)

    def _lzf_string(self, rec: model.Record, start: int) -> None:
        # The same header rule as the decode (lengths.read_lzf_header); the data is
        # skipped, not decompressed.
        src = self.src
        clen, ulen = read_lzf_header(src, "string value")
        src.skip(clen, "LZF data of string value")
        rec.size_hint = ulen
        rec.encoding = self._string_encoding(None, ulen, rec)

    def v_plain_list(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "list")
        rec.encoding = "quicklist"
        skip_strings(self.src, n, "list element")

    def v_plain_set(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "set")
        rec.encoding = "hashtable"
        skip_strings(self.src, n, "set member")

    def v_plain_zset(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "sorted set")
        rec.encoding = "skiplist"
        if rec.rdb_type == op.T_ZSET_2:
            skip_strings(self.src, n, "zset member", 8, "zset score")
        else:
            for _ in range(n):
                skip_string(self.src, "zset member")
                self._read_score_text()

    def v_plain_hash(self, rec: model.Record) -> None:
        n = self._plain_count(rec, "hash")
        rec.encoding = "hashtable"
        skip_strings(self.src, 2 * n, "hash field or value")

    def _skim(self, rec: model.Record, kind: str, blob: bytes, base: int, count, per: int) -> bool:
        self._quick_check(kind, blob, base)
        c = count(blob)
        rec.size_hint = c // per if c is not None else None
        if c == 0:
            raise _Empty()
        return True

    def _quicklist_nodes(self, rec: model.Record, n_nodes: int, v2: bool, nodes: list) -> int:
        total = 0
        node = self._quicklist_node
        for _ in range(n_nodes):
            total += node(v2, nodes)
        return total

    def _plain_node(self, at: int, nodes: list):
        n = skip_string(self.src, "plain list node")
        if n == 0:
            raise self._err("empty quicklist node", at, expected="a non-empty node",
                            found="0 bytes")
        nodes.append({"container": "plain", "count": 1, "compressed": False})
        return 1

    def _packed_node(self, v2: bool, blob: bytes, base: int, node: dict):
        self._quick_check("listpack" if v2 else "ziplist", blob, base)
        c = (_listpack_count(blob) if v2 else _ziplist_count(blob)) or 0
        node["count"] = c
        return c


STRATEGIES = {c.name: c for c in (BuildValues, StreamValues, ValidateValues, SkipValues)}


def strategy_for(*, decode: bool = True, iterate: bool = False, values: bool = True) -> type:
    """The strategy the reader's older keyword arguments stand for."""
    if iterate:
        return StreamValues
    if not decode:
        return SkipValues
    return BuildValues if values else ValidateValues
