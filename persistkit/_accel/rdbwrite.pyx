# cython: language_level=3
"""Compiled encoders of the RDB writer (rdbtools/writer.py picks them through
``accel.module("rdbwrite")``).

Each function gives exactly the bytes of its pure counterpart (named in its docstring);
tests/test_accel_writer.py checks that on the whole corpus and on random inputs. Items
are ``bytes``; anything else (an ``int`` given to a blob encoder, a bytearray, a
memoryview) raises ``Fallback`` and the caller runs the pure encoder instead, so the
rules for unusual inputs live in one place.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport malloc
from libc.string cimport memcpy

from persistkit._accel.wbuf cimport (
    WBuf, wb_init, wb_free, wb_reserve, wb_put, wb_byte, wb_le, wb_length, rdb_length_size,
    LzfTable, lzf_table_init, lzf_compress_into, wb_string,
    lp_put_item, lp_item_size, lp_begin, lp_end,
    ZlState, zl_begin, zl_put_item, zl_end, zl_item_size)


class Fallback(TypeError):
    """The input holds something the compiled encoder leaves to the pure one."""


cdef LzfTable* _lzf = <LzfTable*>malloc(sizeof(LzfTable))
if _lzf == NULL:
    raise MemoryError()
lzf_table_init(_lzf)


cdef inline object _take(WBuf* b):
    cdef object out
    try:
        out = PyBytes_FromStringAndSize(<char*>b.data, b.len)
    finally:
        wb_free(b)
    return out


cdef inline void _check(int r, WBuf* b) except *:
    if r == -1:
        wb_free(b)
        raise MemoryError()
    if r == -2:
        wb_free(b)
        raise ValueError("blob would exceed 4 GiB")


cdef inline void _need_bytes(object x, WBuf* b) except *:
    if type(x) is not bytes:
        wb_free(b)
        raise Fallback(type(x).__name__)


# ---------------------------------------------------------------------------
# lengths and strings

def encode_length(uint64_t n):
    """lengths.encode_length."""
    cdef WBuf b
    _check(wb_init(&b, 16), &b)
    wb_length(&b, n)
    return _take(&b)


def lzf_compress(bytes data, max_out=None):
    """lzf.compress(data, max_out): the compressed bytes or None."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t out_len = n + (n >> 5) + 8 if max_out is None else max_out
    cdef WBuf b
    cdef Py_ssize_t c
    if n == 0 or out_len <= 0:
        return None
    _check(wb_init(&b, out_len), &b)
    c = lzf_compress_into(_lzf, <const unsigned char*>PyBytes_AS_STRING(data), n, b.data, out_len)
    if c == 0:
        wb_free(&b)
        return None
    b.len = c
    return _take(&b)


def encode_string(bytes data, bint compress=True):
    """lengths.encode_string(data, compress=compress)."""
    cdef WBuf b
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    _check(wb_init(&b, n + 24), &b)
    _check(wb_string(&b, <const unsigned char*>PyBytes_AS_STRING(data), n, compress, _lzf), &b)
    return _take(&b)


cdef inline void _put_str(WBuf* b, object x, bint compress) except *:
    _need_bytes(x, b)
    _check(wb_string(b, <const unsigned char*>PyBytes_AS_STRING(x), PyBytes_GET_SIZE(x),
                     compress, _lzf), b)


def encode_strings(list items, bint compress=True):
    """b"".join(lengths.encode_strings(items, compress=compress))."""
    cdef WBuf b
    cdef Py_ssize_t i, n = PyList_GET_SIZE(items)
    _check(wb_init(&b, 64 + 16 * n), &b)
    for i in range(n):
        _put_str(&b, <object>PyList_GET_ITEM(items, i), compress)
    return _take(&b)


def encode_plain(list items, bint compress=True):
    """A plain list/set body (types 1, 2): encode_length(len) + every element's string."""
    cdef WBuf b
    cdef Py_ssize_t i, n = PyList_GET_SIZE(items)
    _check(wb_init(&b, 64 + 16 * n), &b)
    _check(wb_length(&b, <uint64_t>n), &b)
    for i in range(n):
        _put_str(&b, <object>PyList_GET_ITEM(items, i), compress)
    return _take(&b)


cdef inline tuple _pair(object p, WBuf* b):
    if type(p) is not tuple or PyTuple_GET_SIZE(p) != 2:
        wb_free(b)
        raise Fallback("pair")
    return <tuple>p


def encode_pairs(list pairs, bint with_count=False, bint compress=True):
    """Plain hash elements: field string + value string per pair (type 4's body when
    ``with_count`` puts encode_length(len) first)."""
    cdef WBuf b
    cdef Py_ssize_t i, n = PyList_GET_SIZE(pairs)
    cdef tuple t
    _check(wb_init(&b, 64 + 32 * n), &b)
    if with_count:
        _check(wb_length(&b, <uint64_t>n), &b)
    for i in range(n):
        t = _pair(<object>PyList_GET_ITEM(pairs, i), &b)
        _put_str(&b, <object>PyTuple_GET_ITEM(t, 0), compress)
        _put_str(&b, <object>PyTuple_GET_ITEM(t, 1), compress)
    return _take(&b)


def encode_zset2(list pairs, bint with_count=False, bint compress=True):
    """Skiplist zset elements (type 5): member string + score as a little-endian double."""
    cdef WBuf b
    cdef Py_ssize_t i, n = PyList_GET_SIZE(pairs)
    cdef tuple t
    cdef double sc
    cdef object s
    _check(wb_init(&b, 64 + 32 * n), &b)
    if with_count:
        _check(wb_length(&b, <uint64_t>n), &b)
    for i in range(n):
        t = _pair(<object>PyList_GET_ITEM(pairs, i), &b)
        _put_str(&b, <object>PyTuple_GET_ITEM(t, 0), compress)
        s = <object>PyTuple_GET_ITEM(t, 1)
        if type(s) is not float:
            wb_free(&b)
            raise Fallback("score")
        sc = s
        _check(wb_put(&b, &sc, 8), &b)
    return _take(&b)


# ---------------------------------------------------------------------------
# blobs

cdef inline void _lp_item(WBuf* b, object x) except *:
    _need_bytes(x, b)
    _check(lp_put_item(b, <const unsigned char*>PyBytes_AS_STRING(x), PyBytes_GET_SIZE(x)), b)


cdef inline void _zl_item(WBuf* b, ZlState* z, object x) except *:
    _need_bytes(x, b)
    _check(zl_put_item(b, z, <const unsigned char*>PyBytes_AS_STRING(x), PyBytes_GET_SIZE(x)), b)


cdef void _listpack_into(WBuf* b, list items, bint pairs) except *:
    cdef Py_ssize_t start, i, n = PyList_GET_SIZE(items)
    cdef tuple t
    _check(lp_begin(b, &start), b)
    for i in range(n):
        if pairs:
            t = _pair(<object>PyList_GET_ITEM(items, i), b)
            _lp_item(b, <object>PyTuple_GET_ITEM(t, 0))
            _lp_item(b, <object>PyTuple_GET_ITEM(t, 1))
        else:
            _lp_item(b, <object>PyList_GET_ITEM(items, i))
    _check(lp_end(b, start, n * 2 if pairs else n), b)


cdef void _ziplist_into(WBuf* b, list items, bint pairs) except *:
    cdef ZlState z
    cdef Py_ssize_t i, n = PyList_GET_SIZE(items)
    cdef tuple t
    _check(zl_begin(b, &z), b)
    for i in range(n):
        if pairs:
            t = _pair(<object>PyList_GET_ITEM(items, i), b)
            _zl_item(b, &z, <object>PyTuple_GET_ITEM(t, 0))
            _zl_item(b, &z, <object>PyTuple_GET_ITEM(t, 1))
        else:
            _zl_item(b, &z, <object>PyList_GET_ITEM(items, i))
    _check(zl_end(b, &z), b)


def listpack(list items, bint pairs=False):
    """listpack.listpack_encode(items) (``pairs``: the flattened (a, b) tuples)."""
    cdef WBuf b
    _check(wb_init(&b, 64 + 16 * PyList_GET_SIZE(items)), &b)
    _listpack_into(&b, items, pairs)
    return _take(&b)


def ziplist(list items, bint pairs=False):
    """ziplist.ziplist_encode(items) with no layout hints (``pairs`` as in listpack)."""
    cdef WBuf b
    _check(wb_init(&b, 64 + 16 * PyList_GET_SIZE(items)), &b)
    _ziplist_into(&b, items, pairs)
    return _take(&b)


cdef object _blob_string(WBuf* blob, bint compress):
    """encode_string(blob): the blob stored as an RDB string."""
    cdef WBuf b
    if wb_init(&b, blob.len + 24) < 0:
        wb_free(blob)
        raise MemoryError()
    if wb_string(&b, blob.data, blob.len, compress, _lzf) < 0:
        wb_free(blob)
        wb_free(&b)
        raise MemoryError()
    wb_free(blob)
    return _take(&b)


def listpack_string(list items, bint pairs=False, bint compress=True):
    """encode_string(listpack_encode(items))."""
    cdef WBuf blob
    _check(wb_init(&blob, 64 + 16 * PyList_GET_SIZE(items)), &blob)
    _listpack_into(&blob, items, pairs)
    return _blob_string(&blob, compress)


def ziplist_string(list items, bint pairs=False, bint compress=True):
    """encode_string(ziplist_encode(items))."""
    cdef WBuf blob
    _check(wb_init(&blob, 64 + 16 * PyList_GET_SIZE(items)), &blob)
    _ziplist_into(&blob, items, pairs)
    return _blob_string(&blob, compress)


# ---------------------------------------------------------------------------
# quicklist node planning (writer.plan_list_nodes)

def plan_list_nodes(list values, int version, int fill, Py_ssize_t packed_threshold, bint fill_rule):
    """writer.plan_list_nodes: the (count, container) of every node, as a list of
    (count, container) tuples; ``fill_rule`` is the caller's PLAIN-by-size switch."""
    cdef Py_ssize_t neg_limit = 0
    cdef bint packed = version >= 10
    cdef list out = []
    cdef Py_ssize_t i, n = PyList_GET_SIZE(values)
    cdef Py_ssize_t cnt = 0, sz = 0, prev = 0, new_sz, e, isz
    cdef bint have = False, allow
    cdef object x
    cdef const unsigned char* s
    cdef Py_ssize_t limits[5]
    limits[0] = 4096; limits[1] = 8192; limits[2] = 16384; limits[3] = 32768; limits[4] = 65536
    if fill < 0:
        neg_limit = limits[min(-fill - 1, 4)]
    for i in range(n):
        x = <object>PyList_GET_ITEM(values, i)
        if type(x) is not bytes:
            raise Fallback(type(x).__name__)
        s = <const unsigned char*>PyBytes_AS_STRING(x)
        isz = PyBytes_GET_SIZE(x)
        if packed and (isz >= packed_threshold or fill_rule and (
                isz > neg_limit if fill < 0 else isz > 8192)):
            if have:
                out.append((cnt, 2))
            out.append((1, 1))
            have = False
            continue
        if have:
            if version >= 11:
                new_sz = sz + isz + 8
                if fill < 0:
                    allow = new_sz <= neg_limit
                else:
                    allow = cnt + 1 <= fill and new_sz <= 8192
            else:
                if packed:
                    new_sz = sz + isz + 8
                else:
                    new_sz = sz + isz + (1 if isz < 254 else 5) + (1 if isz < 64 else 2 if isz < 16384 else 5)
                if fill < 0 and new_sz <= neg_limit:
                    allow = True
                elif new_sz > 8192:
                    allow = False
                else:
                    allow = cnt < fill
            if not allow:
                out.append((cnt, 2))
                have = False
        if not have:
            have = True
            cnt = 0
            sz = 7 if packed else 11
            prev = 0
        cnt += 1
        if packed:
            sz += lp_item_size(s, isz)
        else:
            e = zl_item_size(s, isz, prev)
            sz += e
            prev = e
    if have:
        out.append((cnt, 2))
    return out


# ---------------------------------------------------------------------------
# Transcoding a stored value straight from the source bytes (convert, keep encodings)
#
# ``transcode`` reads one value body at ``pos`` of ``buf`` and writes what the pure path
# writes for it: the reader's decoded elements (strategies.StreamValues) re-encoded by
# ValueEncoder with the reader's layout hints. It never raises on bad bytes: anything
# the pure reader would reject or treat specially (empty values, duplicates inside a
# blob, odd pair counts, NaN scores, zero-length nodes, unusual score texts) answers
# None and the caller runs the pure reader on the same bytes, which raises the error or
# handles the case. -1 means the value runs past the end of ``buf`` (read more, retry).

from libc.stdio cimport snprintf
from libc.stdlib cimport strtod, free
from libc.math cimport floor, isnan, isinf, signbit

from persistkit._accel.blobs cimport (
    PK_OK, PK_END, PK_SHORT, PK_BAD, STR_RAW, STR_INT, STR_LZF, Elem, RdbStr,
    rdb_len, rdb_plain_len, rdb_str, lzf_decode, canonical_int, int_text,
    LpIter, lp_open, lp_next, IsIter, is_open, is_next)

cdef enum:
    TC_OK = 0
    TC_SHORT = 1
    TC_BAD = 2      # leave it to the pure path
    TC_NOMEM = 3

# Element lists: the bytes of every element gathered in ``txt`` and (offset, length)
# pairs in ``idx`` (offsets, since ``txt`` may move while it grows).
ctypedef struct Elems:
    WBuf txt
    WBuf idx
    Py_ssize_t n


cdef inline int el_init(Elems* e) noexcept nogil:
    e.n = 0
    if wb_init(&e.txt, 4096) < 0:
        return -1
    if wb_init(&e.idx, 1024) < 0:
        wb_free(&e.txt)
        return -1
    return 0


cdef inline void el_free(Elems* e) noexcept nogil:
    wb_free(&e.txt)
    wb_free(&e.idx)


cdef inline int el_add(Elems* e, const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t pair[2]
    pair[0] = e.txt.len
    pair[1] = n
    if wb_put(&e.txt, p, n) < 0 or wb_put(&e.idx, pair, sizeof(pair)) < 0:
        return -1
    e.n += 1
    return 0


cdef inline int el_add_elem(Elems* e, Elem* x) noexcept nogil:
    cdef unsigned char tmp[24]
    cdef Py_ssize_t k
    if x.ptr == NULL:
        k = int_text(x.ival, tmp)
        return el_add(e, tmp, k)
    return el_add(e, x.ptr, x.len)


cdef inline const unsigned char* el_ptr(Elems* e, Py_ssize_t i, Py_ssize_t* n) noexcept nogil:
    cdef Py_ssize_t* pair = <Py_ssize_t*>(e.idx.data) + 2 * i
    n[0] = pair[1]
    return e.txt.data + pair[0]


cdef inline uint64_t _hash(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h = 1469598103934665603ULL
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ p[i]) * 1099511628211ULL
    return h


cdef int el_has_duplicates(Elems* e, Py_ssize_t start, Py_ssize_t step) noexcept nogil:
    """1 when two of the elements start, start+step, ... are equal, 0 if not, -1 no memory."""
    cdef Py_ssize_t count = (e.n - start + step - 1) // step if e.n > start else 0
    cdef Py_ssize_t size = 16, i, j, slot, na, nb
    cdef Py_ssize_t* table
    cdef const unsigned char* a
    cdef const unsigned char* b
    cdef int found = 0
    while size < count * 2:
        size *= 2
    table = <Py_ssize_t*>malloc(size * sizeof(Py_ssize_t))
    if table == NULL:
        return -1
    for i in range(size):
        table[i] = -1
    i = start
    while i < e.n and not found:
        a = el_ptr(e, i, &na)
        slot = <Py_ssize_t>(_hash(a, na) & <uint64_t>(size - 1))
        while table[slot] >= 0:
            b = el_ptr(e, table[slot], &nb)
            if na == nb and (na == 0 or memcmp(a, b, na) == 0):
                found = 1
                break
            slot = (slot + 1) & (size - 1)
        table[slot] = i
        i += step
    free(table)
    return found


from libc.string cimport memcmp


# -- reading the source ------------------------------------------------------------

ctypedef struct Cur:
    const unsigned char* p
    const unsigned char* end


cdef int cur_len(Cur* c, uint64_t* n) noexcept nogil:
    cdef int r = rdb_plain_len(&c.p, c.end, n)
    if r == PK_OK:
        return TC_OK
    return TC_SHORT if r == PK_SHORT else TC_BAD


cdef int cur_string(Cur* c, WBuf* scratch, const unsigned char** out, Py_ssize_t* n,
                    unsigned char* itxt, bint* was_lzf) noexcept nogil:
    """One RDB string's bytes (lengths.read_string): raw bytes in place, an int-encoded
    value as its decimal text in ``itxt``, LZF decoded into ``scratch``."""
    cdef RdbStr s
    cdef int r = rdb_str(&c.p, c.end, &s)
    if r == PK_SHORT:
        return TC_SHORT
    if r != PK_OK:
        return TC_BAD
    was_lzf[0] = 0
    if s.form == STR_RAW:
        out[0] = s.ptr
        n[0] = <Py_ssize_t>s.len
    elif s.form == STR_INT:
        n[0] = int_text(s.ival, itxt)
        out[0] = itxt
    else:
        if s.len > <uint64_t>0x7FFFFFFFFFFF:
            return TC_BAD
        scratch.len = 0
        if wb_reserve(scratch, <Py_ssize_t>s.len) < 0:
            return TC_NOMEM
        if lzf_decode(s.ptr, <Py_ssize_t>s.clen, scratch.data, <Py_ssize_t>s.len) != PK_OK:
            return TC_BAD
        scratch.len = <Py_ssize_t>s.len
        out[0] = scratch.data
        n[0] = <Py_ssize_t>s.len
        was_lzf[0] = 1
    return TC_OK


cdef int cur_blob(Cur* c, WBuf* scratch, const unsigned char** out, Py_ssize_t* n,
                  bint* was_lzf) noexcept nogil:
    """A string holding an encoded blob (strategies._read_blob): an int-encoded one is
    left to the pure path."""
    cdef unsigned char itxt[24]
    cdef const unsigned char* save = c.p
    cdef int r
    if c.p < c.end and c.p[0] >= 0xC0 and (c.p[0] & 0x3F) != 3:
        return TC_BAD
    r = cur_string(c, scratch, out, n, itxt, was_lzf)
    return r


# -- element sources ----------------------------------------------------------------

cdef int gather_listpack(const unsigned char* blob, Py_ssize_t n, Elems* e) noexcept nogil:
    cdef LpIter it
    cdef Elem x
    cdef int r
    if lp_open(&it, blob, n) != PK_OK:
        return TC_BAD
    while True:
        r = lp_next(&it, &x)
        if r == PK_END:
            return TC_OK
        if r != PK_OK:
            return TC_BAD
        if el_add_elem(e, &x) < 0:
            return TC_NOMEM


# -- scores ---------------------------------------------------------------------------

cdef bint strict_decimal(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """-?digits[.digits][e[+-]digits]: texts float() and strtod read the same way."""
    cdef Py_ssize_t i = 0, d
    if n == 0 or n > 60:
        return 0
    if s[0] == 0x2D:
        i = 1
    d = i
    while i < n and 0x30 <= s[i] <= 0x39:
        i += 1
    if i == d:
        return 0
    if i < n and s[i] == 0x2E:
        i += 1
        d = i
        while i < n and 0x30 <= s[i] <= 0x39:
            i += 1
        if i == d:
            return 0
    if i < n and (s[i] == 0x65 or s[i] == 0x45):
        i += 1
        if i < n and (s[i] == 0x2B or s[i] == 0x2D):
            i += 1
        d = i
        while i < n and 0x30 <= s[i] <= 0x39:
            i += 1
        if i == d:
            return 0
    return i == n


cdef int score_value(const unsigned char* s, Py_ssize_t n, double* out) noexcept nogil:
    """The score of a listpack/ziplist zset entry given as text: TC_BAD unless plain decimal."""
    cdef char tmp[64]
    cdef int64_t v
    if canonical_int(s, n, &v):
        out[0] = <double>v
        return TC_OK
    if not strict_decimal(s, n):
        return TC_BAD
    memcpy(tmp, s, n)
    tmp[n] = 0
    out[0] = strtod(tmp, NULL)
    if isnan(out[0]) or isinf(out[0]):
        return TC_BAD
    return TC_OK


cdef Py_ssize_t format_score(double sc, int version, char* out) noexcept nogil:
    """writer.format_score for finite scores and version <= 10; -1 where it is left to
    the pure path (RDB 11+ shortest texts of non-integral scores)."""
    cdef int64_t iv
    if version >= 10:
        if -4611686018427387904.0 <= sc <= 4611686018427387904.0 and sc == floor(sc):
            iv = <int64_t>sc
            return int_text(iv, <unsigned char*>out)
        if version >= 11:
            return -1
        return snprintf(out, 40, "%.17g", sc)
    if sc == 0:
        if signbit(sc):
            out[0] = 0x2D
            out[1] = 0x30
            return 2
        out[0] = 0x30
        return 1
    if -4503599627370495.0 < sc < 4503599627370496.0 and sc == floor(sc):
        iv = <int64_t>sc
        return int_text(iv, <unsigned char*>out)
    return snprintf(out, 40, "%.17g", sc)


# -- writing nodes ------------------------------------------------------------------

cdef int put_node_string(WBuf* out, const unsigned char* blob, Py_ssize_t n, bint compressed,
                         bint compress) noexcept nogil:
    """writer._node_string: a quicklist node compressed as quicklist.c does (LZF into
    the node's size, kept only when it saves at least 8 bytes), else a plain RDB string."""
    cdef Py_ssize_t at, c
    if compressed:
        if wb_reserve(out, n + 19) < 0:
            return TC_NOMEM
        at = out.len + 19
        c = lzf_compress_into(_lzf, blob, n, out.data + at, n)
        if c > 0 and c + 8 < n:
            out.data[out.len] = 0xC3
            out.len += 1
            wb_length(out, <uint64_t>c)
            wb_length(out, <uint64_t>n)
            memmove(out.data + out.len, out.data + at, c)
            out.len += c
            return TC_OK
    if wb_string(out, blob, n, compress, _lzf) < 0:
        return TC_NOMEM
    return TC_OK


from libc.string cimport memmove


cdef int put_elems_listpack(WBuf* out, Elems* e, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef Py_ssize_t s0, i, n
    cdef const unsigned char* p
    if lp_begin(out, &s0) < 0:
        return TC_NOMEM
    for i in range(start, stop):
        p = el_ptr(e, i, &n)
        if lp_put_item(out, p, n) < 0:
            return TC_NOMEM
    r = lp_end(out, s0, stop - start)
    return TC_OK if r == 0 else (TC_NOMEM if r == -1 else TC_BAD)


cdef int put_elems_ziplist(WBuf* out, Elems* e, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef ZlState z
    cdef Py_ssize_t i, n
    cdef const unsigned char* p
    if zl_begin(out, &z) < 0:
        return TC_NOMEM
    for i in range(start, stop):
        p = el_ptr(e, i, &n)
        if zl_put_item(out, &z, p, n) < 0:
            return TC_NOMEM
    r = zl_end(out, &z)
    return TC_OK if r == 0 else (TC_NOMEM if r == -1 else TC_BAD)


cdef int put_blob_string(WBuf* out, WBuf* blob, bint compress) noexcept nogil:
    if wb_string(out, blob.data, blob.len, compress, _lzf) < 0:
        return TC_NOMEM
    return TC_OK


# -- the value types ----------------------------------------------------------------

cdef int tc_string(Cur* c, WBuf* out, WBuf* scratch, bint compress, Py_ssize_t* count) noexcept nogil:
    cdef const unsigned char* s
    cdef Py_ssize_t n
    cdef unsigned char itxt[24]
    cdef bint lz
    cdef int r = cur_string(c, scratch, &s, &n, itxt, &lz)
    if r != TC_OK:
        return r
    count[0] = n
    return TC_OK if wb_string(out, s, n, compress, _lzf) == 0 else TC_NOMEM


cdef int tc_plain(Cur* c, WBuf* out, WBuf* scratch, bint compress, int per, bint zset2,
                  Py_ssize_t* count) noexcept nogil:
    """Types 1, 2, 4, 5: a count, then ``per`` strings per element (+ a double for 5)."""
    cdef uint64_t n, i
    cdef int k, r
    cdef const unsigned char* s
    cdef Py_ssize_t ln
    cdef unsigned char itxt[24]
    cdef bint lz
    cdef double sc
    r = cur_len(c, &n)
    if r != TC_OK:
        return r
    if n == 0:
        return TC_BAD
    if wb_length(out, n) < 0:
        return TC_NOMEM
    i = 0
    while i < n:
        for k in range(per):
            r = cur_string(c, scratch, &s, &ln, itxt, &lz)
            if r != TC_OK:
                return r
            if wb_string(out, s, ln, compress, _lzf) < 0:
                return TC_NOMEM
        if zset2:
            if c.end - c.p < 8:
                return TC_SHORT
            memcpy(&sc, c.p, 8)
            if isnan(sc):
                return TC_BAD
            if wb_put(out, c.p, 8) < 0:
                return TC_NOMEM
            c.p += 8
        i += 1
    count[0] = <Py_ssize_t>n
    return TC_OK


cdef int tc_intset(Cur* c, WBuf* out, WBuf* scratch, bint compress, Py_ssize_t* count) noexcept nogil:
    cdef const unsigned char* blob
    cdef Py_ssize_t n
    cdef bint lz
    cdef IsIter it
    cdef int64_t v
    cdef int r = cur_blob(c, scratch, &blob, &n, &lz)
    if r != TC_OK:
        return r
    if is_open(&it, blob, n) != PK_OK:
        return TC_BAD
    while True:
        r = is_next(&it, &v)
        if r == PK_END:
            break
        if r != PK_OK:
            return TC_BAD
    count[0] = it.length
    return TC_OK if wb_string(out, blob, n, compress, _lzf) == 0 else TC_NOMEM


cdef int tc_listpack_blob(Cur* c, WBuf* out, WBuf* scratch, Elems* e, int kind, bint to_ziplist,
                          bint compress, int score_version, Py_ssize_t* count) noexcept nogil:
    """Types 16 (hash), 17 (zset), 20 (set): the blob's elements, checked as the pure
    reader checks them, re-encoded as a listpack (or a ziplist for an older target)."""
    cdef const unsigned char* blob
    cdef Py_ssize_t n, i, ln, k
    cdef bint lz
    cdef int r
    cdef WBuf node
    cdef const unsigned char* s
    cdef double sc
    cdef char txt[48]
    cdef Elems z
    r = cur_blob(c, scratch, &blob, &n, &lz)
    if r != TC_OK:
        return r
    r = gather_listpack(blob, n, e)
    if r != TC_OK:
        return r
    if e.n == 0:
        return TC_BAD
    if kind != 20 and e.n % 2:
        return TC_BAD
    r = el_has_duplicates(e, 0, 1 if kind == 20 else 2)
    if r != 0:
        return TC_BAD if r == 1 else TC_NOMEM
    if kind == 17:
        # scores re-formatted from their values (writer._zset_packed / format_score)
        if el_init(&z) < 0:
            return TC_NOMEM
        i = 0
        while i < e.n:
            s = el_ptr(e, i, &ln)
            if el_add(&z, s, ln) < 0:
                el_free(&z)
                return TC_NOMEM
            s = el_ptr(e, i + 1, &ln)
            if score_value(s, ln, &sc) != TC_OK:
                el_free(&z)
                return TC_BAD
            k = format_score(sc, score_version, txt)
            if k < 0 or el_add(&z, <unsigned char*>txt, k) < 0:
                el_free(&z)
                return TC_BAD if k < 0 else TC_NOMEM
            i += 2
        el_free(e)
        e[0] = z
    if wb_init(&node, n + 64) < 0:
        return TC_NOMEM
    r = put_elems_ziplist(&node, e, 0, e.n) if to_ziplist else put_elems_listpack(&node, e, 0, e.n)
    if r == TC_OK:
        r = put_blob_string(out, &node, compress)
    wb_free(&node)
    count[0] = e.n if kind == 20 else e.n // 2
    return r


cdef int tc_quicklist(Cur* c, WBuf* out, WBuf* scratch, Elems* e, bint to_v1, bint compress,
                      int fill, int depth, int plan_version, bint fill_rule,
                      Py_ssize_t packed_threshold, Py_ssize_t* count) noexcept nogil:
    """Type 18: every node re-encoded with its own boundaries, container and compression
    (writer._quicklist with the reader's node hints), or, for an RDB 9 target (type 14),
    the elements re-planned into ziplist nodes (plan_list_nodes) as the target would."""
    cdef uint64_t n_nodes, container, j
    cdef Py_ssize_t n, start, i, ln
    cdef const unsigned char* blob
    cdef bint lz
    cdef int r
    cdef WBuf node
    cdef unsigned char itxt[24]
    cdef const unsigned char* s
    r = cur_len(c, &n_nodes)
    if r != TC_OK:
        return r
    if n_nodes == 0:
        return TC_BAD
    if not to_v1 and wb_length(out, n_nodes) < 0:
        return TC_NOMEM
    if wb_init(&node, 4096) < 0:
        return TC_NOMEM
    j = 0
    r = TC_OK
    while j < n_nodes and r == TC_OK:
        r = cur_len(c, &container)
        if r != TC_OK:
            break
        if container != 1 and container != 2:
            r = TC_BAD
            break
        if container == 1:
            # a PLAIN node: one element, which may even be int-encoded
            r = cur_string(c, scratch, &blob, &n, itxt, &lz)
            if r != TC_OK:
                break
            if n == 0:
                r = TC_BAD
                break
            if to_v1:
                if el_add(e, blob, n) < 0:
                    r = TC_NOMEM
            else:
                if wb_length(out, 1) < 0:
                    r = TC_NOMEM
                    break
                r = put_node_string(out, blob, n, lz and n >= 48, compress)
                count[0] += 1
            j += 1
            continue
        r = cur_blob(c, scratch, &blob, &n, &lz)
        if r != TC_OK:
            break
        if n == 0:
            r = TC_BAD
            break
        start = e.n
        r = gather_listpack(blob, n, e)
        if r != TC_OK:
            break
        if e.n == start:
            r = TC_BAD     # an empty node: the pure path knows what to do
            break
        if not to_v1:
            node.len = 0
            if wb_length(out, 2) < 0:
                r = TC_NOMEM
                break
            r = put_elems_listpack(&node, e, start, e.n)
            if r == TC_OK:
                r = put_node_string(out, node.data, node.len, lz and node.len >= 48, compress)
            # the node's elements are written: drop them (start is 0 here)
            count[0] += e.n
            e.n = 0
            e.txt.len = 0
            e.idx.len = 0
        j += 1
    if r == TC_OK and to_v1:
        count[0] = e.n
        r = tc_plan_v1(out, e, compress, fill, depth, plan_version, fill_rule, packed_threshold)
    wb_free(&node)
    return r


cdef int tc_plan_v1(WBuf* out, Elems* e, bint compress, int fill, int depth, int plan_version,
                    bint fill_rule, Py_ssize_t packed_threshold) noexcept nogil:
    """plan_list_nodes (ziplist nodes, version < 10) over the gathered elements, then the
    nodes; ``depth`` nodes at each end are left uncompressed (list-compress-depth)."""
    cdef Py_ssize_t limits[5]
    cdef Py_ssize_t neg_limit = 0, i, cnt = 0, sz = 0, prev = 0, new_sz, isz, k, nn
    cdef bint have = False, allow
    cdef const unsigned char* s
    cdef WBuf bounds
    cdef WBuf node
    cdef Py_ssize_t* b
    cdef int r = TC_OK
    limits[0] = 4096; limits[1] = 8192; limits[2] = 16384; limits[3] = 32768; limits[4] = 65536
    if fill < 0:
        neg_limit = limits[min(-fill - 1, 4)]
    if wb_init(&bounds, 1024) < 0:
        return TC_NOMEM
    # node boundaries: the element index where each node starts
    for i in range(e.n):
        s = el_ptr(e, i, &isz)
        if have:
            new_sz = sz + isz + (1 if isz < 254 else 5) + (1 if isz < 64 else 2 if isz < 16384 else 5)
            if fill < 0 and new_sz <= neg_limit:
                allow = True
            elif new_sz > 8192:
                allow = False
            else:
                allow = cnt < fill
            if not allow:
                have = False
        if not have:
            have = True
            cnt = 0
            sz = 11
            prev = 0
            if wb_put(&bounds, &i, sizeof(Py_ssize_t)) < 0:
                wb_free(&bounds)
                return TC_NOMEM
        cnt += 1
        k = zl_item_size(s, isz, prev)
        sz += k
        prev = k
    nn = bounds.len // sizeof(Py_ssize_t)
    b = <Py_ssize_t*>bounds.data
    if wb_length(out, <uint64_t>nn) < 0 or wb_init(&node, 4096) < 0:
        wb_free(&bounds)
        return TC_NOMEM
    for k in range(nn):
        node.len = 0
        r = put_elems_ziplist(&node, e, b[k], b[k + 1] if k + 1 < nn else e.n)
        if r != TC_OK:
            break
        r = put_node_string(out, node.data, node.len,
                            depth > 0 and depth <= k < nn - depth and node.len >= 48, compress)
        if r != TC_OK:
            break
    wb_free(&node)
    wb_free(&bounds)
    return r


def transcode(bytes buf, Py_ssize_t pos, int src_type, int dst_type, bint compress=True,
              int score_version=10, int fill=-2, int depth=0, int plan_version=9,
              bint fill_rule=False, Py_ssize_t packed_threshold=1 << 30):
    """The body the pure path writes for the value stored at ``buf[pos:]`` (type
    ``src_type`` kept as ``dst_type``): ``(body, end position, element count)``; None
    to leave the value to the pure path; -1 when ``buf`` ends inside the value."""
    cdef Cur c
    cdef WBuf out, scratch
    cdef Elems e
    cdef int r = TC_BAD
    cdef Py_ssize_t count = 0
    if pos < 0 or pos > PyBytes_GET_SIZE(buf):
        return None
    c.p = <const unsigned char*>PyBytes_AS_STRING(buf) + pos
    c.end = <const unsigned char*>PyBytes_AS_STRING(buf) + PyBytes_GET_SIZE(buf)
    if wb_init(&out, 256) < 0 or wb_init(&scratch, 256) < 0:
        raise MemoryError()
    if el_init(&e) < 0:
        wb_free(&out)
        wb_free(&scratch)
        raise MemoryError()
    with nogil:
        if src_type == 0 and dst_type == 0:
            r = tc_string(&c, &out, &scratch, compress, &count)
        elif (src_type == 1 or src_type == 2) and dst_type == src_type:
            r = tc_plain(&c, &out, &scratch, compress, 1, 0, &count)
        elif src_type == 4 and dst_type == 4:
            r = tc_plain(&c, &out, &scratch, compress, 2, 0, &count)
        elif src_type == 5 and dst_type == 5:
            r = tc_plain(&c, &out, &scratch, compress, 1, 1, &count)
        elif src_type == 11 and dst_type == 11:
            r = tc_intset(&c, &out, &scratch, compress, &count)
        elif src_type == 16 and (dst_type == 16 or dst_type == 13):
            r = tc_listpack_blob(&c, &out, &scratch, &e, 16, dst_type == 13, compress, score_version, &count)
        elif src_type == 17 and (dst_type == 17 or dst_type == 12):
            r = tc_listpack_blob(&c, &out, &scratch, &e, 17, dst_type == 12, compress, score_version, &count)
        elif src_type == 20 and dst_type == 20:
            r = tc_listpack_blob(&c, &out, &scratch, &e, 20, 0, compress, score_version, &count)
        elif src_type == 18 and (dst_type == 18 or dst_type == 14):
            r = tc_quicklist(&c, &out, &scratch, &e, dst_type == 14, compress, fill, depth,
                             plan_version, fill_rule, packed_threshold, &count)
    el_free(&e)
    wb_free(&scratch)
    if r == TC_OK:
        end = c.p - <const unsigned char*>PyBytes_AS_STRING(buf)
        return _take(&out), end, count
    wb_free(&out)
    if r == TC_NOMEM:
        raise MemoryError()
    return -1 if r == TC_SHORT else None
