"""``verify`` for AOF inputs: is every file of the set intact, and where does valid data end.

    from persistkit.aoftools.verify import verify_aof
    report = verify_aof(path, quick=False)     # persistkit.report.VerifyReport
    report.ok, report.valid_up_to, report.stats["damaged_file"], report.problems

The verdict and the "valid up to" offset are redis-check-aof's (redis/redis
src/redis-check-aof.c, 7.0 ``checkSingleAof`` / ``checkMultiPartAof``):

* files are checked in load order; the first damaged file decides (the tool stops there);
* within a file, the valid data ends at the start of the first command that cannot be read
  (cut by the end of the file, a bad ``*N``/``$N``, a missing CRLF, a line that is not a
  command or an annotation); inside MULTI ... EXEC it ends at that MULTI, and a file that
  ends with a MULTI still open is damaged at that MULTI; a nested MULTI or an EXEC without
  MULTI is damage too;
* an empty file is valid; a base that starts with an RDB magic is an RDB preamble checked
  through the RDB reader (``quick`` skips decoding values but still walks the structure),
  and its RESP tail follows;
* manifest errors are the server's (aoftools.manifest); a listed file that is missing is an
  error; a file in the folder that the manifest does not list is only a warning (the server
  ignores it), as is a base that is not the manifest's first line.

Deliberate differences from the 7.0 tool (the tool is wrong or too old there): RDB
preambles with versions above 10 and the ``VALKEY`` magic are read (the 7.0 tool refuses
them), and a single RESP file is never taken for a manifest because one of its lines
happens to start with ``file`` (the tool's ``fileIsManifest`` scans every line).
"""

from __future__ import annotations

import os
from typing import Optional

from persistkit.kvencoding.errors import FormatError, TruncatedError
from persistkit.kvencoding.resp import CommandParser
from persistkit.report import VerifyReport

from . import model
from .manifest import ManifestError
from .model import AOFPart, AOFSet
from .reader import open_part_source, read_preamble, resolve_aof


class PartResult:
    """What checking one file found."""

    __slots__ = ("part", "size", "ok_up_to", "commands", "annotations", "multi_blocks",
                 "preamble_end", "preamble_keys", "first_time", "last_time", "problem")

    def __init__(self, part: AOFPart) -> None:
        self.part = part
        self.size = part.size
        self.ok_up_to = 0
        self.commands = 0
        self.annotations = 0
        self.multi_blocks = 0
        self.preamble_end: Optional[int] = None
        self.preamble_keys = 0
        self.first_time: Optional[int] = None
        self.last_time: Optional[int] = None
        self.problem: Optional[tuple] = None  # (code, message, offset, exc)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict:
        return {"name": self.part.name, "role": self.part.role, "seq": self.part.seq,
                "format": self.part.format, "size": self.size, "ok_up_to": self.ok_up_to,
                "commands": self.commands, "multi_blocks": self.multi_blocks,
                "preamble_end": self.preamble_end, "preamble_keys": self.preamble_keys,
                "first_time": self.first_time, "last_time": self.last_time, "ok": self.ok}


def check_part(part: AOFPart, *, quick: bool = False, allow_preamble: bool = True) -> PartResult:
    """Check one file as redis-check-aof's ``checkSingleAof`` does."""
    res = PartResult(part)
    if part.format == model.FMT_MISSING:
        res.problem = ("missing-file", f"{part.name}: listed in the manifest but not found", None, None)
        return res
    if part.format == model.FMT_EMPTY:
        return res
    stream, src = open_part_source(part)
    try:
        if part.format == model.FMT_RDB and allow_preamble:
            from persistkit.rdbtools import model as rdbmodel

            try:
                for item in read_preamble(src, decode=not quick):
                    if isinstance(item, rdbmodel.Record):
                        res.preamble_keys += 1
                    elif isinstance(item, rdbmodel.EOF) and item.checksum_ok is False:
                        raise FormatError("RDB preamble checksum mismatch", item.offset,
                                          expected=f"{item.computed:016x}", found=f"{item.checksum:016x}")
            except FormatError as exc:
                exc.with_context(file=part.name)
                code = "preamble-truncated" if isinstance(exc, TruncatedError) else "preamble-damaged"
                res.problem = (code, f"RDB preamble is damaged: {exc.message}", exc.offset, exc)
                res.ok_up_to = 0
                return res
            res.preamble_end = src.tell()
        _check_resp(src, res)
    finally:
        stream.close()
    return res


def _check_resp(src, res: PartResult) -> None:
    parser = CommandParser(src, heads_only=True)  # only the command names are looked at
    pos = src.tell()
    multi = 0
    multi_at = None
    try:
        for offset, item in parser.items():
            if not multi:
                pos = offset
            if type(item) is not list:
                res.annotations += 1
                if item.timestamp is not None:
                    if res.first_time is None:
                        res.first_time = item.timestamp
                    res.last_time = item.timestamp
                continue
            res.commands += 1
            if item:
                head = item[0]
                if len(head) >= 4 and head[:5].lower() in (b"multi", b"exec", b"exec\0"):
                    # processRESP compares C strings: the name ends at a NUL byte
                    name = head.split(b"\0", 1)[0].lower()
                    if name == b"multi":
                        if multi:
                            res.problem = ("unexpected-multi", "MULTI inside a MULTI block", offset, None)
                            break
                        multi = 1
                        multi_at = offset
                    elif name == b"exec":
                        if multi != 1:
                            res.problem = ("unexpected-exec", "EXEC without MULTI", offset, None)
                            break
                        multi = 0
                        res.multi_blocks += 1
            else:
                pass  # "*0": accepted by redis-check-aof (the server's loader would refuse it)
        else:
            if multi:
                res.problem = ("multi-without-exec", "the file ends inside a MULTI block (no EXEC)",
                               multi_at, None)
            else:
                pos = parser.end
    except FormatError as exc:
        if not multi:
            pos = parser.start
        exc.with_context(file=res.part.name)
        code = "truncated" if isinstance(exc, TruncatedError) else "format-error"
        msg = ("the last command is cut by the end of the file" if code == "truncated"
               else exc.message)
        res.problem = (code, msg, exc.offset, exc)
    res.ok_up_to = pos
    if res.size is None:
        res.size = parser.end if res.problem is None else max(parser.end, pos)


def _unlisted_files(aof_set: AOFSet) -> list[str]:
    folder = aof_set.directory
    listed = aof_set.manifest.names() if aof_set.manifest is not None else set()
    mname = os.path.basename(aof_set.manifest_path or "")
    out = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return out
    for n in names:
        if n == mname or n in listed or n.startswith("temp-") or n.startswith("."):
            continue
        if os.path.isfile(os.path.join(folder, n)):
            out.append(n)
    return out


def verify_aof(path, quick: bool = False) -> VerifyReport:
    try:
        aof_set = resolve_aof(path)
    except ManifestError as exc:
        report = VerifyReport(path=str(path), kind="aof-multipart")
        report.error(exc.code, exc.message, file=exc.file, offset=exc.offset, found=exc.found)
        report.stats["manifest_line"] = exc.line
        return report
    kind = ("aof-multipart" if aof_set.layout == model.MULTIPART
            else "aof-hybrid" if aof_set.hybrid else "aof")
    report = VerifyReport(path=str(path), kind=kind)
    stats = report.stats
    stats["layout"] = aof_set.layout
    files = []
    stats["files"] = files

    if aof_set.manifest is not None:
        for code, msg, line in aof_set.manifest.warnings:
            report.warning(code, f"manifest line {line}: {msg}", file=aof_set.manifest_path)
        for n in _unlisted_files(aof_set):
            report.warning("unlisted-file", f"{n} is in the AOF folder but not in the manifest",
                           file=n)
        missing = [p.name for p in aof_set.parts if p.format == model.FMT_MISSING]
        for n in missing:
            report.error("missing-file", f"{n} is listed in the manifest but missing", file=n)
        if missing:
            return report
        if not aof_set.parts:
            report.warning("no-files", "the manifest lists no base and no incr file")

    damaged = None
    for part in aof_set.parts:
        allow_preamble = part.role != model.ROLE_INCR
        res = check_part(part, quick=quick, allow_preamble=allow_preamble)
        files.append(res.as_dict())
        if part.format == model.FMT_EMPTY and aof_set.layout == model.SINGLE:
            report.warning("empty", f"{part.name} is empty")
        if not res.ok:
            code, msg, offset, exc = res.problem
            kw = {}
            if exc is not None:
                kw = {"expected": exc.expected, "found": exc.found}
            if part.role == model.ROLE_INCR and part.format == model.FMT_RDB and res.ok_up_to == 0:
                code, msg = "rdb-in-incr", "an incr file starts with an RDB header (only a base may)"
            report.error(code, msg, file=part.name, offset=offset, **kw)
            report.valid_up_to = res.ok_up_to
            stats["damaged_file"] = part.name
            damaged = part
            break
    if damaged is None:
        report.valid_up_to = (files[-1]["ok_up_to"] if files else 0)
        stats["damaged_file"] = None
    stats["commands"] = sum(f["commands"] for f in files)
    stats["multi_blocks"] = sum(f["multi_blocks"] for f in files)
    stats["preamble_keys"] = sum(f["preamble_keys"] for f in files)
    times = [t for f in files for t in (f["first_time"], f["last_time"]) if t is not None]
    stats["time_range"] = [min(times), max(times)] if times else None
    return report


__all__ = ["verify_aof", "check_part", "PartResult"]
