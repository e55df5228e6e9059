"""The report shape shared by every checking command (RDB and AOF alike).

``verify`` on any input kind returns a VerifyReport; the CLI renders a list of
them as rich text or as one JSON document, and derives the exit code from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

ERROR = "error"
WARNING = "warning"


@dataclass
class Problem:
    severity: str                  # ERROR or WARNING
    code: str                      # short stable identifier, e.g. "crc-mismatch", "truncated"
    message: str
    file: Optional[str] = None
    offset: Optional[int] = None
    key: Optional[bytes] = None
    expected: Optional[str] = None
    found: Optional[str] = None

    @classmethod
    def from_error(cls, exc, code: str = "format-error", severity: str = ERROR) -> "Problem":
        return cls(severity=severity, code=code, message=exc.message, file=exc.file,
                   offset=exc.offset, key=exc.key, expected=exc.expected, found=exc.found)

    def as_dict(self) -> dict:
        from persistkit.kvencoding.bstr import bstr_json

        return {"severity": self.severity, "code": self.code, "message": self.message,
                "file": self.file, "offset": self.offset,
                "key": bstr_json(self.key) if self.key is not None else None,
                "expected": self.expected, "found": self.found}


@dataclass
class VerifyReport:
    path: str
    kind: str                                  # "rdb", "aof", "aof-hybrid", "aof-multipart", ...
    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    valid_up_to: Optional[int] = None          # AOF: offset where valid data ends (per last file)

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    def error(self, code: str, message: str, **kw) -> Problem:
        p = Problem(ERROR, code, message, **kw)
        self.problems.append(p)
        return p

    def warning(self, code: str, message: str, **kw) -> Problem:
        p = Problem(WARNING, code, message, **kw)
        self.problems.append(p)
        return p

    def as_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "ok": self.ok,
                "problems": [p.as_dict() for p in self.problems],
                "valid_up_to": self.valid_up_to, "stats": self.stats}
