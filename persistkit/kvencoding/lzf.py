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

Compression reproduces redis/redis src/lzf_c.c as Redis builds it (lzfP.h: HLOG 16,
VERY_FAST 1, ULTRA_FAST 0, INIT_HTAB 0), see ``compress``.

python-lzf (module ``lzf``, the ``lzf`` extra) is used as the fast path when importable;
every failure it reports is re-run through the pure decoder for a precise error offset.
"""

from __future__ import annotations

from .errors import FormatError, TruncatedError

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
    into the file. Raises FormatError (TruncatedError when the data ends inside an item)."""
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
                raise TruncatedError("LZF literal run runs past the end of the data", base + item,
                                     expected=f"{run} literal bytes", found=f"{in_len - ip} bytes left")
            out += data[ip:end]
            ip = end
            op += run
        else:
            n = ctrl >> 5
            if ip >= in_len:
                raise TruncatedError("LZF back-reference cut short", base + item,
                                     expected="offset byte", found="end of data")
            if n == 7:
                n += data[ip]
                ip += 1
                if ip >= in_len:
                    raise TruncatedError("LZF back-reference cut short", base + item,
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
        raise TruncatedError("LZF data ends before the uncompressed length is reached", base + in_len,
                             expected=f"{out_len} output bytes", found=f"{op} bytes")
    return bytes(out)
