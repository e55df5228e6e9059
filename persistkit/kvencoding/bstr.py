"""The binary-safe string convention for text outputs (JSON exports, reports).

Same rule as ../shared/corpus/real/README.md: bytes that are valid UTF-8 with no
control characters other than tab, CR and LF are a JSON string; anything else is
``{"hex": "..."}``. Values are always inline (no blob files).
"""

from __future__ import annotations

_CONTROL_OK = {0x09, 0x0A, 0x0D}


def bstr_json(data: bytes):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": data.hex()}
    for ch in text:
        o = ord(ch)
        if (o < 0x20 and o not in _CONTROL_OK) or o == 0x7F:
            return {"hex": data.hex()}
    return text


def bstr_from_json(x) -> bytes:
    """The inverse: a JSON string or ``{"hex": ...}`` back to bytes."""
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, dict) and "hex" in x:
        return bytes.fromhex(x["hex"])
    raise ValueError(f"not a binary-safe string: {x!r}")
