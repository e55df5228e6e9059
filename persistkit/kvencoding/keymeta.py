"""Key metadata (Redis 8.6+, RDB 13): the ``KEY_META`` block before a key's type byte.

redis/redis ``src/keymeta.c`` (``rdbSaveKeyMetadata`` / ``rdbLoadKeyMetadata``) and
``src/rdb.c`` (``rdbResolveKeyType``). A module can register up to 7 key-metadata
classes; a key that carries metadata a class wants saved is written as

    243 (RDB_OPCODE_KEY_META)  length: number of classes N (at most 7)
    N x ( 4 bytes: class spec, little-endian uint32
          the class's value: module opcodes (RDB_MODULE_OPCODE_* SINT/UINT/FLOAT/
          DOUBLE/STRING, each with its value) ending with the EOF opcode 0 )
    then the key's type byte, key and value as usual.

The class spec packs (``keyMetaClassEncode``), from the top bit down: the 4-char class
name (6 bits per char from ``A-Za-z0-9-_``, 24 bits), the class version (5 bits) and
3 flag bits (bit 0: ALLOW_IGNORE, a loader without the class may drop the value).
Every 32-bit value decodes to some name (``keyMetaClassDecode`` cannot fail).

The value's framing is the module one, so it can be walked without the module
(``rdbLoadCheckModuleValue``, which the server itself uses to skip an ALLOW_IGNORE
class). The same block also leads a DUMP payload (cluster.c ``createDumpPayload``).

This module has no I/O: readers take a ``ByteSource``; encoders return bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.lengths import encode_length, read_length
from persistkit.kvencoding.source import ByteSource

OP_KEY_META = 243
# keymeta.h KEY_META_MAX_NUM_MODULES (class ids 1..7).
MAX_CLASSES = 7
FLAG_ALLOW_IGNORE = 1          # bit KEY_META_FLAG_ALLOW_IGNORE (0)
CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Module value opcodes (rdb.h RDB_MODULE_OPCODE_*).
MOD_EOF, MOD_SINT, MOD_UINT, MOD_FLOAT, MOD_DOUBLE, MOD_STRING = range(6)
_MOD_NAMES = {MOD_SINT: "sint", MOD_UINT: "uint", MOD_FLOAT: "float", MOD_DOUBLE: "double",
              MOD_STRING: "string"}

_U32 = struct.Struct("<I")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


@dataclass(slots=True)
class KeyMeta:
    """One class's metadata on a key.

    ``raw`` is the stored value exactly: its module opcodes up to and including the
    EOF opcode (so a writer copies it byte for byte); ``spec`` the stored 32-bit
    class spec, from which ``name``, ``version`` and ``flags`` are decoded."""

    name: str
    version: int
    flags: int
    raw: bytes
    spec: int = 0

    @property
    def allow_ignore(self) -> bool:
        return bool(self.flags & FLAG_ALLOW_IGNORE)


def decode_class_spec(spec: int) -> tuple[str, int, int]:
    """(name, version, flags) of a 32-bit class spec (keymeta.c keyMetaClassDecode)."""
    flags = spec & 0x7
    version = (spec >> 3) & 0x1F
    v = spec >> 8
    chars = []
    for _ in range(4):
        chars.append(CHARSET[v & 0x3F])
        v >>= 6
    return "".join(reversed(chars)), version, flags


def encode_class_spec(name: str, version: int, flags: int = 0) -> int:
    """The 32-bit class spec of a class (keymeta.c keyMetaClassEncode)."""
    if len(name) != 4 or any(c not in CHARSET for c in name):
        raise ValueError(f"a key-metadata class name is 4 characters of {CHARSET!r}: {name!r}")
    if not 0 <= version <= 31:
        raise ValueError(f"a key-metadata class version is 0-31: {version}")
    if not 0 <= flags <= 7:
        raise ValueError(f"key-metadata class flags are 3 bits: {flags}")
    v = 0
    for c in name:
        v = (v << 6) | CHARSET.index(c)
    return (((v << 5) | version) << 3) | flags


def capture_module_value(src: ByteSource, what: str) -> bytes:
    """The exact bytes of module opcodes up to and including EOF, consumed from ``src``
    (the framing rdbLoadCheckModuleValue walks; one walker for module values, key
    metadata and MODULE_AUX: kvencoding.modvalue)."""
    from .modvalue import capture_module_value as capture

    return capture(src, what)


def read_key_meta(src: ByteSource) -> list[KeyMeta]:
    """The classes of a KEY_META block; ``src`` is just after the 243 opcode."""
    at = src.tell()
    n = read_length(src, "key metadata class count")
    if n > MAX_CLASSES:
        # keymeta.c rdbLoadKeyMetadata: "Too many metadata classes".
        raise FormatError("too many key metadata classes", at,
                          expected=f"at most {MAX_CLASSES}", found=str(n))
    out = []
    for _ in range(n):
        spec = _U32.unpack(src.read(4, "key metadata class spec"))[0]
        name, version, flags = _decoded_spec(spec)
        # The usual small value is walked straight over the buffered window; anything
        # else (the window's end, long or unusual lengths, any error) by the reference
        # walker from the same position.
        end = _scan_module_value(src.buf, src.pos)
        if end > 0:
            raw = src.buf[src.pos:end]
            src.pos = end
        else:
            raw = capture_module_value(src, f"key metadata of class {name}")
        out.append(KeyMeta(name, version, flags, raw, spec))
    return out


_SPECS: dict = {}


def _decoded_spec(spec: int) -> tuple[str, int, int]:
    got = _SPECS.get(spec)
    if got is None:
        if len(_SPECS) > 4096:
            _SPECS.clear()
        got = _SPECS[spec] = decode_class_spec(spec)
    return got


def _scan_module_value(buf: bytes, pos: int) -> int:
    """End of a module value (after its EOF) when it only uses 1-2 byte lengths, short
    raw / integer-encoded / small LZF strings and lies wholly in ``buf``; else -1."""
    from .lzf import max_decompressed_size

    end = len(buf)
    while pos < end:
        code = buf[pos]
        pos += 1
        if code == MOD_EOF:
            return pos
        if pos >= end:
            return -1
        if code == MOD_SINT or code == MOD_UINT:
            b = buf[pos]
            if b < 0x40:
                pos += 1
            elif b < 0x80:
                pos += 2
            else:
                return -1
        elif code == MOD_FLOAT:
            pos += 4
        elif code == MOD_DOUBLE:
            pos += 8
        elif code == MOD_STRING:
            b = buf[pos]
            if b < 0x40:
                pos += 1 + b
            elif b == 0xC0 or b == 0xC1:
                pos += 2 if b == 0xC0 else 3
            elif b == 0xC2:
                pos += 5
            elif b == 0xC3 and pos + 3 <= end:
                clen, ulen = buf[pos + 1], buf[pos + 2]
                if clen >= 0x40 or ulen >= 0x40 or ulen > max_decompressed_size(clen):
                    return -1
                pos += 3 + clen
            else:
                return -1
        else:
            return -1
    return -1


def encode_key_meta(metas: list[KeyMeta]) -> bytes:
    """The whole block, opcode 243 included (empty bytes for no metadata: the server
    writes no block when no class saved anything)."""
    if not metas:
        return b""
    if len(metas) > MAX_CLASSES:
        raise ValueError(f"at most {MAX_CLASSES} key metadata classes, got {len(metas)}")
    parts = [bytes((OP_KEY_META,)), encode_length(len(metas))]
    for m in metas:
        spec = m.spec or encode_class_spec(m.name, m.version, m.flags)
        if decode_class_spec(spec) != (m.name, m.version, m.flags):
            spec = encode_class_spec(m.name, m.version, m.flags)
        raw = bytes(m.raw)
        if not raw.endswith(b"\x00"):
            raise ValueError(f"key metadata of class {m.name} must end with the EOF opcode 0")
        parts.append(_U32.pack(spec))
        parts.append(raw)
    return b"".join(parts)


def decode_module_items(raw: bytes, base: int = 0) -> list[tuple[str, object]]:
    """The values inside a metadata (or module) value: ``[(kind, value)]`` with kind
    ``sint``/``uint`` (int; a SaveSigned value is stored as its unsigned 64-bit form),
    ``float``/``double`` (float), ``string`` (bytes). The final EOF is not listed."""
    from persistkit.kvencoding.lengths import read_string

    src = ByteSource(raw, base=base)
    out: list[tuple[str, object]] = []
    while True:
        at = src.tell()
        code = read_length(src, "module opcode")
        if code == MOD_EOF:
            if src.pos != len(src.buf):
                raise FormatError("bytes after the module EOF opcode", src.tell(),
                                  expected="end of value", found=f"{len(src.buf) - src.pos} bytes")
            return out
        if code in (MOD_SINT, MOD_UINT):
            out.append((_MOD_NAMES[code], read_length(src, "module integer")))
        elif code == MOD_FLOAT:
            out.append(("float", _F32.unpack(src.read(4, "module float"))[0]))
        elif code == MOD_DOUBLE:
            out.append(("double", _F64.unpack(src.read(8, "module double"))[0]))
        elif code == MOD_STRING:
            out.append(("string", read_string(src, "module string")))
        else:
            raise FormatError("unknown module opcode", at, expected="module opcode 0-5",
                              found=str(code))


def encode_module_items(items: list[tuple[str, object]], *, compress: bool = True) -> bytes:
    """Module opcodes for ``items`` (as ``decode_module_items`` gives them) plus EOF."""
    from persistkit.kvencoding.lengths import encode_string

    codes = {v: k for k, v in _MOD_NAMES.items()}
    parts = []
    for kind, value in items:
        code = codes.get(kind)
        if code is None:
            raise ValueError(f"unknown module value kind {kind!r}")
        parts.append(encode_length(code))
        if code in (MOD_SINT, MOD_UINT):
            parts.append(encode_length(int(value) & ((1 << 64) - 1)))
        elif code == MOD_FLOAT:
            parts.append(_F32.pack(float(value)))
        elif code == MOD_DOUBLE:
            parts.append(_F64.pack(float(value)))
        else:
            parts.append(encode_string(bytes(value), compress=compress))
    parts.append(encode_length(MOD_EOF))
    return b"".join(parts)


def key_meta_from_items(name: str, version: int, flags: int,
                        items: list[tuple[str, object]], *, compress: bool = True) -> KeyMeta:
    return KeyMeta(name, version, flags, encode_module_items(items, compress=compress),
                   encode_class_spec(name, version, flags))


def describe(metas: Optional[list[KeyMeta]]) -> str:
    if not metas:
        return ""
    return ", ".join(f"{m.name} v{m.version}" for m in metas)
