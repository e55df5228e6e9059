"""Small helpers shared by the command families."""

from __future__ import annotations

from ..numbers import INT64_MAX, get_int
from ..reply import SYNTAX, CommandError


def upper(b: bytes) -> bytes:
    return b.upper()


def norm_range(start: int, end: int, n: int) -> tuple[int, int] | None:
    """LRANGE/ZRANGE/GETRANGE index rules: negatives from the end, clamp; None = empty."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    if end >= n:
        end = n - 1
    return start, end


def expire_arg_to_ms(now: int, arg: bytes, unit_ms: int, absolute: bool, cmd: str) -> int:
    """EX/PX/EXAT/PXAT or EXPIRE-family argument -> absolute unix ms, with Redis' checks."""
    v = get_int(arg)
    if unit_ms == 1000:
        if v > INT64_MAX // 1000 or v < -(INT64_MAX // 1000):
            raise CommandError(f"ERR invalid expire time in '{cmd}' command")
        v *= 1000
    if not absolute:
        if v > INT64_MAX - now:
            raise CommandError(f"ERR invalid expire time in '{cmd}' command")
        v += now
    return v


def ms_bytes(ms: int) -> bytes:
    return b"%d" % ms


def check_syntax(cond: bool) -> None:
    if not cond:
        raise CommandError(SYNTAX)
