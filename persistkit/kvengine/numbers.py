"""Number parsing and formatting with Redis' rules (redis/src/util.c string2ll, string2ld, ld2string)."""

from __future__ import annotations

import math

from .reply import NOT_FLOAT, NOT_INT, CommandError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_DIGITS = frozenset(b"0123456789")


def parse_int(b: bytes) -> int | None:
    """string2ll: optional '-', no '+', no leading zeros, no spaces, fits int64; else None."""
    n = len(b)
    if n == 0 or n > 20:
        return None
    if n == 1:
        c = b[0]
        return c - 48 if 48 <= c <= 57 else None
    start = 1 if b[0] == 45 else 0
    if start == n or b[start] == 48 or not _DIGITS.issuperset(b[start:]):
        return None
    v = int(b)
    if v < INT64_MIN or v > INT64_MAX:
        return None
    return v


def get_int(b: bytes, message: str = NOT_INT) -> int:
    v = parse_int(b)
    if v is None:
        raise CommandError(message)
    return v


def get_positive_int(b: bytes, message: str = NOT_INT) -> int:
    v = get_int(b, message)
    if v < 0:
        raise CommandError("ERR value is out of range, must be positive")
    return v


def parse_float(b: bytes) -> float | None:
    """string2d/strtod: full-string decimal or inf, no leading space, no NaN."""
    if not b or b[0] in b" \t\r\n" or b[-1] in b" \t\r\n":
        return None
    try:
        text = b.decode("ascii")
    except UnicodeDecodeError:
        return None
    low = text.lower()
    if "nan" in low or "_" in text:
        return None
    if low in ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"):
        return math.inf if not low.startswith("-") else -math.inf
    if text.startswith(("0x", "0X", "-0x", "+0x")):
        try:
            return float.fromhex(text)
        except ValueError:
            return None
    try:
        return float(text)
    except ValueError:
        return None


def get_float(b: bytes, message: str = NOT_FLOAT) -> float:
    v = parse_float(b)
    if v is None:
        raise CommandError(message)
    return v


def format_double(d: float) -> bytes:
    """Reply text of a double (addReplyDouble in 7.0 uses %.17g; inf/-inf spelled out)."""
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    return (b"%.17g" % d)


def format_human_double(d: float) -> bytes:
    """INCRBYFLOAT / HINCRBYFLOAT value text (ld2string LD_STR_HUMAN): plain decimal, no
    exponent, no trailing zeros. Python has no long double; the shortest round-trip text of the
    double gives what users see from real Redis for ordinary values."""
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    if d == int(d) and abs(d) < 1e17:
        return b"%d" % int(d)
    text = repr(d)
    if "e" in text or "E" in text:
        from decimal import Decimal

        text = format(Decimal(text), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text.encode()


def format_score(d: float) -> bytes:
    return format_double(d)
