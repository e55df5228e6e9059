"""RDB length prefixes and RDB strings (integer / LZF / raw), read and written.

Reading follows redis/redis src/rdb.c ``rdbLoadLenByRef`` and
``rdbGenericLoadStringObject``; writing reproduces ``rdbSaveLen`` and
``rdbSaveRawString`` (with ``rdbTryIntegerEncoding``, ``rdbEncodeInteger`` and
``rdbSaveLzfStringObject``) byte for byte, so a file we write matches what the
server would have written for the same values.

Length prefix, first byte's top two bits::

    00xxxxxx             6-bit length
    01xxxxxx yyyyyyyy    14-bit length, big-endian over the two bytes
    10000000 + 4 bytes   32-bit length, big-endian
    10000001 + 8 bytes   64-bit length, big-endian
    11xxxxxx             special string encoding in the low 6 bits (ENC_*)

Any other ``10xxxxxx`` byte is an unknown length encoding (an error, as in Redis).

Hot paths read ``src.buf``/``src.pos`` directly after ``src.need``; every error is a
FormatError (or TruncatedError) carrying the absolute offset where the item started.
"""

from __future__ import annotations

import struct
from typing import Iterator, NamedTuple, Optional

from .errors import FormatError
from .lzf import MAX_EXPANSION_RATIO, max_decompressed_size
from .numbers import canonical_int as _canonical_int
from .source import ByteSource

_INT_FIRST = frozenset(b"-0123456789")

# Length prefix forms (rdb.h RDB_6BITLEN .. RDB_ENCVAL: the top two bits of the first byte).
LEN_6BIT = 0
LEN_14BIT = 1
LEN_32BIT = 0x80  # whole first byte
LEN_64BIT = 0x81  # whole first byte
LEN_ENCVAL = 3

# Special string encodings (rdb.h RDB_ENC_*), the low 6 bits after a 11xxxxxx prefix.
ENC_INT8 = 0
ENC_INT16 = 1
ENC_INT32 = 2
ENC_LZF = 3

# Stored forms reported by string_stored_form.
FORM_INT = "int"
FORM_LZF = "lzf"
FORM_RAW = "raw"

# rdbSaveRawString tries the integer encoding only for strings this short
# (the decimal text of any int32 fits in 11 bytes: "-2147483648").
INT_ENCODING_MAX_LEN = 11
# rdbSaveRawString tries LZF only for strings longer than this.
LZF_MIN_LEN = 20

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U32BE = struct.Struct(">I")
_U64BE = struct.Struct(">Q")

_INT_ENC_SIZE = (1, 2, 4)  # payload bytes of ENC_INT8/16/32


# ---------------------------------------------------------------------------
# fixed-width little-endian fields


def read_u8(src: ByteSource, what: str = "a byte") -> int:
    pos = src.pos
    if pos >= len(src.buf):
        src.need(1, what)
        pos = src.pos
    src.pos = pos + 1
    return src.buf[pos]


def read_u16(src: ByteSource, what: str = "16-bit integer") -> int:
    if len(src.buf) - src.pos < 2:
        src.need(2, what)
    pos = src.pos
    src.pos = pos + 2
    return _U16.unpack_from(src.buf, pos)[0]


def read_u32(src: ByteSource, what: str = "32-bit integer") -> int:
    if len(src.buf) - src.pos < 4:
        src.need(4, what)
    pos = src.pos
    src.pos = pos + 4
    return _U32.unpack_from(src.buf, pos)[0]


def read_u64(src: ByteSource, what: str = "64-bit integer") -> int:
    if len(src.buf) - src.pos < 8:
        src.need(8, what)
    pos = src.pos
    src.pos = pos + 8
    return _U64.unpack_from(src.buf, pos)[0]


def read_i64(src: ByteSource, what: str = "64-bit integer") -> int:
    if len(src.buf) - src.pos < 8:
        src.need(8, what)
    pos = src.pos
    src.pos = pos + 8
    return _I64.unpack_from(src.buf, pos)[0]


def read_ms_time(src: ByteSource, what: str = "millisecond timestamp") -> int:
    """EXPIRETIME_MS, stream/consumer times: int64 little-endian (rdbLoadMillisecondTime)."""
    return read_i64(src, what)


def read_s_time(src: ByteSource, what: str = "second timestamp") -> int:
    """Old EXPIRETIME (opcode 253): int32 little-endian seconds (rdbLoadTime reads an int32_t)."""
    if len(src.buf) - src.pos < 4:
        src.need(4, what)
    pos = src.pos
    src.pos = pos + 4
    return _I32.unpack_from(src.buf, pos)[0]


def encode_u8(v: int) -> bytes:
    return bytes((v,))


def encode_u16(v: int) -> bytes:
    return _U16.pack(v)


def encode_u32(v: int) -> bytes:
    return _U32.pack(v)


def encode_u64(v: int) -> bytes:
    return _U64.pack(v)


def encode_ms_time(ms: int) -> bytes:
    return _I64.pack(ms)


def encode_s_time(sec: int) -> bytes:
    return _I32.pack(sec)


# ---------------------------------------------------------------------------
# length prefix


def read_length_or_encoding(src: ByteSource, what: str = "length") -> tuple[int, bool]:
    """One length prefix: ``(length, False)``, or ``(ENC_*, True)`` for a special encoding."""
    buf = src.buf
    pos = src.pos
    if pos >= len(buf):
        src.need(1, what)
        buf = src.buf
        pos = src.pos
    first = buf[pos]
    kind = first >> 6
    if kind == LEN_6BIT:
        src.pos = pos + 1
        return first, False
    if kind == LEN_14BIT:
        if len(buf) - pos < 2:
            src.need(2, what)
            buf = src.buf
            pos = src.pos
        src.pos = pos + 2
        return ((first & 0x3F) << 8) | buf[pos + 1], False
    if kind == LEN_ENCVAL:
        src.pos = pos + 1
        return first & 0x3F, True
    if first == LEN_32BIT:
        if len(buf) - pos < 5:
            src.need(5, what)
            buf = src.buf
            pos = src.pos
        src.pos = pos + 5
        return _U32BE.unpack_from(buf, pos + 1)[0], False
    if first == LEN_64BIT:
        if len(buf) - pos < 9:
            src.need(9, what)
            buf = src.buf
            pos = src.pos
        src.pos = pos + 9
        return _U64BE.unpack_from(buf, pos + 1)[0], False
    raise FormatError(f"unknown length encoding in {what}", src.base + pos,
                      expected="a length prefix (00/01 top bits, 0x80, 0x81 or 11 top bits)",
                      found=f"0x{first:02x}")


def read_length(src: ByteSource, what: str = "length") -> int:
    """A plain length; a special-encoding prefix here is a FormatError (rdbLoadLen callers)."""
    start = src.base + src.pos
    value, encoded = read_length_or_encoding(src, what)
    if encoded:
        raise FormatError(f"special string encoding where {what} was expected", start,
                          expected="a plain length", found=f"encoded value type {value}")
    return value


def encode_length(n: int) -> bytes:
    """rdbSaveLen: the shortest of the four forms."""
    if n < 0:
        raise ValueError("negative length")
    if n < 0x40:
        return bytes((n,))
    if n < 0x4000:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + _U32BE.pack(n)
    if n <= 0xFFFFFFFFFFFFFFFF:
        return b"\x81" + _U64BE.pack(n)
    raise ValueError("length does not fit in 64 bits")


def length_size(n: int) -> int:
    """Bytes encode_length(n) takes."""
    if n < 0x40:
        return 1
    if n < 0x4000:
        return 2
    if n <= 0xFFFFFFFF:
        return 5
    return 9


# Bytes a length prefix takes, by its first byte (0: not a length prefix).
PREFIX_SIZE = bytes(1 if f < 0x40 else 2 if f < 0x80 else 5 if f == LEN_32BIT else
                    9 if f == LEN_64BIT else 0 if f < 0xC0 else 1 for f in range(256))


def read_length_raw(src: ByteSource, what: str = "length",
                    plain: bool = True) -> tuple[int, bool, bytes]:
    """One length prefix with its exact stored bytes: ``(value, encoded, raw)``, for
    callers that copy what they read (module values, opaque opcodes). ``plain``: a
    special-encoding prefix is an error, as in ``read_length``."""
    if src.pos >= len(src.buf):
        src.need(1, what)
    size = PREFIX_SIZE[src.buf[src.pos]] or 1
    if len(src.buf) - src.pos < size:
        src.need(size, what)
    pos = src.pos
    if plain:
        value, encoded = read_length(src, what), False
    else:
        value, encoded = read_length_or_encoding(src, what)
    return value, encoded, src.buf[pos:src.pos]


# ---------------------------------------------------------------------------
# strings: reading


def _read_int_encoded(src: ByteSource, enc: int, what: str) -> int:
    return read_int_encoded(src, enc, f"integer-encoded {what}")


def read_int_encoded(src: ByteSource, enc: int, what: str = "integer-encoded string") -> int:
    """The INT8/INT16/INT32 payload after a ``0xC0``-``0xC2`` prefix (rdbLoadIntegerObject)."""
    size = _INT_ENC_SIZE[enc]
    if len(src.buf) - src.pos < size:
        src.need(size, what)
    buf = src.buf
    pos = src.pos
    src.pos = pos + size
    if enc == ENC_INT8:
        v = buf[pos]
        return v - 256 if v > 127 else v
    if enc == ENC_INT16:
        return _I16.unpack_from(buf, pos)[0]
    return _I32.unpack_from(buf, pos)[0]


def _bad_encoding(enc: int, offset: int, what: str) -> FormatError:
    return FormatError(f"unknown string encoding in {what}", offset,
                       expected="INT8, INT16, INT32 or LZF (0-3)", found=f"encoding {enc}")


def check_lzf_lengths(clen: int, ulen: int, ulen_at: int, what: str = "string") -> None:
    """The LZF header rule: more output than ``clen`` compressed bytes can ever expand to
    is refused before anything is read or allocated (lzf.max_decompressed_size). Every
    reader of an LZF string, decoding or skipping, goes through here."""
    if ulen > max_decompressed_size(clen):
        raise FormatError(
            f"LZF uncompressed length of {what} larger than {clen} compressed bytes can expand to",
            ulen_at, expected=f"at most {max_decompressed_size(clen)} bytes "
                              f"(LZF expands at most {MAX_EXPANSION_RATIO}x)",
            found=f"{ulen} bytes")


def read_lzf_header(src: ByteSource, what: str = "string") -> tuple[int, int]:
    """Compressed and uncompressed lengths of an LZF string (after its 0xC3 prefix),
    the claim checked (``check_lzf_lengths``)."""
    clen = read_length(src, f"compressed length of {what}")
    ulen_at = src.base + src.pos
    ulen = read_length(src, f"uncompressed length of {what}")
    check_lzf_lengths(clen, ulen, ulen_at, what)
    return clen, ulen


_read_lzf_header = read_lzf_header


def _read_lzf(src: ByteSource, start: int, what: str) -> bytes:
    from .lzf import decompress

    clen, ulen = _read_lzf_header(src, what)
    data_at = src.base + src.pos
    data = src.read(clen, f"LZF data of {what}")  # checks clen against the input size
    try:
        return decompress(data, ulen, base=data_at)
    except FormatError as exc:
        exc.message = f"{exc.message} (in the LZF {what} starting at offset {start})"
        exc.args = (exc.message,)
        raise


def read_lzf_body(src: ByteSource, start: int, what: str = "string") -> bytes:
    """The rest of an LZF string once its 0xC3 prefix has been consumed (``start``: the
    prefix's offset, for messages): lengths, data, strict decompression."""
    return _read_lzf(src, start, what)


def read_string(src: ByteSource, what: str = "string") -> bytes:
    """One RDB string (rdbGenericLoadStringObject): integers come back as decimal text."""
    start = src.base + src.pos
    n, encoded = read_length_or_encoding(src, what)
    if not encoded:
        # ByteSource.read checks the claimed length against the input size first.
        return src.read(n, what)
    if n <= ENC_INT32:
        return str(_read_int_encoded(src, n, what)).encode()
    if n == ENC_LZF:
        return _read_lzf(src, start, what)
    raise _bad_encoding(n, start, what)


def read_strings(src: ByteSource, n: int, what="string", big: Optional[int] = None) -> list:
    """``n`` consecutive RDB strings, as ``[read_string(src, what) for _ in range(n)]``;
    ``what`` may be a tuple of names used in turn (``("hash field", "hash value")``).

    One tight loop over the window with local variables: the common forms (6-bit and
    14-bit raw lengths, INT8/INT16/INT32) are sliced or converted in place while they
    lie wholly inside the window; anything else (a refill, LZF, a 32/64-bit length, a
    bad prefix) goes through ``read_string``, so errors and offsets are identical.

    ``big``: return early (fewer than ``n`` strings) right after a string longer than
    this, so a caller streaming in batches never gathers several huge strings."""
    out: list = []
    append = out.append
    i16 = _I16.unpack_from
    i32 = _I32.unpack_from
    left = n
    while left:
        buf = src.buf
        pos = src.pos
        end = len(buf)
        done = len(out)
        for _ in range(left):
            if pos >= end:
                break
            first = buf[pos]
            if first < 0x40:
                e = pos + 1 + first
                if e > end:
                    break
                append(buf[pos + 1:e])
            elif first < 0x80:
                if pos + 2 > end:
                    break
                e = pos + 2 + (((first & 0x3F) << 8) | buf[pos + 1])
                if e > end:
                    break
                append(buf[pos + 2:e])
            elif first == 0xC0:
                e = pos + 2
                if e > end:
                    break
                v = buf[pos + 1]
                append(str(v - 256 if v > 127 else v).encode())
            elif first == 0xC1:
                e = pos + 3
                if e > end:
                    break
                append(str(i16(buf, pos + 1)[0]).encode())
            elif first == 0xC2:
                e = pos + 5
                if e > end:
                    break
                append(str(i32(buf, pos + 1)[0]).encode())
            else:
                break
            pos = e
        src.pos = pos
        left -= len(out) - done
        if left:
            name = what if what.__class__ is str else what[(n - left) % len(what)]
            s = read_string(src, name)
            append(s)
            left -= 1
            if big is not None and len(s) > big:
                return out
    return out


def read_string_or_int(src: ByteSource, what: str = "string") -> bytes | int:
    """Like read_string, but an integer-encoded string comes back as an ``int``."""
    start = src.base + src.pos
    n, encoded = read_length_or_encoding(src, what)
    if not encoded:
        return src.read(n, what)
    if n <= ENC_INT32:
        return _read_int_encoded(src, n, what)
    if n == ENC_LZF:
        return _read_lzf(src, start, what)
    raise _bad_encoding(n, start, what)


class StoredString(NamedTuple):
    """How one RDB string is stored, learnt without building its value.

    ``form``: FORM_INT / FORM_LZF / FORM_RAW; ``length``: decoded length in bytes;
    ``stored_size``: bytes it takes in the file including its prefixes;
    ``offset``: absolute offset of its first byte; ``int_value`` for FORM_INT;
    ``compressed_length`` for FORM_LZF (the LZF data size)."""

    form: str
    length: int
    stored_size: int
    offset: int
    int_value: Optional[int] = None
    compressed_length: Optional[int] = None


def string_stored_form(src: ByteSource, what: str = "string") -> StoredString:
    """Consume one RDB string and say how it was stored (no decompression, no value built).

    The LZF data is skipped without decompressing it: its uncompressed length comes from
    the header (checked against what the compressed size can expand to)."""
    start = src.base + src.pos
    n, encoded = read_length_or_encoding(src, what)
    if not encoded:
        src.skip(n, what)
        return StoredString(FORM_RAW, n, src.base + src.pos - start, start)
    if n <= ENC_INT32:
        v = _read_int_encoded(src, n, what)
        return StoredString(FORM_INT, len(str(v)), src.base + src.pos - start, start, int_value=v)
    if n == ENC_LZF:
        clen, ulen = _read_lzf_header(src, what)
        src.skip(clen, f"LZF data of {what}")
        return StoredString(FORM_LZF, ulen, src.base + src.pos - start, start, compressed_length=clen)
    raise _bad_encoding(n, start, what)


def skip_string(src: ByteSource, what: str = "string") -> int:
    """Consume one RDB string without building it; returns its decoded length.

    Rejects exactly what ``read_string`` rejects at the framing level: a bad prefix, a
    length past the end of the input, an LZF header whose uncompressed length cannot come
    from its compressed bytes. Only the LZF data itself is not decompressed."""
    start = src.base + src.pos
    n, encoded = read_length_or_encoding(src, what)
    if not encoded:
        if len(src.buf) - src.pos >= n:
            src.pos += n
        else:
            src.skip(n, what)
        return n
    if n <= ENC_INT32:
        return len(str(_read_int_encoded(src, n, what)))
    if n == ENC_LZF:
        clen, ulen = read_lzf_header(src, what)
        src.skip(clen, f"LZF data of {what}")
        return ulen
    raise _bad_encoding(n, start, what)


def skip_strings(src: ByteSource, n: int, what: str = "string", trailer: int = 0,
                 trailer_what: str = "bytes") -> None:
    """``n`` times: ``skip_string(src, what)`` then ``trailer`` fixed bytes (a ZSET_2
    score). One tight loop over the window for the short forms (6/14-bit raw lengths,
    INT8/16/32) while they lie wholly inside it; anything else goes through
    ``skip_string``, so what is accepted and every error are the same."""
    while n:
        buf = src.buf
        pos = src.pos
        end = len(buf)
        while n and pos < end:
            first = buf[pos]
            if first < 0x40:
                e = pos + 1 + first
            elif first < 0x80:
                if pos + 2 > end:
                    break
                e = pos + 2 + (((first & 0x3F) << 8) | buf[pos + 1])
            elif first == 0xC0:
                e = pos + 2
            elif first == 0xC1:
                e = pos + 3
            elif first == 0xC2:
                e = pos + 5
            else:
                break
            e += trailer
            if e > end:
                break
            pos = e
            n -= 1
        src.pos = pos
        if n:
            skip_string(src, what)
            if trailer:
                if len(src.buf) - src.pos < trailer:
                    src.need(trailer, trailer_what)
                src.pos += trailer
            n -= 1


def read_scored_strings(src: ByteSource, k: int, what: str = "zset member",
                        score_what: str = "binary double",
                        big: Optional[int] = None) -> tuple[list, Optional[int]]:
    """Up to ``k`` (string, binary double) pairs (a ZSET_2 body): ``(pairs, nan_at)``.
    The batch ends right after a NaN score (``nan_at``: its offset, for the caller to
    report) or after a string longer than ``big`` read by the general path. Short raw
    strings inside the window are sliced in a tight loop, anything else goes through
    ``read_string``."""
    out: list = []
    append = out.append
    f64 = _F64.unpack_from
    while k:
        buf = src.buf
        pos = src.pos
        end = len(buf)
        while k and pos < end:
            first = buf[pos]
            if first < 0x40:
                e = pos + 1 + first
                if e + 8 > end:
                    break
                m = buf[pos + 1:e]
            elif first < 0x80:
                if pos + 2 > end:
                    break
                e = pos + 2 + (((first & 0x3F) << 8) | buf[pos + 1])
                if e + 8 > end:
                    break
                m = buf[pos + 2:e]
            else:
                break
            sc = f64(buf, e)[0]
            pos = e + 8
            append((m, sc))
            k -= 1
            if sc != sc:
                src.pos = pos
                return out, src.base + e
        src.pos = pos
        if k:
            m = read_string(src, what)
            at = src.base + src.pos
            if len(src.buf) - src.pos < 8:
                src.need(8, score_what)
            sc = f64(src.buf, src.pos)[0]
            src.pos += 8
            append((m, sc))
            k -= 1
            if sc != sc:
                return out, at
            if big is not None and len(m) > big:
                return out, None
    return out, None


def read_string_raw(src: ByteSource, what: str = "string") -> bytes:
    """One RDB string's exact stored bytes (prefix included), checked as ``skip_string``
    checks it; for callers that copy values they do not interpret (module values)."""
    start = src.base + src.pos
    n, encoded, head = read_length_raw(src, what, plain=False)
    if not encoded:
        return head + src.read(n, what)
    if n <= ENC_INT32:
        return head + src.read(_INT_ENC_SIZE[n], f"integer-encoded {what}")
    if n == ENC_LZF:
        clen, _, a = read_length_raw(src, f"compressed length of {what}")
        ulen_at = src.base + src.pos
        ulen, _, b = read_length_raw(src, f"uncompressed length of {what}")
        check_lzf_lengths(clen, ulen, ulen_at, what)
        return head + a + b + src.read(clen, f"LZF data of {what}")
    raise _bad_encoding(n, start, what)


def iter_string_chunks(src: ByteSource, what: str = "string") -> Iterator[bytes]:
    """Yield one RDB string in pieces: a raw string in chunks straight from the source
    (never held whole), an integer or LZF string as one piece (LZF needs its whole input)."""
    start = src.base + src.pos
    n, encoded = read_length_or_encoding(src, what)
    if not encoded:
        yield from src.iter_chunks(n, what)
        return
    if n <= ENC_INT32:
        yield str(_read_int_encoded(src, n, what)).encode()
        return
    if n == ENC_LZF:
        yield _read_lzf(src, start, what)
        return
    raise _bad_encoding(n, start, what)


# ---------------------------------------------------------------------------
# strings: writing


def encode_int_value(value: int) -> Optional[bytes]:
    """rdbEncodeInteger: the INT8/16/32 special encoding of ``value``, or None if out of range."""
    if -0x80 <= value <= 0x7F:
        return bytes((0xC0 | ENC_INT8, value & 0xFF))
    if -0x8000 <= value <= 0x7FFF:
        return b"\xc1" + _I16.pack(value)
    if -0x80000000 <= value <= 0x7FFFFFFF:
        return b"\xc2" + _I32.pack(value)
    return None


def try_integer_encoding(data: bytes) -> Optional[bytes]:
    """rdbTryIntegerEncoding: the int encoding when ``data`` is the canonical decimal
    text (string2ll + ll2string round trip) of a value in the INT32 range."""
    if not data or len(data) > INT_ENCODING_MAX_LEN:
        return None
    if type(data) is not bytes:
        data = bytes(data)
    v = _canonical_int(data)
    if v is None:
        return None
    return encode_int_value(v)


def encode_integer(value: int) -> bytes:
    """An integer as an RDB string the way the server saves an int-encoded object
    (rdbSaveStringObject -> rdbSaveLongLongAsStringObject): INT8/16/32 when it fits,
    else its decimal text as a raw string (never LZF: at most 20 bytes)."""
    enc = encode_int_value(value)
    if enc is not None:
        return enc
    text = str(value).encode()
    return encode_length(len(text)) + text


def encode_lzf_blob(compressed: bytes, original_len: int) -> bytes:
    """rdbSaveLzfBlob: the LZF special prefix, compressed length, original length, data."""
    return b"\xc3" + encode_length(len(compressed)) + encode_length(original_len) + compressed


_LEN6 = [bytes((i,)) for i in range(64)]


def encode_strings(items, *, compress: bool = True) -> list:
    """``[encode_string(x, compress=compress) for x in items]`` with the common case
    (at most LZF_MIN_LEN bytes, not integer text) done inline."""
    out: list = []
    append = out.append
    prefix = _LEN6
    int_first = _INT_FIRST
    for data in items:
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        if n <= LZF_MIN_LEN and (n == 0 or data[0] not in int_first):
            append(prefix[n] + data)
        else:
            append(encode_string(data, compress=compress))
    return out


def encode_string(data: bytes, *, compress: bool = True, lzf_legacy: bool = False) -> bytes:
    """rdbSaveRawString byte for byte: int encoding for short canonical integers, LZF when
    ``compress`` (rdbcompression yes), the string is longer than 20 bytes and the compressor
    output fits in len-4 bytes (rdbSaveLzfStringObject), else a length and the raw bytes.
    ``lzf_legacy``: compress as Redis 2.x-3.0 did (see lzf.compress)."""
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    # Only text starting with '-' or a digit can be a canonical integer.
    if n <= INT_ENCODING_MAX_LEN and n and data[0] in _INT_FIRST:
        enc = try_integer_encoding(data)
        if enc is not None:
            return enc
    if compress and n > LZF_MIN_LEN:
        from .lzf import compress as lzf_compress

        packed = lzf_compress(data, n - 4, legacy=lzf_legacy)
        if packed:
            return encode_lzf_blob(packed, n)
    if n < 0x40:
        return bytes((n,)) + data
    return encode_length(n) + data
