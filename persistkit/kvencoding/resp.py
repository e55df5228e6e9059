"""RESP: the command stream of an AOF (streaming, with offsets) and the reply protocol.

Command streams (AOF files, ``redis-cli --pipe`` input)::

    encode_command([b"SET", b"k", b"v"])  -> b"*3\\r\\n$3\\r\\nSET\\r\\n$1\\r\\nk\\r\\n$1\\r\\nv\\r\\n"
    encode_annotation_ts(1700000000)       -> b"#TS:1700000000\\r\\n"

    parser = CommandParser(ByteSource(data_or_stream))
    for offset, args in parser:            # args: list[bytes]
        parser.end                         # absolute offset just after this command
        parser.timestamp                   # seconds of the latest ``#TS:`` line seen, or None
    # or, to see the annotation lines themselves:
    for offset, item in parser.items():    # item: list[bytes] (a command) or Annotation

The framing rules are redis-check-aof's (redis/redis src/redis-check-aof.c, 7.0:
``readLong``/``readString``/``processRESP``/``processAnnotations``), so that "where the
valid data ends" is the same number the real tool prints as ``ok_up_to``:

* a ``*N``/``$N`` line is read like ``fgets`` into a 128-byte buffer, parsed with
  ``strtol`` (leading blanks, a sign, digits) and must be followed by ``\\r\\n`` at once;
* a bulk ``$N`` must be 0 <= N, then N bytes and ``\\r\\n``;
* a line starting with ``#`` is an annotation (at most 1023 bytes, through ``\\n``);
* anything else where a command should start is a format error.

Errors: FormatError at the exact bad byte (bad prefix, bad ``*N``/``$N``, missing CRLF);
TruncatedError when the input ends inside a command, with ``offset`` = the start of
that command. ``parser.start`` always holds the start of the command being read, so
a caller can tell where the valid data ends. A bulk length that runs past the end of a
sized input fails before anything is allocated (ByteSource.check_remaining).

Replies (for the engine's server and its tests): ``encode_reply(value)`` and an
incremental ``ReplyParser`` (``feed(data)``, ``pop()``) for simple strings, errors,
integers, bulk strings, arrays and nulls; ``RequestParser`` splits a client byte
stream into commands (RESP arrays or inline commands, as redis ``processInlineBuffer``).
"""

from __future__ import annotations

import re
from typing import Iterator, NamedTuple, Optional, Union

from .errors import FormatError, TruncatedError
from .source import ByteSource

CRLF = b"\r\n"

# fgets(buf, 128) in readLong reads at most 127 bytes of a *N / $N line.
_LONG_LINE_MAX = 127
# processAnnotations: fgets into AOF_ANNOTATION_LINE_MAX_LEN (1024) bytes.
ANNOTATION_LINE_MAX = 1023
_LONG_MAX = (1 << 63) - 1
_LONG_MIN = -(1 << 63)
_BLANKS = b" \t\n\v\f\r"
# The usual count / bulk-length lines, exactly what the fast paths of _command accept
# (ASCII digits, fewer than 19 of them, CRLF); anything else takes the general path.
_ARGC = re.compile(rb"\*(\d{1,18})\r\n").match
_BULK = re.compile(rb"\$(\d{1,18})\r\n").match


# ---------------------------------------------------------------------------
# encoding


def _as_bytes(a) -> bytes:
    if isinstance(a, (bytes, bytearray, memoryview)):
        return bytes(a)
    if isinstance(a, str):
        return a.encode("utf-8")
    if isinstance(a, bool):
        raise TypeError("a bool is not a command argument")
    if isinstance(a, int):
        return b"%d" % a
    raise TypeError(f"cannot encode {type(a).__name__} as a command argument")


def encode_command(args) -> bytes:
    """One command as a RESP array of bulk strings (str/int arguments are accepted)."""
    parts = [b"*%d\r\n" % len(args)]
    append = parts.append
    for a in args:
        if type(a) is not bytes:
            a = _as_bytes(a)
        append(b"$%d\r\n" % len(a))
        append(a)
        append(CRLF)
    return b"".join(parts)


def encode_annotation_ts(seconds: int) -> bytes:
    """The timestamp annotation Redis 7 writes with aof-timestamp-enabled (``#TS:<s>``)."""
    return b"#TS:%d\r\n" % seconds


class Annotation(NamedTuple):
    """A ``#...`` line of an AOF; ``timestamp`` is set for ``#TS:<seconds>`` lines."""

    text: bytes            # the line without its line ending
    timestamp: Optional[int]
    length: int            # bytes the line occupies, line ending included


def parse_annotation(line: bytes) -> Annotation:
    text = line.rstrip(b"\r\n")
    ts = None
    if text.startswith(b"#TS:"):
        digits = text[4:]
        if digits.isdigit():
            ts = int(digits)
    return Annotation(text, ts, len(line))


# ---------------------------------------------------------------------------
# the command-stream parser


class _Short(Exception):
    """The current window ends before the item does (internal: refill and retry)."""

    def __init__(self, need: int) -> None:
        self.need = need  # bytes needed from the item start (a lower bound)


def _strtol(line: bytes) -> tuple[int, int]:
    """C ``strtol(line, &end, 10)``: (value, index of end); no digits -> (0, 0)."""
    n = len(line)
    j = 0
    while j < n and line[j] in _BLANKS:
        j += 1
    k = j
    if k < n and line[k] in b"+-":
        k += 1
    d = k
    while d < n and 48 <= line[d] <= 57:
        d += 1
    if d == k:
        return 0, 0
    v = int(line[j:d])
    return max(_LONG_MIN, min(_LONG_MAX, v)), d


def _show(data: bytes) -> str:
    return data.hex() if data else "end of input"


class CommandParser:
    """Streaming parser of a RESP command stream (an AOF, or the RESP tail of a hybrid AOF).

    Reads from ``source`` at its current position. Attributes kept up to date while
    iterating: ``start`` (offset of the item being read), ``end`` (offset after the
    last complete item), ``timestamp`` (latest ``#TS:`` seconds, or None).
    """

    def __init__(self, source: ByteSource, *, heads_only: bool = False) -> None:
        # heads_only (verify): a command comes back as ``[name]`` (``[]`` for ``*0``):
        # every argument is still framed and checked, but only the first is kept.
        self.heads_only = heads_only
        self.src = source
        self.start = source.tell()
        self.end = self.start
        self.timestamp: Optional[int] = None

    def __iter__(self) -> Iterator[tuple[int, list[bytes]]]:
        for offset, item in self.items():
            if type(item) is list:
                yield offset, item

    def items(self) -> Iterator[tuple[int, Union[list[bytes], Annotation]]]:
        """Commands (``list[bytes]``) and annotation lines (``Annotation``) in file order."""
        src = self.src
        eof = False
        command = self._command_head if self.heads_only else self._command
        while True:
            buf = src.buf
            p = src.pos
            if p >= len(buf):
                if src.at_eof():
                    return
                eof = False
                continue
            self.start = src.base + p
            try:
                if buf[p] == 42:  # '*'
                    item, q = command(buf, p, eof)
                elif buf[p] == 35:  # '#'
                    item, q = self._annotation(buf, p, eof)
                    if item.timestamp is not None:
                        self.timestamp = item.timestamp
                else:
                    raise FormatError("a command must start with '*' (or '#' for an annotation)",
                                      self.start, expected="'*'", found=_show(buf[p:p + 2]))
            except _Short as short:
                if eof:  # pragma: no cover - _command/_annotation raise TruncatedError at eof
                    raise TruncatedError("input ends inside a command", self.start)
                want = max(short.need, 2 * (len(buf) - p) + 4096)
                try:
                    src.need(want)
                except TruncatedError:
                    eof = True  # the window now holds everything that is left
                continue
            src.pos = q
            self.end = src.base + q
            eof = eof and q < len(src.buf)
            yield self.start, item

    # -- pieces ------------------------------------------------------------
    def _number(self, buf: bytes, p: int, prefix: int, eof: bool) -> tuple[int, int]:
        """Parse a ``<prefix><long>\\r\\n`` line at ``p``: (value, index after CRLF)."""
        i = buf.find(b"\n", p, p + _LONG_LINE_MAX)
        if i > p + 1 and buf[i - 1] == 13 and buf[p] == prefix:
            digits = buf[p + 1:i - 1]
            if digits.isdigit() and len(digits) < 19:
                return int(digits), i + 1
        what = "'*' count" if prefix == 42 else "'$' length"
        if buf[p] != prefix:
            raise FormatError(f"expected {chr(prefix)!r}", self.src.base + p,
                              expected=repr(chr(prefix)), found=_show(buf[p:p + 1]))
        if i < 0:
            have = len(buf) - p
            if have < _LONG_LINE_MAX:
                if not eof:
                    raise _Short(p - (self.start - self.src.base) + _LONG_LINE_MAX)
                tail = buf[p + 1:]
                if tail.strip(b"+-0123456789 \t") in (b"", b"\r"):
                    raise TruncatedError(f"input ends inside a {what} line", self.start,
                                         expected=f"{what} and \\r\\n", found="end of input")
                line = tail
            else:
                line = buf[p + 1:p + _LONG_LINE_MAX]
        else:
            line = buf[p + 1:i + 1]
        value, e = _strtol(line)
        if line[e:e + 2] != CRLF:
            raise FormatError(f"bad {what} line", self.src.base + p + 1 + e,
                              expected="\\r\\n after the number", found=_show(line[e:e + 2]))
        return value, p + 1 + e + 2

    def _command(self, buf: bytes, p: int, eof: bool) -> tuple[list[bytes], int]:
        start = p
        argc, p = self._number(buf, p, 42, eof)
        args: list[bytes] = []
        append = args.append
        n = len(buf)
        base = self.src.base
        i = 0
        while i < argc:
            if p >= n:
                if eof:
                    raise TruncatedError("input ends inside a command", base + start,
                                         expected=f"{argc} arguments", found=f"{i}")
                raise _Short(p - start + 64)
            # fast path of _number for the usual "$<digits>\r\n" line
            j = buf.find(b"\n", p, p + _LONG_LINE_MAX)
            digits = buf[p + 1:j - 1] if j > p + 1 else b""
            if digits.isdigit() and buf[p] == 36 and buf[j - 1] == 13 and len(digits) < 19:
                blen = int(digits)
                q = j + 1
            else:
                blen, q = self._number(buf, p, 36, eof)
            if blen < 0 or blen > _LONG_MAX - 2:
                raise FormatError("bulk length out of range", base + p,
                                  expected="a length >= 0", found=str(blen))
            r = q + blen
            if r + 2 > n:
                # Known-size input: fail before reading (or allocating) a bogus length.
                if self.src.size is not None and base + r + 2 > self.src.size:
                    raise TruncatedError(
                        "bulk string runs past the end of the input", base + start,
                        expected=f"{blen} bytes and \\r\\n at offset {base + q}",
                        found=f"{self.src.size - base - q} bytes left")
                if eof:
                    raise TruncatedError("input ends inside a bulk string", base + start,
                                         expected=f"{blen} bytes", found=f"{n - q} bytes")
                raise _Short(r + 2 - start)
            if buf[r] != 13 or buf[r + 1] != 10:
                raise FormatError("bulk string not followed by \\r\\n", base + r,
                                  expected="\\r\\n", found=_show(buf[r:r + 2]))
            append(buf[q:r])
            p = r + 2
            i += 1
        return args, p

    def _command_head(self, buf: bytes, p: int, eof: bool) -> tuple[list[bytes], int]:
        """``_command`` keeping only the first argument: one regex match per argument
        for the usual framing; anything unusual (a short window, bad bytes) re-reads the
        command with ``_command``, which raises exactly as it always does."""
        start = p
        m = _ARGC(buf, p)
        if m is None:
            return self._command(buf, start, eof)
        argc = int(m.group(1))
        if not argc:
            return [], m.end()
        p = m.end()
        n = len(buf)
        m = _BULK(buf, p)
        if m is None:
            return self._command(buf, start, eof)
        q = m.end()
        r = q + int(m.group(1))
        if r + 2 > n or buf[r] != 13 or buf[r + 1] != 10:
            return self._command(buf, start, eof)
        head = buf[q:r]
        p = r + 2
        bulk = _BULK
        for _ in range(argc - 1):
            m = bulk(buf, p)
            if m is None:
                return self._command(buf, start, eof)
            r = m.end() + int(m.group(1))
            if r + 2 > n or buf[r] != 13 or buf[r + 1] != 10:
                return self._command(buf, start, eof)
            p = r + 2
        return [head], p

    def _annotation(self, buf: bytes, p: int, eof: bool) -> tuple[Annotation, int]:
        i = buf.find(b"\n", p, p + ANNOTATION_LINE_MAX)
        if i >= 0:
            end = i + 1
        elif len(buf) - p >= ANNOTATION_LINE_MAX:
            end = p + ANNOTATION_LINE_MAX  # fgets stops here; the rest is read as a new item
        elif eof:
            end = len(buf)
        else:
            raise _Short(ANNOTATION_LINE_MAX + 1)
        return parse_annotation(buf[p:end]), end


def iter_commands(source: ByteSource) -> Iterator[tuple[int, list[bytes]]]:
    """(offset, args) for each command of a RESP command stream; see CommandParser."""
    return iter(CommandParser(source))


def parse_commands(data: bytes) -> list[list[bytes]]:
    """All commands of an in-memory RESP stream (tests, small inputs)."""
    return [args for _, args in CommandParser(ByteSource(data))]


# ---------------------------------------------------------------------------
# replies


class SimpleString(bytes):
    """A ``+...`` status reply (bytes subclass so it compares with b"OK")."""

    __slots__ = ()


class ErrorReply(bytes):
    """A ``-...`` error reply, the text after the dash (``ERR ...``, ``WRONGTYPE ...``)."""

    __slots__ = ()


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()  # ``*-1``; ``None`` stands for the null bulk ``$-1``


def encode_simple(text) -> bytes:
    text = _as_bytes(text)
    if b"\r" in text or b"\n" in text:
        raise ValueError("a simple string cannot hold CR or LF")
    return b"+" + text + CRLF


def encode_error(text) -> bytes:
    text = _as_bytes(text).replace(b"\r", b" ").replace(b"\n", b" ")
    return b"-" + text + CRLF


def encode_integer(n: int) -> bytes:
    return b":%d\r\n" % n


def encode_bulk(data) -> bytes:
    if data is None:
        return b"$-1\r\n"
    data = _as_bytes(data)
    return b"$%d\r\n%s\r\n" % (len(data), data)


def encode_reply(value) -> bytes:
    """RESP2 bytes for a Python reply value.

    bytes/str -> bulk (SimpleString / ErrorReply subclasses -> ``+`` / ``-``),
    int/bool -> integer, None -> null bulk, NULL_ARRAY -> ``*-1``,
    list/tuple -> array (nested), float -> bulk of its repr.
    """
    out: list[bytes] = []
    _encode_into(value, out)
    return b"".join(out)


def _encode_into(value, out: list) -> None:
    t = type(value)
    if t is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(value), value))
    elif t is SimpleString:
        out.append(encode_simple(value))
    elif t is ErrorReply:
        out.append(encode_error(value))
    elif t is int or t is bool:
        out.append(b":%d\r\n" % value)
    elif value is None:
        out.append(b"$-1\r\n")
    elif value is NULL_ARRAY:
        out.append(b"*-1\r\n")
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(value))
        for v in value:
            _encode_into(v, out)
    elif isinstance(value, str):
        out.append(encode_bulk(value))
    elif isinstance(value, float):
        out.append(encode_bulk(repr(value)))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out.append(encode_bulk(bytes(value)))
    elif isinstance(value, int):
        out.append(b":%d\r\n" % value)
    else:
        raise TypeError(f"cannot encode {t.__name__} as a reply")


_NEED_MORE = object()


class ReplyParser:
    """Incremental RESP2 reply parser: ``feed(data)`` then ``pop()`` until it returns
    ``ReplyParser.NEED_MORE``. Values: bytes (bulk), SimpleString, ErrorReply, int,
    None (null bulk), NULL_ARRAY, list. A malformed reply is a FormatError."""

    NEED_MORE = _NEED_MORE

    def __init__(self, max_bulk: int = 512 * 1024 * 1024) -> None:
        self.buf = b""
        self.pos = 0
        self.consumed = 0  # bytes popped so far (offsets in errors are relative to the stream)
        self.max_bulk = max_bulk

    def feed(self, data: bytes) -> None:
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.consumed += self.pos
            self.pos = 0
        self.buf += data

    def pop(self):
        try:
            value, p = self._value(self.pos)
        except _Short:
            return _NEED_MORE
        self.pos = p
        return value

    def __iter__(self):
        while True:
            v = self.pop()
            if v is _NEED_MORE:
                return
            yield v

    def _line(self, p: int) -> tuple[bytes, int]:
        i = self.buf.find(CRLF, p)
        if i < 0:
            if len(self.buf) - p > 64 * 1024:
                raise FormatError("reply line too long", self.consumed + p)
            raise _Short(0)
        return self.buf[p + 1:i], i + 2

    def _int(self, text: bytes, p: int) -> int:
        try:
            return int(text)
        except ValueError:
            raise FormatError("bad integer in reply", self.consumed + p,
                              expected="an integer", found=repr(text[:40])) from None

    def _value(self, p: int):
        buf = self.buf
        if p >= len(buf):
            raise _Short(0)
        c = buf[p]
        line, q = self._line(p)
        if c == 43:  # '+'
            return SimpleString(line), q
        if c == 45:  # '-'
            return ErrorReply(line), q
        if c == 58:  # ':'
            return self._int(line, p), q
        if c == 36:  # '$'
            n = self._int(line, p)
            if n < 0:
                return None, q
            if n > self.max_bulk:
                raise FormatError("bulk reply too long", self.consumed + p, found=str(n))
            if len(buf) < q + n + 2:
                raise _Short(0)
            if buf[q + n:q + n + 2] != CRLF:
                raise FormatError("bulk reply not followed by \\r\\n", self.consumed + q + n)
            return buf[q:q + n], q + n + 2
        if c == 42:  # '*'
            n = self._int(line, p)
            if n < 0:
                return NULL_ARRAY, q
            items = []
            for _ in range(n):
                v, q = self._value(q)
                items.append(v)
            return items, q
        raise FormatError("unknown reply type", self.consumed + p,
                          expected="one of + - : $ *", found=_show(buf[p:p + 1]))


def parse_reply(data: bytes):
    """Exactly one reply from ``data`` (raises TruncatedError when it is incomplete)."""
    rp = ReplyParser()
    rp.feed(data)
    v = rp.pop()
    if v is _NEED_MORE:
        raise TruncatedError("incomplete reply", len(data))
    return v


class RequestParser:
    """Split a client's byte stream into commands, as the server does
    (redis src/networking.c ``processMultibulkBuffer`` / ``processInlineBuffer``).

    ``feed(data)``; ``pop()`` returns ``list[bytes]`` or None when more input is needed.
    A protocol error raises FormatError (the server replies ``-ERR Protocol error`` and closes).
    """

    INLINE_MAX = 64 * 1024
    BULK_MAX = 512 * 1024 * 1024

    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0

    def feed(self, data: bytes) -> None:
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += data

    def pop(self) -> Optional[list[bytes]]:
        buf, p = self.buf, self.pos
        if p >= len(buf):
            return None
        if buf[p] == 42:
            return self._multibulk(buf, p)
        i = buf.find(b"\n", p)
        if i < 0:
            if len(buf) - p > self.INLINE_MAX:
                raise FormatError("Protocol error: too big inline request", p)
            return None
        line = buf[p:i].rstrip(b"\r")
        self.pos = i + 1
        return line.split()  # an empty line gives [] (the server ignores it)

    def _multibulk(self, buf: bytes, p: int) -> Optional[list[bytes]]:
        i = buf.find(CRLF, p)
        if i < 0:
            if len(buf) - p > self.INLINE_MAX:
                raise FormatError("Protocol error: too big mbulk count string", p)
            return None
        try:
            argc = int(buf[p + 1:i])
        except ValueError:
            raise FormatError("Protocol error: invalid multibulk length", p) from None
        if argc > 1024 * 1024:
            raise FormatError("Protocol error: invalid multibulk length", p)
        q = i + 2
        args = []
        for _ in range(max(argc, 0)):
            if q >= len(buf):
                return None
            if buf[q] != 36:
                raise FormatError(f"Protocol error: expected '$', got '{chr(buf[q])}'", q)
            j = buf.find(CRLF, q)
            if j < 0:
                return None
            try:
                n = int(buf[q + 1:j])
            except ValueError:
                raise FormatError("Protocol error: invalid bulk length", q) from None
            if n < 0 or n > self.BULK_MAX:
                raise FormatError("Protocol error: invalid bulk length", q)
            r = j + 2 + n
            if len(buf) < r + 2:
                return None
            args.append(buf[j + 2:r])
            q = r + 2
        self.pos = q
        return args


__all__ = [
    "CRLF", "Annotation", "CommandParser", "iter_commands", "parse_commands", "encode_command",
    "encode_annotation_ts", "parse_annotation", "SimpleString", "ErrorReply", "NULL_ARRAY",
    "encode_simple", "encode_error", "encode_integer", "encode_bulk", "encode_reply",
    "ReplyParser", "parse_reply", "RequestParser",
]
