"""Redis's ``sdssplitargs`` (sds.c): how the server splits a manifest line, an
inline command and a redis.conf line into words.

Words are separated by blanks; ``"double quoted"`` words take ``\\n \\r \\t \\b
\\a \\xHH`` escapes; ``'single quoted'`` words take only ``\\'``. A closing quote
must be followed by a blank or the end; unbalanced quotes give None.
"""

from __future__ import annotations

from typing import Optional

_SPACE = b" \n\r\t\v\f"
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_HEX = b"0123456789abcdefABCDEF"


def split_args(line: bytes) -> Optional[list[bytes]]:
    """Split like redis ``sdssplitargs``; None for unbalanced quotes (as it does)."""
    out: list[bytes] = []
    n = len(line)
    p = 0
    while True:
        while p < n and line[p] in _SPACE:
            p += 1
        if p >= n:
            return out
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if p >= n:
                    return None
                c = line[p]
                if c == 0x5C and p + 3 < n and line[p + 1] == ord("x") \
                        and line[p + 2] in _HEX and line[p + 3] in _HEX:
                    cur.append(int(line[p + 2:p + 4], 16))
                    p += 3
                elif c == 0x5C and p + 1 < n:
                    p += 1
                    e = line[p]
                    cur += _ESCAPES.get(e, bytes((e,)))
                elif c == 0x22:
                    if p + 1 < n and line[p + 1] not in _SPACE:
                        return None  # closing quote must be followed by a space
                    p += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if p >= n:
                    return None
                c = line[p]
                if c == 0x5C and p + 1 < n and line[p + 1] == 0x27:
                    p += 1
                    cur.append(0x27)
                elif c == 0x27:
                    if p + 1 < n and line[p + 1] not in _SPACE:
                        return None
                    p += 1
                    break
                else:
                    cur.append(c)
            else:
                if p >= n:
                    break
                c = line[p]
                if c in _SPACE:
                    break
                if c == 0x22:
                    inq = True
                elif c == 0x27:
                    insq = True
                else:
                    cur.append(c)
            p += 1
        out.append(bytes(cur))
