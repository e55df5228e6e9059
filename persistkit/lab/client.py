"""A small blocking RESP2 client over one loopback socket: pipelined sends, replies read
back in order. The lab needs exact acknowledgement counts and timings, which a general
client library hides behind its own buffering and retries."""

from __future__ import annotations

import select
import socket
import time
from typing import Optional

from ..kvencoding.resp import encode_command


class ServerGone(Exception):
    """The connection closed or broke (the server was killed or crashed)."""


class ReplyError(Exception):
    """The server answered with an error reply."""


class RespClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 60.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending ---------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ServerGone(str(exc)) from None

    def send(self, *args) -> None:
        self.send_raw(encode_command([_arg(a) for a in args]))

    def call(self, *args):
        """One command, its reply (an error reply raises ReplyError)."""
        self.send(*args)
        reply = self.read_reply()
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    # -- receiving -------------------------------------------------------------------
    def _fill(self) -> None:
        if self.pos and self.pos > 1 << 16:
            del self.buf[:self.pos]
            self.pos = 0
        try:
            data = self.sock.recv(1 << 16)
        except OSError as exc:
            raise ServerGone(str(exc)) from None
        if not data:
            raise ServerGone("connection closed by the server")
        self.buf += data

    def _line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = bytes(self.buf[self.pos:end])
                self.pos = end + 2
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n + 2
        return data

    def read_reply(self):
        """One reply: bytes for status and bulk, int, None, list, or a ReplyError object."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read_reply() for _ in range(n)]
        raise ServerGone(f"unexpected reply line {line[:40]!r}")

    def reply_ready(self) -> bool:
        """A reply (or part of one) is waiting, without blocking."""
        if len(self.buf) > self.pos:
            return True
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    # -- helpers ---------------------------------------------------------------------
    def info(self, section: str = "") -> dict[str, str]:
        raw = self.call("INFO", section) if section else self.call("INFO")
        return parse_info(raw)


def parse_info(raw: bytes) -> dict[str, str]:
    out = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#") and ":" in line:
            k, _, v = line.partition(":")
            out[k] = v
    return out


def _arg(a) -> bytes:
    if isinstance(a, bytes):
        return a
    if isinstance(a, int):
        return b"%d" % a
    return str(a).encode()


def wait_until(predicate, timeout: float, interval: float = 0.01, what: str = "condition"):
    """Poll ``predicate`` until it returns a true value or ``timeout`` seconds pass (then
    TimeoutError). Used to wait for a server's background job, which has no event to
    wait on from outside."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def connect_when_ready(port: int, timeout: float = 30.0) -> RespClient:
    deadline = time.monotonic() + timeout
    last: Optional[Exception] = None
    while time.monotonic() < deadline:
        try:
            c = RespClient(port)
            c.call("PING")
            return c
        except (OSError, ServerGone, ReplyError) as exc:
            last = exc
            time.sleep(0.02)
    raise TimeoutError(f"server on port {port} did not answer PING: {last}")
