# cython: language_level=3
"""Compiled ``export``: key records walked straight over the reader's ByteSource window
and rendered as JSON lines, the JSON document's key objects, CSV rows or RESP commands
(see persistkit/rdbtools/exportfast.py, the driver, and rdbtools/export.py, the
reference).

``Exporter.run`` renders a record only when it is certain that the exact reader in
export's mode (``RDBReader(iterate=True)``, the "stream" strategy) would read it without
a problem: every length inside the window, every inner blob validated as deeply as the
pure codecs do (blobs.pxd), the repeated-member checks the stream strategy makes on
single-blob values, scores. It stops in front of anything else -- an opcode, a stream,
a module, a hash with field TTLs, a zset with text scores, a record bigger than
``window_max``, damage, the end of the window -- and the driver lets the exact reader
and the pure writers take that item, so errors, offsets and exit codes are those of the
pure path.

Output rules (one place each, mirrored from rdbtools/export.py and kvencoding/bstr.py):

* BSTR: a JSON string when the bytes are valid UTF-8 (CPython's strict decoder: no
  overlongs, no surrogates, nothing above U+10FFFF) with no control byte other than
  tab/LF/CR and no DEL, escaped as ``json.dumps(..., ensure_ascii=False)`` does (``"``,
  ``\\``, ``\\t``, ``\\n``, ``\\r``); else ``{"hex":"..."}`` (lowercase).
* integers of compact encodings: their decimal text (``str(int).encode()``).
* scores: ``repr(float)`` (``PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0)``,
  what float.__repr__ calls).
* CSV: the ``csv`` module's excel dialect (QUOTE_MINIMAL: a field holding ``,``, ``"``,
  CR or LF is quoted, quotes doubled; rows end with CRLF).
* RESP: ``*N`` arrays of ``$len`` bulk strings, collections in batches of 500 elements.
"""

from libc.stdint cimport int64_t, uint64_t, uint32_t, int32_t
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memcpy, memcmp, strlen
from libc.math cimport isnan, signbit, floor, fabs
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize

from persistkit._accel.blobs cimport (
    PK_OK, PK_END, PK_SHORT, PK_BAD, STR_RAW, STR_INT, STR_LZF, Elem, RdbStr,
    rdb_len, rdb_plain_len, rdb_str, lzf_decode, canonical_int, int_text, u32le, sle,
    LpIter, lp_open, lp_next, ZlIter, zl_open, zl_next, IsIter, is_open, is_next,
    ZmIter, zm_open, zm_next)

cdef extern from "Python.h":
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int* ptype) except NULL
    double PyOS_string_to_double(const char* s, char** endptr, object overflow_exception) except? -1.0
    void PyMem_Free(void* p)
    object PyMemoryView_FromMemory(char* mem, Py_ssize_t size, int flags)
    int PyBUF_READ
    int Py_DTSF_ADD_DOT_0

# run() answers
R_NEED = 1      # the window ends inside the record at ``pos``: ``need`` bytes from pos
R_DEFER = 2     # the exact reader must take the item at ``pos``
R_FLUSH = 3     # the output buffer is full: take() it and run again from ``pos``

cdef enum:
    FMT_JSONL = 0
    FMT_JSON = 1
    FMT_CSV = 2
    FMT_RESP = 3

# A record is rendered here only when it fits a window of this many bytes; bigger ones
# (a 10M-member set, a 500 MB string) stream through the exact reader.
WINDOW_MAX = 4 << 20
# ... and holds at most this many elements (32 bytes each while it is rendered).
MAX_ITEMS = 1 << 18
cdef enum:
    # Elements per RESP command (rdbtools.export.BATCH).
    RESP_BATCH = 500
    # The output buffer is handed back to the driver once it holds this much.
    FLUSH_AT = 1 << 20

cdef enum:
    OK = 0
    NEED = 1
    DEFER = 2

cdef enum:
    F_STRING = 0
    F_LIST = 1
    F_SET = 2
    F_ZSET = 3
    F_HASH = 4

cdef const char* FAMILY_NAMES[5]
FAMILY_NAMES[0] = "string"
FAMILY_NAMES[1] = "list"
FAMILY_NAMES[2] = "set"
FAMILY_NAMES[3] = "zset"
FAMILY_NAMES[4] = "hash"

_FAMILY_CODES = {"string": F_STRING, "list": F_LIST, "set": F_SET, "zset": F_ZSET, "hash": F_HASH}

cdef const char* HEX = "0123456789abcdef"

# Bytes that make a BSTR hex besides invalid UTF-8: C0 controls other than tab/LF/CR,
# and DEL (bstr.py _CONTROL_BYTES). 1: control (hex), 2: needs a JSON escape,
# 3: non-ASCII (UTF-8 lead or continuation byte), 0: plain.
cdef unsigned char BYTE_CLASS[256]
cdef int _i
for _i in range(256):
    if _i < 0x20 and _i not in (9, 10, 13):
        BYTE_CLASS[_i] = 1
    elif _i == 0x7F:
        BYTE_CLASS[_i] = 1
    elif _i in (9, 10, 13, 0x22, 0x5C):
        BYTE_CLASS[_i] = 2
    elif _i >= 0x80:
        BYTE_CLASS[_i] = 3
    else:
        BYTE_CLASS[_i] = 0


ctypedef struct Item:
    const unsigned char* p      # bytes, or NULL for an integer element
    Py_ssize_t n
    int64_t ival
    double score


ctypedef struct Buf:
    unsigned char* p
    Py_ssize_t n
    Py_ssize_t cap


ctypedef struct Bytes:
    const unsigned char* p
    Py_ssize_t n


# ---------------------------------------------------------------------------
# output buffer

cdef int buf_grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = b.cap if b.cap else 1 << 16
    cdef unsigned char* q
    while cap < b.n + extra:
        cap *= 2
    q = <unsigned char*>realloc(b.p, cap)
    if q == NULL:
        raise MemoryError()
    b.p = q
    b.cap = cap
    return 0


cdef inline int put(Buf* b, const void* s, Py_ssize_t n) except -1:
    if b.n + n > b.cap:
        buf_grow(b, n)
    memcpy(b.p + b.n, s, n)
    b.n += n
    return 0


cdef inline int puts(Buf* b, const char* s) except -1:
    return put(b, s, strlen(s))


cdef inline int putc(Buf* b, unsigned char c) except -1:
    if b.n + 1 > b.cap:
        buf_grow(b, 1)
    b.p[b.n] = c
    b.n += 1
    return 0


cdef inline int put_int(Buf* b, int64_t v) except -1:
    if b.n + 24 > b.cap:
        buf_grow(b, 24)
    b.n += int_text(v, b.p + b.n)
    return 0


cdef inline Py_ssize_t int_len(int64_t v) noexcept nogil:
    cdef unsigned char tmp[24]
    return int_text(v, tmp)


# ---------------------------------------------------------------------------
# BSTR

cdef inline Py_ssize_t utf8_seq(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """The length of the valid UTF-8 sequence of 2-4 bytes at ``s`` (CPython's strict
    decoder: no overlongs, no surrogates, nothing above U+10FFFF), else 0."""
    cdef unsigned char c = s[0]
    cdef unsigned char c1
    if c < 0xC2:
        return 0
    if c < 0xE0:
        if n < 2 or (s[1] & 0xC0) != 0x80:
            return 0
        return 2
    if c < 0xF0:
        if n < 3:
            return 0
        c1 = s[1]
        if c == 0xE0:
            if c1 < 0xA0 or c1 > 0xBF:
                return 0
        elif c == 0xED:
            if c1 < 0x80 or c1 > 0x9F:
                return 0
        elif (c1 & 0xC0) != 0x80:
            return 0
        if (s[2] & 0xC0) != 0x80:
            return 0
        return 3
    if c > 0xF4 or n < 4:
        return 0
    c1 = s[1]
    if c == 0xF0:
        if c1 < 0x90 or c1 > 0xBF:
            return 0
    elif c == 0xF4:
        if c1 < 0x80 or c1 > 0x8F:
            return 0
    elif (c1 & 0xC0) != 0x80:
        return 0
    if (s[2] & 0xC0) != 0x80 or (s[3] & 0xC0) != 0x80:
        return 0
    return 4




cdef uint64_t ONES = 0x0101010101010101ULL
cdef uint64_t HIGHS = 0x8080808080808080ULL


cdef inline uint64_t swar_zero(uint64_t v) noexcept nogil:
    """Non-zero when one of the eight bytes of ``v`` is 0."""
    return (v - ONES) & ~v & HIGHS


cdef inline bint swar_special(uint64_t w) noexcept nogil:
    """True when one of the eight bytes of ``w`` is not a plain printable ASCII byte of
    BYTE_CLASS 0: below 0x20, 0x7F and above, a quote or a backslash."""
    return ((w - ONES * 0x20) & ~w & HIGHS) != 0 or (w & HIGHS) != 0 \
        or swar_zero(w ^ (ONES * 0x22)) != 0 or swar_zero(w ^ (ONES * 0x5C)) != 0 \
        or swar_zero(w ^ (ONES * 0x7F)) != 0


cdef inline bint text_ok(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """True when ``s`` is a JSON-string BSTR (see the module docstring)."""
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t w
    cdef unsigned char k
    cdef uint64_t word
    while i < n:
        if i + 8 <= n:
            memcpy(&word, s + i, 8)
            if not swar_special(word):
                i += 8
                continue
        k = BYTE_CLASS[s[i]]
        if k == 0 or k == 2:
            i += 1
            continue
        if k == 1:
            return 0
        w = utf8_seq(s + i, n - i)
        if w == 0:
            return 0
        i += w
    return 1


cdef int put_hex(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    cdef Py_ssize_t i
    cdef unsigned char* o
    if b.n + 2 * n > b.cap:
        buf_grow(b, 2 * n)
    o = b.p + b.n
    for i in range(n):
        o[2 * i] = HEX[s[i] >> 4]
        o[2 * i + 1] = HEX[s[i] & 15]
    b.n += 2 * n
    return 0


cdef int put_bstr(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    """A BSTR as JSON text (``_bstr_text``): one pass that copies while it checks, and
    starts over as hex at the first byte that rules text out."""
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t mark = b.n
    cdef unsigned char* o
    cdef unsigned char c, c1, k
    cdef Py_ssize_t w
    cdef uint64_t word
    if b.n + 2 * n + 16 > b.cap:
        buf_grow(b, 2 * n + 16)
    o = b.p + b.n
    o[0] = 0x22
    o += 1
    while i < n:
        if i + 8 <= n:
            # eight plain bytes at a time
            memcpy(&word, s + i, 8)
            if not swar_special(word):
                memcpy(o, &word, 8)
                o += 8
                i += 8
                continue
        elif n >= 8:
            # the last bytes: the final eight (overlapping what is already checked)
            memcpy(&word, s + n - 8, 8)
            if not swar_special(word):
                memcpy(o, s + i, n - i)
                o += n - i
                i = n
                break
        c = s[i]
        k = BYTE_CLASS[c]
        if k == 0:
            o[0] = c
            o += 1
            i += 1
            continue
        if k == 2:
            o[0] = 0x5C
            if c == 0x22:
                o[1] = 0x22
            elif c == 0x5C:
                o[1] = 0x5C
            elif c == 9:
                o[1] = 0x74
            elif c == 10:
                o[1] = 0x6E
            else:
                o[1] = 0x72
            o += 2
            i += 1
            continue
        if k == 1:
            break
        # UTF-8 multi-byte sequence, validated as CPython's decoder does.
        w = utf8_seq(s + i, n - i)
        if w == 0:
            break
        memcpy(o, s + i, w)
        o += w
        i += w
    if i == n:
        o[0] = 0x22
        b.n = (o + 1) - b.p
        return 0
    b.n = mark
    put(b, b'{"hex":"', 8)
    put_hex(b, s, n)
    put(b, b'"}', 2)
    return 0


cdef inline int put_item_json(Buf* b, Item* it) except -1:
    if it.p == NULL:
        putc(b, 0x22)
        put_int(b, it.ival)
        putc(b, 0x22)
        return 0
    return put_bstr(b, it.p, it.n)


cdef double POW10[5]
POW10[0] = 1.0
POW10[1] = 10.0
POW10[2] = 100.0
POW10[3] = 1000.0
POW10[4] = 10000.0


cdef inline Py_ssize_t short_score(double v, unsigned char* out) noexcept nogil:
    """repr(v) for the common scores, without the general shortest-digits search:
    0 < |v| < 2**36 with at most 4 decimals. For such v a 4-decimal step is more than
    ten ulps, so at most one number with k decimals rounds to v; the smallest k whose
    candidate reads back as v (IEEE division of exact integers is correctly rounded,
    as strtod is) gives the shortest round-trip digits, which repr prints in fixed
    notation. 0 when v is not of that kind (the caller then asks repr's own code)."""
    cdef double a = fabs(v)
    cdef double scaled
    cdef int64_t m, ip, fp
    cdef int k, j
    cdef Py_ssize_t n = 0
    cdef unsigned char digits[24]
    if not (a >= 1e-4 and a < 68719476736.0):
        return 0
    for k in range(5):
        scaled = a * POW10[k]
        m = <int64_t>(scaled + 0.5)
        if <double>m / POW10[k] != a:
            continue
        if v < 0:
            out[0] = 0x2D
            n = 1
        ip = m // <int64_t>POW10[k]
        fp = m - ip * <int64_t>POW10[k]
        n += int_text(ip, out + n)
        out[n] = 0x2E
        n += 1
        if k == 0:
            out[n] = 0x30
            return n + 1
        for j in range(k - 1, -1, -1):
            digits[j] = <unsigned char>(0x30 + fp % 10)
            fp //= 10
        memcpy(out + n, digits, k)
        return n + k
    return 0


cdef int put_score(Buf* b, double v) except -1:
    """repr(float(v))."""
    cdef char* s
    cdef Py_ssize_t k
    if b.n + 32 > b.cap:
        buf_grow(b, 32)
    k = short_score(v, b.p + b.n)
    if k:
        b.n += k
        return 0
    s = PyOS_double_to_string(v, b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
    try:
        put(b, s, strlen(s))
    finally:
        PyMem_Free(s)
    return 0


# ---------------------------------------------------------------------------
# CSV and RESP pieces

cdef int put_csv_field(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    """One CSV field as csv.writer (excel dialect, QUOTE_MINIMAL) writes it."""
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t j
    cdef unsigned char c
    cdef unsigned char* o
    while i < n:
        c = s[i]
        if c == 0x2C or c == 0x22 or c == 10 or c == 13:
            break
        i += 1
    if i == n:
        return put(b, s, n)
    if b.n + 2 * n + 2 > b.cap:
        buf_grow(b, 2 * n + 2)
    o = b.p + b.n
    o[0] = 0x22
    o += 1
    memcpy(o, s, i)
    o += i
    for j in range(i, n):
        c = s[j]
        o[0] = c
        o += 1
        if c == 0x22:
            o[0] = 0x22
            o += 1
    o[0] = 0x22
    b.n = (o + 1) - b.p
    return 0


cdef inline int put_bulk(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    putc(b, 0x24)
    put_int(b, n)
    put(b, b"\r\n", 2)
    put(b, s, n)
    put(b, b"\r\n", 2)
    return 0


cdef inline int put_bulk_item(Buf* b, Item* it) except -1:
    cdef unsigned char tmp[24]
    cdef Py_ssize_t k
    if it.p == NULL:
        k = int_text(it.ival, tmp)
        return put_bulk(b, tmp, k)
    return put_bulk(b, it.p, it.n)


cdef inline int put_bulk_int(Buf* b, int64_t v) except -1:
    cdef unsigned char tmp[24]
    cdef Py_ssize_t k = int_text(v, tmp)
    return put_bulk(b, tmp, k)


cdef inline int put_array(Buf* b, Py_ssize_t n) except -1:
    putc(b, 0x2A)
    put_int(b, n)
    put(b, b"\r\n", 2)
    return 0


# ---------------------------------------------------------------------------
# repeated members of single-blob values (the stream strategy's _duplicate checks)

cdef int _cmp_bytes(const void* a, const void* b) noexcept nogil:
    cdef const Bytes* x = <const Bytes*>a
    cdef const Bytes* y = <const Bytes*>b
    cdef int c
    if x.n != y.n:
        return -1 if x.n < y.n else 1
    c = memcmp(x.p, y.p, x.n)
    return c


# ---------------------------------------------------------------------------

cdef class Exporter:
    """Renders the key records it accepts; see the module docstring."""

    cdef int fmt
    cdef int version
    cdef bint valkey
    cdef public Py_ssize_t window_max
    cdef public Py_ssize_t max_items
    cdef bint overflow

    # filters
    cdef int64_t want_db        # -1: any
    cdef int want_family        # -1: any
    cdef object match           # None or a callable(key bytes) -> bool

    # writer state shared with the pure writers
    cdef public int64_t resp_db     # RESP: the db of the last SELECT (-1: none yet)
    cdef public bint first          # JSON document: no key written yet

    # per run
    cdef object buf_ref
    cdef const unsigned char* start
    cdef const unsigned char* end
    cdef Py_ssize_t base
    cdef int64_t db
    cdef int embed

    cdef public Py_ssize_t pos
    cdef public Py_ssize_t need
    cdef public long long keys
    cdef public long long skipped
    cdef public Py_ssize_t last_offset

    cdef Buf out
    cdef Buf tmp            # CSV: a value's JSON text before quoting
    cdef Item* items
    cdef Py_ssize_t nitems, capitems
    cdef Bytes* keys_tmp
    cdef Py_ssize_t capkeys
    # arena for decompressed bytes and integer texts of one record
    cdef unsigned char** blocks
    cdef Py_ssize_t nblocks, capblocks
    cdef Py_ssize_t block_used, block_cap

    def __cinit__(self):
        self.out.p = NULL
        self.out.n = self.out.cap = 0
        self.tmp.p = NULL
        self.tmp.n = self.tmp.cap = 0
        self.items = NULL
        self.nitems = self.capitems = 0
        self.keys_tmp = NULL
        self.capkeys = 0
        self.blocks = NULL
        self.nblocks = self.capblocks = 0
        self.block_used = self.block_cap = 0

    def __init__(self, str fmt, int version, bint valkey, db=None, type_=None, match=None):
        self.fmt = {"jsonl": FMT_JSONL, "json": FMT_JSON, "csv": FMT_CSV, "resp": FMT_RESP}[fmt]
        self.version = version
        self.valkey = valkey
        self.window_max = WINDOW_MAX
        self.max_items = MAX_ITEMS
        self.want_db = -1 if db is None else db
        self.want_family = -1 if type_ is None else _FAMILY_CODES.get(type_, 99)
        self.match = match
        self.resp_db = -1
        self.first = 1
        self.keys = 0
        self.skipped = 0
        self.last_offset = 0

    def __dealloc__(self):
        free(self.out.p)
        free(self.tmp.p)
        free(self.items)
        free(self.keys_tmp)
        cdef Py_ssize_t i
        for i in range(self.nblocks):
            free(self.blocks[i])
        free(self.blocks)

    def take(self):
        """The rendered bytes since the last call."""
        cdef bytes b = PyBytes_FromStringAndSize(<char*>self.out.p, self.out.n)
        self.out.n = 0
        return b

    def pending(self):
        return self.out.n

    def write_to(self, out):
        """Write the rendered bytes to the binary stream ``out`` (no intermediate copy)."""
        cdef object view
        if self.out.n:
            view = PyMemoryView_FromMemory(<char*>self.out.p, self.out.n, PyBUF_READ)
            try:
                out.write(view)
            finally:
                view.release()
            self.out.n = 0

    # -- arena --------------------------------------------------------------
    cdef void arena_reset(self) noexcept:
        cdef Py_ssize_t i
        # keep the first (standard size) block; bigger ones go
        for i in range(1, self.nblocks):
            free(self.blocks[i])
        if self.nblocks > 1:
            self.nblocks = 1
            self.block_cap = 1 << 18
        self.block_used = 0

    cdef unsigned char* arena(self, Py_ssize_t n) except NULL:
        cdef unsigned char* blk
        cdef unsigned char** grown
        cdef Py_ssize_t size
        if self.nblocks and self.block_used + n <= self.block_cap:
            blk = self.blocks[self.nblocks - 1] + self.block_used
            self.block_used += n
            return blk
        size = n if n > (1 << 18) else (1 << 18)
        if self.nblocks == self.capblocks:
            grown = <unsigned char**>realloc(self.blocks, (self.capblocks * 2 + 4) * sizeof(unsigned char*))
            if grown == NULL:
                raise MemoryError()
            self.blocks = grown
            self.capblocks = self.capblocks * 2 + 4
        blk = <unsigned char*>malloc(size if size else 1)
        if blk == NULL:
            raise MemoryError()
        self.blocks[self.nblocks] = blk
        self.nblocks += 1
        self.block_cap = size
        self.block_used = n
        return blk

    # -- items --------------------------------------------------------------
    cdef inline Item* add_item(self) except NULL:
        cdef Item* grown
        cdef Py_ssize_t cap
        if self.nitems >= self.max_items:
            # too many elements to render here: the record goes to the exact reader
            self.overflow = 1
            return &self.items[0]
        if self.nitems == self.capitems:
            cap = self.capitems * 2 if self.capitems else 1024
            grown = <Item*>realloc(self.items, cap * sizeof(Item))
            if grown == NULL:
                raise MemoryError()
            self.items = grown
            self.capitems = cap
        self.nitems += 1
        return &self.items[self.nitems - 1]

    cdef inline int add_elem(self, Elem* e) except -1:
        cdef Item* it = self.add_item()
        it.p = e.ptr
        if e.ptr != NULL:
            it.n = e.len
        else:
            it.n = 0
            it.ival = e.ival
        return 0

    cdef int has_repeats(self, Py_ssize_t stride) except -1:
        """1 when two of items[0], items[stride], ... have the same canonical bytes."""
        cdef Py_ssize_t n = (self.nitems + stride - 1) // stride
        cdef Py_ssize_t i, j
        cdef Bytes* k
        cdef Item* it
        cdef unsigned char* t
        if n < 2:
            return 0
        if n > self.capkeys:
            k = <Bytes*>realloc(self.keys_tmp, n * sizeof(Bytes))
            if k == NULL:
                raise MemoryError()
            self.keys_tmp = k
            self.capkeys = n
        k = self.keys_tmp
        for i in range(n):
            it = &self.items[i * stride]
            if it.p == NULL:
                t = self.arena(24)
                k[i].n = int_text(it.ival, t)
                k[i].p = t
            else:
                k[i].p = it.p
                k[i].n = it.n
        if n <= 8:
            for i in range(n):
                for j in range(i + 1, n):
                    if k[i].n == k[j].n and memcmp(k[i].p, k[j].p, k[i].n) == 0:
                        return 1
            return 0
        qsort(k, n, sizeof(Bytes), _cmp_bytes)
        for i in range(1, n):
            if k[i].n == k[i - 1].n and memcmp(k[i].p, k[i - 1].p, k[i].n) == 0:
                return 1
        return 0

    # -- reading ------------------------------------------------------------
    cdef int read_str(self, const unsigned char** pp, Item* it) except -1:
        """One RDB string (read_string: raw, integer or LZF) into ``it``."""
        cdef RdbStr s
        cdef int r = rdb_str(pp, self.end, &s)
        cdef unsigned char* dst
        if r == PK_SHORT:
            return NEED
        if r != PK_OK:
            return DEFER
        if s.form == STR_RAW:
            it.p = s.ptr
            it.n = <Py_ssize_t>s.len
        elif s.form == STR_INT:
            it.p = NULL
            it.n = 0
            it.ival = s.ival
        else:
            if s.len > <uint64_t>self.window_max:
                return DEFER
            dst = self.arena(<Py_ssize_t>s.len)
            if lzf_decode(s.ptr, <Py_ssize_t>s.clen, dst, <Py_ssize_t>s.len) != PK_OK:
                return DEFER
            it.p = dst
            it.n = <Py_ssize_t>s.len
        return OK

    cdef int read_blob(self, const unsigned char** pp, Bytes* blob) except -1:
        """An RDB string holding an encoded blob (_read_blob: raw or LZF, not integer)."""
        cdef RdbStr s
        cdef int r = rdb_str(pp, self.end, &s)
        cdef unsigned char* dst
        if r == PK_SHORT:
            return NEED
        if r != PK_OK or s.form == STR_INT:
            return DEFER
        if s.form == STR_RAW:
            blob.p = s.ptr
            blob.n = <Py_ssize_t>s.len
            return OK
        if s.len > <uint64_t>self.window_max:
            return DEFER
        dst = self.arena(<Py_ssize_t>s.len)
        if lzf_decode(s.ptr, <Py_ssize_t>s.clen, dst, <Py_ssize_t>s.len) != PK_OK:
            return DEFER
        blob.p = dst
        blob.n = <Py_ssize_t>s.len
        return OK

    cdef int ziplist_items(self, Bytes* blob) except -1:
        cdef ZlIter it
        cdef Elem e
        cdef int r
        e.len = 0
        e.ival = 0
        if zl_open(&it, blob.p, blob.n) != PK_OK:
            return DEFER
        while True:
            r = zl_next(&it, &e)
            if r == PK_END:
                return OK
            if r != PK_OK:
                return DEFER
            self.add_elem(&e)

    cdef int listpack_items(self, Bytes* blob) except -1:
        cdef LpIter it
        cdef Elem e
        cdef int r
        e.len = 0
        e.ival = 0
        if lp_open(&it, blob.p, blob.n) != PK_OK:
            return DEFER
        while True:
            r = lp_next(&it, &e)
            if r == PK_END:
                return OK
            if r != PK_OK:
                return DEFER
            self.add_elem(&e)

    cdef int score_of(self, Item* it, double* out) except -1:
        """A packed zset's score element as float() reads it (_parse_score); DEFER for
        anything but plain decimal text (the exact reader judges the rest)."""
        cdef char text[64]
        cdef char* stop
        cdef Py_ssize_t i, n
        cdef unsigned char c
        cdef bint digits = 0
        if it.p == NULL:
            out[0] = <double>it.ival
            return OK
        n = it.n
        if n <= 0 or n >= 64:
            return DEFER
        i = 0
        if it.p[0] == 0x2D or it.p[0] == 0x2B:
            i = 1
        while i < n and 0x30 <= it.p[i] <= 0x39:
            i += 1
            digits = 1
        if i < n and it.p[i] == 0x2E:
            i += 1
            while i < n and 0x30 <= it.p[i] <= 0x39:
                i += 1
                digits = 1
        if not digits:
            return DEFER
        if i < n and (it.p[i] == 0x65 or it.p[i] == 0x45):
            i += 1
            if i < n and (it.p[i] == 0x2D or it.p[i] == 0x2B):
                i += 1
            if i >= n or not (0x30 <= it.p[i] <= 0x39):
                return DEFER
            while i < n and 0x30 <= it.p[i] <= 0x39:
                i += 1
        if i != n:
            return DEFER
        memcpy(text, it.p, n)
        text[n] = 0
        out[0] = PyOS_string_to_double(text, &stop, None)
        if stop != text + n or isnan(out[0]):
            return DEFER
        return OK

    cdef int value(self, const unsigned char** pp, int t, int* family, const char** enc,
                   Py_ssize_t* size) except -1:
        """Read and check the value of type ``t`` into the items; ``size`` is the CSV
        size column (-1: empty)."""
        cdef const unsigned char* p = pp[0]
        cdef uint64_t n, k, container, nodes
        cdef int r
        cdef Item* it
        cdef Bytes blob
        cdef IsIter iset
        cdef ZmIter zm
        cdef Elem e1, e2
        cdef int64_t iv
        cdef double d
        cdef Py_ssize_t i
        cdef const unsigned char* end = self.end
        if t == 1 or t == 2 or t == 4 or t == 5:
            r = rdb_plain_len(&p, end, &n)
            if r == PK_SHORT:
                return NEED
            if r != PK_OK or n == 0:
                return DEFER
            if n > <uint64_t>(end - p):
                # every element takes at least a byte
                return NEED if n <= <uint64_t>self.window_max else DEFER
            if t == 1:
                family[0] = F_LIST
                enc[0] = "quicklist"
            elif t == 2:
                family[0] = F_SET
                enc[0] = "hashtable"
            elif t == 4:
                family[0] = F_HASH
                enc[0] = "hashtable"
                n *= 2
            else:
                family[0] = F_ZSET
                enc[0] = "skiplist"
            size[0] = <Py_ssize_t>(n // 2 if t == 4 else n)
            for k in range(n):
                it = self.add_item()
                r = self.read_str(&p, it)
                if r != OK:
                    return r
                if t == 5:
                    if end - p < 8:
                        return NEED
                    memcpy(&d, p, 8)
                    p += 8
                    if isnan(d):
                        return DEFER
                    it.score = d
            pp[0] = p
            return OK
        if t == 14 or t == 18:
            r = rdb_plain_len(&p, end, &nodes)
            if r == PK_SHORT:
                return NEED
            if r != PK_OK or nodes == 0:
                return DEFER
            if nodes > <uint64_t>(end - p):
                return NEED if nodes <= <uint64_t>self.window_max else DEFER
            family[0] = F_LIST
            enc[0] = "quicklist" if nodes > 1 or self.version < 11 else "listpack"
            size[0] = -1   # the stream strategy leaves size_hint unset for quicklists
            for k in range(nodes):
                container = 2
                if t == 18:
                    r = rdb_plain_len(&p, end, &container)
                    if r == PK_SHORT:
                        return NEED
                    if r != PK_OK or (container != 1 and container != 2):
                        return DEFER
                if container == 1:
                    it = self.add_item()
                    r = self.read_str(&p, it)
                    if r != OK:
                        return r
                    if it.p != NULL and it.n == 0:
                        return DEFER   # an empty PLAIN node
                    continue
                r = self.read_blob(&p, &blob)
                if r != OK:
                    return r
                if blob.n == 0:
                    return DEFER
                r = self.listpack_items(&blob) if t == 18 else self.ziplist_items(&blob)
                if r != OK:
                    return r
            pp[0] = p
            return OK
        r = self.read_blob(&p, &blob)
        if r != OK:
            return r
        if t == 10:
            family[0] = F_LIST
            enc[0] = "quicklist"
            r = self.ziplist_items(&blob)
            if r != OK or self.nitems == 0:
                return DEFER
        elif t == 11:
            family[0] = F_SET
            enc[0] = "intset"
            if is_open(&iset, blob.p, blob.n) != PK_OK:
                return DEFER
            while True:
                r = is_next(&iset, &iv)
                if r == PK_END:
                    break
                if r != PK_OK:
                    return DEFER
                it = self.add_item()
                it.p = NULL
                it.n = 0
                it.ival = iv
        elif t == 20:
            family[0] = F_SET
            enc[0] = "listpack"
            r = self.listpack_items(&blob)
            if r != OK or self.nitems == 0 or self.has_repeats(1):
                return DEFER
        elif t == 9:
            family[0] = F_HASH
            enc[0] = "zipmap"
            if zm_open(&zm, blob.p, blob.n) != PK_OK:
                return DEFER
            e1.ival = e2.ival = 0
            while True:
                r = zm_next(&zm, &e1, &e2)
                if r == PK_END:
                    break
                if r != PK_OK:
                    return DEFER
                self.add_elem(&e1)
                self.add_elem(&e2)
            if self.nitems == 0 or self.has_repeats(2):
                return DEFER
        elif t == 13 or t == 16:
            family[0] = F_HASH
            enc[0] = "ziplist" if t == 13 else "listpack"
            r = self.ziplist_items(&blob) if t == 13 else self.listpack_items(&blob)
            if r != OK or self.nitems == 0 or self.nitems % 2 or self.has_repeats(2):
                return DEFER
        elif t == 12 or t == 17:
            family[0] = F_ZSET
            enc[0] = "ziplist" if t == 12 and self.version < 10 else "listpack"
            r = self.ziplist_items(&blob) if t == 12 else self.listpack_items(&blob)
            if r != OK or self.nitems == 0 or self.nitems % 2:
                return DEFER
            # members keep their place; the score element becomes the member's score
            for i in range(self.nitems // 2):
                r = self.score_of(&self.items[2 * i + 1], &d)
                if r != OK:
                    return r
                self.items[i] = self.items[2 * i]
                self.items[i].score = d
            self.nitems //= 2
            if self.has_repeats(1):
                return DEFER
        else:
            return DEFER
        size[0] = self.nitems // 2 if family[0] == F_HASH else self.nitems
        pp[0] = p
        return OK

    cdef const char* string_encoding(self, Item* v, Py_ssize_t keylen, bint has_expire) noexcept:
        """ValueStrategy._string_encoding."""
        cdef int64_t iv
        cdef Py_ssize_t n, khdr, size
        if v.p == NULL:
            return "int"
        n = v.n
        if n <= 20 and canonical_int(v.p, n, &iv):
            return "int"
        if self.embed == 0:
            return "embstr" if n <= 44 else "raw"
        if n > 255:
            return "raw"
        khdr = 1 if keylen < 32 else 3 if keylen < 256 else 5 if keylen < 65536 else 9
        size = 8 + (khdr + keylen + 1 + 1) + (8 if has_expire else 0) + (3 + n + 1)
        return "embstr" if size <= self.embed else "raw"

    # -- one record ---------------------------------------------------------
    cdef int record(self, const unsigned char** pp) except -1:
        cdef const unsigned char* p = pp[0]
        cdef const unsigned char* end = self.end
        cdef const unsigned char* rec_start = p
        cdef bint has_expire = 0, has_idle = 0, has_freq = 0
        cdef int64_t expire = 0
        cdef uint64_t idle = 0
        cdef int freq = 0
        cdef int t, r, family
        cdef Item key
        cdef Item sval
        cdef const char* enc
        cdef Py_ssize_t size
        cdef bytes keyobj
        while True:
            if p >= end:
                return NEED
            t = p[0]
            if t == 252:
                if end - p < 9:
                    return NEED
                expire = sle(p + 1, 8)
                has_expire = 1
                p += 9
            elif t == 253:
                if end - p < 5:
                    return NEED
                expire = sle(p + 1, 4) * 1000
                has_expire = 1
                p += 5
            elif t == 248:
                p += 1
                r = rdb_plain_len(&p, end, &idle)
                if r == PK_SHORT:
                    return NEED
                if r != PK_OK:
                    return DEFER
                has_idle = 1
            elif t == 249:
                if end - p < 2:
                    return NEED
                freq = p[1]
                has_freq = 1
                p += 2
            else:
                break
        # the types rendered here (both dialects share 0-21)
        if not (t <= 2 or t == 4 or t == 5 or (9 <= t <= 14) or t == 16 or t == 17
                or t == 18 or t == 20):
            return DEFER
        p += 1
        self.nitems = 0
        self.overflow = 0
        self.arena_reset()
        r = self.read_str(&p, &key)
        if r != OK:
            return r
        if key.p == NULL:
            # an integer-encoded key: its decimal text
            key.p = self.arena(24)
            key.n = int_text(key.ival, <unsigned char*>key.p)
        size = 0
        if t == 0:
            r = self.read_str(&p, &sval)
            if r != OK:
                return r
            family = F_STRING
            enc = self.string_encoding(&sval, key.n, has_expire)
            size = int_len(sval.ival) if sval.p == NULL else sval.n
        else:
            r = self.value(&p, t, &family, &enc, &size)
            if r != OK:
                return r
            if self.overflow:
                return DEFER
        pp[0] = p
        # filters (export's _Filter)
        if (self.want_db >= 0 and self.db != self.want_db) or \
                (self.want_family >= 0 and family != self.want_family):
            self.skipped += 1
            return OK
        if self.match is not None:
            keyobj = PyBytes_FromStringAndSize(<const char*>key.p, key.n)
            if not self.match(keyobj):
                self.skipped += 1
                return OK
        self.keys += 1
        self.last_offset = self.base + (rec_start - self.start)
        if self.fmt == FMT_RESP:
            self.render_resp(&key, t, family, &sval, has_expire, expire)
        elif self.fmt == FMT_CSV:
            self.render_csv(&key, family, enc, &sval, size, has_expire, expire)
        else:
            self.render_json(&key, t, family, enc, &sval, has_expire, expire, has_idle, idle,
                             has_freq, freq)
        return OK

    # -- renderers ----------------------------------------------------------
    cdef int json_value(self, Buf* b, int family, Item* sval) except -1:
        cdef Py_ssize_t i
        cdef Item* items = self.items
        if family == F_STRING:
            return put_item_json(b, sval)
        putc(b, 0x5B)
        if family == F_HASH:
            for i in range(0, self.nitems, 2):
                if i:
                    putc(b, 0x2C)
                putc(b, 0x5B)
                put_item_json(b, &items[i])
                putc(b, 0x2C)
                put_item_json(b, &items[i + 1])
                putc(b, 0x5D)
        elif family == F_ZSET:
            for i in range(self.nitems):
                if i:
                    putc(b, 0x2C)
                putc(b, 0x5B)
                put_item_json(b, &items[i])
                put(b, b',"', 2)
                put_score(b, items[i].score)
                put(b, b'"]', 2)
        else:
            for i in range(self.nitems):
                if i:
                    putc(b, 0x2C)
                put_item_json(b, &items[i])
        putc(b, 0x5D)
        return 0

    cdef int render_json(self, Item* key, int t, int family, const char* enc, Item* sval,
                         bint has_expire, int64_t expire, bint has_idle, uint64_t idle,
                         bint has_freq, int freq) except -1:
        cdef Buf* b = &self.out
        if self.fmt == FMT_JSON:
            if self.first:
                put(b, b"\n  ", 3)
            else:
                put(b, b",\n  ", 4)
            self.first = 0
            put(b, b'{"db":', 6)
        else:
            put(b, b'{"kind":"key","db":', 19)
        put_int(b, self.db)
        put(b, b',"key":', 7)
        put_bstr(b, key.p, key.n)
        put(b, b',"type":"', 9)
        puts(b, FAMILY_NAMES[family])
        put(b, b'","encoding":"', 14)
        puts(b, enc)
        put(b, b'","rdb_type":', 13)
        put_int(b, t)
        put(b, b',"expire_at_ms":', 16)
        if has_expire:
            put_int(b, expire)
        else:
            put(b, b"null", 4)
        put(b, b',"idle":', 8)
        if has_idle:
            put_int(b, <int64_t>idle)
        else:
            put(b, b"null", 4)
        put(b, b',"freq":', 8)
        if has_freq:
            put_int(b, freq)
        else:
            put(b, b"null", 4)
        put(b, b',"value":', 9)
        self.json_value(b, family, sval)
        putc(b, 0x7D)
        if self.fmt == FMT_JSONL:
            putc(b, 0x0A)
        return 0

    cdef int text_cell(self, Buf* b, Item* it) except -1:
        """export._text_cell, CSV-quoted."""
        cdef unsigned char tmp[24]
        cdef Py_ssize_t k
        if it.p == NULL:
            k = int_text(it.ival, tmp)
            return put(b, tmp, k)
        if text_ok(it.p, it.n):
            return put_csv_field(b, it.p, it.n)
        put(b, b"hex:", 4)
        return put_hex(b, it.p, it.n)

    cdef int render_csv(self, Item* key, int family, const char* enc, Item* sval,
                        Py_ssize_t size, bint has_expire, int64_t expire) except -1:
        cdef Buf* b = &self.out
        put_int(b, self.db)
        putc(b, 0x2C)
        self.text_cell(b, key)
        putc(b, 0x2C)
        puts(b, FAMILY_NAMES[family])
        putc(b, 0x2C)
        puts(b, enc)
        putc(b, 0x2C)
        if has_expire:
            put_int(b, expire)
        putc(b, 0x2C)
        if size >= 0:
            put_int(b, size)
        putc(b, 0x2C)
        if family == F_STRING:
            self.text_cell(b, sval)
        else:
            self.tmp.n = 0
            self.json_value(&self.tmp, family, sval)
            put_csv_field(b, self.tmp.p, self.tmp.n)
        put(b, b"\r\n", 2)
        return 0

    cdef int render_resp(self, Item* key, int t, int family, Item* sval, bint has_expire,
                         int64_t expire) except -1:
        cdef Buf* b = &self.out
        cdef Py_ssize_t i, j, m, width, total
        cdef const char* verb
        cdef Py_ssize_t vlen
        cdef Item* items = self.items
        if self.db != self.resp_db:
            put(b, b"*2\r\n$6\r\nSELECT\r\n", 16)
            put_bulk_int(b, self.db)
            self.resp_db = self.db
        if family == F_STRING:
            put(b, b"*3\r\n$3\r\nSET\r\n", 13)
            put_bulk(b, key.p, key.n)
            put_bulk_item(b, sval)
        else:
            if family == F_LIST:
                verb = "RPUSH"
            elif family == F_SET:
                verb = "SADD"
            elif family == F_ZSET:
                verb = "ZADD"
            else:
                verb = "HSET"
            vlen = strlen(verb)
            # elements per command: RESP_BATCH items (pairs for hashes and zsets)
            width = 2 if family == F_HASH else 1
            total = self.nitems // width
            i = 0
            while i < total:
                m = total - i
                if m > RESP_BATCH:
                    m = RESP_BATCH
                put_array(b, 2 + 2 * m if family == F_HASH or family == F_ZSET else 2 + m)
                put_bulk(b, <const unsigned char*>verb, vlen)
                put_bulk(b, key.p, key.n)
                for j in range(i, i + m):
                    if family == F_HASH:
                        put_bulk_item(b, &items[2 * j])
                        put_bulk_item(b, &items[2 * j + 1])
                    elif family == F_ZSET:
                        self.tmp.n = 0
                        put_score(&self.tmp, items[j].score)
                        put_bulk(b, self.tmp.p, self.tmp.n)
                        put_bulk_item(b, &items[j])
                    else:
                        put_bulk_item(b, &items[j])
                i += m
        if has_expire:
            put(b, b"*3\r\n$9\r\nPEXPIREAT\r\n", 19)
            put_bulk(b, key.p, key.n)
            put_bulk_int(b, expire)
        return 0

    # -- the walk -----------------------------------------------------------
    def run(self, src, int64_t db, int embed=0):
        """Render records from ``src.pos`` while they can be accepted. Returns R_NEED
        (``need`` bytes from ``pos`` are required) or R_DEFER; ``pos`` is the index in
        ``src.buf`` of the record (or item) it stopped at. Output waits in ``take()``."""
        cdef const unsigned char* p
        cdef const unsigned char* q
        cdef int r
        cdef object buf = src.buf
        if not isinstance(buf, bytes):
            buf = bytes(buf)
            src.buf = buf
        self.buf_ref = buf
        self.start = <const unsigned char*>PyBytes_AS_STRING(buf)
        self.end = self.start + PyBytes_GET_SIZE(buf)
        self.base = src.base
        self.db = db
        self.embed = embed
        p = self.start + <Py_ssize_t>src.pos
        try:
            while True:
                q = p
                r = self.record(&q)
                if r == OK:
                    p = q
                    if self.out.n >= FLUSH_AT:
                        self.pos = p - self.start
                        return R_FLUSH
                    continue
                self.pos = p - self.start
                if r == NEED:
                    # at least double what the record has seen so far
                    self.need = 2 * (self.end - p) + 4096
                    if self.need > self.window_max:
                        return R_DEFER
                    return R_NEED
                return R_DEFER
        finally:
            self.buf_ref = None


# ---------------------------------------------------------------------------
# Rendering of decoded elements, for the records the exact reader streams (a value
# bigger than a window): one call per batch of elements, not per element.

cdef enum:
    E_PLAIN = 0     # list / set members: bytes
    E_ZSET = 1      # (member bytes, score float)
    E_HASH = 2      # (field bytes, value bytes)

ELEMENTS_PLAIN = E_PLAIN
ELEMENTS_ZSET = E_ZSET
ELEMENTS_HASH = E_HASH


cdef Buf _batch_buf


cdef object _take_batch(Buf* b):
    """The batch text as bytes; a buffer grown past 16 MB by huge elements is let go
    (the next batch starts small again)."""
    out = PyBytes_FromStringAndSize(<char*>b.p, b.n)
    b.n = 0
    if b.cap > (1 << 24):
        free(b.p)
        b.p = NULL
        b.cap = 0
    return out


def json_elements(int kind, list batch):
    """``",".join(...)`` of the jsonl VALUE text of each element of ``batch`` (as
    rdbtools.export.write_key_json writes them), as UTF-8 bytes."""
    cdef Buf* b = &_batch_buf
    cdef Py_ssize_t i, n = len(batch)
    cdef object x
    cdef bytes m, v
    b.n = 0
    for i in range(n):
        if i:
            putc(b, 0x2C)
        x = batch[i]
        if kind == E_PLAIN:
            m = x if type(x) is bytes else bytes(x)
            put_bstr(b, <const unsigned char*>PyBytes_AS_STRING(m), PyBytes_GET_SIZE(m))
        elif kind == E_ZSET:
            m = x[0] if type(x[0]) is bytes else bytes(x[0])
            putc(b, 0x5B)
            put_bstr(b, <const unsigned char*>PyBytes_AS_STRING(m), PyBytes_GET_SIZE(m))
            put(b, b',"', 2)
            put_score(b, float(x[1]))
            put(b, b'"]', 2)
        else:
            m = x[0] if type(x[0]) is bytes else bytes(x[0])
            v = x[1] if type(x[1]) is bytes else bytes(x[1])
            putc(b, 0x5B)
            put_bstr(b, <const unsigned char*>PyBytes_AS_STRING(m), PyBytes_GET_SIZE(m))
            putc(b, 0x2C)
            put_bstr(b, <const unsigned char*>PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))
            putc(b, 0x5D)
    return _take_batch(b)
