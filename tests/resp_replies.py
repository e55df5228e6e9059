"""A RESP2 reply parser for the tests' socket clients (the product never parses
replies: the engine writes them, real servers and redis-py read them).

    rp = ReplyParser(); rp.feed(data); v = rp.pop()   # ReplyParser.NEED_MORE until complete

Values: bytes (bulk), SimpleString, ErrorReply, int, None (null bulk), NULL_ARRAY, list.
"""

from __future__ import annotations

from persistkit.kvencoding.errors import FormatError, TruncatedError

CRLF = b"\r\n"


class _Short(Exception):
    """The buffer ends inside the reply."""


def _show(data: bytes) -> str:
    return data.hex() if data else "end of input"


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
            raise _Short
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
            raise _Short
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
                raise _Short
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
