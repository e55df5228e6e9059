"""What the AOF reader yields, and how an AOF set is laid out on disk.

``AOFCommand`` is one logged command with where it sits (file, byte offset, length),
the database it applies to (SELECT tracked, reset to 0 at the start of each file as the
server's loader does: every file is loaded with a fresh fake client), the time of the
nearest preceding ``#TS:`` annotation, and MULTI/EXEC grouping.

``AOFPart`` is one file of a set (the single file, or a base/incr file of a Redis 7
multi-part directory); ``AOFSet`` is the whole set in load order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# AOFSet.layout
SINGLE = "single"          # one file of RESP commands (maybe with an RDB preamble: see .hybrid)
MULTIPART = "multipart"    # Redis 7 directory + manifest

# AOFPart.role
ROLE_SINGLE = "single"
ROLE_BASE = "base"
ROLE_INCR = "incr"

# AOFPart.format (by content, never by name)
FMT_RESP = "resp"
FMT_RDB = "rdb"            # starts with an RDB (REDIS/VALKEY magic): preamble + optional RESP tail
FMT_EMPTY = "empty"
FMT_MISSING = "missing"


@dataclass(slots=True)
class AOFCommand:
    """One command of an AOF.

    ``in_multi`` is True for a MULTI, the commands it queues and its EXEC;
    ``multi_offset`` is then the offset of that MULTI (same file), else None.
    ``time`` is the unix time in seconds from the nearest preceding ``#TS:`` line
    (None when the AOF has none before this command).
    """

    file: str
    offset: int
    length: int
    db: int
    args: list
    time: Optional[int] = None
    in_multi: bool = False
    multi_offset: Optional[int] = None

    @property
    def name(self) -> bytes:
        """Upper-cased command name (b"" for an empty command)."""
        return self.args[0].upper() if self.args else b""

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(slots=True)
class AOFPart:
    path: str                 # file system path
    name: str                 # name as in the manifest (basename for a single file)
    role: str                 # ROLE_*
    seq: Optional[int] = None
    format: str = FMT_RESP    # FMT_*, filled in by content
    size: Optional[int] = None
    # Multi-part: where the file really leads when it is a symlink out of the AOF folder.
    link_target: Optional[str] = None


@dataclass
class AOFSet:
    """An AOF input resolved to its files, in load order (base first, then incr by seq)."""

    path: str                               # what the user gave
    layout: str                             # SINGLE or MULTIPART
    parts: list[AOFPart] = field(default_factory=list)
    directory: Optional[str] = None         # multi-part: the folder holding the files
    manifest_path: Optional[str] = None
    manifest: object = None                 # manifest.Manifest for MULTIPART

    @property
    def hybrid(self) -> bool:
        return any(p.format == FMT_RDB for p in self.parts)
