"""ByteSource: pull bytes from an in-memory buffer or a binary stream, with absolute offsets.

The decoders never open files: they are handed a ByteSource built over ``bytes``
(a unit test, a DUMP payload) or over a binary stream that ``fileio`` opened. It
keeps a bounded window of the stream in memory, so memory stays flat whatever
the input size, and it never allocates more than the input really holds: a
length field that claims more bytes than are left is a TruncatedError carrying
the offset, not a huge allocation.

Hot paths may read ``buf``/``pos`` directly after ``need(n)``; ``pos`` indexes
``buf`` and ``base + pos`` is the absolute offset.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator, Optional, Union

from .errors import TruncatedError


def _pread_fd(stream) -> Optional[int]:
    """The descriptor of a stream that is an uncompressed regular file, else None."""
    if getattr(stream, "pk_compression", "unknown") is not None:
        return None
    try:
        fd = stream.fileno()
        import os
        import stat

        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


class _PreadStream:
    """``read(n)`` over ``[start, end)`` of a file descriptor with ``os.pread``."""

    __slots__ = ("fd", "at", "end")

    def __init__(self, fd: int, start: int, end: int) -> None:
        self.fd = fd
        self.at = start
        self.end = end

    def read(self, n: int) -> bytes:
        import os

        n = min(n, self.end - self.at)
        if n <= 0:
            return b""
        data = os.pread(self.fd, n, self.at)
        self.at += len(data)
        return data

DEFAULT_CHUNK = 1 << 20


class ByteSource:
    __slots__ = ("buf", "pos", "base", "_stream", "_chunk", "_eof", "name", "size",
                 "_crc", "_crc_from")

    def __init__(self, data: Union[bytes, bytearray, memoryview, BinaryIO], *,
                 name: Optional[str] = None, size: Optional[int] = None,
                 chunk: int = DEFAULT_CHUNK, base: int = 0, crc: bool = False) -> None:
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.buf = bytes(data)
            self._stream = None
            self._eof = True
            self.size = base + len(self.buf) if size is None else size
        else:
            self.buf = b""
            self._stream = data
            self._eof = False
            self.size = size
        self.pos = 0
        self.base = base
        self._chunk = chunk
        self.name = name
        # Running CRC64 over consumed bytes (RDB trailer check) without keeping them.
        self._crc: Optional[int] = 0 if crc else None
        self._crc_from = 0  # index in buf up to which _crc has been updated

    # -- position ---------------------------------------------------------
    def tell(self) -> int:
        return self.base + self.pos

    def available(self) -> int:
        return len(self.buf) - self.pos

    # -- filling ----------------------------------------------------------
    def _fill(self, n: int) -> None:
        """Make at least ``n`` bytes available from ``pos`` if the input has them."""
        if self._eof:
            return
        # Drop what has been consumed (folding it into the CRC first).
        if self.pos:
            if self._crc is not None:
                self._crc_update(self.pos)
                self._crc_from = 0
            self.buf = self.buf[self.pos:]
            self.base += self.pos
            self.pos = 0
        parts = [self.buf]
        have = len(self.buf)
        stream = self._stream
        while have < n:
            # Never ask the stream for more than a chunk at a time: a bogus length
            # then costs at most what the input really holds.
            want = max(self._chunk, min(n - have, 16 * self._chunk))
            piece = stream.read(want)
            if not piece:
                self._eof = True
                break
            parts.append(piece)
            have += len(piece)
        if len(parts) > 1:
            self.buf = b"".join(parts)

    def need(self, n: int, what: str = "bytes") -> None:
        if len(self.buf) - self.pos >= n:
            return
        self._fill(n)
        left = len(self.buf) - self.pos
        if left < n:
            raise TruncatedError(
                f"unexpected end of input reading {what}", self.base + self.pos,
                expected=f"{n} bytes", found=f"{left} bytes left")

    def at_eof(self) -> bool:
        if self.pos < len(self.buf):
            return False
        self._fill(1)
        return self.pos >= len(self.buf)

    # -- reading ------------------------------------------------------------
    def read_byte(self) -> int:
        if self.pos >= len(self.buf):
            self.need(1, "a byte")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def read(self, n: int, what: str = "bytes") -> bytes:
        if n < 0:
            raise ValueError("negative read")
        self.check_remaining(n, what)
        self.need(n, what)
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def peek(self, n: int) -> bytes:
        if len(self.buf) - self.pos < n:
            self._fill(n)
        return self.buf[self.pos:self.pos + n]

    def check_remaining(self, n: int, what: str = "bytes") -> None:
        """Fail early when the input is known to be shorter than ``n`` more bytes."""
        if self.size is not None and self.base + self.pos + n > self.size:
            left = self.size - self.base - self.pos
            raise TruncatedError(
                f"length of {what} runs past the end of the input", self.base + self.pos,
                expected=f"{n} bytes", found=f"{left} bytes left")

    def skip(self, n: int, what: str = "bytes") -> None:
        """Consume ``n`` bytes without holding them all (streams are read in chunks)."""
        for _ in self.iter_chunks(n, what):
            pass

    def iter_chunks(self, n: int, what: str = "bytes") -> Iterator[bytes]:
        """Yield the next ``n`` bytes in pieces of at most a chunk each."""
        self.check_remaining(n, what)
        left = n
        while left:
            if self.pos >= len(self.buf):
                self._fill(min(left, self._chunk))
                if self.pos >= len(self.buf):
                    raise TruncatedError(
                        f"unexpected end of input reading {what}", self.base + self.pos,
                        expected=f"{left} more bytes", found="end of input")
            take = min(left, len(self.buf) - self.pos, self._chunk)
            piece = self.buf[self.pos:self.pos + take]
            self.pos += take
            left -= take
            yield piece

    def readline(self, limit: int = 65536) -> bytes:
        """Bytes up to and including the next ``\\n`` (or to EOF), at most ``limit`` bytes.

        Returns fewer than ``limit`` bytes without a newline only at the end of input;
        a line longer than ``limit`` is returned cut at ``limit`` (the caller decides)."""
        while True:
            i = self.buf.find(b"\n", self.pos, self.pos + limit)
            if i >= 0:
                out = self.buf[self.pos:i + 1]
                self.pos = i + 1
                return out
            if len(self.buf) - self.pos >= limit or self._eof:
                take = min(limit, len(self.buf) - self.pos)
                out = self.buf[self.pos:self.pos + take]
                self.pos += take
                return out
            self._fill(len(self.buf) - self.pos + self._chunk)

    # -- second walks -----------------------------------------------------------
    def can_reread(self) -> bool:
        """True when ``reread`` can give the bytes of an earlier range again: in-memory
        input, or a plain regular file (read with ``os.pread``, the position untouched)."""
        return self._stream is None or _pread_fd(self._stream) is not None

    def reread(self, start: int, end: int) -> "ByteSource":
        """A new ByteSource over the absolute range ``[start, end)`` already consumed
        (offsets unchanged), for a second walk over a value (see ``can_reread``)."""
        if self._stream is None:
            view = memoryview(self.buf)[start - self.base:end - self.base]
            return ByteSource(view, name=self.name, base=start, size=end)
        fd = _pread_fd(self._stream)
        if fd is None:
            raise RuntimeError("this input cannot be read twice")
        return ByteSource(_PreadStream(fd, start, end), name=self.name, base=start, size=end,
                          chunk=self._chunk)

    # -- CRC64 ----------------------------------------------------------------
    def _crc_update(self, upto: int) -> None:
        from .crc64 import crc64

        if upto > self._crc_from:
            self._crc = crc64(memoryview(self.buf)[self._crc_from:upto], self._crc)
            self._crc_from = upto

    def crc(self) -> int:
        """CRC64 of every byte consumed so far (requires ``crc=True``)."""
        if self._crc is None:
            raise RuntimeError("ByteSource was created without crc=True")
        self._crc_update(self.pos)
        return self._crc
