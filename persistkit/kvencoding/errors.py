"""The one error type every decoder in persistkit raises for bad input.

A FormatError always says where (absolute byte offset in the input, and the file
and key when the caller knows them), what was expected and what was found, so a
CLI can print it as one line and a CI job can read it from JSON.
"""

from __future__ import annotations


class FormatError(Exception):
    """Input bytes do not follow the format.

    ``offset`` is absolute within the input being decoded (decoders that work on an
    inner blob are given the blob's base offset so the number still points into the
    file). ``file`` and ``key`` are filled in by outer layers as the error travels up.
    """

    def __init__(
        self,
        message: str,
        offset: int | None = None,
        *,
        expected: str | None = None,
        found: str | None = None,
        file: str | None = None,
        key: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.expected = expected
        self.found = found
        self.file = file
        self.key = key

    def with_context(self, *, file: str | None = None, key: bytes | None = None,
                     base: int = 0) -> "FormatError":
        """Add outer context in place (and shift the offset by ``base``); returns self."""
        if file is not None and self.file is None:
            self.file = file
        if key is not None and self.key is None:
            self.key = key
        if base and self.offset is not None:
            self.offset += base
        return self

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "offset": self.offset,
            "key": _key_text(self.key) if self.key is not None else None,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
        }

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.offset is not None:
            parts.append(f"offset {self.offset}")
        if self.key is not None:
            parts.append(f"key {_key_text(self.key)!r}")
        head = ": ".join([", ".join(parts)] if parts else [])
        text = self.message
        if self.expected is not None or self.found is not None:
            text += f" (expected {self.expected or '?'}, found {self.found or '?'})"
        return f"{head}: {text}" if head else text


class TruncatedError(FormatError):
    """The input ended before the structure it was reading was complete."""


class UnsupportedVersionError(FormatError):
    """A well-formed header that names a version this tool does not know."""


def _key_text(key: bytes) -> str:
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return key.hex()
    return text if text.isprintable() else key.hex()


class UsageProblem(Exception):
    """A request the library cannot carry out as asked (a missing optional extra, an output
    that would overwrite the input): the command line's usage error, exit 2. Defined here so
    that format code can raise it without importing the CLI shell."""
