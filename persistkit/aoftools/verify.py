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
import re
from typing import Optional

from persistkit import accel
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


def check_part(part: AOFPart, *, quick: bool = False, allow_preamble: bool = True,
               opened=None) -> PartResult:
    """Check one file as redis-check-aof's ``checkSingleAof`` does. ``opened``: ``(src,
    preamble_keys)`` when the caller has already read and checked this file's RDB preamble
    on its own open source, left at the RESP tail (the preamble is not read again)."""
    res = PartResult(part)
    if opened is not None:
        src, res.preamble_keys = opened
        res.preamble_end = src.tell()
        _check_resp(src, res)
        return res
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


_ARGC = re.compile(rb"\*([1-9]\d{0,17})\r\n\$(\d{1,18})\r\n").match
_BULK = re.compile(rb"\$(\d{1,18})\r\n").match
_MULTI_EXEC = (b"multi", b"exec", b"exec\0")


def _bulk_trie(prefix: str = "") -> str:
    """Regex (after the ``$``) for one bulk string ``<L>\\r\\n<L bytes>\\r\\n`` with L
    written in at most 3 plain digits: the digits as a trie, so the regex engine picks the
    one branch that fits the length without trying the others."""
    branches = []
    if prefix:
        branches.append(r"\r\n" + (".{%d}" % int(prefix)) + r"\r\n")
    if prefix != "0" and len(prefix) < 3:
        for d in "0123456789":
            branches.append(d + _bulk_trie(prefix + d))
    return "(?:" + "|".join(branches) + ")"


_BULK_ONE = _bulk_trie()
_BULK_RUNS: dict = {}  # k -> match of exactly k small bulk strings (k <= 8 or a power of 2)
_BULK_RUN_MAX = 4096  # longer commands are framed argument by argument


def _bulk_run(k: int):
    """``match`` of exactly ``k`` consecutive small bulk strings. Compiling the trie costs
    ~15 ms, so only k <= 8 and powers of two are compiled (lazily); other counts are
    chained (_frame_bulks)."""
    m = _BULK_RUNS.get(k)
    if m is None:
        m = re.compile((r"(?:\$%s){%d}" % (_BULK_ONE, k)).encode(), re.DOTALL).match
        _BULK_RUNS[k] = m
    return m


def _frame_bulks(buf: bytes, q: int, k: int) -> int:
    """Index after ``k`` small bulk strings framed from ``q``, or -1 when they are not all
    of the usual shape (or not all in ``buf``)."""
    if k <= 8:  # the usual short commands: one exact match, compiled on first use
        m = _bulk_run(k)(buf, q)
        return -1 if m is None else m.end()
    while k:
        step = 1 << (k.bit_length() - 1)
        m = _bulk_run(step)(buf, q)
        if m is None:
            return -1
        q = m.end()
        k -= step
    return q


class _Stop(Exception):
    """A MULTI/EXEC problem ends the check of this file (internal)."""


def _check_resp(src, res: PartResult) -> None:
    """Walk the RESP part of one file.

    The common case (``*N``/``$L`` lines of plain digits, each bulk followed by CRLF, the
    whole command inside the current window) is framed here, straight over the
    ByteSource window, without building per-command objects. Anything else (an
    annotation, a command cut by the window's end, the end of the input, any byte that
    is not the usual framing) is read by the exact parser (CommandParser), one item at
    a time, so errors, offsets and "valid up to" are exactly what it gives.

    With the compiled accelerator the fast framing (and the annotation lines and the
    MULTI/EXEC bookkeeping that needs no report) runs in ``_accel.resp.verify_scan``,
    which stops where this loop would hand over to the exact parser.
    """
    compiled = accel.module("resp")
    scan = compiled.verify_scan if compiled is not None else None
    multi = 0
    multi_at = None
    commands = 0
    argc_match = _ARGC
    bulk = _BULK
    crlf = b"\r\n"
    mx = _MULTI_EXEC
    frame_bulks = _frame_bulks
    runs = _BULK_RUNS
    end = src.tell()  # just after the last complete item
    try:
        while True:
            # ---- fast framing over the current window
            buf = src.buf
            p = src.pos
            n = len(buf)
            if scan is not None:
                p, c, a, blocks, multi, multi_at, t0, t1 = scan(buf, p, multi, multi_at, src.base)
                commands += c
                res.annotations += a
                res.multi_blocks += blocks
                if t0 >= 0:
                    if res.first_time is None:
                        res.first_time = t0
                    res.last_time = t1
            else:
                while p < n:
                    m = argc_match(buf, p)  # "*<N>\r\n$<L>\r\n", N > 0
                    if m is None:
                        break  # "*0", odd digits, not a command, end of window: exact parser
                    argc, blen = m.groups()
                    argc = int(argc)
                    head_at = -1
                    h = m.end()
                    r = h + int(blen)
                    if buf[r:r + 2] != crlf:
                        break
                    if buf[h] in b"meME" and r - h >= 4 and buf[h:r][:5].lower() in mx:
                        head_at = h
                        head_end = r
                    q = r + 2
                    if 1 < argc <= _BULK_RUN_MAX:
                        run = runs.get(argc - 1)
                        if run is not None:
                            m = run(buf, q)
                            e = -1 if m is None else m.end()
                        else:
                            e = frame_bulks(buf, q, argc - 1)
                        if e >= 0:
                            q = e
                            argc = 1  # all framed: skip the loop below
                    for _ in range(argc - 1):
                        m = bulk(buf, q)
                        if m is None:
                            break
                        r = m.end() + int(m.group(1))
                        if buf[r:r + 2] != crlf:
                            break
                        q = r + 2
                    else:
                        m = True
                    if m is not True:
                        break
                    commands += 1
                    if head_at >= 0:  # rare: a MULTI or an EXEC (or a name starting so)
                        src.pos = q
                        end = src.base + q
                        multi, multi_at = _multi_exec(res, buf[head_at:head_end], src.base + p,
                                                      multi, multi_at)
                    p = q
            src.pos = p
            end = src.base + p
            # ---- one item through the exact parser
            parser = CommandParser(src, heads_only=True)
            for offset, item in parser.items():
                end = parser.end
                if type(item) is not list:
                    res.annotations += 1
                    if item.timestamp is not None:
                        if res.first_time is None:
                            res.first_time = item.timestamp
                        res.last_time = item.timestamp
                    break
                commands += 1
                if item:
                    head = item[0]
                    if len(head) >= 4 and head[:5].lower() in mx:
                        multi, multi_at = _multi_exec(res, head, offset, multi, multi_at)
                # "*0" is accepted by redis-check-aof (the server's loader would refuse it)
                break
            else:
                # the end of the input
                if multi:
                    res.problem = ("multi-without-exec",
                                   "the file ends inside a MULTI block (no EXEC)", multi_at, None)
                    pos = multi_at
                else:
                    pos = end
                break
    except _Stop:
        code, _, offset, _ = res.problem
        pos = multi_at if code == "unexpected-multi" else offset
    except FormatError as exc:
        pos = multi_at if multi else parser.start
        exc.with_context(file=res.part.name)
        code = "truncated" if isinstance(exc, TruncatedError) else "format-error"
        msg = ("the last command is cut by the end of the file" if code == "truncated"
               else exc.message)
        res.problem = (code, msg, exc.offset, exc)
    res.commands += commands
    res.ok_up_to = pos
    if res.size is None:
        res.size = end if res.problem is None else max(end, pos)


def _multi_exec(res: PartResult, head: bytes, offset: int, multi: int, multi_at):
    """MULTI/EXEC bookkeeping for one command whose name may be one of them:
    (multi, multi_at) after it, or _Stop with ``res.problem`` set."""
    # processRESP compares C strings: the name ends at a NUL byte
    name = head.split(b"\0", 1)[0].lower()
    if name == b"multi":
        if multi:
            res.problem = ("unexpected-multi", "MULTI inside a MULTI block", offset, None)
            raise _Stop
        return 1, offset
    if name == b"exec":
        if multi != 1:
            res.problem = ("unexpected-exec", "EXEC without MULTI", offset, None)
            raise _Stop
        res.multi_blocks += 1
        return 0, multi_at
    return multi, multi_at


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


def verify_aof(path, quick: bool = False, *, aof_set=None, opened=None) -> VerifyReport:
    """``aof_set``: the set already resolved by the caller; ``opened``: see ``check_part``
    (a single-file AOF whose preamble the caller has checked)."""
    try:
        aof_set = aof_set if aof_set is not None else resolve_aof(path)
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
        for part in aof_set.parts:
            if part.link_target is not None:
                report.warning("symlink-outside",
                               f"{part.name} is a symlink to {part.link_target}, outside the AOF "
                               "folder (a server follows it; `repair` refuses it without "
                               "--follow-symlinks)", file=part.name)
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
        res = check_part(part, quick=quick, allow_preamble=allow_preamble,
                         opened=opened if aof_set.layout == model.SINGLE else None)
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
