"""Stream node value types, shared by the stream-node codec and the value model
(``rdbtools.model`` re-exports them, so they are one and the same classes)."""

from __future__ import annotations

from dataclasses import dataclass

StreamID = tuple[int, int]  # (ms, seq)


@dataclass(slots=True)
class StreamEntry:
    id: StreamID
    fields: list[tuple[bytes, bytes]]  # entry order, duplicates kept
    deleted: bool = False              # still in the listpack, flagged deleted (XDEL)


@dataclass(slots=True)
class StreamNode:
    """One listpack node of a stream's radix tree, as stored (deleted entries included)."""

    master_id: StreamID
    master_fields: list[bytes]
    entries: list[StreamEntry]
