# cython: language_level=3
"""Compiled memory walk for ``persistkit memory`` (driver: rdbtools/memory/scan.py).

``MemScanner.run`` walks whole key records straight over the reader's ByteSource window
and, for each record it accepts, appends the same memory row that the reference path
(``RDBReader(iterate=True)`` + ``rdbtools.memory.estimate``) gives. It accepts a record
only when the reference reader in that mode would read it without a problem: every
length inside the window, inner blobs validated by the iterators of blobs.pxd (which
accept exactly what the pure codecs accept), LZF data decoded strictly, no repeated
member in a blob, readable scores, no NaN, no empty collection. It stops in front of
anything else -- an opcode, a stream, a module, a hash with field TTLs, an old type,
a doubt, the end of the window -- and the driver hands that one item to the reference
reader.

The size rules are those of rdbtools/memory/sizes.py (jemalloc classes, sds headers,
listpack entries, objectComputeSize's float sums in the same order); the few dict
simulations (a set or hash converted half-way, a big listpack zset's unsized dict) are
computed by calling the very Python functions the reference path uses.
"""

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport malloc, realloc, free, qsort, strtod
from libc.string cimport memcpy
from libc.math cimport isnan, isinf
from libc.stdio cimport snprintf
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize

from persistkit._accel.blobs cimport (
    PK_OK, PK_END, PK_SHORT, PK_BAD, STR_RAW, STR_INT, STR_LZF, Elem, RdbStr,
    rdb_len, rdb_plain_len, rdb_str, lzf_decode, canonical_int, int_text, sle, u32le,
    LpIter, lp_open, lp_next, ZlIter, zl_open, zl_next, IsIter, is_open, is_next)

# run() answers
R_MORE = 0      # max_rows rows appended: call again
R_NEED = 1      # the window ends inside the record at ``pos``: ``need`` bytes from pos
R_DEFER = 2     # the reference reader takes the item at ``pos``

cdef enum:
    OK = 0
    NEED = 1
    DEFER = 2

# A record must fit a window of this many bytes; bigger ones go to the reference path.
WINDOW_MAX = 8 << 20

# Sizes (rdbtools/memory/sizes.py)
cdef enum:
    ROBJ = 16
    DICT_ENTRY = 24
    DICT = 56
    POINTER = 8
    QUICKLIST = 40
    QUICKLIST_NODE = 40
    ZSET = 16
    ZSKIPLIST = 32
    LISTPACK_EMPTY = 7
    INTSET_HEADER = 8
    EMBSTR_LIMIT = 44
    EMBSTR_OVERHEAD = 20
    LIST_NODE_LIMIT = 8192
    QL_SIZE_OVERHEAD = 8

cdef int64_t LISTPACK_SAFETY = 1 << 30

# Row type / encoding names (shared objects, as the reference rows use str constants)
cdef object T_STRING = "string"
cdef object T_LIST = "list"
cdef object T_SET = "set"
cdef object T_ZSET = "zset"
cdef object T_HASH = "hash"
cdef object E_INT = "int"
cdef object E_EMBSTR = "embstr"
cdef object E_RAW = "raw"
cdef object E_QUICKLIST = "quicklist"
cdef object E_LISTPACK = "listpack"
cdef object E_HASHTABLE = "hashtable"
cdef object E_INTSET = "intset"
cdef object E_SKIPLIST = "skiplist"


cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil


cdef inline int plain_len(const unsigned char** pp, const unsigned char* end, uint64_t* n) noexcept nogil:
    """A collection's element count: OK, NEED (the window ends inside it) or DEFER."""
    cdef int st = rdb_plain_len(pp, end, n)
    if st == PK_OK:
        return OK
    return NEED if st == PK_SHORT else DEFER


cdef inline int64_t jem(int64_t n) noexcept nogil:
    """jemalloc 5 usable size (sizes.jemalloc_size)."""
    cdef int64_t step
    cdef int bits
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) & ~(<int64_t>15)
    bits = 64 - __builtin_clzll(<unsigned long long>(n - 1))
    step = (<int64_t>1) << (bits - 3)
    return (n + step - 1) & ~(step - 1)


cdef inline int64_t sds_alloc(int64_t n) noexcept nogil:
    cdef int64_t h
    if n < 32:
        h = 1 if n else 3
    elif n < 256:
        h = 3
    elif n < 65536:
        h = 5
    elif n < (<int64_t>1 << 32):
        h = 9
    else:
        h = 17
    return jem(h + n + 1)


cdef inline int64_t backlen_size(int64_t n) noexcept nogil:
    if n <= 127:
        return 1
    if n < 16383:
        return 2
    if n < 2097151:
        return 3
    if n < 268435455:
        return 4
    return 5


cdef inline int64_t int_entry(int64_t v) noexcept nogil:
    if 0 <= v <= 127:
        return 2
    if -4096 <= v <= 4095:
        return 3
    if -32768 <= v <= 32767:
        return 4
    if -8388608 <= v <= 8388607:
        return 5
    if -2147483648 <= v <= 2147483647:
        return 6
    return 10


cdef inline int64_t str_entry(int64_t n) noexcept nogil:
    cdef int64_t h = n + (1 if n < 64 else (2 if n < 4096 else 5))
    return h + backlen_size(h)


cdef inline int64_t next_pow(int64_t n) noexcept nogil:
    if n <= 4:
        return 4
    return (<int64_t>1) << (64 - __builtin_clzll(<unsigned long long>(n - 1)))


cdef inline int64_t float_total(int64_t base, int64_t elesize, int64_t n) noexcept nogil:
    """``asize += (double)elesize/samples*count`` with samples == count == n."""
    if n == 0:
        return base
    return <int64_t>(<double>base + <double>elesize / <double>n * <double>n)


cdef inline int int_width(int64_t v) noexcept nogil:
    if -32768 <= v <= 32767:
        return 2
    if -2147483648 <= v <= 2147483647:
        return 4
    return 8


ctypedef struct Txt:
    # An element's canonical text, as the reference path sees it (bytes; integers as
    # their decimal text)
    int64_t len
    bint isint
    int64_t v


cdef inline void elem_txt(Elem* e, Txt* t) noexcept nogil:
    cdef unsigned char tmp[24]
    if e.ptr == NULL:
        t.isint = 1
        t.v = e.ival
        t.len = int_text(e.ival, tmp)
    else:
        t.len = e.len
        t.v = 0
        t.isint = e.len <= 20 and canonical_int(e.ptr, e.len, &t.v)


cdef inline int64_t txt_entry(Txt* t) noexcept nogil:
    return int_entry(t.v) if t.isint else str_entry(t.len)


cdef inline uint64_t mix_hash(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """A 64-bit hash for the repeated-member check (an equal hash only means "let the
    reference reader look")."""
    cdef uint64_t h = 0xCBF29CE484222325ULL ^ (<uint64_t>n * 0x9E3779B97F4A7C15ULL)
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ p[i]) * 0x100000001B3ULL
    h ^= h >> 31
    h *= 0xD6E8FEB86659FD93ULL
    h ^= h >> 32
    return h


cdef inline uint64_t elem_hash(Elem* e) noexcept nogil:
    cdef unsigned char tmp[24]
    cdef Py_ssize_t n
    if e.ptr == NULL:
        n = int_text(e.ival, tmp)
        return mix_hash(tmp, n)
    return mix_hash(e.ptr, e.len)


cdef int _cmp_u64(const void* a, const void* b) noexcept nogil:
    cdef uint64_t x = (<const uint64_t*>a)[0]
    cdef uint64_t y = (<const uint64_t*>b)[0]
    return (x > y) - (x < y)


cdef inline bint score_text_ok(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """Texts Python's float() and strtod() surely read alike as a number that is not
    NaN: [sign] digits [. digits] [e [sign] digits], or [sign] inf."""
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t digits = 0
    if n <= 0 or n > 60:
        return 0
    if s[0] == 0x2D or s[0] == 0x2B:
        i = 1
    if n - i == 3 and s[i] == 0x69 and s[i + 1] == 0x6E and s[i + 2] == 0x66:
        return 1
    while i < n and 0x30 <= s[i] <= 0x39:
        i += 1
        digits += 1
    if i < n and s[i] == 0x2E:
        i += 1
        while i < n and 0x30 <= s[i] <= 0x39:
            i += 1
            digits += 1
    if digits == 0:
        return 0
    if i < n and (s[i] == 0x65 or s[i] == 0x45):
        i += 1
        if i < n and (s[i] == 0x2D or s[i] == 0x2B):
            i += 1
        digits = 0
        while i < n and 0x30 <= s[i] <= 0x39:
            i += 1
            digits += 1
        if digits == 0:
            return 0
    return i == n


cdef inline int elem_score(Elem* e, double* out) noexcept nogil:
    cdef char buf[64]
    if e.ptr == NULL:
        out[0] = <double>e.ival
        return PK_OK
    if not score_text_ok(e.ptr, e.len):
        return PK_BAD
    memcpy(buf, e.ptr, e.len)
    buf[e.len] = 0
    out[0] = strtod(buf, NULL)
    if isnan(out[0]):
        return PK_BAD
    return PK_OK


cdef inline int64_t score_entry(double d) noexcept nogil:
    """sizes.zset_score_entry_size: double2ll first, else d2string's %.17g."""
    cdef char buf[40]
    cdef int64_t ll
    cdef int n
    if -4611686018427387904.0 <= d <= 4611686018427387904.0:
        ll = <int64_t>d
        if <double>ll == d:
            return int_entry(ll)
    if isinf(d):
        return str_entry(3 if d > 0 else 4)
    n = snprintf(buf, 40, "%.17g", d)
    return str_entry(n)


ctypedef struct Value:
    int64_t bytes
    int enc          # index into ENCODINGS
    int64_t elements
    int64_t largest


cdef enum:
    EN_INT = 0
    EN_EMBSTR = 1
    EN_RAW = 2
    EN_QUICKLIST = 3
    EN_LISTPACK = 4
    EN_HASHTABLE = 5
    EN_INTSET = 6
    EN_SKIPLIST = 7


cdef class MemScanner:
    """One per file. ``run(src, db, rows, max_rows)``: see the module docstring."""

    cdef public Py_ssize_t pos
    cdef public Py_ssize_t need
    cdef public Py_ssize_t window_max
    cdef int64_t hash_entries, hash_value, set_entries, zset_entries, zset_value
    cdef double skiplist_mean
    cdef int64_t skiplist_header
    cdef object mixed_set_slots, converted_hash_slots, grown_slots
    cdef unsigned char* scratch
    cdef Py_ssize_t scratch_cap
    cdef uint64_t* hashes
    cdef Py_ssize_t hashes_cap
    cdef list encodings

    def __cinit__(self):
        self.scratch = NULL
        self.hashes = NULL

    def __init__(self, thresholds, double skiplist_mean, int64_t skiplist_header,
                 mixed_set_slots, converted_hash_slots, grown_slots, window_max=None):
        (self.hash_entries, self.hash_value, self.set_entries, self.zset_entries,
         self.zset_value) = thresholds
        self.skiplist_mean = skiplist_mean
        self.skiplist_header = skiplist_header
        self.mixed_set_slots = mixed_set_slots
        self.converted_hash_slots = converted_hash_slots
        self.grown_slots = grown_slots
        self.window_max = WINDOW_MAX if window_max is None else window_max
        self.pos = 0
        self.need = 0
        self.encodings = [E_INT, E_EMBSTR, E_RAW, E_QUICKLIST, E_LISTPACK, E_HASHTABLE,
                          E_INTSET, E_SKIPLIST]

    def __dealloc__(self):
        if self.scratch != NULL:
            free(self.scratch)
        if self.hashes != NULL:
            free(self.hashes)

    cdef unsigned char* room(self, Py_ssize_t n) except NULL:
        cdef unsigned char* p
        if n > self.scratch_cap:
            p = <unsigned char*>realloc(self.scratch, n if n > 4096 else 4096)
            if p == NULL:
                raise MemoryError()
            self.scratch = p
            self.scratch_cap = n if n > 4096 else 4096
        return self.scratch

    cdef uint64_t* hash_room(self, Py_ssize_t n) except NULL:
        cdef uint64_t* p
        if n > self.hashes_cap:
            p = <uint64_t*>realloc(self.hashes, (n if n > 256 else 256) * 8)
            if p == NULL:
                raise MemoryError()
            self.hashes = p
            self.hashes_cap = n if n > 256 else 256
        return self.hashes

    # ------------------------------------------------------------------ blobs
    cdef int blob(self, const unsigned char** pp, const unsigned char* end,
                  const unsigned char** data, Py_ssize_t* size) except -9:
        """An RDB string holding a blob: raw in the window, or LZF decoded to scratch."""
        cdef RdbStr s
        cdef int r = rdb_str(pp, end, &s)
        cdef unsigned char* out
        if r == PK_SHORT:
            return NEED
        if r != PK_OK or s.form == STR_INT:
            return DEFER
        if s.form == STR_RAW:
            data[0] = s.ptr
            size[0] = <Py_ssize_t>s.len
            return OK
        if s.len > <uint64_t>self.window_max:
            return DEFER
        out = self.room(<Py_ssize_t>s.len + 1)
        if lzf_decode(s.ptr, <Py_ssize_t>s.clen, out, <Py_ssize_t>s.len) != PK_OK:
            return DEFER
        data[0] = out
        size[0] = <Py_ssize_t>s.len
        return OK

    cdef bint repeats(self, Py_ssize_t n):
        """True when two of the ``n`` hashes in self.hashes are equal."""
        cdef Py_ssize_t i
        if n < 2:
            return 0
        qsort(self.hashes, n, 8, _cmp_u64)
        for i in range(1, n):
            if self.hashes[i] == self.hashes[i - 1]:
                return 1
        return 0

    # ------------------------------------------------------------------ strings
    cdef int rdb_txt(self, const unsigned char** pp, const unsigned char* end, Txt* t) noexcept:
        """One RDB string element (raw / int / LZF, decoded strictly) as Txt."""
        cdef RdbStr s
        cdef unsigned char tmp[24]
        cdef int r = rdb_str(pp, end, &s)
        if r == PK_SHORT:
            return NEED
        if r != PK_OK:
            return DEFER
        if s.form == STR_INT:
            t.isint = 1
            t.v = s.ival
            t.len = int_text(s.ival, tmp)
            return OK
        if s.form == STR_RAW:
            t.len = <int64_t>s.len
            t.isint = s.len <= 20 and canonical_int(s.ptr, <Py_ssize_t>s.len, &t.v)
            return OK
        # LZF: strict decoding; the text matters only when short enough to be an integer
        if s.len <= 20:
            if lzf_decode(s.ptr, <Py_ssize_t>s.clen, tmp, <Py_ssize_t>s.len) != PK_OK:
                return DEFER
            t.isint = canonical_int(tmp, <Py_ssize_t>s.len, &t.v)
        else:
            if lzf_decode(s.ptr, <Py_ssize_t>s.clen, NULL, <Py_ssize_t>s.len) != PK_OK:
                return DEFER
            t.isint = 0
        t.len = <int64_t>s.len
        return OK

    cdef int v_string(self, const unsigned char** pp, const unsigned char* end, Value* out) noexcept:
        cdef Txt t
        cdef int r = self.rdb_txt(pp, end, &t)
        if r != OK:
            return r
        out.elements = t.len
        out.largest = t.len
        if t.isint:
            out.bytes = ROBJ
            out.enc = EN_INT
        elif t.len <= EMBSTR_LIMIT:
            out.bytes = jem(EMBSTR_OVERHEAD + t.len)
            out.enc = EN_EMBSTR
        else:
            out.bytes = ROBJ + sds_alloc(t.len)
            out.enc = EN_RAW
        return OK

    # ------------------------------------------------------------------ sets
    cdef int set_result(self, Value* out, int64_t count, int64_t total, int64_t members_sds,
                        bint presized, int64_t converted_at, int width) except -9:
        cdef int64_t slots
        if presized or converted_at >= 0:
            if presized:
                slots = next_pow(count)
            elif converted_at == 0 and total == count:
                slots = next_pow(total)
            else:
                slots = self.mixed_set_slots(converted_at, total, count)
            out.bytes = float_total(ROBJ + DICT + POINTER * slots,
                                    members_sds + count * DICT_ENTRY, count)
            out.enc = EN_HASHTABLE
        else:
            out.bytes = ROBJ + jem(INTSET_HEADER + count * width)
            out.enc = EN_INTSET
        out.elements = count
        return OK

    cdef int v_plain_set(self, const unsigned char** pp, const unsigned char* end, Value* out) except -9:
        cdef uint64_t n
        cdef int64_t i, count = 0, members_sds = 0, largest = 0, converted_at = -1
        cdef int width = 2, w, r
        cdef bint presized
        cdef Txt t
        r = plain_len(pp, end, &n)
        if r != OK:
            return r
        if n == 0:
            return DEFER
        presized = <int64_t>n > self.set_entries
        for i in range(<int64_t>n):
            r = self.rdb_txt(pp, end, &t)
            if r != OK:
                return r
            if t.len > largest:
                largest = t.len
            members_sds += sds_alloc(t.len)
            if not presized and converted_at < 0:
                if t.isint:
                    w = int_width(t.v)
                    if w > width:
                        width = w
                else:
                    converted_at = count
            count += 1
        out.largest = largest
        return self.set_result(out, count, <int64_t>n, members_sds, presized, converted_at, width)

    cdef int v_intset(self, const unsigned char** pp, const unsigned char* end, Value* out) except -9:
        cdef const unsigned char* data
        cdef Py_ssize_t size
        cdef IsIter it
        cdef int64_t v, count = 0, largest = 0, members_sds = 0, n
        cdef unsigned char tmp[24]
        cdef int r = self.blob(pp, end, &data, &size)
        cdef int st
        if r != OK:
            return r
        if is_open(&it, data, size) != PK_OK:
            return DEFER
        while True:
            st = is_next(&it, &v)
            if st == PK_END:
                break
            if st != PK_OK:
                return DEFER
            n = int_text(v, tmp)
            if n > largest:
                largest = n
            members_sds += sds_alloc(n)
            count += 1
        if count == 0:
            return DEFER
        out.largest = largest
        out.elements = count
        if count > self.set_entries:
            out.bytes = float_total(ROBJ + DICT + POINTER * next_pow(count),
                                    members_sds + count * DICT_ENTRY, count)
            out.enc = EN_HASHTABLE
        else:
            out.bytes = ROBJ + jem(INTSET_HEADER + count * it.width)
            out.enc = EN_INTSET
        return OK

    cdef int v_set_listpack(self, const unsigned char** pp, const unsigned char* end, Value* out) except -9:
        # 7.2+ listpack set, as a 7.0 server loads a plain set of these members
        cdef const unsigned char* data
        cdef Py_ssize_t size
        cdef LpIter it
        cdef Elem e
        cdef Txt t
        cdef int64_t count = 0, members_sds = 0, largest = 0, converted_at = -1, total
        cdef int width = 2, w, st
        cdef uint64_t* hashes
        cdef int r = self.blob(pp, end, &data, &size)
        if r != OK:
            return r
        if lp_open(&it, data, size) != PK_OK:
            return DEFER
        hashes = self.hash_room(size)
        while True:
            st = lp_next(&it, &e)
            if st == PK_END:
                break
            if st != PK_OK:
                return DEFER
            elem_txt(&e, &t)
            hashes[count] = elem_hash(&e)
            if t.len > largest:
                largest = t.len
            members_sds += sds_alloc(t.len)
            if converted_at < 0:
                if t.isint:
                    w = int_width(t.v)
                    if w > width:
                        width = w
                else:
                    converted_at = count
            count += 1
        if count == 0 or self.repeats(count):
            return DEFER
        total = count
        out.largest = largest
        return self.set_result(out, count, total, members_sds, total > self.set_entries,
                               converted_at, width)

    # ------------------------------------------------------------------ hashes
    cdef int hash_table(self, Value* out, int64_t pairs_sds, int64_t count, int64_t slots) noexcept:
        out.bytes = float_total(ROBJ + DICT + POINTER * slots, pairs_sds + count * DICT_ENTRY, count)
        out.enc = EN_HASHTABLE
        out.elements = count
        return OK

    cdef int v_plain_hash(self, const unsigned char** pp, const unsigned char* end, Value* out) except -9:
        cdef uint64_t n
        cdef int64_t i, count = 0, pairs_sds = 0, largest = 0, converted_at = -1, lp = LISTPACK_EMPTY
        cdef int r
        cdef bint presized
        cdef Txt f, v
        r = plain_len(pp, end, &n)
        if r != OK:
            return r
        if n == 0:
            return DEFER
        presized = <int64_t>n > self.hash_entries
        for i in range(<int64_t>n):
            r = self.rdb_txt(pp, end, &f)
            if r != OK:
                return r
            r = self.rdb_txt(pp, end, &v)
            if r != OK:
                return r
            if f.len > largest:
                largest = f.len
            if v.len > largest:
                largest = v.len
            pairs_sds += sds_alloc(f.len) + sds_alloc(v.len)
            if not presized and converted_at < 0:
                if (f.len > self.hash_value or v.len > self.hash_value
                        or lp + f.len + v.len > LISTPACK_SAFETY):
                    converted_at = count
                else:
                    lp += txt_entry(&f) + txt_entry(&v)
            count += 1
        out.largest = largest
        if presized:
            return self.hash_table(out, pairs_sds, count, next_pow(count))
        if converted_at < 0:
            out.bytes = ROBJ + jem(lp)
            out.enc = EN_LISTPACK
            out.elements = count
            return OK
        return self.hash_table(out, pairs_sds, count,
                               self.converted_hash_slots(converted_at, <int64_t>n, count))

    cdef int v_hash_blob(self, const unsigned char** pp, const unsigned char* end, Value* out,
                         bint ziplist) except -9:
        cdef const unsigned char* data
        cdef Py_ssize_t size
        cdef LpIter lit
        cdef ZlIter zit
        cdef Elem e
        cdef Txt t
        cdef int64_t items = 0, pairs = 0, pairs_sds = 0, largest = 0, lp = LISTPACK_EMPTY
        cdef int st
        cdef uint64_t* hashes
        cdef int r = self.blob(pp, end, &data, &size)
        if r != OK:
            return r
        if ziplist:
            st = zl_open(&zit, data, size)
        else:
            st = lp_open(&lit, data, size)
        if st != PK_OK:
            return DEFER
        hashes = self.hash_room(size)
        while True:
            st = zl_next(&zit, &e) if ziplist else lp_next(&lit, &e)
            if st == PK_END:
                break
            if st != PK_OK:
                return DEFER
            elem_txt(&e, &t)
            if items % 2 == 0:
                hashes[pairs] = elem_hash(&e)
                pairs += 1
            items += 1
            if t.len > largest:
                largest = t.len
            pairs_sds += sds_alloc(t.len)
            lp += txt_entry(&t)
        if items == 0 or items % 2 or self.repeats(pairs):
            return DEFER
        out.largest = largest
        if pairs > self.hash_entries:
            return self.hash_table(out, pairs_sds, pairs, next_pow(pairs))
        out.bytes = ROBJ + jem(lp)
        out.enc = EN_LISTPACK
        out.elements = pairs
        return OK

    # ------------------------------------------------------------------ sorted sets
    cdef int64_t skiplist(self, int64_t members_sds, int64_t n, int64_t slots) noexcept:
        cdef int64_t base = (ROBJ + ZSET + ZSKIPLIST + DICT + POINTER * slots + self.skiplist_header)
        cdef double elesize = <double>(members_sds + n * DICT_ENTRY) + <double>n * self.skiplist_mean
        return <int64_t>(<double>base + elesize / <double>n * <double>n)

    cdef int v_zset2(self, const unsigned char** pp, const unsigned char* end, Value* out) except -9:
        cdef uint64_t n
        cdef int64_t i, count = 0, members_sds = 0, largest = 0, total_len = 0, lp = LISTPACK_EMPTY
        cdef int r
        cdef bint small
        cdef Txt m
        cdef double score
        r = plain_len(pp, end, &n)
        if r != OK:
            return r
        if n == 0:
            return DEFER
        small = <int64_t>n <= self.zset_entries
        for i in range(<int64_t>n):
            r = self.rdb_txt(pp, end, &m)
            if r != OK:
                return r
            if end - pp[0] < 8:
                return NEED
            memcpy(&score, pp[0], 8)
            pp[0] += 8
            if isnan(score):
                return DEFER
            if m.len > largest:
                largest = m.len
            total_len += m.len
            members_sds += sds_alloc(m.len)
            if small:
                lp += txt_entry(&m) + score_entry(score)
            count += 1
        out.largest = largest
        out.elements = count
        if count <= self.zset_entries and largest <= self.zset_value and total_len <= LISTPACK_SAFETY:
            out.bytes = ROBJ + jem(lp)
            out.enc = EN_LISTPACK
        else:
            out.bytes = self.skiplist(members_sds, count, next_pow(count))
            out.enc = EN_SKIPLIST
        return OK

    cdef int v_zset_blob(self, const unsigned char** pp, const unsigned char* end, Value* out,
                         bint ziplist) except -9:
        cdef const unsigned char* data
        cdef Py_ssize_t size
        cdef LpIter lit
        cdef ZlIter zit
        cdef Elem e
        cdef Txt t
        cdef double score
        cdef int64_t items = 0, pairs = 0, members_sds = 0, largest = 0, lp = LISTPACK_EMPTY
        cdef int st
        cdef uint64_t* hashes
        cdef int r = self.blob(pp, end, &data, &size)
        if r != OK:
            return r
        if ziplist:
            st = zl_open(&zit, data, size)
        else:
            st = lp_open(&lit, data, size)
        if st != PK_OK:
            return DEFER
        hashes = self.hash_room(size)
        while True:
            st = zl_next(&zit, &e) if ziplist else lp_next(&lit, &e)
            if st == PK_END:
                break
            if st != PK_OK:
                return DEFER
            if items % 2 == 0:
                elem_txt(&e, &t)
                hashes[pairs] = elem_hash(&e)
                pairs += 1
                if t.len > largest:
                    largest = t.len
                members_sds += sds_alloc(t.len)
                lp += txt_entry(&t)
            else:
                if elem_score(&e, &score) != PK_OK:
                    return DEFER
                lp += score_entry(score)
            items += 1
        if items == 0 or items % 2 or self.repeats(pairs):
            return DEFER
        out.largest = largest
        out.elements = pairs
        if pairs > self.zset_entries:
            out.bytes = self.skiplist(members_sds, pairs, self.grown_slots(pairs))
            out.enc = EN_SKIPLIST
        else:
            out.bytes = ROBJ + jem(lp)
            out.enc = EN_LISTPACK
        return OK

    # ------------------------------------------------------------------ lists
    cdef int v_quicklist(self, const unsigned char** pp, const unsigned char* end, Value* out,
                         bint v2) except -9:
        cdef uint64_t n_nodes, container, k
        cdef const unsigned char* data
        cdef Py_ssize_t size
        cdef LpIter lit
        cdef ZlIter zit
        cdef Elem e
        cdef Txt t
        cdef int64_t count = 0, largest = 0, nodes_sz = 0, used_nodes = 0, node_lp, node_count
        cdef int st, r
        r = plain_len(pp, end, &n_nodes)
        if r != OK:
            return r
        if n_nodes == 0:
            return DEFER
        for k in range(n_nodes):
            if v2:
                st = rdb_plain_len(pp, end, &container)
                if st == PK_SHORT:
                    return NEED
                if st != PK_OK or container != 2:
                    return DEFER   # PLAIN nodes (and bad containers) go to the reference
            r = self.blob(pp, end, &data, &size)
            if r != OK:
                return r
            if size == 0:
                return DEFER
            st = lp_open(&lit, data, size) if v2 else zl_open(&zit, data, size)
            if st != PK_OK:
                return DEFER
            node_lp = LISTPACK_EMPTY
            node_count = 0
            while True:
                st = lp_next(&lit, &e) if v2 else zl_next(&zit, &e)
                if st == PK_END:
                    break
                if st != PK_OK:
                    return DEFER
                elem_txt(&e, &t)
                if t.len > largest:
                    largest = t.len
                node_lp += txt_entry(&t)
                node_count += 1
            if node_count:
                used_nodes += 1
                nodes_sz += QUICKLIST_NODE + jem(node_lp)
                count += node_count
        if count == 0:
            return DEFER
        out.bytes = float_total(ROBJ + QUICKLIST, nodes_sz, used_nodes)
        out.enc = EN_QUICKLIST
        out.elements = count
        out.largest = largest
        return OK

    # ------------------------------------------------------------------ records
    def run(self, src, int db, list rows, Py_ssize_t max_rows):
        """Accept records from ``src.pos``; ``self.pos`` ends after the last one."""
        cdef bytes buf = src.buf
        cdef const unsigned char* base = <const unsigned char*>PyBytes_AS_STRING(buf)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(buf)
        cdef const unsigned char* end = base + size
        cdef const unsigned char* p = base + <Py_ssize_t>src.pos
        cdef const unsigned char* q
        cdef const unsigned char* start
        cdef const unsigned char* kp
        cdef unsigned char t
        cdef bint has_expire
        cdef int64_t expire = 0
        cdef uint64_t ignored
        cdef RdbStr ks
        cdef Value val
        cdef int r
        cdef Py_ssize_t made = 0
        cdef int64_t usage, klen
        cdef object key, tname
        cdef int st
        cdef unsigned char tmp[24]
        cdef unsigned char* kbuf
        while True:
            start = p
            q = p
            has_expire = 0
            r = OK
            # expiry / idle / freq prefixes (rdbLoadRioWithLoadingCtx)
            while True:
                if q >= end:
                    r = NEED
                    break
                t = q[0]
                if t == 252:
                    if end - q < 9:
                        r = NEED
                        break
                    expire = sle(q + 1, 8)
                    has_expire = 1
                    q += 9
                elif t == 253:
                    if end - q < 5:
                        r = NEED
                        break
                    expire = sle(q + 1, 4) * 1000
                    has_expire = 1
                    q += 5
                elif t == 248:
                    q += 1
                    st = rdb_plain_len(&q, end, &ignored)
                    if st != PK_OK:
                        r = NEED if st == PK_SHORT else DEFER
                        break
                elif t == 249:
                    if end - q < 2:
                        r = NEED
                        break
                    q += 2
                else:
                    break
            if r == OK and not (t == 0 or t == 2 or t == 4 or t == 5 or t == 11 or t == 12
                                or t == 13 or t == 14 or t == 16 or t == 17 or t == 18 or t == 20):
                r = DEFER
            if r == OK:
                q += 1
                kp = q
                st = rdb_str(&q, end, &ks)
                if st == PK_SHORT:
                    r = NEED
                elif st != PK_OK:
                    r = DEFER
                elif ks.form == STR_LZF and ks.len > <uint64_t>self.window_max:
                    r = DEFER
            if r == OK:
                val.largest = 0
                if t == 0:
                    r = self.v_string(&q, end, &val)
                    tname = T_STRING
                elif t == 2:
                    r = self.v_plain_set(&q, end, &val)
                    tname = T_SET
                elif t == 4:
                    r = self.v_plain_hash(&q, end, &val)
                    tname = T_HASH
                elif t == 5:
                    r = self.v_zset2(&q, end, &val)
                    tname = T_ZSET
                elif t == 11:
                    r = self.v_intset(&q, end, &val)
                    tname = T_SET
                elif t == 12 or t == 17:
                    r = self.v_zset_blob(&q, end, &val, t == 12)
                    tname = T_ZSET
                elif t == 13 or t == 16:
                    r = self.v_hash_blob(&q, end, &val, t == 13)
                    tname = T_HASH
                elif t == 14 or t == 18:
                    r = self.v_quicklist(&q, end, &val, t == 18)
                    tname = T_LIST
                else:  # 20
                    r = self.v_set_listpack(&q, end, &val)
                    tname = T_SET
            if r != OK:
                self.pos = start - base
                if r == NEED:
                    self.need = (end - start) * 2 + 4096
                    if self.need > self.window_max:
                        return R_DEFER   # too big for a window: the reference path
                    return R_NEED
                return R_DEFER
            # the key, as bytes (decoded again now that the record is accepted)
            if ks.form == STR_RAW:
                key = PyBytes_FromStringAndSize(<const char*>ks.ptr, <Py_ssize_t>ks.len)
            elif ks.form == STR_INT:
                key = PyBytes_FromStringAndSize(<const char*>tmp, int_text(ks.ival, tmp))
            else:
                kbuf = self.room(<Py_ssize_t>ks.len + 1)
                if lzf_decode(ks.ptr, <Py_ssize_t>ks.clen, kbuf, <Py_ssize_t>ks.len) != PK_OK:
                    self.pos = start - base
                    return R_DEFER
                key = PyBytes_FromStringAndSize(<const char*>kbuf, <Py_ssize_t>ks.len)
            klen = PyBytes_GET_SIZE(key)
            usage = val.bytes + sds_alloc(klen) + DICT_ENTRY
            rows.append([db, key, tname, self.encodings[val.enc], usage,
                         usage + (DICT_ENTRY if has_expire else 0), val.elements, val.largest,
                         expire if has_expire else None, q - start])
            p = q
            made += 1
            if made >= max_rows:
                self.pos = p - base
                return R_MORE
