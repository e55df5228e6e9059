"""The metadata line of a function library (``#!lua name=mylib``), as Redis reads it.

redis/src/functions.c ``functionExtractLibMetaData``: the first line starts with ``#!``,
is split like ``sdssplitargs``, names the engine first and then ``key=value`` pairs of
which only ``name`` is known. The engine (FUNCTION LOAD, loading an RDB) and the RDB
tools (reports that name a library) read it with this one parser.
"""

from __future__ import annotations

from .splitargs import split_args


class LibraryMetadataError(ValueError):
    """The code has no valid metadata line; ``str(exc)`` is Redis's error text."""


def library_metadata(code: bytes) -> tuple[bytes, bytes]:
    """(engine, library name) of a library's code, or LibraryMetadataError (Lua is the only
    engine Redis 7 has)."""
    first = code.split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        raise LibraryMetadataError("ERR Missing library metadata")
    parts = split_args(first[2:])
    if not parts:
        raise LibraryMetadataError("ERR Invalid library metadata")
    if parts[0].lower() != b"lua":
        raise LibraryMetadataError(f"ERR Engine '{parts[0].decode('utf-8', 'replace')}' not found")
    name = None
    for p in parts[1:]:
        k, _, v = p.partition(b"=")
        if k != b"name":
            raise LibraryMetadataError("ERR Invalid library metadata")
        name = v
    if not name:
        raise LibraryMetadataError("ERR Library name was not given")
    return parts[0], name


def library_label(code: bytes) -> str:
    """The library's name for a report, or ``?`` when the metadata line is unreadable."""
    try:
        return library_metadata(code)[1].decode("utf-8", "replace")
    except LibraryMetadataError:
        return "?"
