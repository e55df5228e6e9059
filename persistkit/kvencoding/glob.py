"""Redis glob patterns: the one key-pattern matcher of the package.

Semantics of redis/redis ``src/util.c`` ``stringmatchlen`` with ``nocase`` off, as
``KEYS`` and ``SCAN MATCH`` apply it, byte for byte (keys and patterns are bytes):

* ``*`` any run of bytes (runs of ``*`` count as one), ``?`` exactly one byte;
* ``[...]`` one byte of a class; ``[^...]`` negates it (``!`` is an ordinary byte:
  ``[!a]`` means "``!`` or ``a``", not fnmatch's "not ``a``"); ``x-y`` is a range with the
  ends swapped when reversed, compared as C ``char`` (signed: bytes 0x80-0xFF sort
  below 0x00); ``\\`` inside a class makes the next byte literal; a range takes any
  three bytes ``x-y`` even when ``y`` is ``]`` (so ``[a-]`` is the range ``]``..``a`` and
  leaves the class open); ``[]`` matches nothing and ``[^]`` any byte; a class still
  open at the end of the pattern ends there (``[abc`` is ``[abc]``, ``[`` matches
  nothing, ``[^`` any byte);
* ``\\`` outside a class makes the next byte literal (a trailing ``\\`` is itself);
* everything else matches itself; the whole key must match; an empty key matches only
  an empty pattern (``**`` does not match it);
* ``KEYS *`` / ``SCAN MATCH *`` take every key, the empty key too (the commands test
  for a lone ``*`` before calling ``stringmatchlen``, which would refuse an empty key):
  ``glob_match(b"*", b"")`` is True, as the commands answer.

Not modelled: ``stringmatchlen`` gives up (no match) past 1000 nested ``*`` recursions,
a protection against abusive patterns; a pattern needs more than a thousand ``*`` to
reach it.

The pattern is parsed once, the way ``stringmatchlen`` walks it (its parse does not
depend on the key), into a regular expression over bytes.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Callable, Optional, Union

_STAR, _ANY, _SET = 0, 1, 2
_ALL = frozenset(range(256))


def _signed(b: int) -> int:
    # util.c compares range ends and the key byte as (signed) char.
    return b - 256 if b > 127 else b


def _class(pattern: bytes, i: int) -> tuple[frozenset, int]:
    """The bytes a class starting after ``[`` at ``i`` matches, and where the pattern
    goes on (the walk of stringmatchlen's ``case '['``)."""
    n = len(pattern)
    negate = i < n and pattern[i] == 0x5E  # '^'
    if negate:
        i += 1
    members: set = set()
    while True:
        left = n - i
        if left >= 2 and pattern[i] == 0x5C:  # '\\' escapes the next byte
            i += 1
            members.add(pattern[i])
        elif left > 0 and pattern[i] == 0x5D:  # ']'
            i += 1
            break
        elif left <= 0:
            break  # open class: it ends with the pattern
        elif left >= 3 and pattern[i + 1] == 0x2D:  # 'x-y'
            lo, hi = _signed(pattern[i]), _signed(pattern[i + 2])
            if lo > hi:
                lo, hi = hi, lo
            members.update(b for b in range(256) if lo <= _signed(b) <= hi)
            i += 2
        else:
            members.add(pattern[i])
        i += 1
    return (_ALL - members if negate else frozenset(members)), min(i, n)


def _tokens(pattern: bytes) -> list:
    out: list = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # '*'
            if not out or out[-1] is not _STAR:
                out.append(_STAR)
            i += 1
        elif c == 0x3F:  # '?'
            out.append(_ANY)
            i += 1
        elif c == 0x5B:  # '['
            members, i = _class(pattern, i + 1)
            out.append((_SET, members))
        elif c == 0x5C and i + 1 < n:  # '\\' then a literal byte
            out.append(pattern[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return out


def _byte(b: int) -> bytes:
    return re.escape(bytes((b,)))


def _set_regex(members: frozenset) -> bytes:
    if not members:
        return b"(?!)"
    if len(members) == 256:
        return b"."
    if len(members) == 1:
        return _byte(next(iter(members)))
    # Ranges of consecutive bytes keep the class short.
    parts = []
    run_start = prev = None
    for b in sorted(members):
        if prev is not None and b == prev + 1:
            prev = b
            continue
        if run_start is not None:
            parts.append(_byte(run_start) if run_start == prev else
                         _byte(run_start) + b"-" + _byte(prev))
        run_start = prev = b
    parts.append(_byte(run_start) if run_start == prev else _byte(run_start) + b"-" + _byte(prev))
    return b"[" + b"".join(parts) + b"]"


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes) -> "re.Pattern[bytes]":
    """The pattern as a compiled regular expression; use ``.fullmatch(key)``."""
    out = []
    for tok in _tokens(bytes(pattern)):
        if tok is _STAR:
            out.append(b".*")
        elif tok is _ANY:
            out.append(b".")
        elif tok.__class__ is tuple:
            out.append(_set_regex(tok[1]))
        else:
            out.append(_byte(tok))
    body = b"".join(out)
    # stringmatchlen walks nothing for an empty key: only an empty pattern matches it.
    return re.compile(b"(?=.)" + body if pattern else body, re.DOTALL)


def glob_match(pattern: bytes, key: bytes) -> bool:
    """True when ``key`` matches ``pattern`` as ``KEYS pattern`` would list it."""
    if pattern == b"*":
        return True
    return compile_glob(bytes(pattern)).fullmatch(key) is not None


def pattern_bytes(pattern: Union[str, bytes]) -> bytes:
    """A pattern from the command line as bytes: the bytes the shell passed
    (``os.fsencode``, so a non-UTF-8 pattern survives)."""
    return pattern if isinstance(pattern, (bytes, bytearray)) else os.fsencode(pattern)


def key_matcher(pattern: Union[str, bytes, None]) -> Optional[Callable[[bytes], bool]]:
    """A ``key -> bool`` test for ``--match PATTERN`` (None when there is no pattern)."""
    if pattern is None:
        return None
    pat = pattern_bytes(pattern)
    if pat == b"*":
        return lambda key: True
    fullmatch = compile_glob(pat).fullmatch
    return lambda key: fullmatch(key) is not None


__all__ = ["compile_glob", "glob_match", "key_matcher", "pattern_bytes"]
