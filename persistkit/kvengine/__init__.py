"""The bundled reference engine: keyspace, command table, persistence, RESP server.

The keyspace and the command layer are a pure library (no I/O, no server needed);
``replay`` and ``merge`` use them as the state machine that rebuilds a keyspace.

Public API (stable)::

    from persistkit.kvengine import Keyspace

    ks = Keyspace()                      # 16 dbs; Keyspace(expiry=False) = loading semantics
    s = ks.session(db=0)                 # one client's context: SELECT, MULTI/EXEC, AUTH
    reply = s.execute([b"SET", b"k", b"v", b"EX", b"10"], now_ms=1700000000000)
    reply = ks.execute(args, db=0, now_ms=None)   # one command on a throw-away session

    # replies: bytes (bulk), None (nil), int, list (array), reply.Status (+OK),
    # reply.CommandError (an error reply, returned not raised; .message has the
    # Redis text with its prefix), reply.NIL_ARRAY.

    ks.propagate_sink = fn(db, args)     # receives every write as Redis logs it to the AOF
                                         # (PEXPIREAT, SET ... PXAT, DEL of expired keys,
                                         # MULTI/EXEC around transactions, XCLAIM for XREADGROUP)
    ks.load_records(records)             # model.Record / model.Function from RDBReader
    ks.iter_records(now_ms=None)         # model.Record, db by db, keys sorted (stable)
    ks.iter_functions()                  # model.Function, libraries sorted by name
    ks.dbsize(db); ks.keys(db); ks.get(key, db); ks.ttl_ms(key, db); ks.type_of(key, db)
    ks.flushall(); ks.active_expire(now_ms)

Time: every command runs at ``now_ms`` (wall clock when None): relative TTLs are
computed from it and keys whose TTL is <= now_ms are expired lazily (logged as DEL).
With ``Keyspace(expiry=False)`` nothing expires, like a server loading an AOF.

Values in the keyspace (``ks.get``): bytes, collections.deque, values.Hash (dict +
``fexp`` field TTLs), set, values.ZSet, values.Stream.

Modules: ``keyspace`` (dbs, sessions), ``table`` (command table), ``commands/``
(one module per family), ``records`` (model conversion), ``persistence`` (RDB/AOF
files), ``server`` (RESP event loop), ``config`` (settings).
"""

from .keyspace import Keyspace, Session  # noqa: F401
from .reply import NIL_ARRAY, CommandError, Status  # noqa: F401
