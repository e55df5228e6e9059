# cython: language_level=3
"""Compiled request loop of the engine's server: request parsing, reply encoding and the
hottest simple command forms run straight on the keyspace dicts.

* ``RequestReader``: kvengine.protocol.RequestReader (networking.c processMultibulkBuffer /
  processInlineBuffer, the same limits, the same ProtocolError texts) over a C buffer.
* ``encode_reply(value, out, resp)``: kvengine.protocol.encode_reply into one bytes.
* ``run_input(reader, session, out, stats, server)``: the server's per-read loop
  (EngineServer._read) over every complete command in the reader.

The fast forms are exactly: ``GET k``, ``SET k v``, ``INCR k``, ``LPUSH k v...``,
``HSET k f v...``, ``ZADD k score m...`` (a plain score: digits, sign, point), on a
session that is authenticated and not inside MULTI, on a key without an expired TTL,
with no WATCH anywhere. They do what the Python handler does (kvengine/commands/*.py:
``Session.set_key`` for new keys, the dirty counter, AOF propagation of the command as
given). Anything else, including every error reply (wrong type, not an integer,
overflow), is run by ``Session.execute``: the Python command table stays the one
definition of behaviour, and ``tests/test_accel_engine.py`` runs random command
streams through both paths comparing replies, keyspaces and AOF bytes.
"""

from cpython.bytes cimport (PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize,
                            PyBytes_CheckExact)
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem, PyDict_DelItem, PyDict_Size, PyDict_Contains
from cpython.list cimport PyList_New, PyList_SET_ITEM, PyList_GET_SIZE, PyList_GET_ITEM
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport malloc, realloc, free, strtod
from libc.string cimport memcpy, memmove, memchr
from libc.stdio cimport snprintf

cdef extern from "time.h" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec *tp)
    int CLOCK_REALTIME

from collections import deque as _deque_type
from persistkit.kvengine import protocol as _protocol
from persistkit.kvengine.reply import (OK as _OK, NIL_ARRAY as _NIL_ARRAY, CommandError as _CommandError,
                                       Double as _Double, Map as _Map, PairMap as _PairMap,
                                       Pairs as _Pairs, SetReply as _SetReply, Status as _Status)
from persistkit.kvengine.values import Hash as _Hash, ZSet as _ZSet
from persistkit.kvengine.numbers import format_double as _format_double
from persistkit.kvencoding.splitargs import split_args as _split_args

DEF INLINE_MAX = 64 * 1024          # PROTO_INLINE_MAX_SIZE
DEF UNAUTH_MAX_ARGS = 10
DEF UNAUTH_MAX_BULK = 16384
DEF INT_MAX = 2147483647

cdef object ProtocolError = _protocol.ProtocolError
cdef object OK = _OK
cdef object NIL_ARRAY = _NIL_ARRAY
cdef object CommandError = _CommandError
cdef object Double = _Double
cdef object Map = _Map
cdef object PairMap = _PairMap
cdef object Pairs = _Pairs
cdef object SetReply = _SetReply
cdef object Status = _Status
cdef object Hash = _Hash
cdef object ZSet = _ZSet
cdef object deque = _deque_type
cdef object format_double = _format_double
cdef object split_args = _split_args
cdef object encode_reply_pure = _protocol.encode_reply


# ---------------------------------------------------------------------------
# numbers


cdef inline bint _string2ll(const unsigned char* s, Py_ssize_t n, int64_t* out) noexcept nogil:
    """numbers.parse_int (util.c string2ll): optional '-', no '+', no leading zeros, no
    blanks, fits int64."""
    cdef Py_ssize_t i = 0
    cdef bint neg = False
    cdef uint64_t v = 0
    cdef uint64_t limit
    if n == 0 or n > 20:
        return False
    if n == 1:
        if 48 <= s[0] <= 57:
            out[0] = s[0] - 48
            return True
        return False
    if s[0] == 45:
        neg = True
        i = 1
    if s[i] == 48:
        return False
    limit = (<uint64_t>1 << 63) if neg else ((<uint64_t>1 << 63) - 1)
    while i < n:
        if not 48 <= s[i] <= 57:
            return False
        if v > (limit - (s[i] - 48)) // 10:
            return False
        v = v * 10 + (s[i] - 48)
        i += 1
    if neg:
        out[0] = <int64_t>(0 - v)
    else:
        out[0] = <int64_t>v
    return True


cdef inline bint _plain_score(const unsigned char* s, Py_ssize_t n, double* out) noexcept nogil:
    """A score of the plain form ``[+-]digits[.digits]`` (or ``.digits``/``digits.``): the
    value strtod gives, which is what numbers.parse_float gives for it (both round
    correctly; without an exponent no overflow or underflow is possible). Other forms
    (inf, hex, exponents, blanks) are left to the Python path."""
    cdef Py_ssize_t i = 0
    cdef int digits = 0, points = 0
    cdef char* end
    if n == 0 or n > 64:
        return False
    if s[0] == 43 or s[0] == 45:
        i = 1
    while i < n:
        if 48 <= s[i] <= 57:
            digits += 1
        elif s[i] == 46:
            points += 1
        else:
            return False
        i += 1
    if digits == 0 or points > 1:
        return False
    # bytes objects are NUL-terminated, so strtod stops at n
    out[0] = strtod(<const char*>s, &end)
    return end == <const char*>(s + n)


cdef inline int64_t _wall_ms() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <int64_t>ts.tv_sec * 1000 + ts.tv_nsec // 1000000


# ---------------------------------------------------------------------------
# output buffer


cdef class _Out:
    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t cap

    def __cinit__(self):
        self.cap = 4096
        self.data = <char*>malloc(self.cap)
        self.size = 0
        if self.data == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.data)

    cdef int reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t want = self.size + extra
        cdef char* grown
        if want <= self.cap:
            return 0
        while self.cap < want:
            self.cap *= 2
        grown = <char*>realloc(self.data, self.cap)
        if grown == NULL:
            raise MemoryError()
        self.data = grown
        return 0

    cdef inline int write(self, const char* p, Py_ssize_t n) except -1:
        if self.size + n > self.cap:
            self.reserve(n)
        memcpy(self.data + self.size, p, n)
        self.size += n
        return 0

    cdef inline int write_bytes(self, bytes b) except -1:
        return self.write(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    cdef inline int line_int(self, char prefix, int64_t v) except -1:
        """``<prefix><v>\\r\\n``"""
        cdef int k
        if self.size + 32 > self.cap:
            self.reserve(32)
        k = snprintf(self.data + self.size, 32, "%c%lld\r\n", prefix, <long long>v)
        self.size += k
        return 0

    cdef inline int bulk(self, object value) except -1:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
        self.line_int(36, n)
        self.write(PyBytes_AS_STRING(value), n)
        self.write("\r\n", 2)
        return 0

    cdef object take(self):
        cdef object b = PyBytes_FromStringAndSize(self.data, self.size)
        self.size = 0
        return b


cdef int _encode(_Out out, object value, int resp) except -1:
    """protocol.encode_reply, case for case."""
    cdef object t
    cdef Py_ssize_t n
    if value is OK:
        out.write("+OK\r\n", 5)
        return 0
    t = type(value)
    if t is bytes:
        out.bulk(value)
    elif t is int:
        if -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
            out.line_int(58, value)
        else:
            out.write_bytes(b":%d\r\n" % value)
    elif value is None:
        if resp == 3:
            out.write("_\r\n", 3)
        else:
            out.write("$-1\r\n", 5)
    elif t is list or t is tuple or t is SetReply or t is Map:
        n = len(value)
        if resp == 3 and t is Map:
            out.line_int(37, n // 2)
        elif resp == 3 and t is SetReply:
            out.line_int(126, n)
        else:
            out.line_int(42, n)
        for v in value:
            if type(v) is bytes:
                out.bulk(v)
            else:
                _encode(out, v, resp)
    elif t is Pairs or t is PairMap:
        if resp == 3 and t is PairMap:
            out.line_int(37, len(value))
            for a, b in value:
                _encode(out, a, resp)
                _encode(out, b, resp)
        elif resp == 3 or t is PairMap:
            out.line_int(42, len(value))
            for a, b in value:
                out.write("*2\r\n", 4)
                _encode(out, a, resp)
                _encode(out, b, resp)
        else:
            out.line_int(42, 2 * len(value))
            for a, b in value:
                _encode(out, a, resp)
                _encode(out, b, resp)
    else:
        # the rarer reply kinds: the Python encoder is the reference
        parts = []
        encode_reply_pure(value, parts, resp)
        for p in parts:
            out.write_bytes(p)
    return 0


def encode_reply(value, list out, int resp=2):
    """Append the RESP2 (or RESP3) bytes of a reply value to ``out`` (one bytes object)."""
    cdef _Out o = _Out()
    _encode(o, value, resp)
    out.append(o.take())


# ---------------------------------------------------------------------------
# request parsing


cdef class RequestReader:
    """Feed bytes, pull commands. ``next(authenticated)`` returns ``list[bytes]`` (maybe
    empty: an empty line or ``*0``), or None when more input is needed."""

    cdef char* buf
    cdef Py_ssize_t size       # bytes held
    cdef Py_ssize_t cap
    cdef Py_ssize_t pos        # next unread byte
    cdef Py_ssize_t argc       # arguments still to read of the current multibulk (0 = none open)
    cdef list args
    cdef int64_t bulk_len
    cdef public int64_t max_bulk

    def __cinit__(self, max_bulk=512 * 1024 * 1024):
        self.cap = 16384
        self.buf = <char*>malloc(self.cap + 1)
        if self.buf == NULL:
            raise MemoryError()
        self.size = 0
        self.pos = 0
        self.argc = 0
        self.args = None
        self.bulk_len = -1
        self.max_bulk = max_bulk

    def __dealloc__(self):
        free(self.buf)

    def feed(self, data):
        cdef const unsigned char[::1] view
        cdef Py_ssize_t n
        cdef char* grown
        if type(data) is bytes:
            n = PyBytes_GET_SIZE(data)
            self._make_room(n)
            memcpy(self.buf + self.size, PyBytes_AS_STRING(data), n)
        else:
            view = memoryview(data).cast("B")
            n = view.shape[0]
            self._make_room(n)
            if n:
                memcpy(self.buf + self.size, &view[0], n)
        self.size += n
        self.buf[self.size] = 0

    cdef int _make_room(self, Py_ssize_t n) except -1:
        cdef char* grown
        cdef Py_ssize_t want
        if self.pos:
            # drop what has been consumed
            memmove(self.buf, self.buf + self.pos, self.size - self.pos)
            self.size -= self.pos
            self.pos = 0
        want = self.size + n
        if want > self.cap:
            while self.cap < want:
                self.cap *= 2
            grown = <char*>realloc(self.buf, self.cap + 1)
            if grown == NULL:
                raise MemoryError()
            self.buf = grown
        return 0

    def pending(self):
        return self.size - self.pos

    def next(self, bint authenticated=True):
        return self._next(authenticated)

    cdef object _next(self, bint authenticated):
        if self.argc:
            return self._multibulk(authenticated)
        if self.pos >= self.size:
            return None
        if self.buf[self.pos] == 42:  # '*'
            return self._multibulk(authenticated)
        return self._inline()

    cdef object _inline(self):
        cdef const char* start = self.buf + self.pos
        cdef const char* nl = <const char*>memchr(start, 10, self.size - self.pos)
        cdef Py_ssize_t n
        if nl == NULL:
            if self.size - self.pos > INLINE_MAX:
                raise ProtocolError("Protocol error: too big inline request")
            return None
        n = nl - start
        self.pos += n + 1
        if n and start[n - 1] == 13:
            n -= 1
        args = split_args(PyBytes_FromStringAndSize(start, n))
        if args is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        return args

    cdef object _multibulk(self, bint authenticated):
        cdef const unsigned char* b = <const unsigned char*>self.buf
        cdef Py_ssize_t blen = self.size
        cdef Py_ssize_t p, cr, i
        cdef const unsigned char* hit
        cdef int64_t n
        cdef Py_ssize_t argc
        cdef int64_t bulk_len
        cdef list args
        cdef object item
        if not self.argc:
            p = self.pos
            hit = <const unsigned char*>memchr(b + p, 13, blen - p)
            if hit == NULL:
                if blen - p > INLINE_MAX:
                    raise ProtocolError("Protocol error: too big mbulk count string")
                return None
            cr = hit - b
            if cr + 1 >= blen:
                return None  # the \n is not there yet
            if not _string2ll(b + p + 1, cr - p - 1, &n) or n > INT_MAX:
                raise ProtocolError("Protocol error: invalid multibulk length")
            if n > UNAUTH_MAX_ARGS and not authenticated:
                raise ProtocolError("Protocol error: unauthenticated multibulk length")
            self.pos = cr + 2
            if n <= 0:
                return []
            self.argc = <Py_ssize_t>n
            self.args = []
            self.bulk_len = -1
        argc = self.argc
        args = self.args
        p = self.pos
        bulk_len = self.bulk_len
        while argc:
            if bulk_len == -1:
                hit = <const unsigned char*>memchr(b + p, 13, blen - p) if p < blen else NULL
                if hit == NULL:
                    if blen - p > INLINE_MAX:
                        raise ProtocolError("Protocol error: too big bulk count string")
                    break
                cr = hit - b
                if cr + 1 >= blen:
                    break
                if b[p] != 36:  # '$'
                    raise ProtocolError(f"Protocol error: expected '$', got '{chr(b[p])}'")
                if not _string2ll(b + p + 1, cr - p - 1, &n) or n < 0 or n > self.max_bulk:
                    raise ProtocolError("Protocol error: invalid bulk length")
                if n > UNAUTH_MAX_BULK and not authenticated:
                    raise ProtocolError("Protocol error: unauthenticated bulk length")
                p = cr + 2
                bulk_len = n
            if blen - p < bulk_len + 2:
                break  # wait for the whole bulk (and its CRLF)
            item = PyBytes_FromStringAndSize(<const char*>(b + p), <Py_ssize_t>bulk_len)
            args.append(item)
            p += <Py_ssize_t>bulk_len + 2
            bulk_len = -1
            argc -= 1
        self.pos = p
        if argc:
            self.argc = argc
            self.bulk_len = bulk_len
            return None
        self.argc = 0
        self.bulk_len = -1
        self.args = None
        return args


# ---------------------------------------------------------------------------
# the fast command forms


cdef enum:
    FAST_NONE = 0
    FAST_GET = 1
    FAST_SET = 2
    FAST_INCR = 3
    FAST_LPUSH = 4
    FAST_HSET = 5
    FAST_ZADD = 6


cdef inline bint _name_is(object name, const char* low, Py_ssize_t n):
    cdef const unsigned char* s
    cdef Py_ssize_t i
    if PyBytes_GET_SIZE(name) != n:
        return False
    s = <const unsigned char*>PyBytes_AS_STRING(name)
    for i in range(n):
        if (s[i] | 32) != <unsigned char>low[i]:
            return False
    return True


cdef inline int _fast_kind(list args):
    """Which fast form ``args`` is (FAST_NONE: the Python path)."""
    cdef Py_ssize_t argc = PyList_GET_SIZE(args)
    cdef object name = <object>PyList_GET_ITEM(args, 0)
    cdef Py_ssize_t n
    cdef const unsigned char* s
    if not PyBytes_CheckExact(name):
        return FAST_NONE
    n = PyBytes_GET_SIZE(name)
    if n == 3:
        if argc == 2 and _name_is(name, "get", 3):
            return FAST_GET
        if argc == 3 and _name_is(name, "set", 3):
            return FAST_SET
    elif n == 4:
        if argc == 2 and _name_is(name, "incr", 4):
            return FAST_INCR
        if argc >= 4 and argc % 2 == 0 and _name_is(name, "hset", 4):
            return FAST_HSET
        if argc >= 4 and argc % 2 == 0 and _name_is(name, "zadd", 4):
            # a score, not an option word (NX, XX, GT, LT, CH, INCR) in the first place
            s = <const unsigned char*>PyBytes_AS_STRING(<object>PyList_GET_ITEM(args, 2))
            if (48 <= s[0] <= 57) or s[0] == 45 or s[0] == 43 or s[0] == 46:
                return FAST_ZADD
    elif n == 5:
        if argc >= 3 and _name_is(name, "lpush", 5):
            return FAST_LPUSH
    return FAST_NONE


cdef class _Ctx:
    """The session state the fast forms read, refreshed after every Python-path command."""
    cdef object sess, ks, db, dbid, data, expires, strenc, watchers, sink
    cdef bint authenticated
    cdef bint fast_ok         # authenticated, not in MULTI
    cdef bint expiry_enabled
    cdef int resp
    cdef int64_t dirty        # not yet added to ks.dirty
    cdef int64_t processed    # not yet added to stats["total_commands_processed"]

    cdef refresh(self):
        sess = self.sess
        self.ks = sess.ks
        self.db = sess.db
        self.dbid = sess.dbid
        self.data = self.db.data
        self.expires = self.db.expires
        self.strenc = self.db.strenc
        self.watchers = self.ks.watchers
        self.sink = self.ks.propagate_sink
        self.expiry_enabled = bool(self.ks.expiry_enabled)
        self.authenticated = bool(sess.authenticated)
        self.fast_ok = self.authenticated and not sess.in_multi
        self.resp = sess.resp

    cdef flush(self, dict stats):
        if self.dirty:
            self.ks.dirty += self.dirty
            self.dirty = 0
        if self.processed:
            stats["total_commands_processed"] += self.processed
            self.processed = 0


cdef object _EXPIRED = object()


cdef inline object _live(_Ctx c, object key):
    """Session.lookup without side effects: the value, None when absent, or _EXPIRED
    when the key's TTL has passed (the Python path expires it and logs the DEL)."""
    cdef PyObject* v = PyDict_GetItem(c.data, key)
    cdef PyObject* t
    cdef int64_t when
    if v == NULL:
        return None
    if PyDict_Size(c.expires):
        t = PyDict_GetItem(c.expires, key)
        if t != NULL and c.expiry_enabled:
            try:
                when = <object>t
            except OverflowError:
                return _EXPIRED
            if when <= _wall_ms():
                return _EXPIRED
    return <object>v


cdef inline int _set_new_key(_Ctx c, object key, object value, bint keepttl) except -1:
    """Session.set_key(key, value, keepttl) for a value built by the command."""
    PyDict_SetItem(c.data, key, value)
    if not keepttl and PyDict_Size(c.expires) and PyDict_Contains(c.expires, key):
        PyDict_DelItem(c.expires, key)
    if PyDict_Size(c.strenc) and PyDict_Contains(c.strenc, key):
        PyDict_DelItem(c.strenc, key)
    return 0


cdef inline int _written(_Ctx c, list args, int64_t changes) except -1:
    """Session.touch(changes), and the AOF gets the command as given when it changed
    something (Session.call: one command alone is its own execution unit)."""
    if changes:
        c.dirty += changes
        if c.sink is not None:
            c.sink(c.dbid, args)
    return 0


cdef int _run_fast(_Ctx c, int kind, list args, _Out out) except -1:
    """Run a fast form: 1 done (reply written), 0 when the Python path must run it."""
    cdef object key = <object>PyList_GET_ITEM(args, 1)
    cdef object cur = None
    cdef object v
    cdef int64_t num
    cdef Py_ssize_t argc = PyList_GET_SIZE(args)
    cdef Py_ssize_t i, pairs
    cdef int64_t created
    cdef double score
    cdef PyObject* found
    cdef char text[24]
    cdef int k
    if not PyBytes_CheckExact(key):
        return 0
    if kind != FAST_GET and PyDict_Size(c.watchers):
        return 0  # touchWatchedKey bookkeeping: the Python path
    cur = _live(c, key)
    if cur is _EXPIRED:
        return 0
    if kind == FAST_GET:
        if cur is None:
            if c.resp == 3:
                out.write("_\r\n", 3)
            else:
                out.write("$-1\r\n", 5)
        elif PyBytes_CheckExact(cur):
            out.bulk(cur)
        else:
            return 0
        return 1
    if kind == FAST_SET:
        if cur is not None and not PyBytes_CheckExact(cur):
            return 0
        _set_new_key(c, key, <object>PyList_GET_ITEM(args, 2), False)
        _written(c, args, 1)
        out.write("+OK\r\n", 5)
        return 1
    if kind == FAST_INCR:
        if cur is None:
            num = 0
        elif not PyBytes_CheckExact(cur):
            return 0
        elif not _string2ll(<const unsigned char*>PyBytes_AS_STRING(cur), PyBytes_GET_SIZE(cur), &num):
            return 0
        if num == 0x7FFFFFFFFFFFFFFF:
            return 0  # the overflow error: the Python path
        num += 1
        k = snprintf(text, 24, "%lld", <long long>num)
        _set_new_key(c, key, PyBytes_FromStringAndSize(text, k), True)
        _written(c, args, 1)
        out.line_int(58, num)
        return 1
    if kind == FAST_LPUSH:
        if cur is None:
            cur = deque()
            _set_new_key(c, key, cur, False)
        elif type(cur) is not deque:
            return 0
        cur.extendleft(args[2:])
        _written(c, args, argc - 2)
        out.line_int(58, len(cur))
        return 1
    if kind == FAST_HSET:
        if cur is None:
            cur = Hash()
            _set_new_key(c, key, cur, False)
        elif type(cur) is not Hash or cur.fexp:
            return 0  # field TTLs: the Python path expires and clears them
        created = 0
        i = 2
        while i < argc:
            v = <object>PyList_GET_ITEM(args, i)
            if not PyDict_Contains(cur, v):
                created += 1
            PyDict_SetItem(cur, v, <object>PyList_GET_ITEM(args, i + 1))
            i += 2
        _written(c, args, (argc - 2) // 2)
        out.line_int(58, created)
        return 1
    if kind == FAST_ZADD:
        if cur is not None and type(cur) is not ZSet:
            return 0
        pairs = (argc - 2) // 2
        scores = []
        for i in range(pairs):
            v = <object>PyList_GET_ITEM(args, 2 + 2 * i)
            if not _plain_score(<const unsigned char*>PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v), &score):
                return 0  # before any change, like zaddGenericCommand's parse
            scores.append(score)
        if cur is None:
            cur = ZSet()
            _set_new_key(c, key, cur, False)
        created = 0
        num = 0
        members = cur.scores
        index = cur.index
        for i in range(pairs):
            # ZSet.add: the member's score in the dict, (score, member) in the index
            v = <object>PyList_GET_ITEM(args, 3 + 2 * i)
            found = PyDict_GetItem(members, v)
            new = scores[i]
            if found == NULL:
                created += 1
            elif <object>found != new:
                index.remove((<object>found, v))
                num += 1
            else:
                continue
            PyDict_SetItem(members, v, new)
            index.add((new, v))
        _written(c, args, created + num)
        out.line_int(58, created)
        return 1
    return 0


def run_input(RequestReader reader, sess, list out, dict stats, server):
    """EngineServer._read's loop over the commands in ``reader``: fast forms here, the
    rest through ``sess.execute``. Returns 0 (wait for input) or 1 (close the connection
    once the replies are written)."""
    cdef _Out o = _Out()
    cdef _Ctx c = _Ctx()
    cdef object args
    cdef int kind
    cdef int status = 0
    c.sess = sess
    c.dirty = 0
    c.processed = 0
    c.refresh()
    try:
        while True:
            try:
                args = reader._next(c.authenticated)
            except ProtocolError as exc:
                o.write_bytes(b"-" + exc.message.encode() + b"\r\n")
                status = 1
                break
            if args is None:
                break
            if not args:
                continue
            c.processed += 1
            if c.fast_ok:
                kind = _fast_kind(args)
                if kind != FAST_NONE and _run_fast(c, kind, args, o):
                    if not server.running:  # a signal handler may have run meanwhile
                        break
                    continue
            # ---- the Python path, exactly as EngineServer._read runs it
            c.flush(stats)
            try:
                reply = sess.execute(args)
            except Exception as exc:  # a bug must cost one reply, never the server
                reply = CommandError(f"ERR internal error: {exc!r}")
            mark = o.size
            try:
                _encode(o, reply, sess.resp)
            except (TypeError, ValueError) as exc:
                o.size = mark
                o.write_bytes(b"-ERR internal error: reply not encodable (" + str(exc).encode() + b")\r\n")
            c.refresh()
            if sess.closing:
                status = 1
                break
            if not server.running:
                break
    finally:
        c.flush(stats)
        if o.size:
            out.append(o.take())
    return status
