"""Read an AOF: a plain RESP file, a single-file hybrid (RDB preamble + RESP), or a Redis 7
multi-part directory (or its manifest), streaming, one command at a time.

    from persistkit.aoftools.reader import AOFReader, resolve_aof

    reader = AOFReader(path)              # directory, manifest file or single file
    reader.aof_set                        # model.AOFSet: layout, parts in load order, manifest
    for item in reader:                   # model.AOFCommand, and the RDB preamble's items
        ...                               # (rdbtools.model Header/Aux/SelectDB/Record/EOF...)
    for cmd in reader.commands():         # only the commands (preambles walked, not decoded)
        cmd.file, cmd.offset, cmd.length, cmd.db, cmd.args, cmd.time, cmd.in_multi

What the input is, is decided by content (persistkit.detect), never by name. A manifest
is parsed as the server parses it (aoftools.manifest); files load base first, then incr
by seq; history entries are ignored. A base (or a single file) that starts with an RDB
magic is read through rdbtools.reader.RDBReader and the RESP tail, if any, follows at
the byte after the RDB's checksum (redis ``loadSingleAppendOnlyFile``).

Errors are FormatError with ``file`` set (TruncatedError for a cut last command, offset =
start of that command); a file listed in the manifest but absent is MissingPartError.
``reader.position`` holds (file, offset) of the item being read when an error escapes,
``reader.last_complete`` the (file, end offset) after the last complete command, and
``reader.last_complete_outside_multi`` the same for the last command not inside a MULTI
block that is still open (where the server's loader reverts an incomplete transaction to).

Memory stays flat: files are read through ByteSource windows and nothing is kept
between commands but the current db, time and MULTI state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Optional

from persistkit import accel
from persistkit.detect import detect_bytes, find_manifest, is_manifest_name
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.fileio import InputError, escaping_symlink, input_size, open_input
from persistkit.kvencoding.resp import CommandParser
from persistkit.kvencoding.source import ByteSource

from persistkit.rdbtools import model as rdbmodel

from . import model
from .manifest import Manifest, parse_manifest
from .model import AOFCommand, AOFPart, AOFSet

RDB_MAGICS = (b"REDIS", b"VALKEY")


class MissingPartError(FormatError):
    """A file the manifest lists is not in the folder."""


def _read_small(path: str, limit: int = 1 << 20) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(limit + 1)


def preamble_flag(path) -> Optional[bool]:
    """What an RDB's own ``aof-preamble`` aux field says (rdb.c rdbSaveInfoAuxFields):
    True for the preamble of a single-file AOF, False for a plain snapshot, None when
    the field is absent (older servers, other writers) or the header cannot be read."""
    from persistkit.rdbtools.reader import RDBReader

    try:
        with open_input(path) as stream:
            for item in RDBReader(stream, decode=False):
                if isinstance(item, rdbmodel.Aux):
                    if item.key == b"aof-preamble":
                        return item.value == b"1"
                elif not isinstance(item, rdbmodel.Header):
                    return None
    except FormatError:
        return None
    return None


def content_format(path: str) -> tuple[str, Optional[int]]:
    """(format, size) of one AOF file by its first bytes."""
    try:
        stream = open_input(path)
    except InputError:
        return model.FMT_MISSING, None
    with stream:
        head = stream.peek(16)[:16]
        size = input_size(stream)
    if not head:
        return model.FMT_EMPTY, size
    if head.startswith(RDB_MAGICS):
        return model.FMT_RDB, size
    return model.FMT_RESP, size


def load_manifest(path: str) -> Manifest:
    data = _read_small(path)
    return parse_manifest(data, file=path)


def resolve_aof(path: str | os.PathLike) -> AOFSet:
    """Resolve a user path to the AOF files to read, in load order.

    Raises InputError for a path that is not an AOF input at all, ManifestError for a
    manifest that does not parse."""
    p = Path(path)
    if str(path) != "-" and p.is_dir():
        mpath = find_manifest(p)
        if mpath is None:
            # A pre-7.0 data folder: its one AOF file (appendonly.aof by default).
            files = [f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")]
            if len(files) != 1:
                raise InputError(f"{p}: no AOF manifest in this directory")
            return resolve_aof(files[0])
        return _multipart(str(path), mpath)
    if str(path) != "-":
        if not p.exists():
            raise InputError(f"{p}: no such file")
        with open_input(p) as stream:
            head = stream.peek(4096)[:4096]
        if detect_bytes(head) == "aof-manifest" or (not head and is_manifest_name(p)):
            return _multipart(str(path), p)
    fmt, size = content_format(str(path)) if str(path) != "-" else (model.FMT_RESP, None)
    part = AOFPart(path=str(path), name=os.path.basename(str(path)) or str(path),
                   role=model.ROLE_SINGLE, format=fmt, size=size)
    return AOFSet(path=str(path), layout=model.SINGLE, parts=[part])


def _multipart(user_path: str, mpath: Path) -> AOFSet:
    manifest = load_manifest(str(mpath))
    folder = mpath.parent
    parts = []
    for info in manifest.load_order():
        fpath = str(folder / info.name)
        fmt, size = content_format(fpath)
        role = model.ROLE_BASE if info.type == "b" else model.ROLE_INCR
        parts.append(AOFPart(path=fpath, name=info.name, role=role, seq=info.seq, format=fmt, size=size,
                             link_target=escaping_symlink(folder, fpath)))
    return AOFSet(path=user_path, layout=model.MULTIPART, parts=parts, directory=str(folder),
                  manifest_path=str(mpath), manifest=manifest)


def open_part_source(part: AOFPart, stream=None) -> tuple[object, ByteSource]:
    """(stream, ByteSource) over one part; the caller closes the stream. ``stream``: the
    part already opened by the caller (at offset 0), read instead of opening it again."""
    if stream is None:
        try:
            stream = open_input(part.path)
        except InputError as exc:
            raise MissingPartError(f"cannot open {part.name}: {exc}", None,
                                   file=part.name) from None
    # crc=True: an RDB preamble's trailer is checked against what its bytes hash to
    crc = part.format == model.FMT_RDB
    return stream, ByteSource(stream, name=part.name, size=input_size(stream), crc=crc)


def read_preamble(src: ByteSource, *, decode: bool) -> Iterator:
    """Items of the RDB at the source's position; leaves the source after its checksum."""
    from persistkit.rdbtools.reader import RDBReader

    reader = RDBReader(src, decode=decode)
    yield from reader  # Header first, EOF last (its checksum compared by the reader)


_BATCH = 4096  # commands framed per call of the compiled framing


class _State:
    __slots__ = ("time", "db", "multi_offset")

    def __init__(self) -> None:
        self.time: Optional[int] = None
        self.db = 0
        self.multi_offset: Optional[int] = None


class AOFReader:
    """Iterate an AOF set (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, *, decode: bool = True,
                 aof_set: Optional[AOFSet] = None, opened: Optional[dict] = None) -> None:
        self.aof_set = aof_set or resolve_aof(path)
        # {part path: stream already open at offset 0}: read once instead of reopened
        # (an input the command detected with persistkit.detect.open_detected)
        self.opened = dict(opened or {})
        self.decode = decode
        self.position: tuple[Optional[str], Optional[int]] = (None, None)
        self.last_complete: tuple[Optional[str], int] = (None, 0)
        self.last_complete_outside_multi: tuple[Optional[str], int] = (None, 0)
        self.preamble_end: dict[str, int] = {}   # part name -> offset where its RDB ended

    @property
    def parts(self) -> list[AOFPart]:
        return self.aof_set.parts

    def __iter__(self) -> Iterator:
        return self.items(preamble=True)

    def commands(self) -> Iterator[AOFCommand]:
        """Only the commands; RDB preambles are walked (to find their end) without decoding."""
        for item in self.items(preamble=False):
            yield item

    def items(self, *, preamble: bool = True) -> Iterator:
        state = _State()
        for part in self.parts:
            yield from self.part_items(part, state, preamble=preamble)

    def part_items(self, part: AOFPart, state: Optional[_State] = None, *,
                   preamble: bool = True) -> Iterator:
        state = state or _State()
        state.db = 0  # every file is loaded by a fresh fake client (db 0)
        state.multi_offset = None
        if part.format == model.FMT_MISSING:
            raise MissingPartError(f"{part.name}: listed in the manifest but missing", None,
                                   file=part.name)
        stream, src = open_part_source(part, self.opened.pop(part.path, None))
        name = part.name
        try:
            self.position = (name, 0)
            if part.format == model.FMT_RDB:
                try:
                    for item in read_preamble(src, decode=self.decode and preamble):
                        if preamble:
                            yield item
                except FormatError as exc:
                    raise exc.with_context(file=name)
                self.preamble_end[name] = src.tell()
            self.last_complete = self.last_complete_outside_multi = (name, src.tell())
            yield from self.resp_items(src, name, state)
        finally:
            stream.close()

    def resp_items(self, src: ByteSource, name: str, state: _State) -> Iterator[AOFCommand]:
        """The commands of the RESP part of one file, from the source's position."""
        compiled = accel.module("resp")
        if compiled is not None:
            yield from self._resp_compiled(compiled.frame_commands, src, name, state)
            return
        parser = CommandParser(src)
        try:
            for offset, args in parser:
                self.position = (name, offset)
                if parser.timestamp is not None:
                    state.time = parser.timestamp
                yield self._command(name, offset, parser.end - offset, args, state)
                self.last_complete = (name, parser.end)
                if state.multi_offset is None:
                    self.last_complete_outside_multi = self.last_complete
        except FormatError as exc:
            self.position = (name, parser.start)
            raise exc.with_context(file=name)

    def _resp_compiled(self, frame, src: ByteSource, name: str, state: _State) -> Iterator:
        """The RESP part of one file with the compiled framing (``_accel.resp``): runs of
        usual commands come back as argument lists built in C; an annotation, a command
        cut by the window's end and anything unusual go through the exact CommandParser
        one item at a time, so commands, offsets and errors are those of the pure loop."""
        command = self._command
        while True:
            buf = src.buf
            p = src.pos
            base = src.base
            batch, ends = frame(buf, p, _BATCH)
            for args, q in zip(batch, ends):
                offset = base + p
                src.pos = q
                self.position = (name, offset)
                yield command(name, offset, q - p, args, state)
                self.last_complete = (name, base + q)
                if state.multi_offset is None:
                    self.last_complete_outside_multi = self.last_complete
                p = q
            if len(batch) == _BATCH:
                continue  # the batch limit, not an unusual item, stopped the framing
            # ---- one item through the exact parser (it refills the window)
            parser = CommandParser(src)
            try:
                for offset, item in parser.items():
                    if type(item) is not list:
                        if item.timestamp is not None:
                            state.time = item.timestamp
                        break
                    self.position = (name, offset)
                    yield command(name, offset, parser.end - offset, item, state)
                    self.last_complete = (name, parser.end)
                    if state.multi_offset is None:
                        self.last_complete_outside_multi = self.last_complete
                    break
                else:
                    return  # the end of the input
            except FormatError as exc:
                self.position = (name, parser.start)
                raise exc.with_context(file=name)

    @staticmethod
    def _command(name, offset, length, args, state) -> AOFCommand:
        in_multi = state.multi_offset is not None
        multi_offset = state.multi_offset
        if args:
            head = args[0]
            if len(head) <= 6:
                low = head.lower()
                if low == b"multi":
                    in_multi = True
                    multi_offset = state.multi_offset = offset
                elif low == b"exec" or low == b"discard":
                    state.multi_offset = None
                elif low == b"select" and len(args) > 1:
                    try:
                        state.db = int(args[1])
                    except ValueError:
                        pass
        return AOFCommand(name, offset, length, state.db, args, state.time, in_multi, multi_offset)


def iter_commands(path: str | os.PathLike) -> Iterator[AOFCommand]:
    return AOFReader(path, decode=False).commands()


__all__ = ["AOFReader", "resolve_aof", "iter_commands", "MissingPartError", "content_format",
           "open_part_source", "read_preamble", "load_manifest", "RDB_MAGICS"]
