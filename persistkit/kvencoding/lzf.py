"""LZF, as Redis uses it for RDB strings: strict decompression, byte-exact compression.

Format (liblzf; redis/redis src/lzf_d.c): a sequence of items, each starting with a
control byte ``ctrl``:

- ``ctrl < 32``: a literal run; ``ctrl + 1`` bytes follow and are copied to the output.
- else a back-reference: ``len = ctrl >> 5`` (1..6, or 7 meaning "7 + next byte"),
  then one byte ``lo``; ``offset = ((ctrl & 0x1f) << 8) + lo + 1`` back from the current
  output end; ``len + 2`` bytes are copied one at a time (so overlapping copies repeat).

Maximal expansion: a back-reference is at most 3 input bytes (ctrl, 255, lo) for at most
7 + 255 + 2 = 264 output bytes, i.e. 88 output bytes per input byte; a literal run never
expands. So ``clen`` compressed bytes decode to at most ``264 * (clen // 3)`` plus 8 when
two bytes are left over (a short back-reference). ``decompress`` rejects a claimed output
length beyond that bound before allocating anything (``max_decompressed_size``).

Decompression is strict where liblzf is (and where Redis checks the result length): a
literal run or copy past ``out_len`` (E2BIG), input ending inside an item or a
back-reference before the output start (EINVAL), and an output shorter than ``out_len``
("Invalid LZF compressed string" in rdbLoadLzfStringObject). Since every item produces at
least one byte, leftover input after ``out_len`` bytes shows up as "output overflow".
All of these are plain FormatErrors, never TruncatedError: the compressed blob has a
known length, so a short one is corrupt data, not a cut file (the caller's ByteSource
reports a file that really ends inside the blob).

Compression reproduces redis/redis src/lzf_c.c as Redis builds it (lzfP.h: HLOG 16,
VERY_FAST 1, ULTRA_FAST 0, INIT_HTAB 0), see ``compress``.

python-lzf (module ``lzf``, the ``lzf`` extra) is used as the fast path when importable;
every failure it reports is re-run through the pure decoder for a precise error offset.
"""

from __future__ import annotations

from .errors import FormatError

try:  # optional C fast path
    import lzf as _clzf
except ImportError:  # pragma: no cover - depends on the environment
    _clzf = None

# Largest output one back-reference item can produce, and its input size.
_MAX_BACKREF_OUT = 7 + 255 + 2
_MAX_BACKREF_IN = 3
MAX_EXPANSION_RATIO = _MAX_BACKREF_OUT // _MAX_BACKREF_IN  # 88


def max_decompressed_size(clen: int) -> int:
    """The most bytes ``clen`` bytes of LZF data can possibly decode to."""
    full, rest = divmod(clen, _MAX_BACKREF_IN)
    return full * _MAX_BACKREF_OUT + (8 if rest == 2 else 0)


def decompress(data: bytes, out_len: int, base: int = 0) -> bytes:
    """Decode LZF ``data`` that must produce exactly ``out_len`` bytes.

    ``base`` is the absolute offset of ``data[0]`` in the input, so error offsets point
    into the file. Raises FormatError."""
    if type(data) is not bytes:
        data = bytes(data)
    clen = len(data)
    if out_len < 0:
        raise FormatError("negative LZF output length", base)
    if out_len > max_decompressed_size(clen):
        raise FormatError(
            "LZF uncompressed length larger than the compressed data can expand to", base,
            expected=f"at most {max_decompressed_size(clen)} bytes from {clen} compressed bytes "
                     f"(LZF expands at most {MAX_EXPANSION_RATIO}x)",
            found=f"{out_len} bytes claimed")
    if clen == 0:
        # out_len is 0 here (the bound above): nothing in, nothing out.
        return b""
    if _clzf is not None and out_len:
        try:
            out = _clzf.decompress(data, out_len)
        except ValueError:  # EINVAL: corrupt input
            out = None
        if out is not None and len(out) == out_len:
            return out
        # Let the pure decoder say exactly what and where (it raises).
    return decompress_py(data, out_len, base)


def decompress_py(data: bytes, out_len: int, base: int = 0) -> bytes:
    """The pure-Python decoder (same results and errors as ``decompress``)."""
    in_len = len(data)
    out = bytearray()
    ip = 0
    op = 0
    while ip < in_len:
        item = ip
        ctrl = data[ip]
        ip += 1
        if ctrl < 32:
            run = ctrl + 1
            if op + run > out_len:
                raise FormatError("LZF literal run overflows the output", base + item,
                                  expected=f"{out_len} output bytes",
                                  found=f"{op + run} bytes at least")
            end = ip + run
            if end > in_len:
                raise FormatError("LZF literal run runs past the end of the data", base + item,
                                  expected=f"{run} literal bytes", found=f"{in_len - ip} bytes left")
            out += data[ip:end]
            ip = end
            op += run
        else:
            n = ctrl >> 5
            if ip >= in_len:
                raise FormatError("LZF back-reference cut short", base + item,
                                  expected="offset byte", found="end of data")
            if n == 7:
                n += data[ip]
                ip += 1
                if ip >= in_len:
                    raise FormatError("LZF back-reference cut short", base + item,
                                      expected="offset byte", found="end of data")
            back = ((ctrl & 0x1F) << 8) + data[ip] + 1
            ip += 1
            n += 2
            if op + n > out_len:
                raise FormatError("LZF back-reference overflows the output", base + item,
                                  expected=f"{out_len} output bytes", found=f"{op + n} bytes at least")
            ref = op - back
            if ref < 0:
                raise FormatError("LZF back-reference before the start of the output", base + item,
                                  expected=f"offset at most {op}", found=f"offset {back}")
            if back >= n:
                out += out[ref:ref + n]
            else:
                # Overlapping copy: the last `back` bytes repeat.
                pattern = out[ref:op]
                reps = n // back + 1
                out += (pattern * reps)[:n]
            op += n
    if op != out_len:
        raise FormatError("LZF data ends before the uncompressed length is reached", base + in_len,
                          expected=f"{out_len} output bytes", found=f"{op} bytes")
    return bytes(out)


# ---------------------------------------------------------------------------
# compression: redis/redis src/lzf_c.c with src/lzfP.h defaults as Redis builds it
#
# - HLOG 16: a 65536-slot hash table of the last input position seen per hash.
# - VERY_FAST 1, ULTRA_FAST 0: IDX(h) = ((h >> (24 - HLOG)) - h*5) & 0xffff, where h
#   is the three bytes at the position, big-endian (FRST/NEXT roll it; only its low
#   24 bits reach the index's low 16 bits). After a match only the last two matched
#   positions are entered into the table.
# - INIT_HTAB 0: the table is not cleared, stale slots are stack garbage. Every slot
#   is checked (offset < 8192 back, strictly after the input start, the 3 bytes equal),
#   so garbage can only matter if it happens to point at an earlier position of the
#   same buffer with equal bytes; an empty table is what we model (see the tests:
#   every LZF string found in real Redis files re-compresses to the same bytes).
# - A candidate match needs: offset - 1 < MAX_OFF (8192), ref > in_data (so position 0
#   is never used as a match source) and 3 equal bytes. The lzf_c.c stored for
#   redis/redis (and liblzf before 3.6) also asks for ``ip + 4 < in_end``. Files written
#   by Redis 3.9 (4.0 RC) through 8.0 and Valkey 8.0 to 9.1 contain matches starting 4
#   bytes before the end of the input, which that test forbids: those servers ran
#   without it, as liblzf 3.6 does (Debian's liblzf, python-lzf). Files from Redis
#   2.x-3.0 (RDB 3 and 6 in corpus/public) need the test: ``legacy=True``. The tests in
#   tests/test_lzf.py check both against every LZF string found in the corpus.
#   A match is at least 3 bytes even where fewer than 3 would be "maxlen".
# - Match length: at most MAX_REF = 264 and at most in_end - ip - 2 ("maxlen"), except
#   for the 16-byte unrolled compare done when maxlen > 16, which may run up to 19
#   bytes when maxlen is 17 or 18 (still inside the input).
# - Literal runs of up to MAX_LIT = 32 bytes, header ``run - 1``.
# - Output limits (returns 0 = "does not fit"): before a back-reference,
#   op + 4 >= out_len fails; before each literal in the main loop, op >= out_len
#   fails; before the final (at most 2) literals, op + 3 > out_len fails. ``op`` counts
#   the header byte reserved for the current literal run.

_MAX_OFF = 1 << 13
_MAX_REF = (1 << 8) + (1 << 3)
_MAX_LIT = 1 << 5


def compress(data: bytes, max_out: int | None = None, *, legacy: bool = False) -> bytes | None:
    """lzf_compress(data, len(data), out, max_out) as Redis runs it: the compressed bytes,
    or None where it returns 0 (output does not fit in ``max_out`` bytes, empty input).

    ``max_out=None``: no limit (room for the worst case). Redis's RDB strings use
    ``len(data) - 4`` (rdbSaveLzfStringObject), quicklist nodes ``len(data)``
    (see ``compress_quicklist_node``).
    ``legacy=True``: the older compressor of Redis 2.x-3.0 (no match may start in the last
    4 input bytes), pure Python only."""
    if _clzf is not None and not legacy and data:
        in_len = len(data)
        out_len = worst_case_size(in_len) if max_out is None else max_out
        # python-lzf passes its max_length + 1 to lzf_compress (and one more for a 1-byte
        # input), so ask for one less to get exactly ``out_len``.
        arg = out_len - 1 - (in_len == 1)
        if arg > 0:
            return _clzf.compress(bytes(data), arg)
    return compress_py(data, max_out, legacy=legacy)


def worst_case_size(in_len: int) -> int:
    """An output size lzf_compress never fails on (one run header per 32 literals + slack)."""
    return in_len + (in_len >> 5) + 8


def compress_py(data: bytes, max_out: int | None = None, *, legacy: bool = False) -> bytes | None:
    """Pure-Python lzf_compress (same results as ``compress``)."""
    in_len = len(data)
    out_len = worst_case_size(in_len) if max_out is None else max_out
    if not in_len or out_len <= 0:
        return None
    data = bytes(data)
    out = bytearray()
    htab: dict[int, int] = {}  # IDX slot -> last position (0: none; position 0 never matches)
    get = htab.get
    run = 0      # input index where the current literal run starts
    lit = 0      # bytes in the current literal run
    ip = 0
    stop = in_len - 2
    match_stop = in_len - 4 if legacy else in_len
    # match_stop: legacy compressors refuse a match unless ip + 4 < in_end.
    h = (data[0] << 8) | data[1] if in_len > 1 else 0  # FRST; NEXT adds the third byte
    while ip < stop:
        h = ((h << 8) & 0xFFFFFF) | data[ip + 2]
        slot = ((h >> 8) - h * 5) & 0xFFFF
        ref = get(slot, 0)
        htab[slot] = ip
        if (ref and ip - ref <= _MAX_OFF and data[ref] == data[ip] and data[ref + 1] == data[ip + 1]
                and data[ref + 2] == data[ip + 2] and ip < match_stop):
            # Close the literal run (an empty run's header byte is taken back).
            if lit:
                out.append(lit - 1)
                out += data[run:ip]
            if len(out) + 4 >= out_len:
                return None
            maxlen = in_len - ip - 2
            if maxlen > _MAX_REF:
                maxlen = _MAX_REF
            if maxlen > 16:
                cap = 19 if maxlen < 19 else maxlen
            else:
                cap = maxlen if maxlen > 3 else 3
            # n = match length, following the C loop exactly (see the notes above).
            n = 3
            r = ref + 3
            i = ip + 3
            # Short matches are the common case: compare byte by byte first.
            while n < cap and n < 12 and data[r] == data[i]:
                n += 1; r += 1; i += 1
            if n == 12 and n < cap:
                if data[r:ref + cap] == data[i:ip + cap]:
                    n = cap
                else:
                    lo, hi = n, cap
                    while hi - lo > 1:
                        mid = (lo + hi) >> 1
                        if data[ref + lo:ref + mid] == data[ip + lo:ip + mid]:
                            lo = mid
                        else:
                            hi = mid
                    n = lo
            off = ip - ref - 1
            if n < 9:
                out.append((off >> 8) + ((n - 2) << 5))
            else:
                out.append((off >> 8) + 0xE0)
                out.append(n - 9)
            out.append(off & 0xFF)
            ip += n
            run = ip
            lit = 0
            if ip >= stop:
                break
            # VERY_FAST: enter the last two matched positions into the table.
            h = (data[ip - 2] << 16) | (data[ip - 1] << 8) | data[ip]
            htab[((h >> 8) - h * 5) & 0xFFFF] = ip - 2
            h = ((h << 8) & 0xFFFFFF) | data[ip + 1]
            htab[((h >> 8) - h * 5) & 0xFFFF] = ip - 1
        else:
            # One more literal; the C ``op`` is bytes out + the run header + run so far.
            if len(out) + 1 + lit >= out_len:
                return None
            lit += 1
            ip += 1
            if lit == _MAX_LIT:
                out.append(_MAX_LIT - 1)
                out += data[run:ip]
                run = ip
                lit = 0
    if len(out) + 1 + lit + 3 > out_len:
        return None
    # The last (at most two) bytes join the literal run without further checks.
    while ip < in_len:
        lit += 1
        ip += 1
        if lit == _MAX_LIT:
            out.append(_MAX_LIT - 1)
            out += data[run:ip]
            run = ip
            lit = 0
    if lit:
        out.append(lit - 1)
        out += data[run:ip]
    return bytes(out)


# quicklist.c __quicklistCompressNode: nodes under 48 bytes are left alone, and a result
# that saves fewer than 8 bytes is thrown away.
QUICKLIST_MIN_COMPRESS_BYTES = 48
QUICKLIST_MIN_COMPRESS_IMPROVE = 8


def compress_quicklist_node(node: bytes) -> bytes | None:
    """The LZF form of a quicklist node (list-compress-depth > 0), None if Redis keeps it raw."""
    sz = len(node)
    if sz < QUICKLIST_MIN_COMPRESS_BYTES:
        return None
    packed = compress(node, sz)
    if packed is None or len(packed) + QUICKLIST_MIN_COMPRESS_IMPROVE >= sz:
        return None
    return packed
