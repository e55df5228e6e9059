"""``verify`` for any persistence input: decide by content, dispatch to the RDB or AOF checker.

This sits above both format packages (rdbtools checks RDB content, aoftools checks AOF
sets), so neither has to know about the other.

Each input is opened once (``detect.open_detected``) and that open stream is what the
checker reads: a single-file hybrid AOF (an RDB preamble, then RESP) is walked once, its
preamble by the RDB checker and its RESP tail, from the same source, by the AOF checker.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from persistkit.aoftools import model as aofmodel
from persistkit.aoftools.verify import verify_aof
from persistkit.detect import Detected, open_detected
from persistkit.kvencoding.fileio import InputError, input_name, input_size, open_input
from persistkit.kvencoding.source import ByteSource
from persistkit.rdbtools import fastscan
from persistkit.rdbtools.reader import preamble_flag_of
from persistkit.rdbtools.verify import verify_rdb
from persistkit.report import VerifyReport

AOF_KINDS = ("aof", "aof-dir", "aof-manifest")

Progress = Optional[Callable[[int, Optional[int]], None]]


def input_kind(inp: Detected) -> str:
    """The kind a command acts on for a detected input: an RDB whose aux fields say it is
    the preamble of a single-file AOF counts as ``"aof"``; a directory without a manifest
    is a usage error."""
    if inp.kind == "unknown" and inp.stream is None:
        raise InputError(f"{inp.path}: is a directory, not an AOF directory (no manifest)")
    if inp.kind == "rdb" and inp.path != "-" and preamble_flag_of(inp.buffered()) is True:
        return "aof"
    return inp.kind


def single_aof_set(inp: Detected) -> Optional[aofmodel.AOFSet]:
    """The AOF set of a detected one-file AOF input (RESP commands, or an RDB preamble
    then RESP), built from what detection read instead of resolving the path again
    (``aoftools.reader.resolve_aof`` opens the file twice more); None for anything else
    (directories, manifests, empty files, standard input), which the AOF side resolves."""
    if inp.stream is None or inp.path == "-" or not inp.head:
        return None
    if inp.kind == "rdb":
        fmt = aofmodel.FMT_RDB
    elif inp.kind == "aof":
        fmt = aofmodel.FMT_RESP
    else:
        return None
    part = aofmodel.AOFPart(path=inp.path, name=os.path.basename(inp.path) or inp.path,
                            role=aofmodel.ROLE_SINGLE, format=fmt, size=inp.size)
    return aofmodel.AOFSet(path=inp.path, layout=aofmodel.SINGLE, parts=[part])


def open_stdin_rdb() -> Detected:
    """Standard input, opened once (it cannot be re-read): RDB content only."""
    inp = open_detected("-")
    if inp.kind != "rdb":
        inp.close()
        raise InputError("standard input: only RDB content can be read from stdin "
                         f"(this looks like {inp.kind})")
    return inp


def verify_path(path, *, quick: bool = False, progress: Progress = None) -> VerifyReport:
    """Verify one input: an RDB, an AOF file, a hybrid AOF, a multi-part directory or
    its manifest. ``-`` is standard input (read once; RDB content only)."""
    if str(path) == "-":
        with open_stdin_rdb() as inp:
            return verify_rdb("<stdin>", quick=quick, progress=progress, stream=inp.stream)
    with open_detected(path) as inp:
        kind = inp.kind
        if kind == "unknown" and inp.stream is None:
            raise InputError(f"{path}: is a directory, not an AOF directory (no manifest)")
        if kind in AOF_KINDS:
            inp.close()
            return verify_aof(path, quick=quick)
        if kind == "unknown":
            report = VerifyReport(path=str(path), kind="unknown")
            report.error("not-persistence", "not an RDB or AOF file", file=str(path), offset=0,
                         expected="RDB magic (REDIS/VALKEY), RESP commands or an AOF manifest",
                         found=repr(inp.head[:16]))
            return report
        stream = inp.stream
        src = ByteSource(stream, name=input_name(stream), size=inp.size, crc=True,
                         chunk=fastscan.source_chunk())
        report = verify_rdb(path, quick=quick, progress=progress, source=src,
                            reopen=lambda: _reopen(path))
        if not report.stats.get("trailing_resp"):
            return report
        # An RDB followed by RESP commands: a single-file hybrid AOF.
        if not report.problems:
            # The preamble is intact: the AOF checker goes on from the same source, at the
            # RESP tail, instead of reading the preamble again.
            return verify_aof(path, quick=quick, aof_set=single_aof_set(inp),
                              opened=(src, report.stats["keys"]))
    # A damaged preamble: the AOF checker reports it its own way.
    return verify_aof(path, quick=quick)


def _reopen(path) -> ByteSource:
    s = open_input(path)
    return ByteSource(s, name=input_name(s), size=input_size(s))
