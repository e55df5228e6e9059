# cython: language_level=3
"""Compiled accept-only scan of RDB key records, for ``verify``, ``verify --quick`` and
``inspect`` (see persistkit/rdbtools/fastscan.py, the driver).

``Scanner.run`` walks whole key records straight over a ByteSource window and
*accepts* a record only when it is certain the exact reader (rdbtools/reader.py,
with the driver's mode) would find nothing wrong in it: every length within the
window, every inner blob validated as deeply as the reader validates it (the rules of
blobs.pxd, which mirror the pure codecs), no repeated member/field (by hash: an equal
hash is left to the exact reader), scores, no empty collection. It stops in front of
anything else -- an opcode, a rare type, a module value, a problem, the end of the
window -- and says why; the driver lets the exact reader take that item, so
everything the reader reports is reported exactly as it always was.

Two check levels, as the reader has them:

* ``deep`` (verify: ``RDBReader(decode=True, values=False)``): LZF strings decoded
  strictly, blobs deeply validated, duplicates, NaN scores, score texts;
* shallow (verify --quick, inspect: ``decode=False``): framing, the blob headers
  (``reader.blob_header_problem``), LZF blobs decoded strictly (the reader decodes
  them to read their headers), empty collections.

Huge plain collections (a 10M-member set) are walked element batch by element batch
over a second ByteSource re-reading the record's range (``stream_record``), in bounded
memory; the driver then skips the main source over the accepted record.

Key hashes are ``hash(key)`` (``_Py_HashBytes``, exactly what the pure path uses),
mixed with the db as ``dedup.mix_db`` does, and fed to ``KeyFilter``, the compiled
twin of ``dedup.KeyRepeatFinder`` (same compact phase, same Bloom filter bits).
"""

from libc.stdint cimport int64_t, uint64_t, uint32_t
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memcpy, memset
from libc.math cimport isnan
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

from persistkit.kvencoding.errors import TruncatedError

from persistkit._accel.blobs cimport (
    PK_OK, PK_END, PK_SHORT, PK_BAD, STR_RAW, STR_INT, STR_LZF, Elem, RdbStr,
    rdb_len, rdb_plain_len, rdb_str_head, lzf_decode, lzf_max_size,
    canonical_int, int_text, u32le, sle, LpIter, lp_open, lp_next, ZlIter, zl_open, zl_next,
    IsIter, is_open, is_next, ZmIter, zm_open, zm_next)

cdef extern from "Python.h":
    Py_ssize_t _Py_HashBytes(const void* src, Py_ssize_t n)

cdef extern from *:
    """
    #if defined(__GLIBC__)
    #include <malloc.h>
    static int pk_keep_freed_memory(int trim, int mmap_min) {
        return mallopt(M_TRIM_THRESHOLD, trim) && mallopt(M_MMAP_THRESHOLD, mmap_min);
    }
    #else
    static int pk_keep_freed_memory(int trim, int mmap_min) { (void)trim; (void)mmap_min; return 0; }
    #endif
    """
    int pk_keep_freed_memory(int trim, int mmap_min) nogil

cdef bint _allocator_tuned = 0


def keep_freed_windows():
    """Tune glibc's allocator once per process for the window walk.

    Every window refill frees a ~1 MB bytes object and allocates the next one (the
    stream's read and ByteSource's join). With glibc's defaults the free at the top
    of the heap is given back to the kernel (trim threshold, or munmap of an
    mmapped chunk) and the next allocation faults fresh zeroed pages in: on a 1.2 GB
    file that kernel work took about half the compiled scan's time. Keeping up to
    64 MB of freed memory (and serving blocks below 32 MB from the heap) turns it
    into plain reuse; peak RSS grows by about one window. True when applied."""
    global _allocator_tuned
    if not _allocator_tuned:
        _allocator_tuned = pk_keep_freed_memory(64 << 20, 32 << 20) != 0
    return bool(_allocator_tuned)

# run() / stream_record() answers
R_OK = 0        # (internal) record accepted
R_NEED = 1      # the window ends inside the record at ``pos``: ``need`` bytes from pos
R_DEFER = 2     # the exact reader must take the item at ``pos``
R_BIG = 3       # the record at ``pos`` is too big for a window: stream_record() it
R_DONE = 4      # stream_record(): accepted, ``record_end`` is its end offset

cdef enum:
    OK = 0
    NEED = 1
    DEFER = 2
    BIG = 3

# Encodings reported for inspect (index into the driver's ENCODING_NAMES).
cdef enum:
    E_INT = 0
    E_EMBSTR = 1
    E_RAW = 2
    E_QUICKLIST = 3
    E_LISTPACK = 4
    E_HASHTABLE = 5
    E_SKIPLIST = 6
    E_INTSET = 7
    E_ZIPLIST = 8
    E_ZIPMAP = 9
    N_ENC = 10

ENCODING_NAMES = ("int", "embstr", "raw", "quicklist", "listpack", "hashtable", "skiplist",
                  "intset", "ziplist", "zipmap")

# A record is walked inside the window up to this size; beyond, it is streamed
# (plain collections, quicklists) or left to the exact reader (strings, blobs).
WINDOW_MAX = 4 << 20
# Collections up to this many members are checked for repeats with an exact table of
# hashes (16 bytes a member at most); larger ones with a Bloom filter and a second walk.
DEDUP_EXACT_MAX = 1 << 19
# (Both can be lowered per Scanner, for tests of the streaming paths on small files.)
# The reader's _lean_unique: up to 4 * BATCH members repeats are exact byte equality
# (any hash will do), beyond by 64-bit hash() equality (the hash must be hash()).
cdef Py_ssize_t PYHASH_ABOVE = 4 * 1024
# An element longer than this inside a streamed record is left to the exact reader.
cdef Py_ssize_t STREAM_ELEMENT_MAX = 16 << 20
cdef int BLOOM_LOG2 = 27

cdef uint64_t MIX = 0x9E3779B97F4A7C15ULL


cdef inline uint64_t fast_hash(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """A quick 64-bit hash for the small-collection repeat check (equal hashes are only
    a reason to let the exact reader look)."""
    cdef uint64_t h = 0x243F6A8885A308D3ULL ^ (<uint64_t>n * 0x9E3779B97F4A7C15ULL)
    cdef uint64_t w
    while n >= 8:
        memcpy(&w, p, 8)
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL
        h ^= h >> 32
        p += 8
        n -= 8
    w = 0
    if n:
        memcpy(&w, p, n)
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL
    h ^= h >> 29
    h *= 0xFF51AFD7ED558CCDULL
    h ^= h >> 32
    return h


cdef inline bint score_text_ok(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """True for texts that Python's float() surely reads as a number that is not NaN:
    decimal [sign] digits [. digits] [e [sign] digits], or inf/-inf/+inf. Anything
    else is left to the exact reader."""
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t digits = 0
    if n <= 0:
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


cdef int _cmp_i64(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<const int64_t*>a)[0]
    cdef int64_t y = (<const int64_t*>b)[0]
    return (x > y) - (x < y)


cdef class KeyFilter:
    """The compiled twin of ``dedup.KeyRepeatFinder``: up to ``compact_limit`` keys the
    hashes are kept exactly (8 bytes a key), beyond they are folded into the same
    2-probe Bloom filter (same size, same bits). ``finish()`` gives the same candidate
    set."""

    cdef int64_t* hashes
    cdef Py_ssize_t count, cap
    cdef public Py_ssize_t compact_limit
    cdef unsigned char* bits
    cdef uint64_t mask
    cdef int shift
    cdef public set candidates

    def __cinit__(self, Py_ssize_t compact_limit):
        self.compact_limit = compact_limit
        self.cap = 1 << 16
        self.hashes = <int64_t*>malloc(self.cap * 8)
        if self.hashes == NULL:
            raise MemoryError()
        self.count = 0
        self.bits = NULL
        self.candidates = set()

    def __dealloc__(self):
        free(self.hashes)
        free(self.bits)

    cdef int add_c(self, int64_t h) except -1:
        cdef int64_t* grown
        if self.bits != NULL:
            self.probe(h)
            return 0
        if self.count == self.cap:
            grown = <int64_t*>realloc(self.hashes, self.cap * 2 * 8)
            if grown == NULL:
                raise MemoryError()
            self.hashes = grown
            self.cap *= 2
        self.hashes[self.count] = h
        self.count += 1
        if self.count > self.compact_limit:
            self.to_filter()
        return 0

    def add(self, int64_t h):
        self.add_c(h)

    cdef int probe(self, int64_t h) except -1:
        # RepeatFinder._probe: i = h & mask, j = (h >> shift) & mask (arithmetic shift).
        cdef uint64_t i = (<uint64_t>h) & self.mask
        cdef uint64_t j = (<uint64_t>(h >> self.shift)) & self.mask
        cdef unsigned char mi = 1 << (i & 7)
        cdef unsigned char mj = 1 << (j & 7)
        if (self.bits[i >> 3] & mi) and (self.bits[j >> 3] & mj):
            self.candidates.add(h)
        else:
            self.bits[i >> 3] |= mi
            self.bits[j >> 3] |= mj
        return 0

    cdef int to_filter(self) except -1:
        # KeyRepeatFinder._to_filter: RepeatFinder._size_filter(1 << (MAX_KEY_BITS_LOG2 - 4)),
        # then every kept hash probed in bucket order (h & 255), each bucket in order.
        from persistkit.rdbtools import dedup
        cdef Py_ssize_t n = 1 << (dedup.MAX_KEY_BITS_LOG2 - 4)
        cdef int log2 = min(dedup.MAX_BITS_LOG2, max(16, (16 * n - 1).bit_length()))
        cdef Py_ssize_t k, b
        self.bits = <unsigned char*>malloc(<size_t>1 << (log2 - 3))
        if self.bits == NULL:
            raise MemoryError()
        memset(self.bits, 0, <size_t>1 << (log2 - 3))
        self.mask = ((<uint64_t>1) << log2) - 1
        self.shift = 64 - log2
        for b in range(256):
            for k in range(self.count):
                if (self.hashes[k] & 255) == b:
                    self.probe(self.hashes[k])
        free(self.hashes)
        self.hashes = NULL
        self.count = 0
        return 0

    def finish(self):
        """The candidate hashes (KeyRepeatFinder.finish)."""
        cdef Py_ssize_t k
        if self.bits != NULL:
            return self.candidates
        out = set()
        if self.count > 1:
            qsort(self.hashes, self.count, 8, _cmp_i64)
            for k in range(1, self.count):
                if self.hashes[k] == self.hashes[k - 1]:
                    out.add(self.hashes[k])
        return out


cdef class Scanner:
    """One walk over one file. ``deep``: the checks of ``RDBReader(decode=True,
    values=False)``, else those of ``decode=False``. ``stats``: collect inspect's
    per-record figures."""

    # configuration
    cdef bint deep
    cdef bint stats
    cdef int version
    cdef int embed            # 0: Redis's 44-byte embstr rule, else Valkey's size limit
    cdef KeyFilter keyfilter
    cdef int64_t db
    cdef int64_t now_ms
    # the window
    cdef object src           # ByteSource walked (stream_record: the re-read one)
    cdef bint streaming
    cdef object buf_ref
    cdef const unsigned char* start
    cdef const unsigned char* end
    cdef Py_ssize_t base
    # answers
    cdef public Py_ssize_t pos
    cdef public Py_ssize_t need
    cdef public Py_ssize_t record_end
    cdef public long long keys, expires
    cdef public Py_ssize_t last_offset
    cdef public long long streamed   # records accepted by stream_record/confirm_record
    cdef object confirm_set          # key hashes to hand over (verify's confirming walk)
    cdef public list hits            # (hash, key, db, offset) of those records
    cdef dict exact_keys             # hash -> first offset (input read once: stdin)
    cdef public list repeats         # (key, db, offset, first offset) of repeated keys
    cdef bint confirm_pending
    cdef Py_ssize_t window_max
    cdef Py_ssize_t dedup_exact_max
    # scratch buffers (LZF output, key text)
    cdef unsigned char* scratch
    cdef Py_ssize_t scratch_cap
    cdef unsigned char* keybuf
    cdef Py_ssize_t keybuf_cap
    cdef Py_ssize_t klen
    cdef unsigned char numbuf[24]
    # repeat check of one collection
    cdef uint64_t* table
    cdef Py_ssize_t table_cap
    cdef uint64_t table_mask
    cdef bint dd_pyhash
    cdef unsigned char* bloom
    cdef uint64_t bloom_mask
    cdef Py_ssize_t bloom_hits
    cdef int dd_mode          # 0 exact table, 1 bloom (pass 1), 2 confirm (pass 2)
    cdef uint64_t* cand
    cdef unsigned char* cand_seen
    cdef Py_ssize_t cand_cap
    cdef Py_ssize_t cand_count
    # the record being read
    cdef Py_ssize_t rec_at    # absolute offset of the record
    cdef int rtype
    cdef int enc
    cdef int64_t size_hint    # -1: None
    cdef int64_t elements
    cdef bint has_expire
    cdef int64_t expire
    cdef int64_t khash
    cdef int64_t ql_live
    cdef bint ql_live_packed
    # inspect figures
    cdef long long* agg       # [32 * N_ENC * 3]: keys, bytes, elements per (type, encoding)
    cdef unsigned char* agg_touched
    cdef public list touched  # (rdb_type, enc) first touched in this call, in order
    cdef public long long ttl_none, ttl_expired, ttl_1h, ttl_1d, ttl_30d, ttl_later
    cdef public long long memory
    cdef long long overhead[N_ENC]
    cdef long long key_overhead
    cdef Py_ssize_t top
    cdef long long* heap
    cdef Py_ssize_t heap_n
    cdef public long long seq
    cdef public list biggest  # (bytes, seq, db, key, rdb_type, enc, size_hint, offset)

    def __cinit__(self):
        self.scratch = NULL
        self.keybuf = NULL
        self.table = NULL
        self.bloom = NULL
        self.cand = NULL
        self.cand_seen = NULL
        self.agg = NULL
        self.agg_touched = NULL
        self.heap = NULL

    def __init__(self, *, bint deep, int version, KeyFilter keyfilter=None, bint stats=False,
                 int top=0, overhead=None, long long key_overhead=0, int64_t now_ms=0,
                 Py_ssize_t window_max=WINDOW_MAX, Py_ssize_t dedup_exact_max=DEDUP_EXACT_MAX,
                 confirm=None, dict exact_keys=None):
        cdef int i
        self.deep = deep
        self.version = version
        self.keyfilter = keyfilter
        self.stats = stats
        self.embed = 0
        self.now_ms = now_ms
        self.key_overhead = key_overhead
        self.window_max = window_max
        self.dedup_exact_max = dedup_exact_max
        self.confirm_pending = 0
        self.cand_cap = 0
        self.cand_count = 0
        self.keys = self.expires = 0
        self.last_offset = -1
        self.streamed = 0
        self.confirm_set = confirm
        self.hits = []
        self.exact_keys = exact_keys
        self.repeats = []
        self.scratch_cap = 1 << 16
        self.scratch = <unsigned char*>malloc(self.scratch_cap)
        self.keybuf_cap = 1 << 12
        self.keybuf = <unsigned char*>malloc(self.keybuf_cap)
        self.table_cap = 0
        if self.scratch == NULL or self.keybuf == NULL:
            raise MemoryError()
        self.touched = []
        self.biggest = []
        self.seq = 0
        self.top = top if top > 0 else 0
        self.heap_n = 0
        if stats:
            self.agg = <long long*>malloc(32 * N_ENC * 3 * sizeof(long long))
            self.agg_touched = <unsigned char*>malloc(32 * N_ENC)
            self.heap = <long long*>malloc((self.top + 1) * sizeof(long long))
            if self.agg == NULL or self.agg_touched == NULL or self.heap == NULL:
                raise MemoryError()
            memset(self.agg_touched, 0, 32 * N_ENC)
            for i in range(N_ENC):
                self.overhead[i] = overhead[i] if overhead is not None else 0
        self.reset_stats()

    def __dealloc__(self):
        free(self.scratch)
        free(self.keybuf)
        free(self.table)
        free(self.bloom)
        free(self.cand)
        free(self.cand_seen)
        free(self.agg)
        free(self.agg_touched)
        free(self.heap)

    # ------------------------------------------------------------------ results
    def reset_stats(self):
        """Clear the per-call counters (keys, expires, inspect figures)."""
        self.keys = self.expires = 0
        self.touched = []
        self.biggest = []
        self.ttl_none = self.ttl_expired = self.ttl_1h = self.ttl_1d = self.ttl_30d = 0
        self.ttl_later = 0
        self.memory = 0
        if self.agg != NULL:
            memset(self.agg, 0, 32 * N_ENC * 3 * sizeof(long long))

    def figures(self, int rdb_type, int enc):
        """(keys, bytes, elements) of one (type, encoding) in this call."""
        cdef Py_ssize_t i = (rdb_type * N_ENC + enc) * 3
        return self.agg[i], self.agg[i + 1], self.agg[i + 2]

    def set_heap(self, sizes):
        """The byte sizes now in the driver's biggest-keys heap (its decisions are then
        replayed here exactly)."""
        self.heap_n = 0
        for n in sizes:
            self.heap_push(n)

    # ------------------------------------------------------------------ heap of sizes
    cdef void heap_push(self, long long n) noexcept:
        cdef Py_ssize_t i = self.heap_n
        cdef Py_ssize_t parent
        self.heap_n += 1
        while i > 0:
            parent = (i - 1) >> 1
            if self.heap[parent] <= n:
                break
            self.heap[i] = self.heap[parent]
            i = parent
        self.heap[i] = n

    cdef void heap_replace(self, long long n) noexcept:
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t c
        cdef Py_ssize_t size = self.heap_n
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and self.heap[c + 1] < self.heap[c]:
                c += 1
            if self.heap[c] >= n:
                break
            self.heap[i] = self.heap[c]
            i = c
        self.heap[i] = n

    # ------------------------------------------------------------------ window
    cdef int attach(self, object src) except -1:
        buf = src.buf
        if type(buf) is not bytes:
            buf = bytes(buf)
            src.buf = buf
        self.buf_ref = buf
        self.start = <const unsigned char*>PyBytes_AS_STRING(buf)
        self.end = self.start + PyBytes_GET_SIZE(buf)
        self.base = src.base
        return 0

    cdef int more(self, const unsigned char** pp, Py_ssize_t k) except -1:
        """Streaming only: make ``k`` bytes available from ``pp[0]`` (the start of the
        item being read; everything before it may be dropped). 1 when more bytes came."""
        cdef Py_ssize_t off, had
        if not self.streaming or k > STREAM_ELEMENT_MAX:
            return 0
        off = pp[0] - self.start
        had = (self.end - self.start) - off
        self.src.pos = off
        try:
            self.src.need(k)
        except TruncatedError:
            pass  # the window now holds what the input has; the caller decides
        self.attach(self.src)
        pp[0] = self.start + <Py_ssize_t>self.src.pos
        return (self.end - pp[0]) > had

    cdef inline Py_ssize_t at(self, const unsigned char* p) noexcept:
        return self.base + (p - self.start)

    cdef int short(self, const unsigned char* p, Py_ssize_t k) noexcept:
        """The window ends inside the record: in the main window, how much is needed."""
        self.need = (self.at(p) + k) - self.rec_at
        if self.need > self.window_max:
            return BIG
        return NEED

    # ------------------------------------------------------------------ scratch
    cdef int grow(self, unsigned char** buf, Py_ssize_t* cap, Py_ssize_t n) except -1:
        cdef unsigned char* b
        if n <= cap[0]:
            return 0
        b = <unsigned char*>realloc(buf[0], n)
        if b == NULL:
            raise MemoryError()
        buf[0] = b
        cap[0] = n
        return 0

    # ------------------------------------------------------------------ strings
    cdef int rd_len(self, const unsigned char** pp, uint64_t* v) except -1:
        """A plain length (read_length)."""
        cdef const unsigned char* p0 = pp[0]
        cdef int r = rdb_plain_len(pp, self.end, v)
        while r == PK_SHORT:
            if not self.more(pp, 9):
                return self.short(pp[0], 9)
            r = rdb_plain_len(pp, self.end, v)
        if r == PK_BAD:
            return DEFER
        return OK

    cdef int rd_str(self, const unsigned char** pp, RdbStr* s) except -1:
        """One RDB string whose data lies inside the window. An LZF header's claim is
        checked on every path, deep or shallow (lengths.check_lzf_lengths: the exact
        reader's skip strategy rejects what its decode rejects)."""
        cdef const unsigned char* q
        cdef int r
        cdef uint64_t dlen
        while True:
            q = pp[0]
            r = rdb_str_head(pp, self.end, s)
            if r == PK_BAD:
                return DEFER
            if r == PK_SHORT:
                pp[0] = q
                if not self.more(pp, 24):
                    return self.short(q, 24)
                continue
            if s.form == STR_INT:
                return OK
            dlen = s.len if s.form == STR_RAW else s.clen
            if dlen <= <uint64_t>(self.end - pp[0]):
                pp[0] += dlen
                return OK
            if dlen > <uint64_t>(1 << 62):
                return DEFER
            r = <int>(pp[0] - q)
            pp[0] = q
            if not self.more(pp, r + <Py_ssize_t>dlen):
                if self.streaming:
                    return DEFER
                return self.short(q, r + <Py_ssize_t>dlen)

    cdef int lzf_into_scratch(self, RdbStr* s) except -1:
        """Decompress an LZF string strictly into ``scratch``; DEFER on bad data."""
        self.grow(&self.scratch, &self.scratch_cap, <Py_ssize_t>s.len + 1)
        if lzf_decode(s.ptr, <Py_ssize_t>s.clen, self.scratch, <Py_ssize_t>s.len) != PK_OK:
            return DEFER
        return OK

    cdef int value_str(self, const unsigned char** pp) except -1:
        """A string element whose bytes are not needed (list elements, hash values):
        deep mode decodes LZF strictly (read_string), shallow mode only skips."""
        cdef RdbStr s
        cdef int r
        cdef const unsigned char* p = pp[0]
        cdef unsigned int first
        # hot path: a short raw string inside the window
        if p < self.end:
            first = p[0]
            if first < 0x40 and p + 1 + first <= self.end:
                pp[0] = p + 1 + first
                return OK
        r = self.rd_str(pp, &s)
        if r != OK:
            return r
        if s.form == STR_LZF and self.deep:
            if lzf_decode(s.ptr, <Py_ssize_t>s.clen, NULL, <Py_ssize_t>s.len) != PK_OK:
                return DEFER
        return OK

    # ------------------------------------------------------------------ repeat check
    cdef int dd_begin(self, Py_ssize_t n) except -1:
        cdef Py_ssize_t cap = 16
        self.dd_pyhash = n > PYHASH_ABOVE
        if self.dd_mode == 2:
            return OK
        if n > self.dedup_exact_max:
            if not self.streaming:
                return BIG
            self.dd_mode = 1
            if self.bloom == NULL:
                self.bloom = <unsigned char*>malloc(<size_t>1 << (BLOOM_LOG2 - 3))
                if self.bloom == NULL:
                    raise MemoryError()
            memset(self.bloom, 0, <size_t>1 << (BLOOM_LOG2 - 3))
            self.bloom_mask = ((<uint64_t>1) << BLOOM_LOG2) - 1
            self.bloom_hits = 0
            return OK
        self.dd_mode = 0
        while cap < 2 * n:
            cap <<= 1
        if cap > self.table_cap:
            free(self.table)
            self.table = <uint64_t*>malloc(cap * 8)
            if self.table == NULL:
                self.table_cap = 0
                raise MemoryError()
            self.table_cap = cap
        memset(self.table, 0, cap * 8)
        self.table_mask = cap - 1
        return OK

    cdef int dd_add(self, const unsigned char* p, Py_ssize_t n) except -1:
        """One member's text; DEFER when its hash was seen before in this collection."""
        cdef uint64_t h, i, j, slot
        if self.dd_pyhash:
            h = <uint64_t>_Py_HashBytes(p, n)
        else:
            h = fast_hash(p, n)
        if self.dd_mode == 0:
            h |= 1
            slot = h & self.table_mask
            while self.table[slot]:
                if self.table[slot] == h:
                    return DEFER
                slot = (slot + 1) & self.table_mask
            self.table[slot] = h
            return OK
        if self.dd_mode == 1:
            i = h & self.bloom_mask
            j = (h >> 37) & self.bloom_mask
            if (self.bloom[i >> 3] >> (i & 7)) & (self.bloom[j >> 3] >> (j & 7)) & 1:
                self.bloom_hits += 1
                return self.cand_add(h)
            self.bloom[i >> 3] |= 1 << (i & 7)
            self.bloom[j >> 3] |= 1 << (j & 7)
            return OK
        # pass 2: a candidate hash seen twice is a real repeat of hash()
        if self.cand_cap == 0:
            return OK
        slot = (h | 1) & (self.cand_cap - 1)
        while self.cand[slot]:
            if self.cand[slot] == (h | 1) and (h & 1) == (self.cand_seen[slot] >> 1):
                if self.cand_seen[slot] & 1:
                    return DEFER
                self.cand_seen[slot] |= 1
                return OK
            slot = (slot + 1) & (self.cand_cap - 1)
        return OK

    cdef int cand_add(self, uint64_t h) except -1:
        """Pass 1: remember a Bloom hit (the cand table holds h|1 and h's low bit)."""
        cdef uint64_t slot
        cdef Py_ssize_t k
        cdef uint64_t* old
        cdef unsigned char* old_seen
        cdef Py_ssize_t old_cap
        if (self.cand_count + 1) * 2 > self.cand_cap:
            old = self.cand
            old_seen = self.cand_seen
            old_cap = self.cand_cap
            self.cand_cap = 1 << 12 if old_cap == 0 else old_cap * 2
            if self.cand_cap > (1 << 22):
                return DEFER  # too many candidates to confirm in bounded memory
            self.cand = <uint64_t*>malloc(self.cand_cap * 8)
            self.cand_seen = <unsigned char*>malloc(self.cand_cap)
            if self.cand == NULL or self.cand_seen == NULL:
                raise MemoryError()
            memset(self.cand, 0, self.cand_cap * 8)
            memset(self.cand_seen, 0, self.cand_cap)
            self.cand_count = 0
            for k in range(old_cap):
                if old[k]:
                    self.cand_insert(old[k], old_seen[k])
            free(old)
            free(old_seen)
        self.cand_insert(h | 1, <unsigned char>((h & 1) << 1))
        return OK

    cdef void cand_insert(self, uint64_t hv, unsigned char lowbit) noexcept:
        cdef uint64_t slot = hv & (self.cand_cap - 1)
        while self.cand[slot]:
            if self.cand[slot] == hv and self.cand_seen[slot] == lowbit:
                return
            slot = (slot + 1) & (self.cand_cap - 1)
        self.cand[slot] = hv
        self.cand_seen[slot] = lowbit
        self.cand_count += 1

    cdef int member_str(self, const unsigned char** pp) except -1:
        """A member/field (an RDB string) whose text is checked for repeats."""
        cdef RdbStr s
        cdef int r
        cdef const unsigned char* p = pp[0]
        cdef unsigned int first
        if p < self.end:
            first = p[0]
            if first < 0x40 and p + 1 + first <= self.end:
                pp[0] = p + 1 + first
                return self.dd_add(p + 1, first)
        r = self.rd_str(pp, &s)
        if r != OK:
            return r
        if s.form == STR_RAW:
            return self.dd_add(s.ptr, <Py_ssize_t>s.len)
        if s.form == STR_INT:
            return self.dd_add(self.numbuf, int_text(s.ival, self.numbuf))
        if self.lzf_into_scratch(&s) != OK:
            return DEFER
        return self.dd_add(self.scratch, <Py_ssize_t>s.len)

    cdef int member_elem(self, Elem* e) except -1:
        if e.ptr != NULL:
            return self.dd_add(e.ptr, e.len)
        return self.dd_add(self.numbuf, int_text(e.ival, self.numbuf))

    # ------------------------------------------------------------------ records
    cdef int record(self, const unsigned char** pp) except -1:
        """One key record at pp[0]; OK with pp[0] after it, or NEED/BIG/DEFER (pp[0]
        then undefined: the caller rewinds)."""
        cdef const unsigned char* p = pp[0]
        cdef unsigned int t
        cdef uint64_t v
        cdef int r
        cdef RdbStr s
        self.rec_at = self.at(p)
        self.has_expire = 0
        while True:
            if p >= self.end:
                if not self.more(&p, 1):
                    return self.short(p, 1)
            t = p[0]
            if t == 252:
                if self.end - p < 9 and not self.more(&p, 9):
                    return self.short(p, 9)
                self.has_expire = 1
                self.expire = sle(p + 1, 8)
                p += 9
            elif t == 253:
                if self.end - p < 5 and not self.more(&p, 5):
                    return self.short(p, 5)
                self.has_expire = 1
                self.expire = sle(p + 1, 4) * 1000
                p += 5
            elif t == 248:
                p += 1
                r = self.rd_len(&p, &v)
                if r != OK:
                    return r
            elif t == 249:
                if self.end - p < 2 and not self.more(&p, 2):
                    return self.short(p, 2)
                p += 2
            else:
                break
        if t > 20 or t == 3 or t == 6 or t == 7 or t == 8 or t == 15 or t == 19:
            return DEFER  # rare types, streams, modules, opcodes: the exact reader
        self.rtype = t
        p += 1
        # the key
        r = self.rd_str(&p, &s)
        if r != OK:
            return r
        if s.form == STR_RAW:
            self.klen = <Py_ssize_t>s.len
            self.grow(&self.keybuf, &self.keybuf_cap, self.klen + 1)
            memcpy(self.keybuf, s.ptr, self.klen)
        elif s.form == STR_INT:
            self.klen = int_text(s.ival, self.keybuf)
        else:
            self.grow(&self.keybuf, &self.keybuf_cap, <Py_ssize_t>s.len + 1)
            if lzf_decode(s.ptr, <Py_ssize_t>s.clen, self.keybuf, <Py_ssize_t>s.len) != PK_OK:
                return DEFER
            self.klen = <Py_ssize_t>s.len
        self.size_hint = -1
        self.elements = 0
        if t == 0:
            r = self.v_string(&p)
        elif t == 1 or t == 2 or t == 4 or t == 5:
            r = self.v_plain(&p, t)
        elif t == 14 or t == 18:
            r = self.v_quicklist(&p, t == 18)
        else:
            r = self.v_blob(&p, t)
        if r == OK:
            pp[0] = p
        return r

    cdef int v_string(self, const unsigned char** pp) except -1:
        cdef RdbStr s
        cdef int r
        cdef int64_t iv
        cdef Py_ssize_t n
        r = self.rd_str(pp, &s)
        if r != OK:
            return r
        if s.form == STR_INT:
            self.enc = E_INT
            self.size_hint = int_text(s.ival, self.numbuf)
            return OK
        if s.form == STR_LZF:
            if self.deep:
                if lzf_decode(s.ptr, <Py_ssize_t>s.clen, NULL, <Py_ssize_t>s.len) != PK_OK:
                    return DEFER
            n = <Py_ssize_t>s.len
            self.size_hint = n
            if self.stats:
                # _string_encoding(value, ...): deep mode decodes, but deep mode keeps
                # no figures; decode=False judges by the length alone.
                self.enc = self.embed_rule(n)
            return OK
        n = <Py_ssize_t>s.len
        self.size_hint = n
        if self.stats:
            if n <= 20 and n and canonical_int(s.ptr, n, &iv):
                self.enc = E_INT
            else:
                self.enc = self.embed_rule(n)
        return OK

    cdef int embed_rule(self, Py_ssize_t n) noexcept:
        """reader._string_encoding for a value that is not an integer."""
        cdef Py_ssize_t k, khdr, size
        if self.embed == 0:
            return E_EMBSTR if n <= 44 else E_RAW
        if n > 255:
            return E_RAW
        k = self.klen
        khdr = 1 if k < 32 else 3 if k < 256 else 5 if k < 65536 else 9
        size = 8 + (khdr + k + 2) + (8 if self.has_expire else 0) + (3 + n + 1)
        return E_EMBSTR if size <= self.embed else E_RAW

    cdef int v_plain(self, const unsigned char** pp, int t) except -1:
        """Types 1 (list), 2 (set), 4 (hash), 5 (zset, binary scores)."""
        cdef uint64_t n
        cdef Py_ssize_t i
        cdef int r
        cdef double score
        r = self.rd_len(pp, &n)
        if r != OK:
            return r
        if n == 0:
            return DEFER  # empty: the reader counts it in empty_keys
        self.size_hint = <int64_t>n
        self.enc = E_QUICKLIST if t == 1 else E_SKIPLIST if t == 5 else E_HASHTABLE
        if not self.deep:
            for i in range(<Py_ssize_t>n if t != 4 else 2 * <Py_ssize_t>n):
                r = self.value_str(pp)
                if r != OK:
                    return r
                if t == 5:
                    if self.end - pp[0] < 8 and not self.more(pp, 8):
                        return self.short(pp[0], 8)
                    pp[0] += 8
            return OK
        if t == 1:
            for i in range(<Py_ssize_t>n):
                r = self.value_str(pp)
                if r != OK:
                    return r
            return OK
        r = self.dd_begin(<Py_ssize_t>n)
        if r != OK:
            return r
        for i in range(<Py_ssize_t>n):
            r = self.member_str(pp)
            if r != OK:
                return r
            if t == 4:
                r = self.value_str(pp)
                if r != OK:
                    return r
            elif t == 5:
                if self.end - pp[0] < 8 and not self.more(pp, 8):
                    return self.short(pp[0], 8)
                memcpy(&score, pp[0], 8)
                if isnan(score):
                    return DEFER
                pp[0] += 8
        if self.dd_mode == 1 and self.bloom_hits:
            self.confirm_pending = 1
            return DEFER  # the driver confirms the candidates with a second walk
        return OK

    # -- single-blob values
    cdef int read_blob(self, const unsigned char** pp, const unsigned char** data,
                       Py_ssize_t* size) except -1:
        """reader._read_blob: a raw or LZF string (LZF decoded strictly into scratch);
        an integer-encoded one is a framing error (DEFER)."""
        cdef RdbStr s
        cdef int r = self.rd_str(pp, &s)
        if r != OK:
            return r
        if s.form == STR_INT:
            return DEFER
        if s.form == STR_RAW:
            data[0] = s.ptr
            size[0] = <Py_ssize_t>s.len
            return OK
        if self.lzf_into_scratch(&s) != OK:
            return DEFER
        data[0] = self.scratch
        size[0] = <Py_ssize_t>s.len
        return OK

    cdef int v_blob(self, const unsigned char** pp, int t) except -1:
        cdef const unsigned char* data
        cdef Py_ssize_t size
        cdef int r = self.read_blob(pp, &data, &size)
        if r != OK:
            return r
        if t == 9:
            self.enc = E_ZIPMAP
        elif t == 10:
            self.enc = E_QUICKLIST
        elif t == 11:
            self.enc = E_INTSET
        elif t == 12:
            self.enc = E_ZIPLIST if self.version < 10 else E_LISTPACK
        elif t == 13:
            self.enc = E_ZIPLIST
        else:
            self.enc = E_LISTPACK
        if self.deep:
            return self.deep_blob(t, data, size)
        return self.shallow_blob(t, data, size)

    cdef int shallow_blob(self, int t, const unsigned char* b, Py_ssize_t n) except -1:
        """decode=False: reader.blob_header_problem, then the header's count."""
        cdef int64_t c
        cdef uint64_t width
        if t == 9:
            if n < 2 or b[n - 1] != 0xFF:
                return DEFER
            self.size_hint = b[0] if b[0] < 254 else -1
            if self.size_hint == 0:
                return DEFER
            return OK
        if t == 11:
            if n < 8:
                return DEFER
            width = u32le(b)
            if width != 2 and width != 4 and width != 8:
                return DEFER
            if 8 + width * u32le(b + 4) != <uint64_t>n:
                return DEFER
            self.size_hint = u32le(b + 4)
            return DEFER if self.size_hint == 0 else OK
        if t == 10 or t == 12 or t == 13:
            if n < 11 or <Py_ssize_t>u32le(b) != n or b[n - 1] != 0xFF:
                return DEFER
            c = b[8] | (b[9] << 8)
        else:
            if n < 7 or <Py_ssize_t>u32le(b) != n or b[n - 1] != 0xFF:
                return DEFER
            c = b[4] | (b[5] << 8)
        if c == 0:
            return DEFER
        if c == 0xFFFF:
            self.size_hint = -1
        elif t == 10 or t == 20:
            self.size_hint = c
        else:
            self.size_hint = c // 2
        return OK

    cdef int deep_blob(self, int t, const unsigned char* b, Py_ssize_t n) except -1:
        """decode=True: the whole blob decoded as the reader decodes it, with its
        pair/score/repeat rules."""
        cdef LpIter lp
        cdef ZlIter zl
        cdef IsIter ist
        cdef ZmIter zm
        cdef Elem e, k2
        cdef int r
        cdef int64_t v
        cdef Py_ssize_t count = 0
        cdef bint zipl = t == 10 or t == 12 or t == 13
        if t == 11:
            if is_open(&ist, b, n) != PK_OK:
                return DEFER
            while True:
                r = is_next(&ist, &v)
                if r == PK_END:
                    break
                if r != PK_OK:
                    return DEFER
            self.size_hint = ist.length
            return OK
        if t == 9:
            if zm_open(&zm, b, n) != PK_OK:
                return DEFER
            # zipmap_decode checks the whole blob before the pairs are looked at
            while True:
                r = zm_next(&zm, &e, &k2)
                if r == PK_END:
                    break
                if r != PK_OK:
                    return DEFER
            if self.dd_begin(zm.count) != OK:
                return DEFER
            zm_open(&zm, b, n)
            while zm_next(&zm, &e, &k2) == PK_OK:
                if self.dd_add(e.ptr, e.len) != OK:
                    return DEFER
            self.size_hint = zm.count
            return OK
        # ziplist / listpack: validate the whole blob first (the codec does), counting
        if zipl:
            if zl_open(&zl, b, n) != PK_OK:
                return DEFER
            while True:
                r = zl_next(&zl, &e)
                if r == PK_END:
                    break
                if r != PK_OK:
                    return DEFER
            count = zl.count
        else:
            if lp_open(&lp, b, n) != PK_OK:
                return DEFER
            while True:
                r = lp_next(&lp, &e)
                if r == PK_END:
                    break
                if r != PK_OK:
                    return DEFER
            count = lp.count
        if count == 0:
            return DEFER  # empty
        if t == 10:
            self.size_hint = count
            return OK
        if t != 20 and count % 2:
            return DEFER  # odd element count: a problem
        if self.dd_begin(count if t == 20 else count // 2) != OK:
            return DEFER
        if zipl:
            zl_open(&zl, b, n)
        else:
            lp_open(&lp, b, n)
        while True:
            r = zl_next(&zl, &e) if zipl else lp_next(&lp, &e)
            if r != PK_OK:
                break
            if self.member_elem(&e) != OK:
                return DEFER
            if t == 20:
                continue
            r = zl_next(&zl, &e) if zipl else lp_next(&lp, &e)
            if r != PK_OK:
                return DEFER
            if (t == 12 or t == 17) and e.ptr != NULL and not score_text_ok(e.ptr, e.len):
                return DEFER
        self.size_hint = count if t == 20 else count // 2
        return OK

    # -- quicklists
    cdef int v_quicklist(self, const unsigned char** pp, bint v2) except -1:
        cdef uint64_t nodes, container
        cdef Py_ssize_t i
        cdef int r
        cdef int64_t total = 0
        cdef int64_t c
        cdef const unsigned char* data
        cdef Py_ssize_t size
        cdef LpIter lp
        cdef ZlIter zl
        cdef Elem e
        cdef RdbStr s
        r = self.rd_len(pp, &nodes)
        if r != OK:
            return r
        if nodes == 0:
            return DEFER
        self.ql_live = 0
        self.ql_live_packed = 0
        for i in range(<Py_ssize_t>nodes):
            container = 2
            if v2:
                r = self.rd_len(pp, &container)
                if r != OK:
                    return r
                if container != 1 and container != 2:
                    return DEFER
            if container == 1:
                # a PLAIN node: one element
                r = self.rd_str(pp, &s)
                if r != OK:
                    return r
                if s.form == STR_RAW and s.len == 0:
                    return DEFER
                if s.form == STR_LZF:
                    if self.deep:
                        if lzf_decode(s.ptr, <Py_ssize_t>s.clen, NULL, <Py_ssize_t>s.len) != PK_OK:
                            return DEFER
                    if s.len == 0:
                        return DEFER
                total += 1
                self.ql_live += 1
                continue
            r = self.read_blob(pp, &data, &size)
            if r != OK:
                return r
            if size == 0:
                return DEFER
            if self.deep:
                if v2:
                    if lp_open(&lp, data, size) != PK_OK:
                        return DEFER
                    while True:
                        r = lp_next(&lp, &e)
                        if r == PK_END:
                            break
                        if r != PK_OK:
                            return DEFER
                    c = lp.count
                else:
                    if zl_open(&zl, data, size) != PK_OK:
                        return DEFER
                    while True:
                        r = zl_next(&zl, &e)
                        if r == PK_END:
                            break
                        if r != PK_OK:
                            return DEFER
                    c = zl.count
            else:
                if v2:
                    if size < 7 or <Py_ssize_t>u32le(data) != size or data[size - 1] != 0xFF:
                        return DEFER
                    c = data[4] | (data[5] << 8)
                else:
                    if size < 11 or <Py_ssize_t>u32le(data) != size or data[size - 1] != 0xFF:
                        return DEFER
                    c = data[8] | (data[9] << 8)
                if c == 0xFFFF:
                    c = 0
            total += c
            if c:
                self.ql_live += 1
                self.ql_live_packed = 1
        if total == 0:
            return DEFER
        self.size_hint = total
        # reader: "listpack" for one live packed node on RDB 11+, else "quicklist"
        self.enc = E_LISTPACK if (self.version >= 11 and self.ql_live == 1
                                  and self.ql_live_packed) else E_QUICKLIST
        return OK

    # ------------------------------------------------------------------ accepting
    cdef int accept(self, const unsigned char* p) except -1:
        cdef int64_t h
        cdef Py_ssize_t length, i
        cdef int64_t elements, left
        cdef long long n
        self.keys += 1
        if self.has_expire:
            self.expires += 1
        self.last_offset = self.rec_at
        if self.keyfilter is not None or self.confirm_set is not None or self.exact_keys is not None:
            h = _Py_HashBytes(self.keybuf, self.klen)
            if self.db:
                h = <int64_t>((<uint64_t>h) ^ ((<uint64_t>self.db) * MIX))
            if self.keyfilter is not None:
                self.keyfilter.add_c(h)
            if self.exact_keys is not None:
                # verify's exact dict for an input that cannot be walked twice
                first = self.exact_keys.get(h)
                if first is None:
                    self.exact_keys[h] = self.rec_at
                else:
                    self.repeats.append(((<const char*>self.keybuf)[:self.klen], self.db,
                                         self.rec_at, first))
            if self.confirm_set is not None and h in self.confirm_set:
                self.hits.append((h, (<const char*>self.keybuf)[:self.klen], self.db, self.rec_at))
        if not self.stats:
            return 0
        length = self.at(p) - self.rec_at
        elements = 1 if self.rtype == 0 else (self.size_hint if self.size_hint > 0 else 0)
        i = self.rtype * N_ENC + self.enc
        if not self.agg_touched[i]:
            self.agg_touched[i] = 1
            self.touched.append((self.rtype, self.enc))
        elif self.agg[3 * i] == 0:
            self.touched.append((self.rtype, self.enc))
        self.agg[3 * i] += 1
        self.agg[3 * i + 1] += length
        self.agg[3 * i + 2] += elements
        if not self.has_expire:
            self.ttl_none += 1
        elif self.expire <= self.now_ms:
            self.ttl_expired += 1
        else:
            left = self.expire - self.now_ms  # > 0, no overflow
            if False:
                pass
            elif left < 3600000:
                self.ttl_1h += 1
            elif left < 86400000:
                self.ttl_1d += 1
            elif left < 30 * 86400000LL:
                self.ttl_30d += 1
            else:
                self.ttl_later += 1
        self.memory += self.key_overhead + self.klen + length + elements * self.overhead[self.enc]
        if self.top:
            self.seq += 1
            n = length
            if self.heap_n < self.top:
                self.heap_push(n)
            elif n > self.heap[0]:
                self.heap_replace(n)
            else:
                return 0
            self.biggest.append((n, self.seq, self.db, (<const char*>self.keybuf)[:self.klen],
                                 self.rtype, self.enc,
                                 self.size_hint if self.size_hint >= 0 else None, self.rec_at))
        return 0

    # ------------------------------------------------------------------ entry points
    def run(self, src, int64_t db, int embed=0):
        """Walk records from ``src.pos`` while they can be accepted. Returns R_NEED
        (``need`` bytes from ``pos`` are required), R_BIG or R_DEFER; ``pos`` is the
        index in ``src.buf`` of the record (or item) it stopped at."""
        cdef const unsigned char* p
        cdef const unsigned char* q
        cdef int r
        self.streaming = 0
        self.src = src
        self.db = db
        self.embed = embed
        self.attach(src)
        p = self.start + <Py_ssize_t>src.pos
        self.dd_mode = 0
        while True:
            if p >= self.end:
                self.pos = p - self.start
                self.need = 1
                return R_NEED
            q = p
            r = self.record(&q)
            if r == OK:
                self.accept(q)
                p = q
                continue
            self.pos = p - self.start
            self.src = None
            self.buf_ref = None
            if r == NEED:
                return R_NEED
            if r == BIG:
                return R_BIG
            return R_DEFER

    def stream_record(self, sub, int64_t db, int embed=0):
        """Walk the one record at the start of ``sub`` (a ByteSource re-reading the
        main input from the record on), refilling its window as it goes; a second walk
        (``sub2``, from ``again()``) confirms Bloom candidates. Returns R_DONE
        (``record_end``: the absolute end offset) or R_DEFER."""
        cdef const unsigned char* p
        cdef int r
        self.streaming = 1
        self.db = db
        self.embed = embed
        self.dd_mode = 0
        self.cand_count = 0
        self.src = sub
        self.attach(sub)
        p = self.start + <Py_ssize_t>sub.pos
        self.confirm_pending = 0
        r = self.record(&p)
        self.streaming = 0
        if r != OK:
            self.src = None
            self.buf_ref = None
            return R_DEFER
        self.record_end = self.at(p)
        self.src = None
        self.buf_ref = None
        return R_DONE

    def needs_confirm(self):
        """After stream_record answered R_DEFER: True when the record only needs its
        Bloom candidates confirmed (call confirm_record with a fresh re-read)."""
        return self.confirm_pending

    def confirm_record(self, sub):
        """Second walk over the same record: a candidate hash met twice is a real
        repeat (R_DEFER); else the record is accepted (R_DONE, ``record_end``)."""
        cdef const unsigned char* p
        cdef int r
        self.streaming = 1
        self.dd_mode = 2
        self.src = sub
        self.attach(sub)
        p = self.start + <Py_ssize_t>sub.pos
        r = self.record(&p)
        self.streaming = 0
        self.dd_mode = 0
        self.src = None
        self.buf_ref = None
        if r != OK:
            return R_DEFER
        self.record_end = self.at(p)
        return R_DONE

    def accept_streamed(self):
        """Count the record stream_record/confirm_record accepted."""
        cdef const unsigned char* p = NULL
        # accept() measures the record's length from its end: give it through base.
        self.start = NULL
        self.base = self.record_end
        self.streamed += 1
        self.accept(p)
