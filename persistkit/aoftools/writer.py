"""Write AOFs: RESP command files, single-file hybrids, Redis 7 multi-part directories.

Command stream over any binary stream (the engine appends to its open incr file with it)::

    w = AOFWriter(stream, timestamps=True)
    w.command([b"SET", b"k", b"v"], db=0, time=1700000000)   # SELECT / #TS: written as needed
    w.bytes_written, w.commands_written

Whole files and directories, all-or-nothing (temp file or temp folder, fsync, rename;
in a directory the manifest is written last)::

    write_resp_file(path, commands, timestamps=False)       # commands: AOFCommand or arg lists
    write_hybrid_file(path, rdb_items, commands, version=10)  # RDB preamble (RDBWriter) + RESP
    with MultiPartWriter(out_dir, prefix="appendonly.aof") as mp:
        mp.write_base_rdb(rdb_items, version=10)   # or mp.write_base_resp(commands)
        mp.write_incr(commands)                    # one call per incr file, seq 1, 2, ...
    # -> out_dir/appendonly.aof.1.base.rdb, appendonly.aof.1.incr.aof, appendonly.aof.manifest
    write_manifest(folder, manifest, prefix)       # atomic manifest replacement (engine rewrites)

Like the server's ``feedAppendOnlyFile``, ``command(args, db=...)`` writes a SELECT before
the first command of a file and whenever the db changes, and with ``timestamps`` a
``#TS:<s>`` line whenever the second changes (``aof-timestamp-enabled``), before the SELECT.
Commands given as AOFCommand (``write``) carry their db and time; their SELECTs are copied
and one is added only where needed, so reading a Redis-written file and writing it back
gives the same bytes.

``rdb_items`` are rdbtools.model items as the RDB reader yields them (Header, Aux,
SelectDB, ResizeDB, Function, Record, EOF...): the writer writes header and EOF itself,
so those are skipped in the input.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import BinaryIO, Iterable, Optional

from persistkit.kvencoding.fileio import atomic_output, fsync_dir
from persistkit.kvencoding.resp import encode_annotation_ts, encode_command

from .manifest import (TYPE_BASE, TYPE_INCR, AOFInfo, Manifest, base_name, format_manifest,
                       incr_name, manifest_name)
from .model import AOFCommand


class AOFWriter:
    """RESP commands to a binary stream, with SELECT and ``#TS:`` lines as the server writes them."""

    def __init__(self, stream: BinaryIO, *, timestamps: bool = False, db: Optional[int] = None) -> None:
        self.stream = stream
        self.timestamps = timestamps
        self.db = db            # db the stream is at (None: a SELECT is needed first)
        self.last_time: Optional[int] = None
        self.bytes_written = 0
        self.commands_written = 0

    def _w(self, data: bytes) -> None:
        self.stream.write(data)
        self.bytes_written += len(data)

    def annotation(self, text: bytes) -> None:
        if not text.startswith(b"#") or b"\n" in text or b"\r" in text:
            raise ValueError("an annotation is one line starting with '#'")
        self._w(text + b"\r\n")

    def command(self, args, *, db: Optional[int] = None, time: Optional[int] = None) -> None:
        """Write one command; ``db`` (if given) selects first when it differs."""
        if self.timestamps and time is not None and time != self.last_time:
            self._w(encode_annotation_ts(time))
            self.last_time = time
        if db is not None and db != self.db:
            self._w(encode_command([b"SELECT", b"%d" % db]))
            self.db = db
        self._w(encode_command(args))
        self.commands_written += 1

    def write(self, cmd) -> None:
        """An AOFCommand (its db and time are honoured) or an arg list.

        SELECTs of the input are copied as they are; a SELECT is added only where the
        input's db tracking needs one (so a Redis-written file is reproduced byte for byte)."""
        if isinstance(cmd, AOFCommand):
            if self.timestamps and cmd.time is not None and cmd.time != self.last_time:
                self._w(encode_annotation_ts(cmd.time))
                self.last_time = cmd.time
            if cmd.args and cmd.args[0].lower() == b"select":
                self._w(encode_command(cmd.args))
                self.commands_written += 1
                self.db = cmd.db
                return
            if self.db is None and cmd.db == 0:
                self.db = 0  # the loader starts every file at db 0
            self.command(cmd.args, db=cmd.db)
        else:
            self.command(list(cmd))

    def write_all(self, commands: Iterable) -> "AOFWriter":
        for c in commands:
            self.write(c)
        return self


def write_rdb_items(stream: BinaryIO, rdb_items: Iterable, *, version: int = 10,
                    dialect: str = "redis", aof_base: bool = True, **writer_kw):
    """An RDB (header, aux, items, EOF + CRC) through rdbtools.writer.RDBWriter."""
    from persistkit.rdbtools import model as rdbmodel
    from persistkit.rdbtools.writer import RDBWriter

    w = RDBWriter(stream, version=version, dialect=dialect, **writer_kw)
    w.header()
    saw_aux = False
    for item in rdb_items:
        if isinstance(item, (rdbmodel.Header, rdbmodel.EOF)):
            continue
        if isinstance(item, rdbmodel.Aux):
            saw_aux = True
        w.write(item)
    if not saw_aux:
        w.standard_aux(aof_base=aof_base)
    w.eof()
    return w


def write_resp_file(path, commands: Iterable, *, timestamps: bool = False) -> AOFWriter:
    with atomic_output(path, compress=False) as out:
        return AOFWriter(out, timestamps=timestamps).write_all(commands)


def write_hybrid_file(path, rdb_items: Iterable, commands: Iterable, *, version: int = 10,
                      dialect: str = "redis", timestamps: bool = False, **writer_kw) -> AOFWriter:
    """A single-file hybrid AOF: a full RDB (with its CRC) then the RESP tail."""
    with atomic_output(path, compress=False) as out:
        write_rdb_items(out, rdb_items, version=version, dialect=dialect, **writer_kw)
        return AOFWriter(out, timestamps=timestamps).write_all(commands)


def write_manifest(folder, manifest: Manifest, prefix: str = "appendonly.aof") -> str:
    """Replace ``<folder>/<prefix>.manifest`` atomically (temp file, fsync, rename)."""
    path = os.path.join(os.fspath(folder), manifest_name(prefix))
    with atomic_output(path, compress=False) as out:
        out.write(format_manifest(manifest))
    return path


class MultiPartWriter:
    """Build a new Redis 7 AOF directory; it appears under its name only when complete.

    Files go into a temporary folder beside ``out_dir``; on a clean exit each file has
    been fsynced, the manifest is written last, and the folder is renamed to ``out_dir``
    (which must not exist, or be an empty folder). On an exception nothing is left behind.
    """

    def __init__(self, out_dir, prefix: str = "appendonly.aof", *, base_seq: int = 1,
                 timestamps: bool = False) -> None:
        self.out_dir = os.path.abspath(os.fspath(out_dir))
        self.prefix = prefix
        self.base_seq = base_seq
        self.next_incr_seq = 1
        self.timestamps = timestamps
        self.manifest = Manifest()
        self.tmp: Optional[str] = None
        self.files: list[str] = []

    def __enter__(self) -> "MultiPartWriter":
        if os.path.exists(self.out_dir) and (not os.path.isdir(self.out_dir) or os.listdir(self.out_dir)):
            raise FileExistsError(f"{self.out_dir}: exists and is not an empty folder")
        parent = os.path.dirname(self.out_dir)
        self.tmp = tempfile.mkdtemp(prefix="." + os.path.basename(self.out_dir) + ".", suffix=".tmp",
                                    dir=parent)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        try:
            write_manifest(self.tmp, self.manifest, self.prefix)
            os.chmod(self.tmp, 0o755)
            if os.path.isdir(self.out_dir):
                os.rmdir(self.out_dir)  # empty (checked on entry)
            os.rename(self.tmp, self.out_dir)
            fsync_dir(os.path.dirname(self.out_dir))
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def _path(self, name: str) -> str:
        return os.path.join(self.tmp, name)

    def write_base_rdb(self, rdb_items: Iterable, *, version: int = 10, dialect: str = "redis",
                       **writer_kw) -> str:
        name = base_name(self.prefix, self.base_seq, rdb=True)
        with atomic_output(self._path(name), compress=False) as out:
            write_rdb_items(out, rdb_items, version=version, dialect=dialect, **writer_kw)
        return self._set_base(name)

    def write_base_resp(self, commands: Iterable) -> str:
        name = base_name(self.prefix, self.base_seq, rdb=False)
        with atomic_output(self._path(name), compress=False) as out:
            AOFWriter(out, timestamps=self.timestamps).write_all(commands)
        return self._set_base(name)

    def _set_base(self, name: str) -> str:
        if self.manifest.base is not None:
            raise ValueError("a multi-part AOF has one base file")
        self.manifest.base = AOFInfo(name, self.base_seq, TYPE_BASE)
        self.files.append(name)
        return name

    def write_incr(self, commands: Iterable) -> AOFWriter:
        seq = self.next_incr_seq
        self.next_incr_seq += 1
        name = incr_name(self.prefix, seq)
        with atomic_output(self._path(name), compress=False) as out:
            w = AOFWriter(out, timestamps=self.timestamps).write_all(commands)
        self.manifest.incrs.append(AOFInfo(name, seq, TYPE_INCR))
        self.files.append(name)
        return w


__all__ = ["AOFWriter", "write_resp_file", "write_hybrid_file", "write_rdb_items", "write_manifest",
           "MultiPartWriter"]
