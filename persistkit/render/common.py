"""Conventions shared by every command's output."""

from __future__ import annotations

import sys

from rich.console import Console

_CONTROL_OK = {0x09, 0x0A, 0x0D}


def bstr_json(data: bytes):
    """Binary-safe string convention (as ../shared/corpus/real/README.md): a JSON string
    when the bytes are valid UTF-8 with no control characters other than tab, CR, LF;
    otherwise ``{"hex": ...}``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": data.hex()}
    for ch in text:
        o = ord(ch)
        if (o < 0x20 and o not in _CONTROL_OK) or o == 0x7F:
            return {"hex": data.hex()}
    return text


def display_bytes(data: bytes, limit: int = 80) -> str:
    """A short printable form of a key or value for tables."""
    text = data.decode("utf-8", "backslashreplace")
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=False)


def progress_enabled() -> bool:
    """Progress bars only on a terminal; nothing extra in pipes or CI logs."""
    return sys.stderr.isatty()
