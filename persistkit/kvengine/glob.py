"""Redis glob patterns (stringmatchlen in redis/src/util.c) compiled to regular expressions."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes):
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i:i + 1]
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        elif c == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i:i + 1]))
        elif c == b"[":
            j = i + 1
            negate = j < n and pattern[j:j + 1] == b"^"
            if negate:
                j += 1
            items = []
            while j < n and pattern[j:j + 1] != b"]":
                ch = pattern[j:j + 1]
                if ch == b"\\" and j + 1 < n:
                    j += 1
                    items.append(re.escape(pattern[j:j + 1]))
                elif j + 2 < n and pattern[j + 1:j + 2] == b"-" and pattern[j + 2:j + 3] != b"]":
                    lo, hi = pattern[j], pattern[j + 2]
                    if lo > hi:
                        lo, hi = hi, lo
                    items.append(re.escape(bytes([lo])) + b"-" + re.escape(bytes([hi])))
                    j += 2
                else:
                    items.append(re.escape(ch))
                j += 1
            # an unterminated class matches up to the end like Redis does
            body = b"".join(items)
            if not body:
                out.append(b"(?!)" if not negate else b".")
            else:
                out.append(b"[" + (b"^" if negate else b"") + body + b"]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(b"".join(out) + b"\\Z", re.DOTALL)


def glob_match(pattern: bytes, text: bytes) -> bool:
    if pattern == b"*":
        return True
    return compile_glob(pattern).match(text) is not None
