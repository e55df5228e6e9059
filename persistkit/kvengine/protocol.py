"""RESP2 on the server side: incremental request parsing with the server's limits, and
reply encoding of the engine's reply values.

kvencoding.resp parses AOF command streams (redis-check-aof's rules); a server has
other rules (redis/src/networking.c processMultibulkBuffer / processInlineBuffer):
limits that depend on authentication, proto-max-bulk-len, string2ll for lengths, and
state kept across reads so that a large bulk is not re-scanned on every read. Those
live here, next to the event loop that needs them.
"""

from __future__ import annotations

from .numbers import parse_int
from .numbers import format_double
from .reply import NIL_ARRAY, OK, CommandError, Double, Map, PairMap, Pairs, SetReply, Status
from ..kvencoding.splitargs import split_args  # noqa: F401  (inline commands; also used by CONFIG)

INLINE_MAX = 64 * 1024               # PROTO_INLINE_MAX_SIZE
MBULK_BIG_ARG = 32 * 1024            # PROTO_MBULK_BIG_ARG
UNAUTH_MAX_ARGS = 10
UNAUTH_MAX_BULK = 16384
INT_MAX = (1 << 31) - 1
_BYTES_BUFFER_MAX = 256 * 1024


class ProtocolError(Exception):
    """Bad client input: reply ``-ERR <message>`` and close the connection."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = "ERR " + message


class RequestReader:
    """Feed bytes, pull commands. ``next(authenticated)`` returns ``list[bytes]`` (maybe
    empty: an empty line or ``*0``), or None when more input is needed."""

    __slots__ = ("buf", "pos", "argc", "args", "bulk_len", "max_bulk")

    def __init__(self, max_bulk: int = 512 * 1024 * 1024) -> None:
        self.buf: bytes | bytearray = b""
        self.pos = 0
        self.argc = 0          # arguments still to read of the current multibulk (0 = none open)
        self.args: list[bytes] = []
        self.bulk_len = -1
        self.max_bulk = max_bulk

    def feed(self, data: bytes) -> None:
        # Small buffers are kept as immutable bytes, so that an argument is sliced out with
        # one copy (bytes(b) of a bytes object is b itself); a large pending input (a big
        # bulk arriving in pieces) grows in place in a bytearray instead of being re-copied.
        buf, pos = self.buf, self.pos
        rest = len(buf) - pos
        if rest <= 0:
            self.buf = data if type(data) is bytes else bytes(data)
        elif rest + len(data) <= _BYTES_BUFFER_MAX:
            self.buf = bytes(buf[pos:]) + data
        else:
            if type(buf) is bytes:
                buf = bytearray(buf[pos:])
            elif pos:
                del buf[:pos]
            buf += data
            self.buf = buf
        self.pos = 0

    def pending(self) -> int:
        return len(self.buf) - self.pos

    def next(self, authenticated: bool = True):
        if self.argc:
            return self._multibulk(authenticated)
        buf, p = self.buf, self.pos
        if p >= len(buf):
            return None
        if buf[p] == 42:  # '*'
            return self._multibulk(authenticated)
        return self._inline()

    # -- inline -------------------------------------------------------------------------
    def _inline(self):
        buf, p = self.buf, self.pos
        nl = buf.find(b"\n", p)
        if nl < 0:
            if len(buf) - p > INLINE_MAX:
                raise ProtocolError("Protocol error: too big inline request")
            return None
        line = bytes(buf[p:nl])
        if line.endswith(b"\r"):
            line = line[:-1]
        self.pos = nl + 1
        args = split_args(line)
        if args is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        return args

    # -- multibulk -------------------------------------------------------------------------
    def _multibulk(self, authenticated: bool):
        # One pass over a pipelined batch: state lives in locals and is stored back only
        # when the command is complete or more input is needed (after a ProtocolError the
        # connection is closed, so the state then does not matter).
        buf = self.buf
        blen = len(buf)
        find = buf.find
        if not self.argc:
            p = self.pos
            cr = find(b"\r", p)
            if cr < 0:
                if blen - p > INLINE_MAX:
                    raise ProtocolError("Protocol error: too big mbulk count string")
                return None
            if cr + 1 >= blen:
                return None  # the \n is not there yet
            digits = bytes(buf[p + 1:cr])
            n = _SMALL_INTS.get(digits)
            if n is None:
                n = parse_int(digits)
                if n is None or n > INT_MAX:
                    raise ProtocolError("Protocol error: invalid multibulk length")
            if n > UNAUTH_MAX_ARGS and not authenticated:
                raise ProtocolError("Protocol error: unauthenticated multibulk length")
            self.pos = cr + 2
            if n <= 0:
                return []
            self.argc = n
            self.args = []
            self.bulk_len = -1
        argc = self.argc
        args = self.args
        p = self.pos
        bulk_len = self.bulk_len
        append = args.append
        while argc:
            if bulk_len == -1:
                cr = find(b"\r", p)
                if cr < 0:
                    if blen - p > INLINE_MAX:
                        raise ProtocolError("Protocol error: too big bulk count string")
                    break
                if cr + 1 >= blen:
                    break
                if buf[p] != 36:  # '$'
                    raise ProtocolError(f"Protocol error: expected '$', got '{chr(buf[p])}'")
                digits = bytes(buf[p + 1:cr])
                n = _SMALL_INTS.get(digits)
                if n is None:
                    n = parse_int(digits)
                    if n is None or n < 0 or n > self.max_bulk:
                        raise ProtocolError("Protocol error: invalid bulk length")
                elif n > self.max_bulk:
                    raise ProtocolError("Protocol error: invalid bulk length")
                if n > UNAUTH_MAX_BULK and not authenticated:
                    raise ProtocolError("Protocol error: unauthenticated bulk length")
                p = cr + 2
                bulk_len = n
            if blen - p < bulk_len + 2:
                break  # wait for the whole bulk (and its CRLF)
            append(bytes(buf[p:p + bulk_len]))
            p += bulk_len + 2
            bulk_len = -1
            argc -= 1
        self.pos = p
        if argc:
            self.argc = argc
            self.bulk_len = bulk_len
            return None
        self.argc = 0
        self.bulk_len = -1
        self.args = []
        return args


# Canonical decimal forms of small counts and lengths (what parse_int accepts for them),
# looked up before the general parser on the per-argument path.
_SMALL_INTS = {b"%d" % i: i for i in range(4096)}


_BULK_HEADERS = [b"$%d\r\n" % n for n in range(1024)]


def encode_reply(value, out: list, resp: int = 2) -> None:
    """Append the RESP2 (or RESP3) bytes of a reply value to ``out``."""
    if value is OK:   # the most common reply of all writes
        out.append(b"+OK\r\n")
        return
    t = type(value)
    if t is bytes:
        n = len(value)
        out.append(_BULK_HEADERS[n] if n < 1024 else b"$%d\r\n" % n)
        out.append(value)
        out.append(b"\r\n")
    elif t is int:
        out.append(b":%d\r\n" % value)
    elif value is None:
        out.append(b"_\r\n" if resp == 3 else b"$-1\r\n")
    elif t is list or t is tuple or t is SetReply or t is Map:
        n = len(value)
        if resp == 3 and t is Map:
            out.append(b"%%%d\r\n" % (n // 2))
        elif resp == 3 and t is SetReply:
            out.append(b"~%d\r\n" % n)
        else:
            out.append(b"*%d\r\n" % n)
        append = out.append
        hdr = _BULK_HEADERS
        for v in value:
            if type(v) is bytes:  # the common case (LRANGE, MGET ...) without recursion
                n = len(v)
                append(hdr[n] if n < 1024 else b"$%d\r\n" % n)
                append(v)
                append(b"\r\n")
            else:
                encode_reply(v, out, resp)
    elif t is Pairs or t is PairMap:
        if resp == 3 and t is PairMap:
            out.append(b"%%%d\r\n" % len(value))
            for a, b in value:
                encode_reply(a, out, resp)
                encode_reply(b, out, resp)
        elif resp == 3 or t is PairMap:
            out.append(b"*%d\r\n" % len(value))
            for a, b in value:
                out.append(b"*2\r\n")
                encode_reply(a, out, resp)
                encode_reply(b, out, resp)
        else:
            out.append(b"*%d\r\n" % (2 * len(value)))
            for a, b in value:
                encode_reply(a, out, resp)
                encode_reply(b, out, resp)
    elif t is Double:
        text = format_double(value)
        if resp == 3:
            out.append(b"," + text + b"\r\n")
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(text), text))
    elif t is Status:
        out.append(b"+" + value.encode() + b"\r\n")
    elif isinstance(value, CommandError):
        msg = value.message.replace("\r", " ").replace("\n", " ")
        out.append(b"-" + msg.encode("utf-8", "replace") + b"\r\n")
    elif t is bool:
        out.append(b":1\r\n" if value else b":0\r\n")
    elif value is NIL_ARRAY:
        out.append(b"_\r\n" if resp == 3 else b"*-1\r\n")
    elif t is bytearray or t is memoryview:
        encode_reply(bytes(value), out, resp)
    elif t is str:
        encode_reply(value.encode(), out, resp)
    elif t is float:
        encode_reply(Double(value), out, resp)
    else:
        raise TypeError(f"cannot encode reply {t.__name__}")
