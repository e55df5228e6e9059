"""File edges: open an input whatever its compression, write an output atomically.

This is the only place in the format packages that touches the file system; the
decoders themselves take bytes or a binary stream from here (or from a test).

Input compression is detected by content, never by name: an LZ4 frame
(``04 22 4D 18``) or a gzip member (``1F 8B``) is decompressed as it is read.
``-`` is standard input. Outputs go to a temporary file in the target's folder,
are fsynced and renamed over the target, so a crash or a full disk never leaves
a half-written file under the final name; a target ending in ``.lz4`` is
written as an LZ4 frame.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import sys
import tempfile
import zlib
from contextlib import contextmanager
from typing import BinaryIO, Iterator, Optional

LZ4_MAGIC = b"\x04\x22\x4d\x18"
GZIP_MAGIC = b"\x1f\x8b"


class InputError(OSError):
    """An input path that cannot be read as a file (missing, a directory, unreadable)."""


def sniff(stream: BinaryIO, n: int = 4) -> bytes:
    """Peek at the first bytes of a buffered stream without consuming them."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return peek(n)[:n]
    raise TypeError("sniff needs a stream with peek(); wrap it in io.BufferedReader")


def compression_of(head: bytes) -> str | None:
    if head.startswith(LZ4_MAGIC):
        return "lz4"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return None


def open_input(path: str | os.PathLike, buffer_size: int = 1 << 20) -> BinaryIO:
    """Open ``path`` (or ``-`` for stdin) for reading, decompressing by content.

    Raises InputError (a usage problem, exit 2) for a missing path or a directory.
    The returned stream has ``name`` and, for plain files, ``size`` attributes.
    """
    if str(path) == "-":
        raw: BinaryIO = io.BufferedReader(sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw")
                                          else sys.stdin.buffer, buffer_size)
        name, size = "<stdin>", None
    else:
        p = os.fspath(path)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise InputError(f"{p}: no such file") from None
        except OSError as exc:
            raise InputError(f"{p}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{p}: is a directory")
        try:
            raw = open(p, "rb", buffering=buffer_size)
        except OSError as exc:
            raise InputError(f"{p}: {exc.strerror}") from None
        name, size = p, st.st_size
    kind = compression_of(sniff(raw, 4))
    if kind == "lz4":
        import lz4.frame

        stream: BinaryIO = io.BufferedReader(
            _Decompressed(lz4.frame.LZ4FrameFile(raw, mode="rb"), "lz4"), buffer_size)
        size = None
    elif kind == "gzip":
        stream = io.BufferedReader(_Decompressed(gzip.GzipFile(fileobj=raw, mode="rb"), "gzip"), buffer_size)
        size = None
    else:
        stream = raw
    _annotate(stream, name=name, size=size, compression=kind)
    return stream


class _Decompressed(io.RawIOBase):
    """A decompressing reader whose failures are format errors, not crashes.

    gzip and lz4 report a cut stream with EOFError and a damaged one with
    zlib.error / BadGzipFile / RuntimeError; a reader above would see those as
    bugs (click even turns EOFError into "Aborted!"). Here they become
    TruncatedError / FormatError at the offset of decoded bytes delivered so far,
    so a cut ``.rdb.gz`` reports like a cut ``.rdb``."""

    def __init__(self, inner, kind: str):
        self._inner = inner
        self._kind = kind
        self._pos = 0
        self._failure: Exception | None = None

    CHUNK = 1 << 14

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        # Small inner reads, so that a failure loses at most one chunk: what was
        # decoded before it is delivered first, the error comes with the next read.
        if self._failure is not None:
            raise self._failure
        want, n = len(buf), 0
        while n < want:
            try:
                data = self._inner.read(min(want - n, self.CHUNK))
            except Exception as exc:
                self._failure = self._as_format_error(exc, self._pos + n)
                if n == 0:
                    raise self._failure from None
                break
            if not data:
                break
            buf[n:n + len(data)] = data
            n += len(data)
        self._pos += n
        return n

    def _as_format_error(self, exc: Exception, pos: int) -> Exception:
        from persistkit.kvencoding.errors import FormatError, TruncatedError

        if isinstance(exc, EOFError):
            return TruncatedError(f"{self._kind} stream cut before its end marker", pos,
                                  expected=f"complete {self._kind} stream", found="end of file")
        if isinstance(exc, (OSError, RuntimeError, ValueError, zlib.error)):
            return FormatError(f"damaged {self._kind} stream: {exc}", pos,
                               expected=f"valid {self._kind} data", found="undecodable bytes")
        return exc

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def _annotate(stream, **attrs) -> None:
    for k, v in attrs.items():
        try:
            setattr(stream, "pk_" + k, v)
        except AttributeError:
            pass


def input_name(stream) -> str:
    return getattr(stream, "pk_name", None) or getattr(stream, "name", "<input>")


def input_size(stream) -> int | None:
    """Size in bytes of the decoded input when known up front (plain files)."""
    return getattr(stream, "pk_size", None)


@contextmanager
def atomic_output(path: str | os.PathLike, *, compress: bool | None = None) -> Iterator[BinaryIO]:
    """Write ``path`` all-or-nothing: temp file beside it, fsync, rename, fsync the folder.

    On any exception the temp file is removed and the target is left untouched.
    ``compress`` defaults to True when the name ends with ``.lz4``.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if compress is None:
        compress = target.endswith(".lz4")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=folder)
    # mkstemp makes the file 0600; a finished output gets the permissions an
    # ordinary new file would (0666 less the umask), like the server's own files.
    os.fchmod(fd, 0o666 & ~_current_umask())
    raw = os.fdopen(fd, "wb", buffering=1 << 20)
    try:
        if compress:
            import lz4.frame

            out = lz4.frame.LZ4FrameFile(raw, mode="wb")
            try:
                yield out  # type: ignore[misc]
            finally:
                out.close()  # flushes the frame end marker into raw (raw stays open)
        else:
            yield raw
        raw.flush()
        os.fsync(raw.fileno())
        raw.close()
        os.replace(tmp, target)
        fsync_dir(folder)
    except BaseException:
        try:
            raw.close()
        except OSError:
            pass
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(folder: str) -> None:
    """Make a rename or a new file in ``folder`` durable (best effort)."""
    try:
        dfd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def escaping_symlink(folder: str | os.PathLike, path: str | os.PathLike) -> Optional[str]:
    """Where ``path`` really leads when it is (or passes through) a symlink that ends outside
    ``folder``; None when it stays inside (or is not a link). A name read from a manifest
    must not silently pull in a file from elsewhere on the machine."""
    if not os.path.islink(path):
        return None
    real_folder = os.path.realpath(folder)
    target = os.path.realpath(path)
    if os.path.commonpath([real_folder, target]) == real_folder:
        return None
    return target


def inside_folder(folder: str | os.PathLike, path: str | os.PathLike) -> bool:
    """True when ``path`` (existing or not) would be ``folder`` itself or lie inside it."""
    real_folder = os.path.realpath(folder)
    target = os.path.realpath(path)
    return os.path.commonpath([real_folder, target]) == real_folder


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two paths name the same existing file (an output must not be its input)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)
