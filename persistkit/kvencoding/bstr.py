"""The binary-safe string convention for text outputs (JSON exports, reports).

The rule (the same one the test corpus's expected content uses): bytes that are valid UTF-8 with no
control characters other than tab, CR and LF are a JSON string; anything else is
``{"hex": "..."}``. Values are always inline (no blob files).
"""

from __future__ import annotations

import re

# Control characters other than tab, LF and CR, and DEL. They are ASCII, so inside
# valid UTF-8 they only ever stand for themselves: testing the bytes is the same as
# testing the decoded text, without a Python loop over the characters.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def bstr_json(data: bytes):
    if _CONTROL_BYTES.search(data) is None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"hex": data.hex()}


def bstr_from_json(x) -> bytes:
    """The inverse: a JSON string or ``{"hex": ...}`` back to bytes."""
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, dict) and "hex" in x:
        return bytes.fromhex(x["hex"])
    raise ValueError(f"not a binary-safe string: {x!r}")
