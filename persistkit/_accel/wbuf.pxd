# cython: language_level=3
"""A growable output buffer and the RDB encoders of the write side, for compiled modules
to ``cimport`` (rdbwrite.pyx, engine_save.pyx).

The rules are those of the pure encoders, which stay the reference:
``kvencoding.lengths`` (encode_length, encode_string: rdbSaveLen, rdbSaveRawString with
rdbTryIntegerEncoding and the LZF decision), ``kvencoding.lzf.compress`` (liblzf's
lzf_compress as Redis builds it), ``kvencoding.listpack.listpack_encode`` and
``kvencoding.ziplist.ziplist_encode`` (appends at the tail, smallest encodings).
tests/test_accel_writer.py checks the bytes against them.

Everything is ``noexcept nogil`` over raw pointers; the only failure is running out of
memory (``wb_reserve`` returns -1 and the buffer keeps what it had).
"""

from libc.stdint cimport int64_t, uint64_t, uint32_t, uint16_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memmove, memset

from persistkit._accel.blobs cimport canonical_int, int_text


ctypedef struct WBuf:
    unsigned char* data
    Py_ssize_t len
    Py_ssize_t cap


cdef inline int wb_init(WBuf* b, Py_ssize_t cap) noexcept nogil:
    if cap < 64:
        cap = 64
    b.data = <unsigned char*>malloc(cap)
    b.len = 0
    b.cap = cap if b.data != NULL else 0
    return 0 if b.data != NULL else -1


cdef inline void wb_free(WBuf* b) noexcept nogil:
    if b.data != NULL:
        free(b.data)
    b.data = NULL
    b.len = 0
    b.cap = 0


cdef inline int wb_reserve(WBuf* b, Py_ssize_t extra) noexcept nogil:
    """Room for ``extra`` more bytes; -1 when memory runs out."""
    cdef Py_ssize_t need = b.len + extra
    cdef Py_ssize_t cap
    cdef unsigned char* p
    if need <= b.cap:
        return 0
    cap = b.cap * 2 if b.cap else 64
    while cap < need:
        cap *= 2
    p = <unsigned char*>realloc(b.data, cap)
    if p == NULL:
        return -1
    b.data = p
    b.cap = cap
    return 0


cdef inline int wb_put(WBuf* b, const void* src, Py_ssize_t n) noexcept nogil:
    if wb_reserve(b, n) < 0:
        return -1
    if n:
        memcpy(b.data + b.len, src, n)
    b.len += n
    return 0


cdef inline int wb_byte(WBuf* b, unsigned char c) noexcept nogil:
    if b.len >= b.cap and wb_reserve(b, 1) < 0:
        return -1
    b.data[b.len] = c
    b.len += 1
    return 0


cdef inline void put_le(unsigned char* p, uint64_t v, int n) noexcept nogil:
    cdef int i
    for i in range(n):
        p[i] = <unsigned char>(v >> (8 * i))


cdef inline int wb_le(WBuf* b, uint64_t v, int n) noexcept nogil:
    if wb_reserve(b, n) < 0:
        return -1
    put_le(b.data + b.len, v, n)
    b.len += n
    return 0


# ---------------------------------------------------------------------------
# RDB lengths (lengths.encode_length: rdbSaveLen)

cdef inline int rdb_length_size(uint64_t n) noexcept nogil:
    if n < 0x40:
        return 1
    if n < 0x4000:
        return 2
    if n <= <uint64_t>0xFFFFFFFFU:
        return 5
    return 9


cdef inline int wb_length(WBuf* b, uint64_t n) noexcept nogil:
    cdef unsigned char* p
    cdef int i
    if wb_reserve(b, 9) < 0:
        return -1
    p = b.data + b.len
    if n < 0x40:
        p[0] = <unsigned char>n
        b.len += 1
    elif n < 0x4000:
        p[0] = <unsigned char>(0x40 | (n >> 8))
        p[1] = <unsigned char>(n & 0xFF)
        b.len += 2
    elif n <= <uint64_t>0xFFFFFFFFU:
        p[0] = 0x80
        for i in range(4):
            p[1 + i] = <unsigned char>(n >> (8 * (3 - i)))
        b.len += 5
    else:
        p[0] = 0x81
        for i in range(8):
            p[1 + i] = <unsigned char>(n >> (8 * (7 - i)))
        b.len += 9
    return 0


# ---------------------------------------------------------------------------
# LZF compression (lzf.py compress_py: liblzf lzf_c.c with HLOG 16, VERY_FAST,
# a fresh hash table per call; position 0 never matches)

ctypedef struct LzfTable:
    uint32_t pos[65536]
    uint32_t stamp[65536]
    uint32_t epoch


cdef inline void lzf_table_init(LzfTable* t) noexcept nogil:
    memset(t.stamp, 0, sizeof(t.stamp))
    t.epoch = 0


cdef inline Py_ssize_t lzf_compress_into(LzfTable* t, const unsigned char* data, Py_ssize_t in_len,
                                         unsigned char* out, Py_ssize_t out_len) noexcept nogil:
    """Compressed size written to ``out`` (room for ``out_len``), or 0 where lzf_compress
    returns 0 (the output does not fit, empty input)."""
    cdef Py_ssize_t o = 0, run = 0, lit = 0, ip = 0, stop, ref, maxlen, cap, n, r, i, off
    cdef uint32_t h, slot
    cdef bint have
    if in_len <= 0 or out_len <= 0:
        return 0
    # A new epoch stands for a zeroed table (stale slots read as "no entry").
    t.epoch += 1
    if t.epoch == 0:
        memset(t.stamp, 0, sizeof(t.stamp))
        t.epoch = 1
    stop = in_len - 2
    h = ((<uint32_t>data[0] << 8) | data[1]) if in_len > 1 else 0
    while ip < stop:
        h = ((h << 8) & 0xFFFFFF) | data[ip + 2]
        slot = ((h >> 8) - h * 5) & 0xFFFF
        if t.stamp[slot] == t.epoch:
            ref = t.pos[slot]
        else:
            ref = 0
        t.pos[slot] = <uint32_t>ip
        t.stamp[slot] = t.epoch
        if (ref and ip - ref <= 8192 and data[ref] == data[ip] and data[ref + 1] == data[ip + 1]
                and data[ref + 2] == data[ip + 2]):
            if lit:
                if o + 1 + lit > out_len:
                    return 0
                out[o] = <unsigned char>(lit - 1)
                memcpy(out + o + 1, data + run, lit)
                o += 1 + lit
            if o + 4 >= out_len:
                return 0
            maxlen = in_len - ip - 2
            if maxlen > 264:
                maxlen = 264
            if maxlen > 16:
                cap = 19 if maxlen < 19 else maxlen
            else:
                cap = maxlen if maxlen > 3 else 3
            n = 3
            while n < cap and data[ref + n] == data[ip + n]:
                n += 1
            off = ip - ref - 1
            if n < 9:
                out[o] = <unsigned char>((off >> 8) + ((n - 2) << 5))
                o += 1
            else:
                out[o] = <unsigned char>((off >> 8) + 0xE0)
                out[o + 1] = <unsigned char>(n - 9)
                o += 2
            out[o] = <unsigned char>(off & 0xFF)
            o += 1
            ip += n
            run = ip
            lit = 0
            if ip >= stop:
                break
            h = (<uint32_t>data[ip - 2] << 16) | (<uint32_t>data[ip - 1] << 8) | data[ip]
            slot = ((h >> 8) - h * 5) & 0xFFFF
            t.pos[slot] = <uint32_t>(ip - 2)
            t.stamp[slot] = t.epoch
            h = ((h << 8) & 0xFFFFFF) | data[ip + 1]
            slot = ((h >> 8) - h * 5) & 0xFFFF
            t.pos[slot] = <uint32_t>(ip - 1)
            t.stamp[slot] = t.epoch
        else:
            if o + 1 + lit >= out_len:
                return 0
            lit += 1
            ip += 1
            if lit == 32:
                out[o] = 31
                memcpy(out + o + 1, data + run, 32)
                o += 33
                run = ip
                lit = 0
    if o + 1 + lit + 3 > out_len:
        return 0
    while ip < in_len:
        lit += 1
        ip += 1
        if lit == 32:
            out[o] = 31
            memcpy(out + o + 1, data + run, 32)
            o += 33
            run = ip
            lit = 0
    if lit:
        out[o] = <unsigned char>(lit - 1)
        memcpy(out + o + 1, data + run, lit)
        o += 1 + lit
    return o


# ---------------------------------------------------------------------------
# RDB strings (lengths.encode_string: rdbSaveRawString)

cdef inline int wb_int_encoded(WBuf* b, int64_t v) noexcept nogil:
    """rdbEncodeInteger for a value known to fit INT32."""
    if -0x80 <= v <= 0x7F:
        if wb_reserve(b, 2) < 0:
            return -1
        b.data[b.len] = 0xC0
        b.data[b.len + 1] = <unsigned char>(v & 0xFF)
        b.len += 2
        return 0
    if -0x8000 <= v <= 0x7FFF:
        if wb_byte(b, 0xC1) < 0:
            return -1
        return wb_le(b, <uint64_t>v, 2)
    if wb_byte(b, 0xC2) < 0:
        return -1
    return wb_le(b, <uint64_t>v, 4)


cdef inline int wb_string(WBuf* b, const unsigned char* s, Py_ssize_t n, bint compress,
                          LzfTable* lzf) noexcept nogil:
    """One RDB string as rdbSaveRawString writes it: INT8/16/32 for the canonical text of
    an int32 (at most 11 bytes), LZF when compressing, longer than 20 bytes and the
    output fits in n-4 bytes, else the length and the bytes."""
    cdef int64_t v
    cdef Py_ssize_t c, at, hdr
    if n <= 11 and n > 0 and (s[0] == 0x2D or 0x30 <= s[0] <= 0x39):
        if canonical_int(s, n, &v) and -0x80000000 <= v <= 0x7FFFFFFF:
            return wb_int_encoded(b, v)
    if compress and n > 20 and lzf != NULL:
        # Room for the prefix (1 + two lengths of at most 9) and n-4 output bytes.
        if wb_reserve(b, n + 19) < 0:
            return -1
        at = b.len + 19
        c = lzf_compress_into(lzf, s, n, b.data + at, n - 4)
        if c > 0:
            hdr = 1 + rdb_length_size(<uint64_t>c) + rdb_length_size(<uint64_t>n)
            b.data[b.len] = 0xC3
            b.len += 1
            wb_length(b, <uint64_t>c)
            wb_length(b, <uint64_t>n)
            # the prefix is at most 19 bytes: move the output down next to it
            memmove(b.data + b.len, b.data + at, c)
            b.len += c
            return 0
    if wb_length(b, <uint64_t>n) < 0:
        return -1
    return wb_put(b, s, n)


# ---------------------------------------------------------------------------
# listpack entries (listpack.py encode_entry / encode_backlen)

cdef inline int lp_backlen_width(Py_ssize_t size) noexcept nogil:
    if size <= 127:
        return 1
    if size < 16383:
        return 2
    if size < 2097151:
        return 3
    if size < 268435455:
        return 4
    return 5


cdef inline void lp_put_backlen(unsigned char* p, Py_ssize_t size, int w) noexcept nogil:
    if w == 1:
        p[0] = <unsigned char>size
    elif w == 2:
        p[0] = <unsigned char>(size >> 7)
        p[1] = <unsigned char>((size & 127) | 128)
    elif w == 3:
        p[0] = <unsigned char>(size >> 14)
        p[1] = <unsigned char>(((size >> 7) & 127) | 128)
        p[2] = <unsigned char>((size & 127) | 128)
    elif w == 4:
        p[0] = <unsigned char>(size >> 21)
        p[1] = <unsigned char>(((size >> 14) & 127) | 128)
        p[2] = <unsigned char>(((size >> 7) & 127) | 128)
        p[3] = <unsigned char>((size & 127) | 128)
    else:
        p[0] = <unsigned char>(size >> 28)
        p[1] = <unsigned char>(((size >> 21) & 127) | 128)
        p[2] = <unsigned char>(((size >> 14) & 127) | 128)
        p[3] = <unsigned char>(((size >> 7) & 127) | 128)
        p[4] = <unsigned char>((size & 127) | 128)


cdef inline int lp_int_size(int64_t v) noexcept nogil:
    """Encoding+data bytes of an integer entry (lpEncodeIntegerGetType)."""
    if 0 <= v <= 127:
        return 1
    if -4096 <= v <= 4095:
        return 2
    if -32768 <= v <= 32767:
        return 3
    if -8388608 <= v <= 8388607:
        return 4
    if -2147483648 <= v <= 2147483647:
        return 5
    return 9


cdef inline int lp_put_int(WBuf* b, int64_t v) noexcept nogil:
    cdef int n = lp_int_size(v)
    cdef int w = lp_backlen_width(n)
    cdef unsigned char* p
    cdef uint64_t u
    if wb_reserve(b, n + w) < 0:
        return -1
    p = b.data + b.len
    if n == 1:
        p[0] = <unsigned char>v
    elif n == 2:
        u = <uint64_t>(v + 8192 if v < 0 else v)
        p[0] = <unsigned char>(0xC0 | (u >> 8))
        p[1] = <unsigned char>(u & 0xFF)
    else:
        p[0] = 0xF1 if n == 3 else 0xF2 if n == 4 else 0xF3 if n == 5 else 0xF4
        put_le(p + 1, <uint64_t>v, n - 1)
    lp_put_backlen(p + n, n, w)
    b.len += n + w
    return 0


cdef inline int lp_put_str(WBuf* b, const unsigned char* s, Py_ssize_t ln) noexcept nogil:
    cdef Py_ssize_t h = 1 if ln < 64 else 2 if ln < 4096 else 5
    cdef Py_ssize_t n = h + ln
    cdef int w = lp_backlen_width(n)
    cdef unsigned char* p
    if wb_reserve(b, n + w) < 0:
        return -1
    p = b.data + b.len
    if h == 1:
        p[0] = <unsigned char>(0x80 | ln)
    elif h == 2:
        p[0] = <unsigned char>(0xE0 | (ln >> 8))
        p[1] = <unsigned char>(ln & 0xFF)
    else:
        p[0] = 0xF0
        put_le(p + 1, <uint64_t>ln, 4)
    memcpy(p + h, s, ln)
    lp_put_backlen(p + n, n, w)
    b.len += n + w
    return 0


cdef inline int lp_put_item(WBuf* b, const unsigned char* s, Py_ssize_t ln) noexcept nogil:
    """An element given as bytes: an integer entry when Redis would store one."""
    cdef int64_t v
    if ln <= 20 and ln > 0 and (s[0] == 0x2D or 0x30 <= s[0] <= 0x39) and canonical_int(s, ln, &v):
        return lp_put_int(b, v)
    return lp_put_str(b, s, ln)


cdef inline Py_ssize_t lp_item_size(const unsigned char* s, Py_ssize_t ln) noexcept nogil:
    """listpack.entry_size: bytes the entry takes, backlen included."""
    cdef int64_t v
    cdef Py_ssize_t n
    if ln <= 20 and ln > 0 and canonical_int(s, ln, &v):
        n = lp_int_size(v)
    else:
        n = ln + (1 if ln < 64 else 2 if ln < 4096 else 5)
    return n + lp_backlen_width(n)


cdef inline int lp_begin(WBuf* b, Py_ssize_t* start) noexcept nogil:
    """Reserve the 6-byte header; ``lp_end`` fills it in."""
    start[0] = b.len
    if wb_reserve(b, 6) < 0:
        return -1
    b.len += 6
    return 0


cdef inline int lp_end(WBuf* b, Py_ssize_t start, Py_ssize_t count) noexcept nogil:
    """Terminator and header (total bytes, count capped at 65535); -2 over 4 GiB."""
    cdef Py_ssize_t total
    if wb_byte(b, 0xFF) < 0:
        return -1
    total = b.len - start
    if <uint64_t>total > <uint64_t>0xFFFFFFFFU:
        return -2
    put_le(b.data + start, <uint64_t>total, 4)
    put_le(b.data + start + 4, <uint64_t>(count if count < 65535 else 65535), 2)
    return 0


# ---------------------------------------------------------------------------
# ziplist entries (ziplist.py ziplist_encode: tail pushes, minimal prevlens)

ctypedef struct ZlState:
    Py_ssize_t start
    Py_ssize_t prevlen
    Py_ssize_t tail
    Py_ssize_t count


cdef inline int zl_int_payload_size(int64_t v) noexcept nogil:
    if 0 <= v <= 12:
        return 1
    if -128 <= v <= 127:
        return 2
    if -32768 <= v <= 32767:
        return 3
    if -8388608 <= v <= 8388607:
        return 4
    if -2147483648 <= v <= 2147483647:
        return 5
    return 9


cdef inline Py_ssize_t zl_item_size(const unsigned char* s, Py_ssize_t ln, Py_ssize_t prev) noexcept nogil:
    """ziplist.entry_size: a tail push after an entry of ``prev`` bytes."""
    cdef int64_t v
    cdef Py_ssize_t n
    if ln <= 20 and ln > 0 and canonical_int(s, ln, &v):
        n = zl_int_payload_size(v)
    else:
        n = ln + (1 if ln <= 0x3F else 2 if ln <= 0x3FFF else 5)
    return n + (1 if prev < 254 else 5)


cdef inline int zl_begin(WBuf* b, ZlState* z) noexcept nogil:
    z.start = b.len
    z.prevlen = 0
    z.tail = 10
    z.count = 0
    if wb_reserve(b, 10) < 0:
        return -1
    b.len += 10
    return 0


cdef inline int zl_prefix(WBuf* b, ZlState* z, unsigned char* p) noexcept nogil:
    """Write the prevlen at ``p`` (room for 5); returns its width."""
    if z.prevlen < 254:
        p[0] = <unsigned char>z.prevlen
        return 1
    p[0] = 0xFE
    put_le(p + 1, <uint64_t>z.prevlen, 4)
    return 5


cdef inline int zl_put_int(WBuf* b, ZlState* z, int64_t v) noexcept nogil:
    cdef int n = zl_int_payload_size(v)
    cdef unsigned char* p
    cdef int w
    if wb_reserve(b, n + 5) < 0:
        return -1
    p = b.data + b.len
    w = zl_prefix(b, z, p)
    p += w
    if n == 1:
        p[0] = <unsigned char>(0xF1 + v)
    else:
        p[0] = 0xFE if n == 2 else 0xC0 if n == 3 else 0xF0 if n == 4 else 0xD0 if n == 5 else 0xE0
        put_le(p + 1, <uint64_t>v, n - 1)
    z.tail = b.len - z.start
    z.prevlen = w + n
    b.len += w + n
    z.count += 1
    return 0


cdef inline int zl_put_str(WBuf* b, ZlState* z, const unsigned char* s, Py_ssize_t ln) noexcept nogil:
    cdef Py_ssize_t h = 1 if ln <= 0x3F else 2 if ln <= 0x3FFF else 5
    cdef unsigned char* p
    cdef int w
    if wb_reserve(b, ln + h + 5) < 0:
        return -1
    p = b.data + b.len
    w = zl_prefix(b, z, p)
    p += w
    if h == 1:
        p[0] = <unsigned char>ln
    elif h == 2:
        p[0] = <unsigned char>(0x40 | (ln >> 8))
        p[1] = <unsigned char>(ln & 0xFF)
    else:
        p[0] = 0x80
        p[1] = <unsigned char>(ln >> 24)
        p[2] = <unsigned char>(ln >> 16)
        p[3] = <unsigned char>(ln >> 8)
        p[4] = <unsigned char>ln
    memcpy(p + h, s, ln)
    z.tail = b.len - z.start
    z.prevlen = w + h + ln
    b.len += w + h + ln
    z.count += 1
    return 0


cdef inline int zl_put_item(WBuf* b, ZlState* z, const unsigned char* s, Py_ssize_t ln) noexcept nogil:
    cdef int64_t v
    if ln <= 20 and ln > 0 and (s[0] == 0x2D or 0x30 <= s[0] <= 0x39) and canonical_int(s, ln, &v):
        return zl_put_int(b, z, v)
    return zl_put_str(b, z, s, ln)


cdef inline int zl_end(WBuf* b, ZlState* z) noexcept nogil:
    cdef Py_ssize_t total
    if wb_byte(b, 0xFF) < 0:
        return -1
    total = b.len - z.start
    if <uint64_t>total > <uint64_t>0xFFFFFFFFU:
        return -2
    put_le(b.data + z.start, <uint64_t>total, 4)
    put_le(b.data + z.start + 4, <uint64_t>(z.tail if z.count else 10), 4)
    put_le(b.data + z.start + 8, <uint64_t>(z.count if z.count < 65535 else 65535), 2)
    return 0
