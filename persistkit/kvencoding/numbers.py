"""Numbers as Redis writes them: canonical integers, text and binary doubles.

- ``canonical_int``: redis/redis src/util.c ``string2ll`` rules, the test every
  "store this string as an integer?" decision in Redis goes through.
"""

from __future__ import annotations

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


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
