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

The server side of RESP (client requests, replies) has other rules and lives with the
engine (kvengine/protocol.py).
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


def parse_commands(data: bytes) -> list[list[bytes]]:
    """All commands of an in-memory RESP stream (tests, small inputs)."""
    return [args for _, args in CommandParser(ByteSource(data))]


__all__ = [
    "CRLF", "Annotation", "CommandParser", "parse_commands", "encode_command",
    "encode_annotation_ts", "parse_annotation",
]
