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
    """string2d/strtod: full-string decimal or inf, no leading space, no NaN.

    The usual score (a finite, non-zero decimal) is taken by ``float`` directly; whatever
    float and strtod may judge differently (zero and underflow, inf and overflow, NaN,
    underscores, surrounding space, hex) goes through the exact rules below."""
    try:
        v = float(b)
    except (ValueError, TypeError):
        return _parse_float_exact(b)
    return v if _float_took_it(v, b) else _parse_float_exact(b)


def _float_took_it(v: float, b: bytes) -> bool:
    """``float(b)`` gave ``v`` and strtod would give the same: a finite, non-zero value from
    text with no underscore and no surrounding space (the rest is _parse_float_exact's)."""
    return bool(v) and v - v == 0.0 and 95 not in b and b[0] > 32 and b[-1] > 32


def _parse_float_exact(b: bytes) -> float | None:
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
        v = float(text)
    except ValueError:
        return None
    # strtod's ERANGE: an overflow to inf or an underflow to zero is not a valid float
    if math.isinf(v) or (v == 0.0 and any(c in "123456789" for c in text.lower().split("e")[0])):
        return None
    return v


def get_float(b: bytes, message: str = NOT_FLOAT) -> float:
    v = parse_float(b)
    if v is None:
        raise CommandError(message)
    return v


def get_floats(items, message: str = NOT_FLOAT) -> list:
    """``[get_float(b) for b in items]`` (the first invalid one raises), with the usual
    case (every item a finite, non-zero decimal) converted in one pass."""
    try:
        out = list(map(float, items))
    except (ValueError, TypeError):
        out = None
    if out is None or not all(map(_float_took_it, out, items)):
        return [get_float(b, message) for b in items]
    return out


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


# -- long double arithmetic (INCRBYFLOAT / HINCRBYFLOAT) ---------------------------------
# Redis adds in C ``long double`` (x87 80-bit: 64-bit significand) and prints the sum with
# "%.17Lf" minus trailing zeros (util.c ld2string, LD_STR_HUMAN). Python floats would give
# other digits (1.1 + 2e3 -> "2001.1" instead of "2001.09999999999999998"), so the
# arithmetic is done exactly with fractions and rounded to 64 significant bits.

from fractions import Fraction  # noqa: E402

_LD_BITS = 64


def _round_ld(x: Fraction) -> Fraction:
    if x == 0:
        return x
    sign = -1 if x < 0 else 1
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    shift = _LD_BITS - 1 - e            # scale so that the significand has 64 bits
    scaled = a * (Fraction(2) ** shift)
    m = round(scaled)                   # Fraction.__round__: ties to even
    return sign * Fraction(m) / (Fraction(2) ** shift)


_LD_MAX = Fraction(2) ** 16384


def parse_long_double(b: bytes) -> Fraction | None:
    """strtold of the whole string (no spaces, no NaN/inf: inf cannot be incremented;
    the long double range reaches about 1.19e4932)."""
    if not b or b[0] in b" \t\r\n" or b[-1] in b" \t\r\n" or len(b) > 5000:
        return None
    try:
        text = b.decode("ascii")
        if "_" in text:
            return None
        if text.lower().lstrip("+-").startswith("0x"):
            v = _round_ld(Fraction(float.fromhex(text)))
        else:
            mant, _, exp = text.lower().partition("e")
            if exp and abs(int(exp)) > 6000:
                return None
            v = _round_ld(Fraction(text))
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    if abs(v) >= _LD_MAX:
        return None
    return v


def format_long_double_human(x: Fraction) -> bytes:
    q = round(x * 10 ** 17)             # "%.17Lf": 17 decimals of the exact binary value
    neg = q < 0
    digits = str(abs(q)).rjust(18, "0")
    text = digits[:-17] + "." + digits[-17:]
    text = text.rstrip("0").rstrip(".")
    if text in ("", "0"):
        return b"0"
    return (("-" if neg else "") + text).encode()


def is_inf_literal(b: bytes) -> bool:
    return b.lower().lstrip(b"+-") in (b"inf", b"infinity")


def incr_long_double(current: bytes | None, increment: bytes, not_float: str) -> bytes:
    """The new text of an INCRBYFLOAT: raises CommandError like the server."""
    inc = parse_long_double(increment)
    if inc is None:
        if is_inf_literal(increment):   # strtold accepts it; the sum is then infinite
            raise CommandError("ERR increment would produce NaN or Infinity")
        raise CommandError(NOT_FLOAT)
    cur = Fraction(0)
    if current is not None:
        cur = parse_long_double(current)
        if cur is None:
            raise CommandError(not_float)
    total = _round_ld(cur + inc)
    if abs(total) >= Fraction(2) ** 16384:
        raise CommandError("ERR increment would produce NaN or Infinity")
    return format_long_double_human(total)
