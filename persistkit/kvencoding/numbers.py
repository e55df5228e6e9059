"""Numbers as Redis writes them: canonical integers, text and binary doubles.

- ``canonical_int``: util.c ``string2ll``, the test behind every "store this string as
  an integer?" decision (RDB int encoding, listpack/ziplist/intset integers).
- Text doubles (RDB type 3 ZSET scores, rdbLoadDoubleValue / rdbSaveDoubleValue): one
  length byte then ASCII, with 253 = NaN, 254 = +inf, 255 = -inf.
- Binary doubles (ZSET_2, modules): 8-byte IEEE-754 little endian.
- ``d2string``: how a zset score becomes text when it goes into a ziplist/listpack
  (t_zset.c zzlInsertAt -> util.c d2string), which changed in Redis 7.2 (and 7.0 started
  storing integral scores as integers before any text, see ``zset_listpack_score``):

  * up to 7.0 (``style="printf"``): integers strictly inside (-(2^52-1), 2^52) are
    printed as integers, anything else with ``"%.17g"`` (so 0.1 -> "0.10000000000000001");
  * 7.2+ and Valkey (``style="fpconv"``): integers within [-2^62, 2^62] (double2ll) as
    integers, anything else with fpconv_dtoa, a Grisu2 shortest-digits printer
    (0.1 -> "0.1", 1e300 -> "1e+300"). Grisu2 is not always the shortest text that
    round-trips (Python's repr is), so ``fpconv_dtoa`` below is a port, not repr.

  Both print NaN as "nan", infinities as "inf"/"-inf" and zeros as "0"/"-0".
"""

from __future__ import annotations

import math
import re
import struct

from .errors import FormatError
from .source import ByteSource

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

STYLE_PRINTF = "printf"   # Redis <= 7.0
STYLE_FPCONV = "fpconv"   # Redis >= 7.2, Valkey

_F64 = struct.Struct("<d")
_U64 = struct.Struct("<Q")


def canonical_int(b: bytes) -> int | None:
    """The int64 whose canonical decimal text is exactly ``b``, else None.

    string2ll (util.c): no sign but '-', no leading zeros ("0" alone is fine), "-0" is
    rejected, no spaces, digits only, within int64, at most 20 characters."""
    n = len(b)
    if n == 0 or n > 20:
        return None
    first = b[0]
    if first == 45:  # '-'
        if n == 1 or not 49 <= b[1] <= 57 or not b[1:].isdigit():
            return None
    elif not 49 <= first <= 57:
        return 0 if n == 1 and first == 48 else None
    elif not b.isdigit():
        return None
    v = int(b)
    if v > INT64_MAX or v < INT64_MIN:
        return None
    return v


# ---------------------------------------------------------------------------
# double -> integer shortcuts


def double2ll(d: float) -> int | None:
    """util.c double2ll: the integer value of ``d`` when it is integral and within
    [-(LLONG_MAX/2), LLONG_MAX/2] as doubles (= +-2^62), else None. -0.0 gives 0."""
    if not -4611686018427387904.0 <= d <= 4611686018427387904.0:  # also rejects NaN
        return None
    ll = int(d)
    return ll if ll == d else None


def _legacy_int(d: float) -> int | None:
    """The pre-7.2 shortcut: strictly inside (-(2^52 - 1), 2^52) and integral."""
    if -4503599627370495.0 < d < 4503599627370496.0:
        ll = int(d)
        if ll == d:
            return ll
    return None


def _printf_17g(d: float) -> bytes:
    # Python's %-formatting rounds correctly, as glibc's printf does.
    return ("%.17g" % d).encode()


# ---------------------------------------------------------------------------
# fpconv_dtoa: Grisu2 as in redis/redis deps/fpconv (night-shift's fpconv)

_M64 = (1 << 64) - 1
_HIDDEN = 1 << 52
_FRAC_MASK = _HIDDEN - 1
_EXP_BIAS = 1023 + 52
_TENS = [10 ** (19 - i) for i in range(20)]  # 10^19 .. 10^0


def _cached_power(k: int) -> tuple[int, int]:
    """10^k as (frac, exp): frac a 64-bit normalized significand rounded to nearest."""
    if k >= 0:
        v = 10 ** k
        e = v.bit_length() - 64
        if e <= 0:
            return v << -e, e
        q, r = divmod(v, 1 << e)
        return q + (2 * r >= (1 << e)), e
    d = 10 ** -k
    s = 63 + d.bit_length()
    while (1 << s) // d >= 1 << 64:
        s -= 1
    while (1 << s) // d < 1 << 63:
        s += 1
    q, r = divmod(1 << s, d)
    return q + (2 * r >= d), -s


# 87 powers 10^-348, 10^-340, ..., 10^340 (fpconv_powers.h holds the same numbers).
_POWERS = [_cached_power(-348 + 8 * i) for i in range(87)]


def _mul(af: int, ae: int, bf: int, be: int) -> tuple[int, int]:
    """fpconv multiply(): 64x64 -> high 64 bits, rounded up at bit 31 of the low half."""
    lo = 0xFFFFFFFF
    ah, al, bh, bl = af >> 32, af & lo, bf >> 32, bf & lo
    ah_bl = ah * bl
    al_bh = al * bh
    al_bl = al * bl
    tmp = (ah_bl & lo) + (al_bh & lo) + (al_bl >> 32) + (1 << 31)
    return (ah * bh + (ah_bl >> 32) + (al_bh >> 32) + (tmp >> 32)) & _M64, ae + be + 64


def _grisu2(d: float) -> tuple[list[int], int]:
    bits = _U64.unpack(_F64.pack(d))[0]
    frac = bits & _FRAC_MASK
    exp = (bits >> 52) & 0x7FF
    if exp:
        frac += _HIDDEN
        exp -= _EXP_BIAS
    else:
        exp = -_EXP_BIAS + 1
    # boundaries (from the unnormalized value)
    uf = (frac << 1) + 1
    ue = exp - 1
    while not uf & (_HIDDEN << 1):
        uf <<= 1
        ue -= 1
    uf = (uf << 10) & _M64
    ue -= 10
    lshift = 2 if frac == _HIDDEN else 1
    lf = (frac << lshift) - 1
    le = exp - lshift
    lf = (lf << (le - ue)) & _M64
    # normalize w
    wf, we = frac, exp
    while not wf & _HIDDEN:
        wf <<= 1
        we -= 1
    wf = (wf << 11) & _M64
    we -= 11
    # cached power: C converts the double product to int by truncation
    approx = int(-(ue + 87) * 0.30102999566398114)
    idx = int((approx + 348) / 8)
    while True:
        current = ue + _POWERS[idx][1] + 64
        if current < -60:
            idx += 1
        elif current > -32:
            idx -= 1
        else:
            break
    k = -348 + idx * 8
    cf, ce = _POWERS[idx]
    wf, we = _mul(wf, we, cf, ce)
    uf, ue = _mul(uf, ue, cf, ce)
    lf, le = _mul(lf, le, cf, ce)
    lf = (lf + 1) & _M64
    uf = (uf - 1) & _M64
    return _generate_digits(wf, uf, ue, lf, -k)


def _round_digit(digits: list[int], delta: int, rem: int, kappa: int, frac: int) -> None:
    while (rem < frac and ((delta - rem) & _M64) >= kappa
           and (((rem + kappa) & _M64) < frac
                or ((frac - rem) & _M64) > ((rem + kappa - frac) & _M64))):
        digits[-1] -= 1
        rem = (rem + kappa) & _M64


def _generate_digits(wf: int, uf: int, ue: int, lf: int, K: int) -> tuple[list[int], int]:
    wfrac = (uf - wf) & _M64
    delta = (uf - lf) & _M64
    shift = -ue
    one = 1 << shift
    part1 = uf >> shift
    part2 = uf & (one - 1)
    digits: list[int] = []
    kappa = 10
    for div in _TENS[10:]:  # 10^9 .. 10^0
        digit = (part1 // div) & 0xFFFFFFFF
        if digit or digits:
            digits.append(digit)
        part1 = (part1 - digit * div) & _M64
        kappa -= 1
        tmp = ((part1 << shift) + part2) & _M64
        if tmp <= delta:
            _round_digit(digits, delta, tmp, (div << shift) & _M64, wfrac)
            return digits, K + kappa
    unit_idx = 18
    while True:
        part2 = (part2 * 10) & _M64
        delta = (delta * 10) & _M64
        kappa -= 1
        digit = part2 >> shift
        if digit or digits:
            digits.append(digit)
        part2 &= one - 1
        if part2 < delta:
            _round_digit(digits, delta, part2, one, (wfrac * _TENS[unit_idx]) & _M64)
            return digits, K + kappa
        unit_idx -= 1


def _emit_digits(digits: list[int], K: int, neg: bool) -> str:
    nd = len(digits)
    text = "".join(map(str, digits))
    exp = abs(K + nd - 1)
    if K >= 0 and exp < nd + 7:               # plain integer
        return text + "0" * K
    if K < 0 and (K > -7 or exp < 4):         # decimal without exponent
        offset = nd - abs(K)
        if offset <= 0:
            return "0." + "0" * -offset + text
        return text[:offset] + "." + text[offset:]
    nd = min(nd, 18 - neg)                    # scientific: digits beyond 17/18 are cut
    out = text[0]
    if nd > 1:
        out += "." + text[1:nd]
    sign = "-" if K + nd - 1 < 0 else "+"
    # exponent: at least one digit; "0" padding only between hundreds and units
    if exp > 99:
        estr = str(exp // 100) + "%02d" % (exp % 100)
    else:
        estr = str(exp)
    return out + "e" + sign + estr


def fpconv_dtoa(d: float) -> bytes:
    """redis deps/fpconv fpconv_dtoa: Grisu2 digits, fpconv's layout."""
    neg = math.copysign(1.0, d) < 0
    prefix = "-" if neg else ""
    if d == 0.0:
        return (prefix + "0").encode()
    if math.isnan(d):
        return (prefix + "nan").encode()
    if math.isinf(d):
        return (prefix + "inf").encode()
    digits, K = _grisu2(d)
    return (prefix + _emit_digits(digits, K, neg)).encode()


# ---------------------------------------------------------------------------
# d2string and the listpack score


def d2string(d: float, style: str = STYLE_FPCONV) -> bytes:
    """util.c d2string for the given server generation (see the module docstring)."""
    if math.isnan(d):
        return b"nan"
    if math.isinf(d):
        return b"-inf" if d < 0 else b"inf"
    if d == 0.0:
        return b"-0" if math.copysign(1.0, d) < 0 else b"0"
    if style == STYLE_FPCONV:
        ll = double2ll(d)
        return str(ll).encode() if ll is not None else fpconv_dtoa(d)
    if style == STYLE_PRINTF:
        ll = _legacy_int(d)
        return str(ll).encode() if ll is not None else _printf_17g(d)
    raise ValueError(f"unknown d2string style {style!r}")


def zset_listpack_score(score: float, style: str = STYLE_FPCONV, *,
                        int_first: bool = True) -> int | bytes:
    """What zzlInsertAt stores as a member's score in a ziplist/listpack: an ``int`` for
    an integer entry, else the text.

    ``int_first`` (Redis 7.0+, Valkey): double2ll is tried first, so an integral score
    within +-2^62 goes in as an integer (-0.0 as 0, 1e17 as 100000000000000000), and only
    other scores are printed with d2string in ``style``. Up to 6.2 (``int_first=False``)
    d2string's text always went in (the ziplist encoder itself turns canonical integer
    text into an integer entry, which "-0" and "1e+17" are not). See
    ``zset_score_rules`` for which server did what."""
    if int_first:
        ll = double2ll(score)
        if ll is not None:
            return ll
    return d2string(score, style)


def zset_score_rules(version: tuple[int, int], *, valkey: bool = False) -> tuple[str, bool]:
    """(d2string style, int_first) of a server version: <= 6.2 ("printf", False),
    7.0 ("printf", True), 7.2+ and every Valkey ("fpconv", True). Checked against the
    corpus files (5.0 to 8.0, Valkey 8.0 to 9.1) and a live 7.0 server (tests)."""
    if valkey or version >= (7, 2):
        return STYLE_FPCONV, True
    if version >= (7, 0):
        return STYLE_PRINTF, True
    return STYLE_PRINTF, False


def reply_double(d: float, style: str = STYLE_FPCONV) -> bytes:
    """The text of a double reply (ZSCORE, ZINCRBY, ZADD INCR; networking.c addReplyDouble):
    up to 7.0 infinities as "inf"/"-inf" and everything else "%.17g" (no integer
    shortcut: 1.0 -> "1" through %g itself); 7.2+ d2string."""
    if style == STYLE_PRINTF:
        if math.isinf(d):
            return b"-inf" if d < 0 else b"inf"
        return _printf_17g(d)
    return d2string(d, style)


# ---------------------------------------------------------------------------
# RDB doubles

TEXT_DOUBLE_NAN = 253
TEXT_DOUBLE_POS_INF = 254
TEXT_DOUBLE_NEG_INF = 255

# What sscanf("%lg") reads in files Redis wrote: decimal floats, inf/nan words.
_TEXT_DOUBLE = re.compile(
    rb"[ \t\n\r\f\v]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)\Z",
    re.IGNORECASE)


def read_text_double(src: ByteSource, what: str = "text double") -> float:
    """rdbLoadDoubleValue: length byte (253/254/255 = NaN/+inf/-inf), then ASCII."""
    start = src.base + src.pos
    if src.pos >= len(src.buf):
        src.need(1, what)
    n = src.buf[src.pos]
    src.pos += 1
    if n == TEXT_DOUBLE_NEG_INF:
        return -math.inf
    if n == TEXT_DOUBLE_POS_INF:
        return math.inf
    if n == TEXT_DOUBLE_NAN:
        return math.nan
    text = src.read(n, what)
    if not _TEXT_DOUBLE.match(text):
        raise FormatError(f"bad {what}", start, expected="a decimal number",
                          found=repr(text[:40]))
    return float(text)


def encode_text_double(d: float, style: str = STYLE_PRINTF) -> bytes:
    """rdbSaveDoubleValue. ``printf`` is what every server that wrote type 3 zsets
    (Redis < 4.0) used: integers inside (-(2^52-1), 2^52) via ll2string, else "%.17g";
    ``fpconv`` is the current code (double2ll, else fpconv_dtoa)."""
    if math.isnan(d):
        return bytes((TEXT_DOUBLE_NAN,))
    if math.isinf(d):
        return bytes((TEXT_DOUBLE_NEG_INF if d < 0 else TEXT_DOUBLE_POS_INF,))
    if style == STYLE_PRINTF:
        ll = _legacy_int(d)
        text = str(ll).encode() if ll is not None else _printf_17g(d)
    elif style == STYLE_FPCONV:
        ll = double2ll(d)
        text = str(ll).encode() if ll is not None else fpconv_dtoa(d)
    else:
        raise ValueError(f"unknown style {style!r}")
    return bytes((len(text),)) + text


def read_binary_double(src: ByteSource, what: str = "binary double") -> float:
    """rdbLoadBinaryDoubleValue: 8 bytes IEEE-754, little endian."""
    if len(src.buf) - src.pos < 8:
        src.need(8, what)
    pos = src.pos
    src.pos = pos + 8
    return _F64.unpack_from(src.buf, pos)[0]


def encode_binary_double(d: float) -> bytes:
    return _F64.pack(d)
