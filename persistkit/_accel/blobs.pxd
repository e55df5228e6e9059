# cython: language_level=3
"""Compiled primitives of the RDB read side, for other compiled modules to ``cimport``.

    from persistkit._accel.blobs cimport (PK_OK, PK_END, PK_SHORT, PK_BAD, Elem,
        rdb_len, RdbStr, rdb_str, lzf_decode, LpIter, lp_open, lp_next, ...)

Everything here is ``cdef inline ... noexcept nogil`` over ``const unsigned char*``
ranges: no Python objects, no allocation, never a read outside ``[data, data + size)``
(or ``[p, end)``). The rules are those of the pure codecs in ``persistkit.kvencoding``
(lengths.py, lzf.py, listpack.py, ziplist.py, intset.py, zipmap.py, streamnode.py),
which stay the reference: a compiled reader accepts what the pure codec accepts and
answers ``PK_BAD`` for everything the pure codec rejects; it never explains why. A
caller that meets ``PK_BAD`` hands the bytes to the pure codec, which raises the
FormatError with the offset and message (``tests/test_accel_blobs.py`` checks the
agreement on the corpus blobs and on mutations).

Return codes (every function that can fail returns one):

* ``PK_OK``    an item was produced;
* ``PK_END``   iteration finished, and the whole blob passed the codec's final checks
               (header counts, ziplist tail, stream master counts);
* ``PK_SHORT`` the range ends before the item does (RDB length/string readers only:
               more bytes may come from the input);
* ``PK_BAD``   the bytes break a rule of the pure codec.

Elements (``Elem``): a string element has ``ptr != NULL`` and ``len`` bytes; an
integer element has ``ptr == NULL`` and ``ival``. Pointers point into the blob.

Stable interface: signatures here are only ever added to, never changed.
"""

from libc.stdint cimport int64_t, uint64_t, uint32_t
from libc.string cimport memcmp, memcpy

cdef enum:
    PK_OK = 0
    PK_END = 1
    PK_SHORT = -1
    PK_BAD = -2

# RDB string forms (rdb.h RDB_ENC_* after an 11xxxxxx length prefix).
cdef enum:
    STR_RAW = 0
    STR_INT = 1
    STR_LZF = 2

ctypedef struct Elem:
    const unsigned char* ptr    # string bytes, NULL for an integer element
    Py_ssize_t len              # string length
    int64_t ival                # integer value (ptr == NULL)

ctypedef struct RdbStr:
    int form                    # STR_RAW, STR_INT or STR_LZF
    const unsigned char* ptr    # RAW: the bytes; LZF: the compressed bytes; INT: NULL
    uint64_t len                # RAW: length; LZF: uncompressed length; INT: 0
    uint64_t clen               # LZF: compressed length
    int64_t ival                # INT: the value


# ---------------------------------------------------------------------------
# little helpers

cdef inline uint32_t u32le(const unsigned char* p) noexcept nogil:
    return (<uint32_t>p[0]) | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint64_t u64le(const unsigned char* p) noexcept nogil:
    return (<uint64_t>u32le(p)) | ((<uint64_t>u32le(p + 4)) << 32)


cdef inline uint32_t u32be(const unsigned char* p) noexcept nogil:
    return (<uint32_t>p[3]) | (<uint32_t>p[2] << 8) | (<uint32_t>p[1] << 16) | (<uint32_t>p[0] << 24)


cdef inline uint64_t u64be(const unsigned char* p) noexcept nogil:
    return ((<uint64_t>u32be(p)) << 32) | (<uint64_t>u32be(p + 4))


cdef inline int64_t sle(const unsigned char* p, int n) noexcept nogil:
    """Signed little-endian integer of ``n`` (1..8) bytes."""
    cdef uint64_t v = 0
    cdef int i
    for i in range(n):
        v |= (<uint64_t>p[i]) << (8 * i)
    if n < 8 and (v >> (8 * n - 1)) & 1:
        v |= (<uint64_t>0xFFFFFFFFFFFFFFFF) << (8 * n)
    return <int64_t>v


cdef inline int canonical_int(const unsigned char* s, Py_ssize_t n, int64_t* out) noexcept nogil:
    """1 and the value when ``s`` is a string Redis stores as an integer (listpack.py
    canonical_int: lpStringToInt64 / string2ll), else 0."""
    cdef Py_ssize_t i = 0
    cdef bint neg = 0
    cdef uint64_t v = 0
    cdef uint64_t limit
    cdef unsigned int d
    if n <= 0 or n > 20:
        return 0
    if s[0] == 0x30:  # '0'
        if n == 1:
            out[0] = 0
            return 1
        return 0
    if s[0] == 0x2D:  # '-'
        if n < 2 or s[1] < 0x31 or s[1] > 0x39:
            return 0
        neg = 1
        i = 1
    elif s[0] < 0x31 or s[0] > 0x39:
        return 0
    limit = (<uint64_t>1) << 63 if neg else ((<uint64_t>1) << 63) - 1
    while i < n:
        d = s[i] - 0x30
        if d > 9:
            return 0
        if v > (limit - d) // 10:
            return 0
        v = v * 10 + d
        i += 1
    if neg:
        out[0] = <int64_t>(0 - v)
    else:
        out[0] = <int64_t>v
    return 1


cdef inline Py_ssize_t int_text(int64_t v, unsigned char* buf) noexcept nogil:
    """Decimal text of ``v`` into ``buf`` (at least 20 bytes); returns its length
    (``str(v).encode()``)."""
    cdef unsigned char tmp[24]
    cdef Py_ssize_t n = 0
    cdef Py_ssize_t i
    cdef uint64_t u
    cdef bint neg = v < 0
    u = (0 - <uint64_t>v) if neg else <uint64_t>v
    while True:
        tmp[n] = <unsigned char>(0x30 + u % 10)
        n += 1
        u //= 10
        if u == 0:
            break
    i = 0
    if neg:
        buf[0] = 0x2D
        i = 1
    while n:
        n -= 1
        buf[i] = tmp[n]
        i += 1
    return i


# ---------------------------------------------------------------------------
# RDB lengths and strings (lengths.py read_length_or_encoding, read_string)

cdef inline int rdb_len(const unsigned char** pp, const unsigned char* end,
                        uint64_t* value, bint* encoded) noexcept nogil:
    """One length prefix at ``pp[0]``: ``value`` and ``encoded`` (a special string
    encoding ENC_* when true); ``pp[0]`` moves past it."""
    cdef const unsigned char* p = pp[0]
    cdef unsigned char first
    if p >= end:
        return PK_SHORT
    first = p[0]
    if first < 0x40:
        value[0] = first
        encoded[0] = 0
        pp[0] = p + 1
        return PK_OK
    if first < 0x80:
        if end - p < 2:
            return PK_SHORT
        value[0] = ((<uint64_t>(first & 0x3F)) << 8) | p[1]
        encoded[0] = 0
        pp[0] = p + 2
        return PK_OK
    if first >= 0xC0:
        value[0] = first & 0x3F
        encoded[0] = 1
        pp[0] = p + 1
        return PK_OK
    if first == 0x80:
        if end - p < 5:
            return PK_SHORT
        value[0] = u32be(p + 1)
        encoded[0] = 0
        pp[0] = p + 5
        return PK_OK
    if first == 0x81:
        if end - p < 9:
            return PK_SHORT
        value[0] = u64be(p + 1)
        encoded[0] = 0
        pp[0] = p + 9
        return PK_OK
    return PK_BAD


cdef inline int rdb_plain_len(const unsigned char** pp, const unsigned char* end,
                              uint64_t* value) noexcept nogil:
    """A plain length (read_length): a special-encoding prefix is PK_BAD."""
    cdef bint enc
    cdef int r = rdb_len(pp, end, value, &enc)
    if r == PK_OK and enc:
        return PK_BAD
    return r


cdef inline uint64_t lzf_max_size(uint64_t clen) noexcept nogil:
    """lzf.py max_decompressed_size: the most bytes ``clen`` LZF bytes can decode to."""
    return (clen // 3) * 264 + (8 if clen % 3 == 2 else 0)


cdef inline int rdb_str_head(const unsigned char** pp, const unsigned char* end,
                             RdbStr* s) noexcept nogil:
    """The prefix of one RDB string (and an LZF string's two lengths, the uncompressed
    claim checked against what the compressed bytes can expand to, as
    lengths.check_lzf_lengths does for every reader, decoding or skipping).
    ``pp[0]`` is left at the string's data (RAW/LZF), which is NOT checked against
    ``end``; INT strings are read whole."""
    cdef uint64_t n
    cdef bint enc
    cdef const unsigned char* p
    cdef int r = rdb_len(pp, end, &n, &enc)
    if r != PK_OK:
        return r
    if not enc:
        s.form = STR_RAW
        s.ptr = pp[0]
        s.len = n
        return PK_OK
    p = pp[0]
    if n == 0:
        if end - p < 1:
            return PK_SHORT
        s.form = STR_INT
        s.ival = <signed char>p[0]
        pp[0] = p + 1
    elif n == 1:
        if end - p < 2:
            return PK_SHORT
        s.form = STR_INT
        s.ival = sle(p, 2)
        pp[0] = p + 2
    elif n == 2:
        if end - p < 4:
            return PK_SHORT
        s.form = STR_INT
        s.ival = sle(p, 4)
        pp[0] = p + 4
    elif n == 3:
        r = rdb_plain_len(pp, end, &s.clen)
        if r != PK_OK:
            return r
        r = rdb_plain_len(pp, end, &s.len)
        if r != PK_OK:
            return r
        if s.len > lzf_max_size(s.clen):
            return PK_BAD
        s.form = STR_LZF
        s.ptr = pp[0]
        return PK_OK
    else:
        return PK_BAD
    s.ptr = NULL
    s.len = 0
    return PK_OK


cdef inline int rdb_str(const unsigned char** pp, const unsigned char* end,
                        RdbStr* s) noexcept nogil:
    """One whole RDB string inside ``[pp[0], end)``; ``pp[0]`` moves past it. LZF data
    is only located (``lzf_decode`` checks it)."""
    cdef int r = rdb_str_head(pp, end, s)
    cdef uint64_t left
    if r != PK_OK:
        return r
    if s.form == STR_INT:
        return PK_OK
    left = <uint64_t>(end - pp[0])
    if s.form == STR_RAW:
        if s.len > left:
            return PK_SHORT
        pp[0] += s.len
    else:
        if s.clen > left:
            return PK_SHORT
        pp[0] += s.clen
    return PK_OK


# ---------------------------------------------------------------------------
# LZF (lzf.py decompress_py: liblzf lzf_d.c, strict)

cdef inline int lzf_decode(const unsigned char* ip, Py_ssize_t clen, unsigned char* out,
                           Py_ssize_t ulen) noexcept nogil:
    """Decode ``clen`` LZF bytes that must give exactly ``ulen`` bytes into ``out``
    (room for ``ulen``). ``out == NULL`` only validates (no byte written: a
    back-reference is checked by its position). PK_OK or PK_BAD."""
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t o = 0
    cdef Py_ssize_t n, back, ref, k
    cdef unsigned int ctrl
    if ulen < 0 or <uint64_t>ulen > lzf_max_size(<uint64_t>clen):
        return PK_BAD
    while i < clen:
        ctrl = ip[i]
        i += 1
        if ctrl < 32:
            n = ctrl + 1
            if o + n > ulen or i + n > clen:
                return PK_BAD
            if out != NULL:
                memcpy(out + o, ip + i, n)
            i += n
            o += n
        else:
            n = ctrl >> 5
            if i >= clen:
                return PK_BAD
            if n == 7:
                n += ip[i]
                i += 1
                if i >= clen:
                    return PK_BAD
            back = ((ctrl & 0x1F) << 8) + ip[i] + 1
            i += 1
            n += 2
            if o + n > ulen:
                return PK_BAD
            ref = o - back
            if ref < 0:
                return PK_BAD
            if out != NULL:
                if back >= n:
                    memcpy(out + o, out + ref, n)
                else:
                    for k in range(n):
                        out[o + k] = out[ref + k]
            o += n
    if o != ulen:
        return PK_BAD
    return PK_OK


# ---------------------------------------------------------------------------
# listpack (listpack.py listpack_decode with deep=True)

ctypedef struct LpIter:
    const unsigned char* data
    Py_ssize_t size
    Py_ssize_t pos              # byte position of the next entry
    Py_ssize_t count            # entries read so far
    Py_ssize_t header_count     # the header's element count (65535: unknown)


cdef inline Py_ssize_t lp_backlen_size(Py_ssize_t size) noexcept nogil:
    if size <= 127:
        return 1
    if size < 16383:
        return 2
    if size < 2097151:
        return 3
    if size < 268435455:
        return 4
    return 5


cdef inline bint lp_backlen_ok(const unsigned char* p, Py_ssize_t size, Py_ssize_t width) noexcept nogil:
    """The ``width`` bytes at ``p`` are lpEncodeBacklen(size) (listpack.py encode_backlen)."""
    cdef unsigned char want[5]
    if width == 1:
        return p[0] == size
    if width == 2:
        want[0] = <unsigned char>(size >> 7)
        want[1] = <unsigned char>((size & 127) | 128)
    elif width == 3:
        want[0] = <unsigned char>(size >> 14)
        want[1] = <unsigned char>(((size >> 7) & 127) | 128)
        want[2] = <unsigned char>((size & 127) | 128)
    elif width == 4:
        want[0] = <unsigned char>(size >> 21)
        want[1] = <unsigned char>(((size >> 14) & 127) | 128)
        want[2] = <unsigned char>(((size >> 7) & 127) | 128)
        want[3] = <unsigned char>((size & 127) | 128)
    else:
        if (size >> 28) > 255:
            return 0
        want[0] = <unsigned char>(size >> 28)
        want[1] = <unsigned char>(((size >> 21) & 127) | 128)
        want[2] = <unsigned char>(((size >> 14) & 127) | 128)
        want[3] = <unsigned char>(((size >> 7) & 127) | 128)
        want[4] = <unsigned char>((size & 127) | 128)
    return memcmp(p, want, width) == 0


cdef inline int lp_open(LpIter* it, const unsigned char* data, Py_ssize_t size) noexcept nogil:
    """Header checks (total bytes, terminator); PK_OK or PK_BAD."""
    it.data = data
    it.size = size
    it.pos = 6
    it.count = 0
    it.header_count = 0
    if size < 7:
        return PK_BAD
    if <Py_ssize_t>u32le(data) != size or data[size - 1] != 0xFF:
        return PK_BAD
    it.header_count = data[4] | (data[5] << 8)
    return PK_OK


cdef inline int lp_next(LpIter* it, Elem* e) noexcept nogil:
    """The next element, every bound and backlen checked; PK_END after the last one
    once the header count agrees."""
    cdef const unsigned char* data = it.data
    cdef Py_ssize_t last = it.size - 1
    cdef Py_ssize_t p = it.pos
    cdef Py_ssize_t end, size, q, w
    cdef unsigned int b
    cdef int64_t v
    if p >= last:
        if it.header_count != 65535 and it.header_count != it.count:
            return PK_BAD
        return PK_END
    b = data[p]
    if b < 0x80:
        e.ptr = NULL
        e.ival = b
        end = p + 1
    elif b < 0xC0:
        e.ptr = data + p + 1
        e.len = b & 0x3F
        end = p + 1 + e.len
    elif b < 0xE0:
        v = ((b & 0x1F) << 8) | data[p + 1]
        e.ptr = NULL
        e.ival = v - 8192 if v >= 4096 else v
        end = p + 2
    elif b < 0xF0:
        e.ptr = data + p + 2
        e.len = ((b & 0x0F) << 8) | data[p + 1]
        end = p + 2 + e.len
    elif b == 0xF0:
        if p + 5 > last:
            return PK_BAD
        e.ptr = data + p + 5
        e.len = u32le(data + p + 1)
        end = p + 5 + e.len
    elif b <= 0xF4:
        if b == 0xF1:
            w = 2
        elif b == 0xF2:
            w = 3
        elif b == 0xF3:
            w = 4
        else:
            w = 8
        end = p + 1 + w
        if end > last:
            return PK_BAD
        e.ptr = NULL
        e.ival = sle(data + p + 1, <int>w)
    else:
        return PK_BAD
    size = end - p
    w = lp_backlen_size(size)
    q = end + w
    if q > last or not lp_backlen_ok(data + end, size, w):
        return PK_BAD
    it.pos = q
    it.count += 1
    return PK_OK


cdef inline Py_ssize_t lp_elem_at(const unsigned char* data, Py_ssize_t p, Elem* e) noexcept nogil:
    """The element at byte ``p`` of a listpack ALREADY validated by lp_next; returns the
    position of the next element. No checks: use only on validated blobs."""
    cdef unsigned int b = data[p]
    cdef int64_t v
    cdef Py_ssize_t end, w
    if b < 0x80:
        e.ptr = NULL
        e.ival = b
        end = p + 1
    elif b < 0xC0:
        e.ptr = data + p + 1
        e.len = b & 0x3F
        end = p + 1 + e.len
    elif b < 0xE0:
        v = ((b & 0x1F) << 8) | data[p + 1]
        e.ptr = NULL
        e.ival = v - 8192 if v >= 4096 else v
        end = p + 2
    elif b < 0xF0:
        e.ptr = data + p + 2
        e.len = ((b & 0x0F) << 8) | data[p + 1]
        end = p + 2 + e.len
    elif b == 0xF0:
        e.ptr = data + p + 5
        e.len = u32le(data + p + 1)
        end = p + 5 + e.len
    else:
        w = 2 if b == 0xF1 else 3 if b == 0xF2 else 4 if b == 0xF3 else 8
        e.ptr = NULL
        e.ival = sle(data + p + 1, <int>w)
        end = p + 1 + w
    return end + lp_backlen_size(end - p)


# ---------------------------------------------------------------------------
# ziplist (ziplist.py ziplist_decode with deep=True)

ctypedef struct ZlIter:
    const unsigned char* data
    Py_ssize_t size
    Py_ssize_t pos
    Py_ssize_t count
    Py_ssize_t prev_size
    Py_ssize_t prev_start
    Py_ssize_t tail
    Py_ssize_t header_count


cdef inline int zl_open(ZlIter* it, const unsigned char* data, Py_ssize_t size) noexcept nogil:
    it.data = data
    it.size = size
    it.pos = 10
    it.count = 0
    it.prev_size = 0
    it.prev_start = -1
    it.tail = 0
    it.header_count = 0
    if size < 11:
        return PK_BAD
    if <Py_ssize_t>u32le(data) != size or data[size - 1] != 0xFF:
        return PK_BAD
    it.tail = u32le(data + 4)
    if it.tail > size - 1:
        return PK_BAD
    it.header_count = data[8] | (data[9] << 8)
    return PK_OK


cdef inline int zl_next(ZlIter* it, Elem* e) noexcept nogil:
    """The next entry, prevlen and bounds checked; PK_END once zltail and zllen agree."""
    cdef const unsigned char* data = it.data
    cdef Py_ssize_t last = it.size - 1
    cdef Py_ssize_t p = it.pos
    cdef Py_ssize_t h, end, prevlen, w
    cdef unsigned int b
    if p >= last:
        if it.prev_start >= 0 and it.prev_start != it.tail:
            return PK_BAD
        if it.header_count != 65535 and it.header_count != it.count:
            return PK_BAD
        return PK_END
    b = data[p]
    if b < 0xFE:
        prevlen = b
        h = p + 1
    elif b == 0xFE:
        if p + 5 > last:
            return PK_BAD
        prevlen = u32le(data + p + 1)
        h = p + 5
    else:
        return PK_BAD
    if h >= last or prevlen != it.prev_size:
        return PK_BAD
    b = data[h]
    if b < 0x40:
        e.ptr = data + h + 1
        e.len = b
        end = h + 1 + b
    elif b < 0x80:
        e.ptr = data + h + 2
        e.len = ((b & 0x3F) << 8) | data[h + 1]
        end = h + 2 + e.len
    elif b < 0xC0:
        if h + 5 > last:
            return PK_BAD
        e.ptr = data + h + 5
        e.len = u32be(data + h + 1)
        end = h + 5 + e.len
    elif 0xF1 <= b <= 0xFD:
        e.ptr = NULL
        e.ival = (b & 0x0F) - 1
        end = h + 1
    else:
        if b == 0xC0:
            w = 2
        elif b == 0xD0:
            w = 4
        elif b == 0xE0:
            w = 8
        elif b == 0xF0:
            w = 3
        elif b == 0xFE:
            w = 1
        else:
            return PK_BAD
        end = h + 1 + w
        if end > last:
            return PK_BAD
        e.ptr = NULL
        e.ival = sle(data + h + 1, <int>w)
    if end > last:
        return PK_BAD
    it.prev_size = end - p
    it.prev_start = p
    it.pos = end
    it.count += 1
    return PK_OK


# ---------------------------------------------------------------------------
# intset (intset.py intset_decode with deep=True)

ctypedef struct IsIter:
    const unsigned char* data
    Py_ssize_t width
    Py_ssize_t length
    Py_ssize_t index
    int64_t prev


cdef inline int is_open(IsIter* it, const unsigned char* data, Py_ssize_t size) noexcept nogil:
    """Header, size and non-empty (deep) checks; PK_OK or PK_BAD."""
    cdef uint64_t width, length
    it.data = data
    it.index = 0
    it.prev = 0
    it.width = 0
    it.length = 0
    if size < 8:
        return PK_BAD
    width = u32le(data)
    if width != 2 and width != 4 and width != 8:
        return PK_BAD
    length = u32le(data + 4)
    if 8 + length * width != <uint64_t>size or length == 0:
        return PK_BAD
    it.width = <Py_ssize_t>width
    it.length = <Py_ssize_t>length
    return PK_OK


cdef inline int is_next(IsIter* it, int64_t* v) noexcept nogil:
    """The next value; PK_BAD when not strictly above the previous one."""
    cdef int64_t x
    if it.index >= it.length:
        return PK_END
    x = sle(it.data + 8 + it.index * it.width, <int>it.width)
    if it.index and x <= it.prev:
        return PK_BAD
    it.prev = x
    it.index += 1
    v[0] = x
    return PK_OK


# ---------------------------------------------------------------------------
# zipmap (zipmap.py zipmap_decode with deep=True)

ctypedef struct ZmIter:
    const unsigned char* data
    Py_ssize_t size
    Py_ssize_t pos
    Py_ssize_t count


cdef inline int zm_open(ZmIter* it, const unsigned char* data, Py_ssize_t size) noexcept nogil:
    it.data = data
    it.size = size
    it.pos = 1
    it.count = 0
    if size < 2 or data[size - 1] != 0xFF:
        return PK_BAD
    return PK_OK


cdef inline int zm_next(ZmIter* it, Elem* key, Elem* value) noexcept nogil:
    """The next (key, value) pair; PK_END once the pair count is non-zero and agrees
    with zmlen (unless zmlen is 254)."""
    cdef const unsigned char* data = it.data
    cdef Py_ssize_t last = it.size - 1
    cdef Py_ssize_t p = it.pos
    cdef Py_ssize_t n, free
    cdef unsigned int b
    if p >= last:
        if it.count == 0:
            return PK_BAD
        if data[0] != 254 and data[0] != it.count:
            return PK_BAD
        return PK_END
    b = data[p]
    if b < 254:
        n = b
        p += 1
    elif b == 254:
        if p + 5 > last:
            return PK_BAD
        n = u32le(data + p + 1)
        p += 5
    else:
        return PK_BAD
    key.ptr = data + p
    key.len = n
    p += n
    if p >= last:
        return PK_BAD
    b = data[p]
    if b < 254:
        n = b
        p += 1
    else:
        if p + 5 > last:
            return PK_BAD
        n = u32le(data + p + 1)
        p += 5
    if p >= last:
        return PK_BAD
    free = data[p]
    p += 1
    value.ptr = data + p
    value.len = n
    p += n + free
    if p > last:
        return PK_BAD
    it.pos = p
    it.count += 1
    return PK_OK


# ---------------------------------------------------------------------------
# stream listpack nodes (streamnode.py decode_stream_node with deep=True)

ctypedef struct StreamIter:
    const unsigned char* data   # the node's listpack (validated whole by sn_open)
    Py_ssize_t size
    Py_ssize_t n                # listpack elements
    Py_ssize_t index            # element index of the next unread element
    Py_ssize_t pos              # its byte position
    uint64_t master_ms
    uint64_t master_seq
    int64_t valid_count
    int64_t deleted_count
    int64_t nfields             # master fields
    Py_ssize_t master_pos       # byte position of the first master field
    int64_t entries             # entries read so far
    int64_t deleted_seen

ctypedef struct StreamEntry:
    uint64_t ms
    uint64_t seq
    int64_t flags               # 1 DELETED, 2 SAMEFIELDS
    int64_t nfields
    Py_ssize_t fpos             # cursor: next field (or value, SAMEFIELDS)
    Py_ssize_t mpos             # cursor: next master field (SAMEFIELDS)
    int64_t left                # fields not yet read by sn_field


cdef inline int sn_int(StreamIter* it, int64_t* v) noexcept nogil:
    """The next element as an integer (lpGetIntegerIfValid: an int, or a string holding
    a canonical integer)."""
    cdef Elem e
    if it.index >= it.n:
        return PK_BAD
    it.pos = lp_elem_at(it.data, it.pos, &e)
    it.index += 1
    if e.ptr == NULL:
        v[0] = e.ival
        return PK_OK
    if canonical_int(e.ptr, e.len, v):
        return PK_OK
    return PK_BAD


cdef inline int sn_skip(StreamIter* it, int64_t k) noexcept nogil:
    cdef Elem e
    while k > 0:
        if it.index >= it.n:
            return PK_BAD
        it.pos = lp_elem_at(it.data, it.pos, &e)
        it.index += 1
        k -= 1
    return PK_OK


cdef inline int sn_open(StreamIter* it, const unsigned char* master16, const unsigned char* data,
                        Py_ssize_t size) noexcept nogil:
    """Validate the whole node listpack, then read the master entry. ``master16``: the
    16-byte radix key (master ID, big-endian ms then seq)."""
    cdef LpIter lp
    cdef Elem e
    cdef int r
    cdef int64_t term
    it.data = data
    it.size = size
    it.entries = 0
    it.deleted_seen = 0
    if lp_open(&lp, data, size) != PK_OK:
        return PK_BAD
    while True:
        r = lp_next(&lp, &e)
        if r == PK_END:
            break
        if r != PK_OK:
            return PK_BAD
    it.n = lp.count
    it.index = 0
    it.pos = 6
    it.master_ms = u64be(master16)
    it.master_seq = u64be(master16 + 8)
    if sn_int(it, &it.valid_count) != PK_OK or sn_int(it, &it.deleted_count) != PK_OK \
            or sn_int(it, &it.nfields) != PK_OK:
        return PK_BAD
    if it.nfields < 0 or it.nfields > it.n:
        return PK_BAD
    it.master_pos = it.pos
    if sn_skip(it, it.nfields) != PK_OK:
        return PK_BAD
    if sn_int(it, &term) != PK_OK or term != 0:
        return PK_BAD
    if it.valid_count < 0 or it.deleted_count < 0:
        return PK_BAD
    return PK_OK


cdef inline int sn_next(StreamIter* it, StreamEntry* e) noexcept nogil:
    """The next entry, validated whole (fields and lp-count); its fields are then read
    with sn_field. PK_END once the master entry's counts agree with the entries."""
    cdef int64_t msd, seqd, count, extra, lp_count
    if it.index >= it.n:
        # (entries <= n: a count above n can never match; this also keeps the sum
        # below from overflowing)
        if it.valid_count > it.n or it.deleted_count > it.n \
                or it.entries != it.valid_count + it.deleted_count:
            return PK_BAD
        if it.deleted_seen != it.deleted_count:
            return PK_BAD
        return PK_END
    if sn_int(it, &e.flags) != PK_OK or sn_int(it, &msd) != PK_OK or sn_int(it, &seqd) != PK_OK:
        return PK_BAD
    e.ms = it.master_ms + <uint64_t>msd
    e.seq = it.master_seq + <uint64_t>seqd
    if e.flags & 2:
        count = it.nfields
        extra = 3
        e.mpos = it.master_pos
        e.fpos = it.pos
        if sn_skip(it, count) != PK_OK:
            return PK_BAD
    else:
        if sn_int(it, &count) != PK_OK:
            return PK_BAD
        if count < 0 or count > it.n:
            return PK_BAD
        extra = 4 + count
        e.mpos = 0
        e.fpos = it.pos
        if sn_skip(it, 2 * count) != PK_OK:
            return PK_BAD
    if sn_int(it, &lp_count) != PK_OK or lp_count != count + extra:
        return PK_BAD
    e.nfields = count
    e.left = count
    it.entries += 1
    if e.flags & 1:
        it.deleted_seen += 1
    return PK_OK


cdef inline int sn_field(StreamIter* it, StreamEntry* e, Elem* field, Elem* value) noexcept nogil:
    """The entry's next (field, value); PK_END after the last."""
    if e.left <= 0:
        return PK_END
    if e.flags & 2:
        e.mpos = lp_elem_at(it.data, e.mpos, field)
    else:
        e.fpos = lp_elem_at(it.data, e.fpos, field)
    e.fpos = lp_elem_at(it.data, e.fpos, value)
    e.left -= 1
    return PK_OK
