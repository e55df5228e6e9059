# cython: language_level=3
"""Compiled SAVE/BGSAVE serializer of the engine's keyspace (kvengine/rdbfile.py uses it
through ``accel.module("engine_save")``).

``write_db`` writes the key records of one database exactly as the pure path does
(records.make_record + RDBWriter with ``encodings="server"``: keys in sorted order, the
type the target server would choose from the writer's thresholds, the same listpack /
intset / quicklist bytes and LZF decisions; tests/test_accel_engine_save.py compares the
bytes), but it reads the keyspace through borrowed references and raw buffers:
PyDict_Next over the db and its values, _PySet_NextEntry over sets, PyBytes_AS_STRING
for every string. No reference count of a stored key or value is touched, so a forked
BGSAVE child does not write into (and copy) the parent's pages while it walks them.
Only list values (a ``collections.deque`` has no C-level access) and the few attribute
reads of Hash/ZSet objects take references.

A value this module does not encode (streams, hashes with field TTLs, zset scores whose
text needs the RDB 11+ shortest form) is handed to ``fallback(key)``, which writes that
record through the pure writer; the output bytes are the same either way.
"""

from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport malloc, free, qsort
from libc.string cimport memcmp, memcpy
from libc.math cimport floor
from libc.stdio cimport snprintf

from persistkit._accel.wbuf cimport (
    WBuf, wb_init, wb_free, wb_reserve, wb_put, wb_byte, wb_le, wb_length,
    LzfTable, lzf_table_init, wb_string, lp_put_item, lp_item_size, lp_begin, lp_end)
from persistkit._accel.blobs cimport (
    canonical_int, int_text, PK_OK, PK_END, Elem, RdbStr, STR_RAW, STR_INT, STR_LZF,
    rdb_len, rdb_plain_len, rdb_str, lzf_decode, u64le, LpIter, lp_open, lp_next, IsIter, is_open, is_next)

cdef extern from "malloc.h" nogil:
    int malloc_trim(size_t pad)

cdef extern from "Python.h" nogil:
    ctypedef struct PyTypeObject
    ctypedef Py_ssize_t Py_hash_t
    PyTypeObject* Py_TYPE(PyObject* o)
    char* PyBytes_AS_STRING(PyObject* o)
    Py_ssize_t PyBytes_GET_SIZE(PyObject* o)
    double PyFloat_AS_DOUBLE(PyObject* o)

cdef extern from "Python.h":
    long long PyLong_AsLongLong(PyObject* o) except? -1
    int PyDict_Next(PyObject* d, Py_ssize_t* pos, PyObject** key, PyObject** value)
    PyObject* PyDict_GetItem(PyObject* d, PyObject* key)
    Py_ssize_t PyDict_Size(PyObject* d)
    Py_ssize_t PySet_Size(PyObject* s)
    int _PySet_NextEntry(PyObject* s, Py_ssize_t* pos, PyObject** key, Py_hash_t* hash)
    int PyType_IsSubtype(PyTypeObject* a, PyTypeObject* b)
    object PyBytes_FromStringAndSize_ "PyBytes_FromStringAndSize" (char* s, Py_ssize_t n)


cdef PyTypeObject* _BYTES = <PyTypeObject*><PyObject*>bytes
cdef PyTypeObject* _FLOAT = <PyTypeObject*><PyObject*>float
cdef PyTypeObject* _SET = <PyTypeObject*><PyObject*>set

cdef LzfTable* _lzf = <LzfTable*>malloc(sizeof(LzfTable))
if _lzf == NULL:
    raise MemoryError()
lzf_table_init(_lzf)

# RDB types (rdb.h)
DEF T_STRING = 0
DEF T_SET = 2
DEF T_HASH = 4
DEF T_ZSET_2 = 5
DEF T_SET_INTSET = 11
DEF T_HASH_LISTPACK = 16
DEF T_ZSET_LISTPACK = 17
DEF T_LIST_QUICKLIST_2 = 18
DEF T_SET_LISTPACK = 20


ctypedef struct Limits:
    Py_ssize_t hash_entries
    Py_ssize_t hash_value
    Py_ssize_t intset_entries
    Py_ssize_t set_entries
    Py_ssize_t set_value
    Py_ssize_t zset_entries
    Py_ssize_t zset_value
    int list_fill
    int version
    bint compress


# -- sorting borrowed strings (Python's bytes order: memcmp, then the shorter first) ----

cdef inline int bytes_cmp(PyObject* a, PyObject* b) noexcept nogil:
    cdef Py_ssize_t na = PyBytes_GET_SIZE(a), nb = PyBytes_GET_SIZE(b)
    cdef int r = memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), na if na < nb else nb)
    if r:
        return r
    return -1 if na < nb else (1 if na > nb else 0)


cdef int _cmp_bytes(const void* x, const void* y) noexcept nogil:
    return bytes_cmp((<PyObject**>x)[0], (<PyObject**>y)[0])


ctypedef struct Scored:
    double score
    PyObject* member


cdef int _cmp_scored(const void* x, const void* y) noexcept nogil:
    cdef Scored* a = <Scored*>x
    cdef Scored* b = <Scored*>y
    if a.score < b.score:
        return -1
    if a.score > b.score:
        return 1
    return bytes_cmp(a.member, b.member)


ctypedef struct IntMember:
    int64_t v


cdef int _cmp_i64(const void* x, const void* y) noexcept nogil:
    cdef int64_t a = (<int64_t*>x)[0]
    cdef int64_t b = (<int64_t*>y)[0]
    return -1 if a < b else (1 if a > b else 0)


# -- pieces ---------------------------------------------------------------------------

cdef inline int put_str(WBuf* b, PyObject* s, bint compress) noexcept nogil:
    return wb_string(b, <const unsigned char*>PyBytes_AS_STRING(s), PyBytes_GET_SIZE(s), compress, _lzf)


cdef inline int put_blob(WBuf* out, WBuf* blob, bint compress) noexcept nogil:
    return wb_string(out, blob.data, blob.len, compress, _lzf)


cdef Py_ssize_t format_score(double sc, int version, char* out) noexcept nogil:
    """writer.format_score for RDB >= 10 (a zset score as listpack text); -1 for the RDB 11+
    shortest form of a non-integral score (left to the pure writer)."""
    if sc != sc:
        out[0] = 0x6E; out[1] = 0x61; out[2] = 0x6E
        return 3
    if sc == sc + 1.0 and sc == sc * 2.0 and sc != 0:   # +-inf
        if sc > 0:
            out[0] = 0x69; out[1] = 0x6E; out[2] = 0x66
            return 3
        out[0] = 0x2D; out[1] = 0x69; out[2] = 0x6E; out[3] = 0x66
        return 4
    if -4611686018427387904.0 <= sc <= 4611686018427387904.0 and sc == floor(sc):
        return int_text(<int64_t>sc, <unsigned char*>out)
    if version >= 11:
        return -1
    return snprintf(out, 40, "%.17g", sc)


# -- value encoders: 0 ok, -1 no memory, 1 leave to the pure writer ------------------

cdef int enc_set(WBuf* out, PyObject* v, Limits* L, int* rdb_type) noexcept:
    cdef Py_ssize_t n = PySet_Size(v), pos = 0, i = 0, k, start
    cdef PyObject* key
    cdef Py_hash_t h
    cdef PyObject** members
    cdef int64_t* ints = NULL
    cdef int64_t iv, lo, hi
    cdef bint all_int = n <= L.intset_entries
    cdef bint small
    cdef int width, r = 0
    cdef WBuf blob
    if n == 0:
        return 1
    members = <PyObject**>malloc(n * sizeof(PyObject*))
    if members == NULL:
        return -1
    if all_int:
        ints = <int64_t*>malloc(n * sizeof(int64_t))
        if ints == NULL:
            free(members)
            return -1
    small = L.version >= 11 and n <= L.set_entries
    while _PySet_NextEntry(v, &pos, &key, &h):
        if Py_TYPE(key) != _BYTES or i >= n:
            free(members)
            free(ints)
            return 1
        members[i] = key
        if all_int:
            if not canonical_int(<const unsigned char*>PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key), &iv):
                all_int = 0
            else:
                ints[i] = iv
        if small and PyBytes_GET_SIZE(key) > L.set_value:
            small = 0
        i += 1
    if i != n:
        free(members)
        free(ints)
        return 1
    with nogil:
        if all_int:
            # intset (intset.c): sorted values, the narrowest width that holds them all
            qsort(ints, n, sizeof(int64_t), _cmp_i64)
            lo = ints[0]
            hi = ints[n - 1]
            width = 2
            if lo < -2147483648 or hi > 2147483647:
                width = 8
            elif lo < -32768 or hi > 32767:
                width = 4
            rdb_type[0] = T_SET_INTSET
            if wb_init(&blob, 8 + width * n) < 0:
                r = -1
            else:
                wb_le(&blob, <uint64_t>width, 4)
                wb_le(&blob, <uint64_t>n, 4)
                for k in range(n):
                    wb_le(&blob, <uint64_t>ints[k], width)
                r = put_blob(out, &blob, L.compress)
                wb_free(&blob)
        else:
            qsort(members, n, sizeof(PyObject*), _cmp_bytes)
            if small:
                rdb_type[0] = T_SET_LISTPACK
                if wb_init(&blob, 64 + 16 * n) < 0:
                    r = -1
                else:
                    lp_begin(&blob, &start)
                    for k in range(n):
                        if lp_put_item(&blob, <const unsigned char*>PyBytes_AS_STRING(members[k]),
                                       PyBytes_GET_SIZE(members[k])) < 0:
                            r = -1
                            break
                    if r == 0 and lp_end(&blob, start, n) != 0:
                        r = -1
                    if r == 0:
                        r = put_blob(out, &blob, L.compress)
                    wb_free(&blob)
            else:
                rdb_type[0] = T_SET
                r = wb_length(out, <uint64_t>n)
                for k in range(n):
                    if r < 0:
                        break
                    r = put_str(out, members[k], L.compress)
    free(members)
    free(ints)
    return r


cdef int enc_hash(WBuf* out, PyObject* v, Limits* L, int* rdb_type) noexcept:
    """Hash (a dict subclass): fields in insertion order (list(v.items()))."""
    cdef Py_ssize_t n = PyDict_Size(v), pos = 0, start
    cdef PyObject* f
    cdef PyObject* x
    cdef bint small = n <= L.hash_entries
    cdef int r = 0
    cdef WBuf blob
    if n == 0:
        return 1
    while PyDict_Next(v, &pos, &f, &x):
        if Py_TYPE(f) != _BYTES or Py_TYPE(x) != _BYTES:
            return 1
        if PyBytes_GET_SIZE(f) > L.hash_value or PyBytes_GET_SIZE(x) > L.hash_value:
            small = 0
    pos = 0
    if small:
        rdb_type[0] = T_HASH_LISTPACK
        if wb_init(&blob, 64 + 32 * n) < 0:
            return -1
        lp_begin(&blob, &start)
        while PyDict_Next(v, &pos, &f, &x):
            if lp_put_item(&blob, <const unsigned char*>PyBytes_AS_STRING(f), PyBytes_GET_SIZE(f)) < 0 \
                    or lp_put_item(&blob, <const unsigned char*>PyBytes_AS_STRING(x), PyBytes_GET_SIZE(x)) < 0:
                r = -1
                break
        if r == 0 and lp_end(&blob, start, 2 * n) != 0:
            r = -1
        if r == 0:
            r = put_blob(out, &blob, L.compress)
        wb_free(&blob)
        return r
    rdb_type[0] = T_HASH
    if wb_length(out, <uint64_t>n) < 0:
        return -1
    while PyDict_Next(v, &pos, &f, &x):
        if put_str(out, f, L.compress) < 0 or put_str(out, x, L.compress) < 0:
            return -1
    return 0


cdef int enc_zset(WBuf* out, PyObject* scores, Limits* L, int* rdb_type) noexcept:
    """ZSet from its ``scores`` dict: (score, member) order as the skiplist holds it."""
    cdef Py_ssize_t n = PyDict_Size(scores), pos = 0, i = 0, k, start, tl
    cdef PyObject* m
    cdef PyObject* s
    cdef Scored* items
    cdef bint small = n <= L.zset_entries
    cdef int r = 0
    cdef WBuf blob
    cdef char txt[48]
    if n == 0:
        return 1
    items = <Scored*>malloc(n * sizeof(Scored))
    if items == NULL:
        return -1
    while PyDict_Next(scores, &pos, &m, &s):
        if Py_TYPE(m) != _BYTES or Py_TYPE(s) != _FLOAT or i >= n:
            free(items)
            return 1
        items[i].member = m
        items[i].score = PyFloat_AS_DOUBLE(s)
        if items[i].score != items[i].score:
            free(items)
            return 1
        if PyBytes_GET_SIZE(m) > L.zset_value:
            small = 0
        i += 1
    qsort(items, n, sizeof(Scored), _cmp_scored)
    if small:
        rdb_type[0] = T_ZSET_LISTPACK
        if wb_init(&blob, 64 + 32 * n) < 0:
            free(items)
            return -1
        lp_begin(&blob, &start)
        for k in range(n):
            tl = format_score(items[k].score, L.version, txt)
            if tl < 0:
                r = 1
                break
            if lp_put_item(&blob, <const unsigned char*>PyBytes_AS_STRING(items[k].member),
                           PyBytes_GET_SIZE(items[k].member)) < 0 \
                    or lp_put_item(&blob, <const unsigned char*>txt, tl) < 0:
                r = -1
                break
        if r == 0 and lp_end(&blob, start, 2 * n) != 0:
            r = -1
        if r == 0:
            r = put_blob(out, &blob, L.compress)
        wb_free(&blob)
    else:
        # rdbSaveObject walks the skiplist from the tail: greatest element first
        rdb_type[0] = T_ZSET_2
        r = wb_length(out, <uint64_t>n)
        k = n
        while k > 0 and r == 0:
            k -= 1
            r = put_str(out, items[k].member, L.compress)
            if r == 0:
                r = wb_put(out, &items[k].score, 8)
    free(items)
    return r


cdef int enc_list(WBuf* out, object v, Limits* L, int* rdb_type) except -2:
    """A deque as quicklist v2 nodes (writer.plan_list_nodes with the RDB >= 10 rules,
    list-compress-depth 0); iterating a deque takes references to its elements."""
    cdef Py_ssize_t limits[5]
    cdef Py_ssize_t neg_limit = 0, cnt = 0, sz = 0, new_sz, isz, nn = 0, start = 0, count_at
    cdef bint have = False, allow
    cdef int fill = L.list_fill
    cdef bint fill_rule = L.version >= 12
    cdef WBuf node
    cdef object x
    cdef PyObject* p
    cdef const unsigned char* s
    limits[0] = 4096; limits[1] = 8192; limits[2] = 16384; limits[3] = 32768; limits[4] = 65536
    if fill < 0:
        neg_limit = limits[min(-fill - 1, 4)]
    if len(v) == 0:
        return 1
    for x in v:
        if type(x) is not bytes:
            return 1
    rdb_type[0] = T_LIST_QUICKLIST_2
    # the node count goes first: leave room for the widest length and fill it in after
    count_at = out.len
    if wb_reserve(out, 9) < 0:
        return -1
    out.len += 9
    if wb_init(&node, 8192) < 0:
        return -1
    try:
        for x in v:
            p = <PyObject*>x
            s = <const unsigned char*>PyBytes_AS_STRING(p)
            isz = PyBytes_GET_SIZE(p)
            if isz >= (1 << 30) or fill_rule and (isz > neg_limit if fill < 0 else isz > 8192):
                if have:
                    if _close_node(out, &node, start, cnt, L.compress) < 0:
                        return -1
                    nn += 1
                    have = False
                # a PLAIN node: container 1, the element as a string
                if wb_length(out, 1) < 0 or wb_string(out, s, isz, L.compress, _lzf) < 0:
                    return -1
                nn += 1
                continue
            if have:
                new_sz = sz + isz + 8
                if L.version >= 11:
                    if fill < 0:
                        allow = new_sz <= neg_limit
                    else:
                        allow = cnt + 1 <= fill and new_sz <= 8192
                else:
                    if fill < 0 and new_sz <= neg_limit:
                        allow = True
                    elif new_sz > 8192:
                        allow = False
                    else:
                        allow = cnt < fill
                if not allow:
                    if _close_node(out, &node, start, cnt, L.compress) < 0:
                        return -1
                    nn += 1
                    have = False
            if not have:
                have = True
                cnt = 0
                sz = 7
                node.len = 0
                lp_begin(&node, &start)
            cnt += 1
            sz += lp_item_size(s, isz)
            if lp_put_item(&node, s, isz) < 0:
                return -1
        if have:
            if _close_node(out, &node, start, cnt, L.compress) < 0:
                return -1
            nn += 1
    finally:
        wb_free(&node)
    _fix_count(out, count_at, nn)
    return 0


cdef int _close_node(WBuf* out, WBuf* node, Py_ssize_t start, Py_ssize_t cnt, bint compress) noexcept:
    if lp_end(node, start, cnt) != 0:
        return -1
    if wb_length(out, 2) < 0:
        return -1
    return wb_string(out, node.data, node.len, compress, _lzf)


cdef void _fix_count(WBuf* out, Py_ssize_t at, Py_ssize_t n) noexcept:
    """Write the node count into its 9 reserved bytes and close the gap."""
    cdef WBuf tmp
    cdef unsigned char head[9]
    cdef Py_ssize_t w
    tmp.data = head
    tmp.len = 0
    tmp.cap = 9
    wb_length(&tmp, <uint64_t>n)
    w = tmp.len
    memcpy(out.data + at + 9 - w, head, w)
    # shift the record start (everything before ``at`` stays; the gap is 9 - w bytes)
    _close_gap(out, at, 9 - w)


cdef void _close_gap(WBuf* out, Py_ssize_t at, Py_ssize_t gap) noexcept:
    cdef Py_ssize_t i
    if gap == 0:
        return
    # bytes [at, at+gap) are unused: move the tail down
    for i in range(at, out.len - gap):
        out.data[i] = out.data[i + gap]
    out.len -= gap


# -- one value ------------------------------------------------------------------------

cdef int enc_value(WBuf* out, PyObject* val, Limits* L, int* t, PyTypeObject* ht, PyTypeObject* zt,
                   PyTypeObject* dt) except -2:
    """The value's body into ``out`` and its type in ``t``: 0 ok, -1 no memory, 1 left
    to the pure writer."""
    cdef PyTypeObject* vt = Py_TYPE(val)
    cdef object attr
    t[0] = T_STRING
    if vt == _BYTES:
        return put_str(out, val, L.compress)
    if vt == _SET:
        return enc_set(out, val, L, t)
    if vt == ht:
        attr = getattr(<object>val, "fexp")
        return 1 if attr else enc_hash(out, val, L, t)
    if vt == zt:
        attr = getattr(<object>val, "scores")
        if type(attr) is not dict:
            return 1
        return enc_zset(out, <PyObject*>attr, L, t)
    if vt == dt:
        return enc_list(out, <object>val, L, t)
    return 1


def encode_value(value, tuple limits, hash_type, zset_type, deque_type):
    """(RDB type, body) of one keyspace value as ``write_db`` writes it, or None for a
    value left to the pure writer."""
    cdef WBuf out
    cdef Limits L
    cdef int t = 0, r
    L.hash_entries, L.hash_value, L.intset_entries, L.set_entries, L.set_value, \
        L.zset_entries, L.zset_value, L.list_fill, L.version, L.compress = limits
    if wb_init(&out, 256) < 0:
        raise MemoryError()
    try:
        r = enc_value(&out, <PyObject*>value, &L, &t, <PyTypeObject*><PyObject*>hash_type,
                      <PyTypeObject*><PyObject*>zset_type, <PyTypeObject*><PyObject*>deque_type)
        if r < 0:
            raise MemoryError()
        if r == 1:
            return None
        return t, PyBytes_FromStringAndSize_(<char*>out.data, out.len)
    finally:
        wb_free(&out)


# -- one database -------------------------------------------------------------------

def write_db(dict data, dict expires, sink, fallback, tuple limits, hash_type, zset_type,
             deque_type, Py_ssize_t chunk=1 << 20, compact_type=None):
    """Write every key of one db (``data``: key -> value) in sorted key order.

    ``sink(bytes)`` gets the output a chunk at a time; ``fallback(key)`` writes one record
    through the pure writer (after the output so far went to ``sink``). ``limits``:
    (hash entries, hash value, intset entries, set entries, set value, zset entries,
    zset value, list fill, rdb version, compress). ``compact_type``: the class of
    kvengine.compact values whose (rdb_type, body) were made for this very target (the
    caller checks the signature); their body is copied as it is. Returns the number of
    keys written (``fallback`` ones included)."""
    cdef Py_ssize_t n = PyDict_Size(<PyObject*>data), pos = 0, i = 0, k, head_at
    cdef PyObject* key
    cdef PyObject* val
    cdef PyObject* e
    cdef PyObject** keys
    cdef WBuf out
    cdef Limits L
    cdef int r, t
    cdef long long ms
    cdef PyTypeObject* ht = <PyTypeObject*><PyObject*>hash_type
    cdef PyTypeObject* zt = <PyTypeObject*><PyObject*>zset_type
    cdef PyTypeObject* dt = <PyTypeObject*><PyObject*>deque_type
    cdef PyTypeObject* vt
    cdef unsigned char tb
    cdef object attr
    cdef PyTypeObject* ct = NULL if compact_type is None else <PyTypeObject*><PyObject*>compact_type
    L.hash_entries, L.hash_value, L.intset_entries, L.set_entries, L.set_value, \
        L.zset_entries, L.zset_value, L.list_fill, L.version, L.compress = limits
    if n == 0:
        return 0
    keys = <PyObject**>malloc(n * sizeof(PyObject*))
    if keys == NULL:
        raise MemoryError()
    while PyDict_Next(<PyObject*>data, &pos, &key, &val):
        if Py_TYPE(key) != _BYTES or i >= n:
            free(keys)
            raise TypeError("keys must be bytes")
        keys[i] = key
        i += 1
    with nogil:
        qsort(keys, n, sizeof(PyObject*), _cmp_bytes)
    if wb_init(&out, chunk + 65536) < 0:
        free(keys)
        raise MemoryError()
    try:
        for k in range(n):
            key = keys[k]
            val = PyDict_GetItem(<PyObject*>data, key)
            if val == NULL:
                raise RuntimeError("the keyspace changed while it was being saved")
            vt = Py_TYPE(val)
            head_at = out.len
            if wb_reserve(&out, 16) < 0:   # the expire and type byte below always fit
                raise MemoryError()
            e = PyDict_GetItem(<PyObject*>expires, key)
            if e != NULL:
                ms = PyLong_AsLongLong(e)
                wb_byte(&out, 252)
                wb_le(&out, <uint64_t>ms, 8)
            # type byte placeholder, the key, then the value
            wb_byte(&out, 0)
            if put_str(&out, key, L.compress) < 0:
                raise MemoryError()
            if ct != NULL and vt == ct:
                attr = getattr(<object>val, "body")
                t = getattr(<object>val, "rdb_type")
                if type(attr) is not bytes:
                    raise TypeError("a compact value's body must be bytes")
                r = wb_put(&out, PyBytes_AS_STRING(<PyObject*>attr), PyBytes_GET_SIZE(<PyObject*>attr))
            else:
                r = enc_value(&out, val, &L, &t, ht, zt, dt)
            if r < 0:
                raise MemoryError()
            if r == 1:
                out.len = head_at
                if out.len:
                    sink(PyBytes_FromStringAndSize_(<char*>out.data, out.len))
                    out.len = 0
                fallback(<object>key)
                continue
            # the type byte sits right after the optional expire (9 bytes)
            out.data[head_at + (9 if e != NULL else 0)] = <unsigned char>t
            if out.len >= chunk:
                sink(PyBytes_FromStringAndSize_(<char*>out.data, out.len))
                out.len = 0
        if out.len:
            sink(PyBytes_FromStringAndSize_(<char*>out.data, out.len))
    finally:
        wb_free(&out)
        free(keys)
        # Give the freed sort and output buffers back to the system: in a BGSAVE child
        # they would otherwise stay resident and count as copy-on-write (Private_Dirty).
        malloc_trim(0)
    return n




# -- one value back (kvengine.compact.thaw) ---------------------------------------------
#
# The inverse of encode_value for the bodies it writes: the engine value the pure thaw
# (rdbtools.dump.decode_payload + loadvalues.value_from_model) builds, through the same
# public constructors (deque, set, Hash(pairs), ZSet.add in body order). Anything
# unexpected answers None and the pure thaw decides (and reports).

cdef class _Bad(Exception):
    pass


cdef object _str_bytes(RdbStr* s):
    """The bytes of one RDB string element (int forms as decimal text, LZF decoded)."""
    cdef unsigned char num[24]
    cdef Py_ssize_t n
    cdef object out
    if s.form == STR_RAW:
        return PyBytes_FromStringAndSize_(<char*>s.ptr, <Py_ssize_t>s.len)
    if s.form == STR_INT:
        n = int_text(s.ival, num)
        return PyBytes_FromStringAndSize_(<char*>num, n)
    out = PyBytes_FromStringAndSize_(NULL, <Py_ssize_t>s.len)
    if lzf_decode(s.ptr, <Py_ssize_t>s.clen, <unsigned char*>PyBytes_AS_STRING(<PyObject*>out),
                  <Py_ssize_t>s.len) != PK_OK:
        raise _Bad()
    return out


cdef inline object _elem_bytes(Elem* e):
    cdef unsigned char num[24]
    cdef Py_ssize_t n
    if e.ptr != NULL:
        return PyBytes_FromStringAndSize_(<char*>e.ptr, e.len)
    n = int_text(e.ival, num)
    return PyBytes_FromStringAndSize_(<char*>num, n)


cdef list _listpack_elems(RdbStr* s):
    """The elements (bytes) of the listpack an RDB string holds."""
    cdef object blob
    cdef const unsigned char* data
    cdef LpIter it
    cdef Elem e
    cdef int r
    cdef list out = []
    if s.form == STR_LZF:
        blob = _str_bytes(s)
        data = <const unsigned char*>PyBytes_AS_STRING(<PyObject*>blob)
    elif s.form == STR_RAW:
        blob = None
        data = s.ptr
    else:
        raise _Bad()
    if lp_open(&it, data, <Py_ssize_t>s.len) != PK_OK:
        raise _Bad()
    while True:
        r = lp_next(&it, &e)
        if r == PK_END:
            return out
        if r != PK_OK:
            raise _Bad()
        out.append(_elem_bytes(&e))


cdef inline void _next_str(const unsigned char** p, const unsigned char* end, RdbStr* s) except *:
    if rdb_str(p, end, s) != PK_OK:
        raise _Bad()


cdef inline uint64_t _next_len(const unsigned char** p, const unsigned char* end) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t n
    if rdb_plain_len(p, end, &n) != PK_OK:
        raise _Bad()
    return n


cdef object _decode(int t, const unsigned char* p, const unsigned char* end, hash_type, zset_type, deque_type):
    cdef RdbStr s, s2
    cdef uint64_t n, i, container
    cdef list items
    cdef object m, z, add, blob
    cdef IsIter it
    cdef int64_t iv
    cdef unsigned char num[24]
    cdef double d
    cdef Py_ssize_t k
    if t == T_LIST_QUICKLIST_2:
        items = []
        n = _next_len(&p, end)
        for i in range(n):
            container = _next_len(&p, end)
            _next_str(&p, end, &s)
            if container == 1:            # QUICKLIST_NODE_CONTAINER_PLAIN: one element
                items.append(_str_bytes(&s))
            elif container == 2:          # PACKED: a listpack
                items.extend(_listpack_elems(&s))
            else:
                raise _Bad()
        out = deque_type(items)
    elif t == T_SET:
        n = _next_len(&p, end)
        out = set()
        for i in range(n):
            _next_str(&p, end, &s)
            out.add(_str_bytes(&s))
    elif t == T_SET_INTSET:
        _next_str(&p, end, &s)
        if s.form == STR_LZF:
            blob = _str_bytes(&s)
            data = <const unsigned char*>PyBytes_AS_STRING(<PyObject*>blob)
        elif s.form == STR_RAW:
            data = s.ptr
        else:
            raise _Bad()
        if is_open(&it, data, <Py_ssize_t>s.len) != PK_OK:
            raise _Bad()
        out = set()
        while is_next(&it, &iv) == PK_OK:
            k = int_text(iv, num)
            out.add(PyBytes_FromStringAndSize_(<char*>num, k))
        if it.index != it.length:
            raise _Bad()
    elif t == T_SET_LISTPACK:
        _next_str(&p, end, &s)
        out = set(_listpack_elems(&s))
    elif t == T_HASH:
        n = _next_len(&p, end)
        items = []
        for i in range(n):
            _next_str(&p, end, &s)
            _next_str(&p, end, &s2)
            items.append((_str_bytes(&s), _str_bytes(&s2)))
        out = hash_type(items)
    elif t == T_HASH_LISTPACK:
        _next_str(&p, end, &s)
        items = _listpack_elems(&s)
        if len(items) % 2:
            raise _Bad()
        out = hash_type(zip(items[0::2], items[1::2]))
    elif t == T_ZSET_2:
        n = _next_len(&p, end)
        z = zset_type()
        add = z.add
        for i in range(n):
            _next_str(&p, end, &s)
            m = _str_bytes(&s)
            if end - p < 8:
                raise _Bad()
            memcpy(&d, p, 8)
            p += 8
            if d != d:
                raise _Bad()
            add(m, d)
        out = z
    elif t == T_ZSET_LISTPACK:
        _next_str(&p, end, &s)
        items = _listpack_elems(&s)
        if len(items) % 2:
            raise _Bad()
        z = zset_type()
        add = z.add
        for k in range(0, len(items), 2):
            try:
                d = float(items[k + 1])
            except ValueError:
                raise _Bad()
            if d != d:
                raise _Bad()
            add(items[k], d)
        out = z
    else:
        raise _Bad()
    if p != end:
        raise _Bad()
    return out


def decode_value(int rdb_type, bytes body, hash_type, zset_type, deque_type):
    """The engine value of a body ``encode_value`` wrote (type ``rdb_type``), or None
    when the pure thaw should decide."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(<PyObject*>body)
    try:
        return _decode(rdb_type, p, p + PyBytes_GET_SIZE(<PyObject*>body), hash_type, zset_type, deque_type)
    except _Bad:
        return None
