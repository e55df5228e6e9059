"""DUMP / RESTORE payloads (redis/redis src/cluster.c ``createDumpPayload`` /
``verifyDumpPayload``).

A payload is one value in its RDB form without a key::

    type byte | value (as in an RDB file) | RDB version (u16 LE) | CRC64 (u64 LE)

From RDB 13 (Redis 8.6) a key-metadata block (opcode 243, see ``kvencoding.keymeta``)
may come before the type byte. The CRC64 covers everything before it. ``decode_payload`` checks the footer, then
reads the value with the RDB reader, so every type and encoding it knows works here.
The payload version picks the type table: 80 and above are Valkey's numbering.
"""

from __future__ import annotations

from typing import Optional

from persistkit.kvencoding.crc64 import crc64
from persistkit.kvencoding.errors import FormatError, UnsupportedVersionError
from persistkit.rdbtools import model
from persistkit.rdbtools import opcodes as op

FOOTER_SIZE = 10


def payload_version(payload: bytes) -> int:
    if len(payload) < FOOTER_SIZE + 1:
        raise FormatError("DUMP payload too short", 0, expected="type, value, 10-byte footer",
                          found=f"{len(payload)} bytes")
    return int.from_bytes(payload[-10:-8], "little")


def decode_payload(payload: bytes, *, check_crc: bool = True, decode: bool = True,
                   allow_future: bool = False) -> tuple[model.Record, int]:
    """Decode a DUMP payload: ``(record, rdb_version)``.

    The record has ``key=b""``, ``db=0``; its ``type``, ``rdb_type``, ``encoding``,
    ``value`` (and ``field_expires``, ``layout``) are as the reader gives them.
    Offsets in errors are offsets into the payload."""
    from persistkit.rdbtools.reader import RDBReader

    payload = bytes(payload)
    version = payload_version(payload)
    stored = int.from_bytes(payload[-8:], "little")
    if check_crc:
        computed = crc64(payload[:-8])
        if stored != computed:
            raise FormatError("DUMP payload checksum mismatch", len(payload) - 8,
                              expected=f"CRC64 {computed:016x}", found=f"{stored:016x}")
    if version >= 80:
        if version not in op.VALKEY_VERSIONS and not allow_future:
            raise UnsupportedVersionError(
                f"DUMP payload RDB version {version} is newer than this tool knows",
                len(payload) - 10, expected="RDB version <= 12 or 80", found=str(version))
        header = b"VALKEY%03d" % (version if version < 1000 else 80)
    else:
        if not 1 <= version <= op.REDIS_MAX_VERSION and not allow_future:
            raise UnsupportedVersionError(
                f"DUMP payload RDB version {version} is newer than this tool knows"
                if version > op.REDIS_MAX_VERSION else f"bad DUMP payload RDB version {version}",
                len(payload) - 10, expected=f"1-{op.REDIS_MAX_VERSION} or 80", found=str(version))
        header = b"REDIS%04d" % min(max(version, 1), op.REDIS_MAX_VERSION)
    body = payload[:-FOOTER_SIZE]
    # createDumpPayload (RDB 13+): key metadata may lead, before the type byte.
    type_at = _key_meta_end(body) if op.KEY_META_SINCE <= version < 80 else 0
    type_byte = body[type_at]
    if version >= op.HASH_TEMPLATE_SINCE and version < 80 and type_byte in (
            op.T_HASH_TMPL_LP_REF, op.T_HASH_TMPL_ARRAY_REF):
        # Their field names live in an RDB file's template records: RESTORE refuses them.
        raise FormatError("template-reference hash type is not valid in a DUMP payload", type_at,
                          expected="a self-contained type (29 or 31)", found=str(type_byte))
    if op.is_opcode(type_byte, "valkey" if version >= 80 else "redis"):
        raise FormatError("DUMP payload does not start with a value type", 0,
                          expected="an RDB value type", found=str(type_byte))
    # Frame it as a one-key RDB: header, type, empty key, value, EOF (+ unchecked trailer).
    framed = header + body[:type_at + 1] + b"\x00" + body[type_at + 1:] + b"\xff" + b"\x00" * 8
    shift = len(header) + 1  # payload offset = framed offset - shift (after the type byte)
    reader = RDBReader(framed, decode, name="<DUMP payload>", strict_crc=False,
                       allow_future=True)
    record: Optional[model.Record] = None
    try:
        for item in reader:
            if isinstance(item, model.Record):
                record = item
                break
        if record is None:
            if reader.empty_keys:
                raise FormatError("DUMP payload holds an empty collection", 0,
                                  expected="a non-empty value", found="0 elements")
            raise FormatError("DUMP payload holds no value", 0)
        end = reader.src.tell()
        if framed[end:end + 1] != b"\xff" or end != len(framed) - 9:
            raise FormatError("trailing bytes after the value in DUMP payload", end - shift,
                              expected="the version/CRC footer",
                              found=f"{len(framed) - 9 - end} extra bytes")
    except FormatError as exc:
        if exc.offset is not None:
            exc.offset = max(exc.offset - shift, 0) if exc.offset > len(header) else 0
        exc.file = None
        raise
    record.offset = 0
    record.length = len(payload)
    return record, version


def _key_meta_end(body: bytes) -> int:
    """Where the type byte is: after a leading KEY_META block (validated here, so its
    errors carry payload offsets), else 0."""
    if body[:1] != bytes((op.OP_KEY_META,)):
        return 0
    from persistkit.kvencoding.keymeta import read_key_meta
    from persistkit.kvencoding.source import ByteSource

    src = ByteSource(body)
    src.pos = 1
    read_key_meta(src)
    if src.tell() >= len(body):
        raise FormatError("DUMP payload ends after its key metadata", src.tell(),
                          expected="a value type", found="end of payload")
    return src.tell()


def encode_payload(record_or_value, version: int = 10, dialect: str = "redis", **kw) -> bytes:
    """A DUMP payload for a model.Record (or a bare value with ``key_type=``), for the
    given target RDB version; see ``rdbtools.writer.encode_payload`` for the options."""
    from persistkit.rdbtools.writer import encode_payload as _encode

    return _encode(record_or_value, version, dialect, **kw)
