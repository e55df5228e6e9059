"""What kind of persistence input a path is, decided by content (never by name).

Kinds:
  "rdb"          an RDB snapshot (magic REDIS/VALKEY); may be the base file of a multi-part AOF
  "aof-hybrid"   one file: an RDB preamble followed by RESP commands (decided by the reader,
                 since only the bytes after the RDB trailer tell; detect() says "rdb" for it)
  "aof"          RESP commands (starts with '*' or a '#' annotation), or an empty file
  "aof-manifest" a Redis 7 multi-part manifest file
  "aof-dir"      a directory holding a manifest (Redis 7 appendonlydir), or whose
                 single subdirectory does
  "unknown"      none of these (a text file, garbage)

Detect once: ``open_detected(path)`` opens a file input once (``fileio.open_input``),
decides its kind from the first bytes, and keeps the open stream for the command to read
(``Detected.stream``, still at offset 0), so no command opens its input a second time
to learn what it is. Whether an RDB is the preamble of a single-file AOF is read from
the same buffered bytes (``persistkit.checks.input_kind``).
``detect(path)`` is the same decision for callers that only need the kind.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Optional

from persistkit.kvencoding.fileio import InputError, input_size, open_input

_MANIFEST_LINE = re.compile(rb"^file\s+\S")


def find_manifest(directory: Path) -> Path | None:
    """The manifest inside an AOF directory (or inside its only subdirectory)."""
    manifests = sorted(directory.glob("*.manifest"))
    if len(manifests) == 1:
        return manifests[0]
    if not manifests:
        subdirs = [p for p in directory.iterdir() if p.is_dir()]
        if len(subdirs) == 1:
            return find_manifest(subdirs[0])
    return manifests[0] if manifests else None


# Bytes looked at to decide the kind.
HEAD = 4096


class Detected:
    """One input, opened once: its ``kind``, the first bytes (``head``), and for files the
    open ``stream`` at offset 0, for the command to read (``take()`` hands it over; the
    context manager closes it unless taken)."""

    __slots__ = ("path", "kind", "head", "stream", "size")

    def __init__(self, path: str, kind: str, head: bytes = b"",
                 stream: Optional[BinaryIO] = None) -> None:
        self.path = path
        self.kind = kind
        self.head = head
        self.stream = stream
        self.size = input_size(stream) if stream is not None else None

    def buffered(self) -> bytes:
        """What the open stream already holds from offset 0 (at least ``head``, up to
        its 1 MB buffer), read without consuming anything: an RDB's aux fields are
        looked up there (``rdbtools.reader.preamble_flag_of``)."""
        if self.stream is None:
            return self.head
        return self.stream.peek(1 << 20)

    def take(self) -> Optional[BinaryIO]:
        stream, self.stream = self.stream, None
        return stream

    def close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close()

    def __enter__(self) -> "Detected":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_detected(path: str | os.PathLike) -> Detected:
    """Open ``path`` once and decide what it is (see the module docstring). Directories
    are not opened (``stream`` None). Raises InputError for a path that cannot be read."""
    p = Path(path)
    if str(path) != "-" and p.is_dir():
        return Detected(str(path), "aof-dir" if find_manifest(p) is not None else "unknown")
    stream = open_input(path)
    try:
        head = stream.peek(HEAD)[:HEAD]
        if not head and is_manifest_name(path):
            kind = "aof-manifest"  # an empty file has no content to tell; the server goes by its name
        else:
            kind = detect_bytes(head)
    except BaseException:
        stream.close()
        raise
    return Detected(str(path), kind, head, stream)


def detect(path: str | os.PathLike) -> str:
    with open_detected(path) as inp:
        return inp.kind


def is_manifest_name(path: str | os.PathLike) -> bool:
    return str(path) != "-" and Path(path).name.endswith(".manifest")


def detect_bytes(head: bytes) -> str:
    if head.startswith(b"REDIS") or head.startswith(b"VALKEY"):
        return "rdb"
    if not head or head[:1] == b"*":
        return "aof"
    if head[:1] == b"#":
        # Annotation lines (#TS:...) may come first; RESP must follow them.
        lines = head.split(b"\n")
        for i, line in enumerate(lines):
            if line.startswith(b"#"):
                continue
            at_end = i == len(lines) - 1
            return "aof" if line[:1] == b"*" or (at_end and not line) else "unknown"
        return "aof"
    if _MANIFEST_LINE.match(head):
        return "aof-manifest"
    return "unknown"


__all__ = ["Detected", "open_detected", "detect", "detect_bytes", "find_manifest",
           "is_manifest_name", "InputError"]
