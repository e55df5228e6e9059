# cython: language_level=3
"""Python views of the compiled primitives in ``blobs.pxd`` (the differential tests
compare them with the pure codecs; compiled modules cimport the pxd directly).

Each function answers what the compiled rule decided: the decoded items, or
``BlobRejected`` (the pure codec must then raise a FormatError for the same bytes),
or ``BlobShort`` (the range ended inside the item: more input is needed).
"""

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport malloc, free

from persistkit._accel.blobs cimport (
    PK_OK, PK_END, PK_SHORT, PK_BAD, STR_RAW, STR_INT, STR_LZF, Elem, RdbStr,
    rdb_len, rdb_str, rdb_str_head, lzf_decode, lzf_max_size, canonical_int,
    int_text, LpIter, lp_open, lp_next, ZlIter, zl_open, zl_next, IsIter, is_open, is_next,
    ZmIter, zm_open, zm_next, StreamIter, StreamEntry, sn_open, sn_next, sn_field)


class BlobRejected(ValueError):
    """The compiled rule rejected the bytes."""


class BlobShort(ValueError):
    """The bytes end inside the item."""


cdef object _elem(Elem* e):
    if e.ptr == NULL:
        return e.ival
    return (<const char*>e.ptr)[:e.len]


cdef int _check(int r) except -3:
    if r == PK_BAD:
        raise BlobRejected("rejected")
    if r == PK_SHORT:
        raise BlobShort("short")
    return r


def read_length(const unsigned char[::1] data, Py_ssize_t pos=0):
    """(value, encoded, next position) of the length prefix at ``pos``."""
    cdef const unsigned char* base = &data[0] if data.shape[0] else NULL
    cdef const unsigned char* p = base + pos
    cdef uint64_t v
    cdef bint enc
    if pos < 0 or pos > data.shape[0]:
        raise IndexError(pos)
    _check(rdb_len(&p, base + data.shape[0], &v, &enc))
    return v, bool(enc), p - base


def read_string(const unsigned char[::1] data, Py_ssize_t pos=0):
    """(value bytes, form, next position) of the RDB string at ``pos``; LZF strings are
    decompressed (strictly) like lengths.read_string."""
    cdef const unsigned char* base = &data[0] if data.shape[0] else NULL
    cdef const unsigned char* p = base + pos
    cdef RdbStr s
    cdef unsigned char buf[24]
    if pos < 0 or pos > data.shape[0]:
        raise IndexError(pos)
    _check(rdb_str(&p, base + data.shape[0], &s))
    if s.form == STR_INT:
        return (<const char*>buf)[:int_text(s.ival, buf)], "int", p - base
    if s.form == STR_RAW:
        return (<const char*>s.ptr)[:s.len], "raw", p - base
    return _lzf(s.ptr, <Py_ssize_t>s.clen, <Py_ssize_t>s.len), "lzf", p - base


def skip_string(const unsigned char[::1] data, Py_ssize_t pos=0):
    """(form, decoded length, next position) as the compiled scan walks an RDB string it
    does not decode (lengths.skip_string's rules: the LZF claim checked, data skipped)."""
    cdef const unsigned char* base = &data[0] if data.shape[0] else NULL
    cdef const unsigned char* p = base + pos
    cdef const unsigned char* end = base + data.shape[0]
    cdef RdbStr s
    if pos < 0 or pos > data.shape[0]:
        raise IndexError(pos)
    _check(rdb_str_head(&p, end, &s))
    if s.form == STR_RAW:
        if s.len > <uint64_t>(end - p):
            raise BlobShort("short")
        p += s.len
        return "raw", s.len, p - base
    if s.form == STR_LZF:
        if s.clen > <uint64_t>(end - p):
            raise BlobShort("short")
        p += s.clen
        return "lzf", s.len, p - base
    return "int", 0, p - base


cdef bytes _lzf(const unsigned char* src, Py_ssize_t clen, Py_ssize_t ulen):
    cdef unsigned char* out
    if ulen < 0 or <uint64_t>ulen > lzf_max_size(<uint64_t>clen):
        raise BlobRejected("rejected")
    out = <unsigned char*>malloc(ulen if ulen else 1)
    if out == NULL:
        raise MemoryError()
    try:
        _check(lzf_decode(src, clen, out, ulen))
        return (<const char*>out)[:ulen]
    finally:
        free(out)


def lzf_decompress(const unsigned char[::1] data, Py_ssize_t ulen):
    """The ``ulen`` bytes ``data`` decodes to (lzf.decompress's rules)."""
    return _lzf(&data[0] if data.shape[0] else NULL, data.shape[0], ulen)


def lzf_valid(const unsigned char[::1] data, Py_ssize_t ulen):
    """True when ``data`` decodes to exactly ``ulen`` bytes (validation without output)."""
    return lzf_decode(&data[0] if data.shape[0] else NULL, data.shape[0], NULL, ulen) == PK_OK


def listpack_items(const unsigned char[::1] blob):
    cdef LpIter it
    cdef Elem e
    cdef int r
    out = []
    _check(lp_open(&it, &blob[0] if blob.shape[0] else NULL, blob.shape[0]))
    while True:
        r = _check(lp_next(&it, &e))
        if r == PK_END:
            return out
        out.append(_elem(&e))


def ziplist_items(const unsigned char[::1] blob):
    cdef ZlIter it
    cdef Elem e
    cdef int r
    out = []
    _check(zl_open(&it, &blob[0] if blob.shape[0] else NULL, blob.shape[0]))
    while True:
        r = _check(zl_next(&it, &e))
        if r == PK_END:
            return out
        out.append(_elem(&e))


def intset_items(const unsigned char[::1] blob):
    cdef IsIter it
    cdef int64_t v
    cdef int r
    out = []
    _check(is_open(&it, &blob[0] if blob.shape[0] else NULL, blob.shape[0]))
    while True:
        r = _check(is_next(&it, &v))
        if r == PK_END:
            return out
        out.append(v)


def zipmap_items(const unsigned char[::1] blob):
    cdef ZmIter it
    cdef Elem k, v
    cdef int r
    out = []
    _check(zm_open(&it, &blob[0] if blob.shape[0] else NULL, blob.shape[0]))
    while True:
        r = _check(zm_next(&it, &k, &v))
        if r == PK_END:
            return out
        out.append((_elem(&k), _elem(&v)))


def stream_node_entries(const unsigned char[::1] master, const unsigned char[::1] blob):
    """(master fields, [((ms, seq), deleted, [(field, value), ...]), ...])."""
    cdef StreamIter it
    cdef StreamEntry e
    cdef Elem f, v
    cdef int r
    cdef Py_ssize_t i
    if master.shape[0] != 16:
        raise BlobRejected("master key is not 16 bytes")
    _check(sn_open(&it, &master[0], &blob[0] if blob.shape[0] else NULL, blob.shape[0]))
    from persistkit._accel.blobs import listpack_items as _lp
    items = _lp(blob)
    fields = [x if type(x) is bytes else str(x).encode() for x in items[3:3 + it.nfields]]
    entries = []
    while True:
        r = _check(sn_next(&it, &e))
        if r == PK_END:
            return fields, entries
        pairs = []
        while sn_field(&it, &e, &f, &v) == PK_OK:
            pairs.append((_text(_elem(&f)), _text(_elem(&v))))
        entries.append(((e.ms, e.seq), bool(e.flags & 1), pairs))


cdef object _text(object x):
    return x if type(x) is bytes else str(x).encode()


def parse_canonical_int(const unsigned char[::1] s):
    """listpack.canonical_int: the int64 value, or None."""
    cdef int64_t v
    if canonical_int(&s[0] if s.shape[0] else NULL, s.shape[0], &v):
        return v
    return None
