"""``verify`` for any persistence input: decide by content, dispatch to the RDB or AOF checker.

This sits above both format packages (rdbtools checks RDB content, aoftools checks AOF
sets), so neither has to know about the other.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from persistkit.aoftools.verify import verify_aof
from persistkit.detect import detect, detect_bytes
from persistkit.kvencoding.fileio import InputError, open_input
from persistkit.rdbtools.verify import _head_text, verify_rdb
from persistkit.report import VerifyReport

AOF_KINDS = ("aof", "aof-dir", "aof-manifest")

Progress = Optional[Callable[[int, Optional[int]], None]]


def verify_path(path, *, quick: bool = False, progress: Progress = None) -> VerifyReport:
    """Verify one input: an RDB, an AOF file, a hybrid AOF, a multi-part directory or
    its manifest. ``-`` is standard input (read once; RDB content only)."""
    if str(path) == "-":
        stream = open_input("-")
        kind = detect_bytes(stream.peek(4096)[:4096])
        if kind != "rdb":
            raise InputError("standard input: only RDB content can be read from stdin "
                             f"(this looks like {kind})")
        return verify_rdb("<stdin>", quick=quick, progress=progress, stream=stream)
    kind = detect(path)
    if kind == "unknown" and os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not an AOF directory (no manifest)")
    if kind in AOF_KINDS:
        return verify_aof(path, quick=quick)
    if kind == "unknown":
        report = VerifyReport(path=str(path), kind="unknown")
        report.error("not-persistence", "not an RDB or AOF file", file=str(path), offset=0,
                     expected="RDB magic (REDIS/VALKEY), RESP commands or an AOF manifest",
                     found=_head_text(path))
        return report
    report = verify_rdb(path, quick=quick, progress=progress)
    if report.stats.get("trailing_resp"):
        # An RDB followed by RESP commands: a single-file hybrid AOF.
        return verify_aof(path, quick=quick)
    return report
