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
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from persistkit.kvencoding.fileio import InputError, open_input

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


def detect(path: str | os.PathLike) -> str:
    p = Path(path)
    if str(path) != "-" and p.is_dir():
        return "aof-dir" if find_manifest(p) is not None else "unknown"
    with open_input(path) as stream:
        head = stream.peek(4096)[:4096]
    if not head and is_manifest_name(path):
        return "aof-manifest"   # an empty file has no content to tell; the server goes by its name
    return detect_bytes(head)


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


__all__ = ["detect", "detect_bytes", "find_manifest", "InputError"]
