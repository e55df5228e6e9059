"""The Redis 7 multi-part AOF manifest: parse it exactly as the server does, write it back.

Grammar (redis/redis src/aof.c ``aofLoadManifestFromFile`` / ``aofInfoFormat``)::

    file <name> seq <n> type <b|h|i> [startoffset <n> [endoffset <n>]]

* lines are read with ``fgets`` into 1025 bytes: a line without ``\\n`` in that space is
  "too long"; a line starting with ``#`` is a comment; an empty line (after trimming
  blanks, CR, LF) is an error; an empty manifest is an error;
* each line is split like ``sdssplitargs`` (double quotes with C escapes, single quotes),
  needs at least 6 words and an even count; keys are case-insensitive, unknown keys are
  ignored (forward compatibility); ``seq`` is read with ``atoll`` and must not be 0;
  ``type`` is the first character of its value;
* at most one base; incr seqs must increase strictly ("non-monotonic sequence number");
  history entries are leftovers the server deletes, never data.

A name is written quoted (``sdscatrepr``) when it holds blanks, quotes, backslashes or
unprintable bytes. A file name must be a plain name in the manifest's folder: Redis
rejects ``/`` (and ``\\``); we also reject ``..``, ``.``, empty names and NUL bytes, so a
name read from inside a file never leads outside its folder.

    m = parse_manifest(data)          # Manifest; ManifestError (a FormatError) on bad input
    m.base, m.incrs, m.history, m.warnings
    format_manifest(m) -> bytes
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.splitargs import split_args

TYPE_BASE = "b"
TYPE_HIST = "h"
TYPE_INCR = "i"

MANIFEST_MAX_LINE = 1024
_TRIM = b" \t\r\n"
_SPACE = b" \n\r\t\v\f"


class ManifestError(FormatError):
    """The manifest does not follow the format (``code`` says which rule)."""

    def __init__(self, message: str, offset: Optional[int] = None, *, code: str = "manifest-format",
                 line: Optional[int] = None, **kw) -> None:
        super().__init__(message, offset, **kw)
        self.code = code
        self.line = line


@dataclass(slots=True)
class AOFInfo:
    name: str
    seq: int
    type: str                      # TYPE_BASE / TYPE_HIST / TYPE_INCR
    start_offset: Optional[int] = None
    end_offset: Optional[int] = None
    line: int = 0                  # 1-based line number in the manifest (0: made here)


@dataclass
class Manifest:
    base: Optional[AOFInfo] = None
    incrs: list[AOFInfo] = field(default_factory=list)
    history: list[AOFInfo] = field(default_factory=list)
    warnings: list[tuple[str, str, int]] = field(default_factory=list)  # (code, message, line)

    def load_order(self) -> list[AOFInfo]:
        """Base first, then incr files by seq (the manifest keeps them in that order)."""
        return ([self.base] if self.base else []) + list(self.incrs)

    def names(self) -> set[str]:
        return {i.name for i in ([self.base] if self.base else []) + self.incrs + self.history}


# ---------------------------------------------------------------------------
# sdssplitargs


def _atoll(text: bytes) -> int:
    """C ``atoll``: leading blanks, sign, digits; anything else stops (no digits -> 0)."""
    t = text.lstrip(_SPACE)
    i = 1 if t[:1] in (b"+", b"-") else 0
    j = i
    while j < len(t) and 48 <= t[j] <= 57:
        j += 1
    return int(t[:j]) if j > i else 0


def safe_name(name: bytes) -> Optional[str]:
    """The reason a manifest file name is unsafe, or None when it is a plain name."""
    if not name:
        return "empty file name"
    if b"/" in name or b"\\" in name:
        return "File can't be a path, just a filename"
    if name in (b".", b".."):
        return "file name is a directory reference"
    if b"\0" in name:
        return "file name holds a NUL byte"
    return None


def _decode_name(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


def _encode_name(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------
# parse


def parse_manifest(data: bytes, *, file: Optional[str] = None) -> Manifest:
    m = Manifest()
    if not data:
        # aofLoadManifestFromFile: a server given this folder stops at start-up ("FATAL AOF
        # MANIFEST FILE ERROR"); redis-check-aof 7.0 only sees an empty old-style AOF (exit 0).
        raise ManifestError("Found an empty AOF manifest: a Redis 7 server refuses to start on "
                            "it (redis-check-aof 7.0 calls it an empty AOF and exits 0)", 0,
                            code="manifest-empty", file=file)
    maxseq = 0
    linenum = 0
    p = 0
    n = len(data)
    while p < n:
        # fgets(buf, 1025): up to 1024 bytes or through the next newline
        i = data.find(b"\n", p, p + MANIFEST_MAX_LINE)
        end = i + 1 if i >= 0 else min(n, p + MANIFEST_MAX_LINE)
        raw = data[p:end]
        start = p
        p = end
        linenum += 1
        if raw[:1] == b"#":
            continue

        def fail(msg, code="manifest-format"):
            return ManifestError(msg, start, code=code, line=linenum, file=file,
                                 found=repr(raw[:80].decode("utf-8", "replace")))

        if i < 0:
            raise fail("The AOF manifest file contains too long line", "manifest-line-too-long")
        line = raw.strip(_TRIM)
        if not line:
            raise fail("Invalid AOF manifest file format (empty line)")
        argv = split_args(line)
        if argv is None or len(argv) < 6 or len(argv) % 2:
            raise fail("Invalid AOF manifest file format")
        name = None
        seq = 0
        ftype = b""
        start_off = end_off = None
        for k in range(0, len(argv), 2):
            key = argv[k].lower()
            val = argv[k + 1]
            if key == b"file":
                reason = safe_name(val)
                if reason:
                    raise fail(reason, "manifest-unsafe-name")
                name = val
            elif key == b"seq":
                seq = _atoll(val)
            elif key == b"type":
                ftype = val[:1]
            elif key == b"startoffset":
                start_off = _atoll(val)
            elif key == b"endoffset":
                end_off = _atoll(val)
        if name is None or not seq or not ftype:
            raise fail("Invalid AOF manifest file format (file, seq and type are required)")
        info = AOFInfo(_decode_name(name), seq, ftype.decode("latin-1"), start_off, end_off, linenum)
        if info.type == TYPE_BASE:
            if m.base is not None:
                raise fail("Found duplicate base file information", "manifest-duplicate-base")
            if m.incrs or m.history:
                m.warnings.append(("manifest-base-not-first",
                                   "the base file is not the first entry of the manifest", linenum))
            m.base = info
        elif info.type == TYPE_HIST:
            m.history.append(info)
        elif info.type == TYPE_INCR:
            if seq <= maxseq:
                raise fail("Found a non-monotonic sequence number", "manifest-seq-order")
            m.incrs.append(info)
            maxseq = seq
        else:
            raise fail("Unknown AOF file type", "manifest-unknown-type")
    seen: dict[str, int] = {}
    for info in m.load_order() + m.history:
        if info.name in seen:
            m.warnings.append(("manifest-duplicate-name",
                               f"{info.name} is listed twice (lines {seen[info.name]} and {info.line})",
                               info.line))
        seen[info.name] = info.line
    return m


# ---------------------------------------------------------------------------
# format


def _needs_repr(name: bytes) -> bool:
    # sdsneedsrepr: backslash, quote, blanks, or anything unprintable
    for c in name:
        if c < 0x21 or c > 0x7E or c in (0x5C, 0x22):
            return True
    return False


def _repr(name: bytes) -> bytes:
    out = bytearray(b'"')
    for c in name:
        if c in (0x5C, 0x22):
            out += b"\\" + bytes((c,))
        elif c == 0x0A:
            out += b"\\n"
        elif c == 0x0D:
            out += b"\\r"
        elif c == 0x09:
            out += b"\\t"
        elif c == 0x07:
            out += b"\\a"
        elif c == 0x08:
            out += b"\\b"
        elif 0x20 <= c <= 0x7E:
            out.append(c)
        else:
            out += b"\\x%02x" % c
    out += b'"'
    return bytes(out)


def format_info(info: AOFInfo) -> bytes:
    name = _encode_name(info.name)
    if safe_name(name):
        raise ValueError(f"unsafe AOF file name {info.name!r}")
    shown = _repr(name) if _needs_repr(name) else name
    line = b"file %s seq %d type %s" % (shown, info.seq, info.type.encode("latin-1"))
    if info.start_offset is not None:
        line += b" startoffset %d" % info.start_offset
        if info.end_offset is not None:
            line += b" endoffset %d" % info.end_offset
    return line + b"\n"


def format_manifest(m: Manifest) -> bytes:
    """Base first, then history, then incr (redis ``getAofManifestAsString``)."""
    return b"".join(format_info(i) for i in ([m.base] if m.base else []) + m.history + m.incrs)


def base_name(prefix: str, seq: int, rdb: bool) -> str:
    """``appendonly.aof.<seq>.base.rdb|aof`` (redis ``getNewBaseFileNameAndMarkPreAsHistory``)."""
    return f"{prefix}.{seq}.base.{'rdb' if rdb else 'aof'}"


def incr_name(prefix: str, seq: int) -> str:
    return f"{prefix}.{seq}.incr.aof"


def manifest_name(prefix: str) -> str:
    return f"{prefix}.manifest"


__all__ = ["AOFInfo", "Manifest", "ManifestError", "parse_manifest", "format_manifest", "format_info",
           "split_args", "safe_name", "base_name", "incr_name", "manifest_name",
           "TYPE_BASE", "TYPE_HIST", "TYPE_INCR"]
