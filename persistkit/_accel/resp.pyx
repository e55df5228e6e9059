# cython: language_level=3
"""Compiled RESP framing for AOF command streams: the accept-only fast path of
``aoftools.verify`` (counting) and ``aoftools.reader`` (building argument lists).

Both functions walk the usual framing straight over a ByteSource window (``bytes``)
and stop, returning how far they got, at the first byte that is not the usual shape:

* ``*<N>\\r\\n`` with N written as 1-18 plain digits, first digit not 0;
* N times ``$<L>\\r\\n`` (L: 1-18 plain digits), L bytes, ``\\r\\n``;
* the whole command inside the window.

Everything else (``*0``, blanks or signs in a number, a missing CRLF, a command cut
by the window's end, a byte that starts neither a command nor an annotation) is left
to the exact parser (``kvencoding.resp.CommandParser``), which refills the window,
reads that one item and raises the FormatError with the offset. What these functions
accept is therefore a subset of what the exact parser accepts, with the same result
(redis-check-aof 7.0 ``readLong``/``readString``: strtol of plain digits is the
number itself); ``tests/test_accel_resp.py`` checks both paths agree.

No Python object is touched in the framing loops; a length never leads to a read
outside ``[buf, buf + len(buf))``.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int64_t

# annotation lines: fgets into AOF_ANNOTATION_LINE_MAX_LEN (1024) bytes (processAnnotations)
DEF ANNOTATION_LINE_MAX = 1023
DEF MAX_DIGITS = 18


cdef inline Py_ssize_t _number(const unsigned char* b, Py_ssize_t p, Py_ssize_t n,
                               unsigned char prefix, bint nonzero_first,
                               int64_t* out) noexcept nogil:
    """``<prefix><1-18 digits>\\r\\n`` at ``p``: the index after the CRLF, or -1."""
    cdef Py_ssize_t i = p + 1
    cdef Py_ssize_t stop
    cdef int64_t v = 0
    if p >= n or b[p] != prefix:
        return -1
    stop = i + MAX_DIGITS
    if stop > n:
        stop = n
    if nonzero_first and (i >= n or b[i] == 48):
        return -1
    while i < stop and 48 <= b[i] <= 57:
        v = v * 10 + (b[i] - 48)
        i += 1
    if i == p + 1 or i + 1 >= n or b[i] != 13 or b[i + 1] != 10:
        return -1
    out[0] = v
    return i + 2


cdef inline Py_ssize_t _bulk_end(const unsigned char* b, Py_ssize_t p, Py_ssize_t n,
                                 Py_ssize_t* data_at) noexcept nogil:
    """One ``$<L>\\r\\n<L bytes>\\r\\n`` at ``p``: the index after it, or -1."""
    cdef int64_t blen
    cdef Py_ssize_t q = _number(b, p, n, 36, False, &blen)
    if q < 0 or blen > n - q - 2:
        return -1
    data_at[0] = q
    q += <Py_ssize_t>blen
    if b[q] != 13 or b[q + 1] != 10:
        return -1
    return q + 2


cdef inline int _multi_exec(const unsigned char* h, Py_ssize_t hlen) noexcept nogil:
    """1 for MULTI, 2 for EXEC, 0 otherwise. processRESP compares C strings (the name
    ends at a NUL byte) case-insensitively."""
    cdef Py_ssize_t k = 0
    while k < hlen and h[k] != 0:
        k += 1
    if k == 5 and (h[0] | 32) == 109 and (h[1] | 32) == 117 and (h[2] | 32) == 108 \
            and (h[3] | 32) == 116 and (h[4] | 32) == 105:
        return 1
    if k == 4 and (h[0] | 32) == 101 and (h[1] | 32) == 120 and (h[2] | 32) == 101 \
            and (h[3] | 32) == 99:
        return 2
    return 0


cdef inline Py_ssize_t _command_end(const unsigned char* b, Py_ssize_t p, Py_ssize_t n,
                                    Py_ssize_t* head_at, Py_ssize_t* head_len) noexcept nogil:
    """A whole command at ``p`` of the usual shape: the index after it, or -1."""
    cdef int64_t argc
    cdef Py_ssize_t data_at = 0
    cdef Py_ssize_t q = _number(b, p, n, 42, True, &argc)
    cdef Py_ssize_t r
    if q < 0:
        return -1
    r = _bulk_end(b, q, n, &data_at)
    if r < 0:
        return -1
    head_at[0] = data_at
    head_len[0] = r - 2 - data_at
    argc -= 1
    while argc > 0:
        r = _bulk_end(b, r, n, &data_at)
        if r < 0:
            return -1
        argc -= 1
    return r


cdef inline Py_ssize_t _annotation_end(const unsigned char* b, Py_ssize_t p, Py_ssize_t n,
                                       int64_t* ts) noexcept nogil:
    """A ``#...`` line whose ``\\n`` lies within the first 1023 bytes and inside the
    window: the index after it (``ts``: the ``#TS:`` seconds, else -1), or -1 when the
    exact parser must read it (no newline yet, an over-long line, a huge timestamp)."""
    cdef Py_ssize_t stop = p + ANNOTATION_LINE_MAX
    cdef Py_ssize_t i = p
    cdef Py_ssize_t e, k
    cdef int64_t v = 0
    if stop > n:
        stop = n
    while i < stop and b[i] != 10:
        i += 1
    if i >= stop:
        return -1
    # parse_annotation: the text is the line without its trailing \r / \n bytes
    e = i
    while e > p and (b[e - 1] == 13 or b[e - 1] == 10):
        e -= 1
    ts[0] = -1
    if e - p >= 4 and b[p + 1] == 84 and b[p + 2] == 83 and b[p + 3] == 58:  # "TS:"
        k = p + 4
        if k < e:
            if e - k > MAX_DIGITS:
                return -1
            while k < e and 48 <= b[k] <= 57:
                v = v * 10 + (b[k] - 48)
                k += 1
            if k == e:
                ts[0] = v
    return i + 1


def verify_scan(bytes buf, Py_ssize_t pos, int multi, object multi_at, int64_t base):
    """Frame commands and annotations from ``pos`` for ``verify``, tracking MULTI/EXEC.

    Returns ``(pos, commands, annotations, multi_blocks, multi, multi_at, first_ts,
    last_ts)``: ``pos`` where the exact parser must take over (the window's end, or
    the first unusual item: also a MULTI inside a block or an EXEC without one, whose
    problem the exact path reports); ``multi_at`` the absolute offset of the open
    MULTI (unchanged object when none opened here); timestamps -1 when none seen."""
    cdef const unsigned char* b = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buf)
    cdef Py_ssize_t p = pos
    cdef Py_ssize_t q, head_at = 0, head_len = 0
    cdef Py_ssize_t commands = 0, annotations = 0, blocks = 0
    cdef int64_t ts, first_ts = -1, last_ts = -1
    cdef int64_t open_at = -1
    cdef int kind
    if p < 0:
        p = 0
    with nogil:
        while p < n:
            if b[p] == 42:  # '*'
                q = _command_end(b, p, n, &head_at, &head_len)
                if q < 0:
                    break
                if head_len >= 4:
                    kind = _multi_exec(b + head_at, head_len)
                    if kind == 1:
                        if multi:
                            break  # nested MULTI: reported by the exact path
                        multi = 1
                        open_at = base + p
                    elif kind == 2:
                        if multi != 1:
                            break  # EXEC without MULTI: reported by the exact path
                        multi = 0
                        blocks += 1
                commands += 1
                p = q
            elif b[p] == 35:  # '#'
                q = _annotation_end(b, p, n, &ts)
                if q < 0:
                    break
                annotations += 1
                if ts >= 0:
                    if first_ts < 0:
                        first_ts = ts
                    last_ts = ts
                p = q
            else:
                break
    if open_at >= 0:
        multi_at = open_at
    return p, commands, annotations, blocks, multi, multi_at, first_ts, last_ts


def frame_commands(bytes buf, Py_ssize_t pos, Py_ssize_t limit=4096):
    """Up to ``limit`` whole commands of the usual shape from ``pos`` for the AOF reader.

    Returns ``(args_lists, ends)``: each command's arguments (``list[bytes]``) and the
    index just after it in ``buf`` (a command starts where the previous one ended).
    Stops at an annotation (the exact parser tracks ``#TS:``) and at anything unusual."""
    cdef const unsigned char* b = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buf)
    cdef Py_ssize_t p = pos
    cdef Py_ssize_t q, r, head_at = 0, head_len = 0, data_at = 0
    cdef int64_t argc = 0
    cdef Py_ssize_t i
    cdef list commands = []
    cdef list ends = []
    cdef list args
    cdef object item
    if p < 0:
        p = 0
    while p < n and len(commands) < limit:
        if b[p] != 42:
            break
        # frame first (no objects), then build: a cut command costs no allocation
        q = _command_end(b, p, n, &head_at, &head_len)
        if q < 0:
            break
        r = _number(b, p, n, 42, True, &argc)
        args = PyList_New(<Py_ssize_t>argc)
        for i in range(<Py_ssize_t>argc):
            r = _bulk_end(b, r, n, &data_at)
            item = PyBytes_FromStringAndSize(<const char*>(b + data_at), r - 2 - data_at)
            Py_INCREF(item)
            PyList_SET_ITEM(args, i, item)
        commands.append(args)
        ends.append(q)
        p = q
    return commands, ends
