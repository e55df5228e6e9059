"""``repair`` for AOF inputs: keep every complete command before the first damage, drop the rest.

    from persistkit.aoftools.repair import repair_aof
    report = repair_aof(path, out, dry_run=False)   # dict (see below); never touches ``path``

The first damage is found exactly as ``verify`` finds it (redis-check-aof's rules: the
valid data of the damaged file ends at the start of the first command that cannot be read,
or at the MULTI of a transaction that is cut or never closed). Unlike ``redis-check-aof
--fix``, damage in any file of a multi-part set can be repaired, not only in the last one:

* files before the damaged one are copied byte for byte;
* the damaged file is copied up to where its valid data ends; when the damage is inside an
  RDB preamble, a single flipped bit is first looked for with the preamble's CRC64 and
  undone (``corrected``, see ``correct_preamble_bit``); otherwise the keys read before the
  damage are written to a new RDB (same version) and the whole RESP tail of that file is
  dropped;
* every later file is dropped (an incr file only makes sense on top of all before it);
* the output has the input's layout: one file, or a new directory with a fresh manifest
  (same names and seqs, no history entries), written atomically.

The report says exactly what was dropped: files, bytes, complete commands, and the time
range (from ``#TS:`` annotations) of the dropped commands; ``unreadable_bytes`` are the bytes
of the damaged file from the damage on that no command could be read from (a partial
command, or everything after a framing error); ``kept`` says the same of what stays. ``damage`` is None for an intact input (the output is then a clean copy).
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional

from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.fileio import InputError, atomic_output, open_input
from persistkit.kvencoding.resp import CommandParser
from persistkit.kvencoding.source import ByteSource

from . import model
from .manifest import TYPE_BASE, TYPE_INCR, AOFInfo
from .model import AOFPart
from .reader import read_preamble, resolve_aof
from .verify import check_part
from .writer import MultiPartWriter, write_rdb_items

_COPY_CHUNK = 1 << 20


class RangeScan:
    """Commands and times found in a byte range of one file."""

    __slots__ = ("commands", "first_time", "last_time", "end", "error")

    def __init__(self) -> None:
        self.commands = 0
        self.first_time: Optional[int] = None
        self.last_time: Optional[int] = None
        self.end = 0
        self.error: Optional[FormatError] = None

    def as_dict(self) -> dict:
        return {"commands": self.commands, "time_range": self.time_range()}

    def time_range(self):
        if self.first_time is None:
            return None
        return [self.first_time, self.last_time]


def scan_range(part: AOFPart, start: int, end: Optional[int] = None,
               time_before: Optional[int] = None) -> RangeScan:
    """Count complete commands from ``start`` (a command boundary) up to ``end`` or the
    first error; times are those of the commands (``time_before``: the time in force)."""
    scan = RangeScan()
    scan.end = start
    stream = open_input(part.path)
    try:
        _skip(stream, start)
        src = ByteSource(stream, name=part.name, base=start,
                         size=part.size)
        parser = CommandParser(src)
        current = time_before
        try:
            for offset, args in parser:
                if end is not None and parser.end > end:
                    break
                if parser.timestamp is not None:
                    current = parser.timestamp
                scan.commands += 1
                scan.end = parser.end
                if current is not None:
                    if scan.first_time is None:
                        scan.first_time = current
                    scan.last_time = current
        except FormatError as exc:
            scan.error = exc
    finally:
        stream.close()
    return scan


def _skip(stream, n: int) -> None:
    try:
        stream.seek(n)
        return
    except (OSError, AttributeError, ValueError):
        pass
    while n:
        piece = stream.read(min(n, _COPY_CHUNK))
        if not piece:
            return
        n -= len(piece)


def _copy_prefix(part: AOFPart, out, length: Optional[int]) -> int:
    """Copy the first ``length`` bytes (None: all) of a part to ``out``."""
    copied = 0
    with open_input(part.path) as stream:
        while length is None or copied < length:
            want = _COPY_CHUNK if length is None else min(_COPY_CHUNK, length - copied)
            piece = stream.read(want)
            if not piece:
                break
            out.write(piece)
            copied += len(piece)
    return copied


def _salvage_preamble(part: AOFPart) -> tuple[list, int, Optional[int], Optional[int]]:
    """(items read before the damage, keys, version, dialect) of a damaged RDB preamble."""
    from persistkit.rdbtools import model as rdbmodel

    items = []
    version = None
    dialect = "redis"
    stream = open_input(part.path)
    try:
        src = ByteSource(stream, name=part.name, size=part.size, crc=True)
        try:
            for item in read_preamble(src, decode=True):
                if isinstance(item, rdbmodel.Header):
                    version = item.version
                    dialect = "valkey" if item.magic == "VALKEY" else "redis"
                if not isinstance(item, rdbmodel.ResizeDB):  # a size hint no longer right
                    items.append(item)
        except FormatError:
            pass
    finally:
        stream.close()
    keys = sum(1 for i in items if isinstance(i, rdbmodel.Record))
    return items, keys, version, dialect


def repair_aof(path, out, *, dry_run: bool = False, follow_symlinks: bool = False) -> dict:
    aof_set = resolve_aof(path)
    parts = aof_set.parts
    outside = [p for p in parts if p.link_target is not None]
    if outside and not follow_symlinks:
        # The repaired copy would carry the content of a file from elsewhere on the machine.
        p = outside[0]
        raise InputError(f"{p.name} is a symlink to {p.link_target}, outside the AOF folder "
                         f"{aof_set.directory}; repair copies the content of every file it keeps, "
                         "so it refuses this without --follow-symlinks")
    results = []
    damaged_index = None
    corrections = []
    with tempfile.TemporaryDirectory(prefix="persistkit-repair-") as scratch:
        for i, part in enumerate(parts):
            res = check_part(part, allow_preamble=part.role != model.ROLE_INCR)
            if not res.ok and res.problem[0].startswith("preamble"):
                fixed = correct_preamble_bit(part, scratch)
                if fixed is not None:
                    part, where = fixed
                    parts[i] = part
                    corrections.append({"file": part.name, **where})
                    res = check_part(part)
            results.append(res)
            if not res.ok:
                damaged_index = i
                break
        return _repair_plan(aof_set, parts, results, damaged_index, corrections, path, out, dry_run)


def correct_preamble_bit(part: AOFPart, scratch: str):
    """Undo a single flipped bit in an RDB preamble, located with its CRC64.

    The RDB's end is not known when it is damaged, but one flipped bit does not move it:
    candidates are EOF bytes (255) followed by the 8-byte checksum and then the end of the
    file or a RESP tail (``*`` or ``#``). A correction is accepted only when the corrected
    RDB then reads cleanly with a matching checksum. Returns (corrected part in
    ``scratch``, {"offset", "bit"}) or None."""
    from persistkit.rdbtools.reader import RDBReader
    from persistkit.rdbtools.salvage import locate_bit_flip

    with open_input(part.path) as stream:
        data = stream.read()
    n = len(data)
    ends, others = [], []
    i = data.find(b"\xff")
    while i >= 0:
        after = i + 9
        if after == n:
            ends.append(i)
        elif after < n and data[after] in (42, 35):
            others.append(i)
        i = data.find(b"\xff", i + 1)
    for eof_at in (ends + others)[:8]:
        stored = int.from_bytes(data[eof_at + 1:eof_at + 9], "little")
        if not stored:
            continue
        flip = locate_bit_flip(data, eof_at + 1, stored)
        if flip is None or flip[0] > eof_at:
            continue
        fixed = bytearray(data)
        fixed[flip[0]] ^= 1 << flip[1]
        try:
            items = list(RDBReader(ByteSource(bytes(fixed[:eof_at + 9]), crc=True), decode=True))
        except FormatError:
            continue
        if not items or not getattr(items[-1], "checksum_ok", False):
            continue
        path = os.path.join(scratch, part.name)
        with open(path, "wb") as fh:
            fh.write(fixed)
        fixed_part = AOFPart(path=path, name=part.name, role=part.role, seq=part.seq,
                             format=part.format, size=n)
        return fixed_part, {"offset": flip[0], "bit": flip[1],
                            "message": "single flipped bit in the RDB preamble located by its CRC64 and restored"}
    return None


def _repair_plan(aof_set, parts, results, damaged_index, corrections, path, out, dry_run) -> dict:
    """Decide what is kept and dropped (and write it) once the first damage is known."""
    report: dict = {"input": str(path), "output": None if dry_run else str(out),
                    "layout": aof_set.layout, "hybrid": aof_set.hybrid, "dry_run": dry_run,
                    "damage": None, "corrected": corrections, "kept": {}, "dropped": {}}
    kept_files, dropped_files = [], []
    kept_cmds = 0
    dropped_cmds = 0
    dropped_bytes = 0
    unreadable = 0
    dropped_times: list[int] = []
    kept_times: list[int] = []
    preamble_keys_kept = preamble_keys_lost = None
    plan = []  # (part, mode, length): mode "copy" | "prefix" | "rdb-salvage"
    salvage = None
    time_in_force = None

    for i, part in enumerate(parts):
        if damaged_index is None or i < damaged_index:
            res = results[i]
            plan.append((part, "copy", None))
            kept_files.append(part.name)
            kept_cmds += res.commands
            kept_times += [t for t in (res.first_time, res.last_time) if t is not None]
            if res.last_time is not None:
                time_in_force = res.last_time
            continue
        if i == damaged_index:
            res = results[i]
            code, msg, offset, exc = res.problem
            size = part.size or 0
            report["damage"] = {"file": part.name, "code": code, "message": msg,
                                "offset": offset, "valid_up_to": res.ok_up_to}
            if code == "missing-file":
                dropped_files.append(part.name)
                continue
            if code.startswith("preamble"):
                items, keys, version, dialect = _salvage_preamble(part)
                salvage = (items, version, dialect)
                plan.append((part, "rdb-salvage", None))
                kept_files.append(part.name)
                preamble_keys_kept = keys
                dropped_bytes += size - (offset or 0)
                report["damage"]["preamble"] = True
                continue
            tail_start = res.preamble_end or 0
            kept_scan = scan_range(part, tail_start, res.ok_up_to, time_in_force)
            kept_cmds += kept_scan.commands
            if kept_scan.first_time is not None:
                kept_times += [kept_scan.first_time, kept_scan.last_time]
                time_in_force = kept_scan.last_time
            drop_scan = scan_range(part, res.ok_up_to, None, time_in_force)
            dropped_cmds += drop_scan.commands
            if drop_scan.first_time is not None:
                dropped_times += [drop_scan.first_time, drop_scan.last_time]
            dropped_bytes += size - res.ok_up_to
            # past a framing error nothing can be read for sure: those bytes are counted apart
            report["damage"]["unreadable_from"] = drop_scan.end if drop_scan.error else None
            unreadable += size - drop_scan.end if drop_scan.error else 0
            if res.ok_up_to > 0 or aof_set.layout == model.SINGLE or part.role == model.ROLE_BASE:
                plan.append((part, "prefix", res.ok_up_to))
                kept_files.append(part.name)
            else:
                dropped_files.append(part.name)
            continue
        # after the damaged file: dropped whole
        dropped_files.append(part.name)
        dropped_bytes += part.size or 0
        if part.format in (model.FMT_RESP, model.FMT_RDB):
            start = 0
            if part.format == model.FMT_RDB and part.role != model.ROLE_INCR:
                r = check_part(part, quick=True)
                start = r.preamble_end or 0
                if r.preamble_keys:
                    preamble_keys_lost = (preamble_keys_lost or 0) + r.preamble_keys
            scan = scan_range(part, start, None, time_in_force)
            dropped_cmds += scan.commands
            if scan.first_time is not None:
                dropped_times += [scan.first_time, scan.last_time]

    report["kept"] = {"files": kept_files, "commands": kept_cmds,
                      "time_range": [min(kept_times), max(kept_times)] if kept_times else None}
    if preamble_keys_kept is not None:
        report["kept"]["preamble_keys"] = preamble_keys_kept
    report["dropped"] = {"files": dropped_files, "commands": dropped_cmds, "bytes": dropped_bytes,
                         "unreadable_bytes": unreadable,
                         "time_range": [min(dropped_times), max(dropped_times)] if dropped_times else None}
    if preamble_keys_lost:
        report["dropped"]["preamble_keys"] = preamble_keys_lost
    if not dry_run:
        _write(aof_set, plan, out, salvage)
    return report


def _write(aof_set, plan, out, salvage) -> None:
    if aof_set.layout == model.SINGLE:
        part, mode, length = plan[0] if plan else (aof_set.parts[0], "prefix", 0)
        with atomic_output(out) as fh:
            _emit(part, mode, length, fh, salvage)
        return
    manifest = aof_set.manifest
    prefix = _prefix_of(manifest)
    with MultiPartWriter(out, prefix) as mp:
        for part, mode, length in plan:
            with atomic_output(os.path.join(mp.tmp, part.name), compress=False) as fh:
                _emit(part, mode, length, fh, salvage)
            info = AOFInfo(part.name, part.seq or 1, TYPE_BASE if part.role == model.ROLE_BASE else TYPE_INCR)
            if info.type == TYPE_BASE:
                mp.manifest.base = info
            else:
                mp.manifest.incrs.append(info)
            mp.files.append(part.name)
        if mp.manifest.base is None and not mp.manifest.incrs:
            # nothing survived: an empty incr file keeps the manifest loadable (Redis refuses
            # an empty manifest)
            name = f"{prefix}.1.incr.aof"
            with atomic_output(os.path.join(mp.tmp, name), compress=False):
                pass
            mp.manifest.incrs.append(AOFInfo(name, 1, TYPE_INCR))


def _emit(part, mode, length, fh, salvage) -> None:
    if mode == "copy":
        _copy_prefix(part, fh, None)
    elif mode == "prefix":
        _copy_prefix(part, fh, length)
    else:
        items, version, dialect = salvage
        write_rdb_items(fh, items, version=version or 10, dialect=dialect)


def _prefix_of(manifest) -> str:
    names = [i.name for i in manifest.load_order()]
    for n in names:
        for marker in (".base.", ".incr."):
            if marker in n:
                head = n.split(marker)[0]
                return head.rsplit(".", 1)[0] if head.rsplit(".", 1)[-1].isdigit() else head
    return "appendonly.aof"


__all__ = ["repair_aof", "scan_range"]
