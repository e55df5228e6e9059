"""Conventions shared by every command's output."""

from __future__ import annotations

import sys

from rich.console import Console

from persistkit.kvencoding.bstr import bstr_json  # noqa: F401  (re-exported for renderers)


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
